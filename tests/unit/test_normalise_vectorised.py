"""The vectorised validation path gives exactly the answers of the scalar one it replaced.

* ``normalise``: domain functions run once per distinct value (not per row); the
  typed columns and ``_unparsed_*`` columns must equal the per-row ``Series.map``
  version (kept here as the reference), dtypes included.
* ``check_batch``: GX validates each group of expectations on a frame of just the
  columns they name (range-checked dates in ``datetime64[ns]``, not-null-only text
  columns as ``""``/missing); every result must equal one ``batch.validate`` of the
  whole frame, in the same order.
* ``quarantine_frame``: whole columns at once, same frame as the row-by-row build.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math

import pandas as pd
import pytest

from safety_hub.domain.text import clean_text, normalise_org_name, to_halfwidth
from safety_hub.domain.places import map_district
from safety_hub.domain.uscc import normalise_uscc
from safety_hub.domain.dates import parse_date
from safety_hub.quality.normalise import UNPARSED, _typed, normalise
from gx_reference import comparable, whole_frame_validate
from safety_hub.config.registry import Column, get_feed

# --- the per-row reference (normalise before vectorising) ------------------------------------

_TRUE = {"是", "Y", "YES", "TRUE", "1", "√", "T"}
_FALSE = {"否", "N", "NO", "FALSE", "0", "×", "F"}


def _ref_text(col: pd.Series, multiline: bool = False) -> pd.Series:
    out = col.astype("string").map(lambda v: clean_text(v, multiline), na_action="ignore").astype("string").str.strip()
    return out.mask(out == "")


def _ref_typed(column: Column, raw: pd.Series, key: bool = False):
    text = _ref_text(raw, column.multiline)
    kind = column.type
    if kind == "str" and key:
        return text.map(lambda v: to_halfwidth(v).strip() or None, na_action="ignore").astype("string"), None
    if kind == "str":
        return text, None
    if kind == "code":
        return text.map(lambda v: to_halfwidth(v).strip().upper(), na_action="ignore").astype("string"), None
    if kind == "uscc":
        return text.map(normalise_uscc, na_action="ignore").astype("string"), None
    if kind == "org_name":
        return text.map(normalise_org_name, na_action="ignore").astype("string"), None
    if kind == "district":
        return text.map(lambda v: map_district(v) or v, na_action="ignore").astype("string"), None
    if kind == "enum":
        lookup = {to_halfwidth(s).strip(): canon for canon, spellings in column.values.items() for s in [canon, *spellings]}
        return text.map(lambda v: lookup.get(to_halfwidth(v).strip(), v), na_action="ignore").astype("string"), None
    if kind == "date":
        parsed = pd.to_datetime(text.map(parse_date, na_action="ignore"), errors="coerce")
    elif kind == "datetime":
        parsed = pd.to_datetime(text.map(to_halfwidth, na_action="ignore"), errors="coerce", utc=True, format="ISO8601")
    elif kind in ("int", "decimal"):
        parsed = pd.to_numeric(text.map(to_halfwidth, na_action="ignore").str.replace(",", ""), errors="coerce")
        if kind == "int":  # whole numbers only (3.0 is 3); a fraction, infinity or inexact size is unparsed
            parsed = pd.Series([v if pd.notna(v) and math.isfinite(v) and v == int(v) and abs(v) < 2**53 else pd.NA
                                for v in parsed.astype("Float64").tolist()], index=parsed.index, dtype="Float64").astype("Int64")
    elif kind == "bool":
        upper = text.map(lambda v: to_halfwidth(v).strip().upper(), na_action="ignore")
        parsed = pd.Series(pd.NA, index=text.index, dtype="boolean")
        parsed[upper.isin(_TRUE)] = True
        parsed[upper.isin(_FALSE)] = False
    unparsed = text.where(text.notna() & parsed.isna())
    return parsed, unparsed


def _column(kind: str, **kw) -> Column:
    return Column(source="src", name="col", type=kind, **kw)


def assert_same_typing(column: Column, values: list, dtype="string") -> tuple[pd.Series, pd.Series | None]:
    raw = pd.Series(values, dtype=dtype, name="src")
    got, got_unparsed = _typed(column, raw)
    want, want_unparsed = _ref_typed(column, raw)
    pd.testing.assert_series_equal(got, want, check_names=False, check_exact=True)
    assert got.dtype == want.dtype
    if want_unparsed is None:
        assert got_unparsed is None
    else:
        pd.testing.assert_series_equal(got_unparsed.astype("string"), want_unparsed.astype("string"), check_names=False)
    return got, got_unparsed


# --- dates ------------------------------------------------------------------------------------

TRICKY_DATES = [
    "2021-03-05", "2021.3.5", "2021年3月5日", "20210305", "2021/3/5", "2021/03/05 10:30", "2021-3-5T08:00:00",
    "44256", "44256.0", "４４２５６", "２０２１－０３－０５", "２０２１年３月５日", " 2021-03-05 ", "\u30002021.3.5\u3000",
    "1900-01-01", "1900/1/1", "", "   ", "\u3000", None, "garbage", "2021-02-30", "2021.13.1", "00000", "99999",
    "12345.5", "٢٠٢١-٠٣-٠٥", "9999-12-31", "0001-01-01", "2021年3月5", "202103", "2021-03-05-extra",
]


def test_dates_match_scalar_parse_date():
    values = TRICKY_DATES * 3  # repeated spellings, as in real batches
    got, unparsed = assert_same_typing(_column("date"), values)
    assert str(got.dtype) == "datetime64[s]"
    expected = [parse_date(v) for v in values]
    for v, g, e in zip(values, got.tolist(), expected):
        assert (pd.isna(g) and e is None) or g.date() == e, (v, g, e)
    # _unparsed_: the trimmed original text where a non-blank value could not be typed
    by_value = dict(zip(values, unparsed.tolist()))
    assert by_value["garbage"] == "garbage"
    assert by_value["2021-02-30"] == "2021-02-30"
    assert by_value["1900-01-01"] == "1900-01-01"  # the placeholder is no date
    assert by_value["\u30002021.3.5\u3000"] is pd.NA  # parsed (after trimming)
    for blank in ("", "   ", "\u3000", None):
        assert by_value[blank] is pd.NA


@pytest.mark.parametrize("spelling, day", [
    ("2021.3.5", dt.date(2021, 3, 5)), ("2021年3月5日", dt.date(2021, 3, 5)), ("20210305", dt.date(2021, 3, 5)),
    ("44256", dt.date(2021, 3, 1)), ("44256.0", dt.date(2021, 3, 1)), ("２０２１－０３－０５", dt.date(2021, 3, 5)),
    ("1900-01-01", None), ("", None), ("garbage", None), ("2021-02-30", None),
])
def test_date_spellings(spelling, day):
    got, _ = _typed(_column("date"), pd.Series([spelling, spelling], dtype="string"))
    assert [None if pd.isna(v) else v.date() for v in got] == [day, day]


@pytest.mark.parametrize("values", [[None, None], ["", " "], ["x", "y"], []])
def test_dates_degenerate_columns(values):
    assert_same_typing(_column("date"), values)


# --- the other column types -------------------------------------------------------------------

MIXED = ["91120116697415782C", "９１１２０１１６６９７４１５７８２Ｃ", " 91120116697415782c ", "天津（北辰）公司", "天津(北辰)公司",
         "120101", "120107", "120101.0", "天津市和平区", "塘沽", "１２０１０１", "999999", "是", "否", "Y", "n", "yes", "TRUE",
         "1", "0", "√", "×", "ｔ", "maybe", "一般", "重大隐患", "已销号", "完成", "2026-11-02T12:43:53+08:00",
         "2026-11-02 12:43:53", "２０２６-11-02T12:43:53Z", "2026-11-02T12:43:53.123456789+08:00", "bad ts",
         "1,000", "１２３", "12.5", "-3", "1e3", "abc", "", "  ", "\u3000", None,
         # text hygiene: controls and zero-width characters removed, tab/CR/LF runs one space
         "91120116\u200b697415782C", "天津\u200b(北辰)\ufeff公司", "一般\x0b", "\x00是", "2026-11-02\u2060T12:43:53Z",
         "1\u200d2", "line\r\nbreak\tand\x85c1", "\u200b", "\x00\x1f", "12\n"]


@pytest.mark.parametrize("column", [
    _column("str"), _column("str", multiline=True), _column("uscc"), _column("org_name"), _column("district"),
    _column("enum", values={"一般隐患": ["一般", "一般隐患"], "重大隐患": ["重大", "重大隐患"], "验收销号": ["已销号", "完成", "√"]}),
    _column("bool"), _column("datetime"), _column("decimal"),
], ids=lambda c: c.type)
@pytest.mark.parametrize("dtype", ["string", object])
def test_types_match_per_row_mapping(column, dtype):
    assert_same_typing(column, MIXED * 2, dtype=dtype)


@pytest.mark.parametrize("values", [["1", "2", None, "3"], ["1", "2.5", "x"], ["１,２００", "7"], ["3.0", " 3 ", "2.7", "inf", "1e3", "1e20"]])
def test_int_columns(values):
    assert_same_typing(_column("int"), values)


# --- normalise over simulated batches --------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _day():
    from safety_hub_dev.simulator.generate import generate_day

    return generate_day(dt.date(2026, 11, 3))


def _records(feed_id: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(_day().records[feed_id]).astype("string").replace({"": pd.NA})


@pytest.mark.parametrize("feed_id", ["emb_hazard", "emb_accident", "tc_dg_waybill", "emb_insurance"])
def test_normalise_matches_reference(feed_id):
    feed = get_feed(feed_id)
    records = _records(feed_id)
    got = normalise(feed, records)
    for column in feed.columns:
        raw = records[column.source] if column.source in records else pd.Series(pd.NA, index=records.index, dtype="string")
        typed, unparsed = _ref_typed(column, raw, key=column.name in feed.key)
        pd.testing.assert_series_equal(got[column.name], typed, check_names=False, check_exact=True)
        if unparsed is not None:
            pd.testing.assert_series_equal(got[UNPARSED + column.name], unparsed.astype("string"), check_names=False)


# --- check_batch against one GX run over the whole frame -------------------------------------

@pytest.mark.parametrize("feed_id, far_future", [("emb_hazard", False), ("emb_hazard", True), ("agri_fishing_vessel", False),
                                                  ("tc_dg_waybill", False), ("emb_enforcement", False)])
def test_check_batch_equals_one_whole_frame_run(feed_id, far_future):
    from safety_hub.quality.validate import check_batch

    feed, day = get_feed(feed_id), dt.date(2026, 11, 3)
    records = _records(feed_id)
    if far_future:  # a date out of the datetime64[ns] range keeps its column on GX's per-value path
        records.loc[3, next(c.source for c in feed.columns if c.not_future)] = "9999-12-31"
    check = check_batch(feed, records, day)
    whole = whole_frame_validate(feed, records, day)
    assert [comparable(r) for r in check.gx_result.results] == [comparable(r) for r in whole.results]
    assert check.gx_result.success == whole.success
    assert check.gx_result.statistics == whole.statistics
    assert check.gx_result.suite_name == whole.suite_name
    # the decisions built from them
    failures: dict[int, list[str]] = {}
    for r in whole.results:
        rule = r.expectation_config.meta["rule_id"]
        if feed.validation.severity(rule) == "error":
            for idx in r.result.get("unexpected_index_list") or []:
                failures.setdefault(idx, []).append(rule)
    assert check.failures == failures


def test_expectation_groups_cover_every_expectation_once():
    from safety_hub.quality.expectations import build_suite
    from safety_hub.quality.engine import Engine, _expectation_groups, _plan_facts, _Suite, _Typed

    Engine().context  # noqa: B018  (a GX context, our expectations registered)
    feed, day = get_feed("emb_hazard"), dt.date(2026, 11, 3)
    typed = normalise(feed, _records("emb_hazard"))
    suite = build_suite(feed, day)
    ranged, sparse, complete, categorical = _plan_facts(_Typed(typed), _Suite(suite))
    groups = _expectation_groups(_Suite(suite), list(typed.columns), ranged, sparse, categorical, complete)
    members = sorted(i for _, m in groups for i in m)
    assert members == list(range(len(suite.expectations)))
    assert all(cols is None or set(cols) <= set(typed.columns) for cols, _ in groups)


# --- quarantine_frame ---------------------------------------------------------------------------

def _ref_quarantine(check, records, *, batch_id, business_date, raw_file, key, descriptions, warnings=False):
    records = records.reset_index(drop=True)
    rows = []
    for idx, rules in sorted((check.flags if warnings else check.failures).items()):
        original = {k: (None if pd.isna(v) else str(v)) for k, v in records.iloc[idx].items()}
        record_key = "|".join("" if pd.isna(check.typed.at[idx, k]) else str(check.typed.at[idx, k]) for k in key)
        for rule in rules:
            rows.append({"feed_id": check.feed_id, "batch_id": batch_id, "business_date": business_date, "raw_file": raw_file,
                         "row_number": idx + 1, "record_key": record_key, "rule_id": rule,
                         "rule_description": descriptions.get(rule, rule), "original_values": json.dumps(original, ensure_ascii=False)})
    return pd.DataFrame(rows, columns=["feed_id", "batch_id", "business_date", "raw_file", "row_number", "record_key", "rule_id",
                                       "rule_description", "original_values"])


@pytest.mark.parametrize("warnings", [False, True])
def test_quarantine_frame_matches_row_by_row(warnings):
    from safety_hub.quality.validate import check_batch, quarantine_frame

    feed, day = get_feed("agri_fishing_vessel"), dt.date(2026, 11, 3)
    records = _records("agri_fishing_vessel")
    check = check_batch(feed, records, day)
    kw = dict(batch_id="b1", business_date=day, raw_file="raw/x", key=feed.key, descriptions={"x": "y"}, warnings=warnings)
    got = quarantine_frame(check, records, **kw)
    want = _ref_quarantine(check, records, **kw)
    assert list(got.columns[:-1]) == list(want.columns) and got.columns[-1] == "quarantined_at"
    pd.testing.assert_frame_equal(got.drop(columns="quarantined_at"), want, check_exact=True)


# Text JSON must escape (quote, backslash, C0 controls) next to text it leaves as written.
_AWKWARD = ['a"b', "c\\d", None, "\x00x\x1f", "tab\tnl\n\r", "\u2028 \x7f 天\u200b", "😀", "", '\\"', "普通"]


@pytest.mark.parametrize("key", [["k"], ["k", "k2"], ["k", "n"], []])
def test_quarantine_original_values_are_the_json_of_the_delivered_text(key):
    """The original values (encoded in Arrow for text columns) are ``json.dumps`` of each record's text; the record key
    joins its columns' text (missing as ``""``) with ``|``; one row per broken rule, in row order."""
    from safety_hub.quality.validate import BatchCheck, quarantine_frame

    values, reverse = _AWKWARD, _AWKWARD[::-1]
    records = pd.DataFrame({'x"k': pd.Series(values, dtype="str"), "天\n": pd.Series(reverse, dtype="str")})
    typed = pd.DataFrame({"k": pd.Series(values, dtype="str"), "k2": pd.Series(reverse, dtype="str"), "n": range(10)})
    failures = {i: ["r1", "r2"] if i % 3 == 0 else ["r3"] for i in range(10) if i != 4}
    check = BatchCheck("f", 10, typed, failures)
    frame = quarantine_frame(check, records, batch_id="b", business_date=dt.date(2026, 11, 3), raw_file="f", key=key,
                             descriptions={"r1": "规则一"})
    rows = [i for i in sorted(failures) for _ in failures[i]]
    assert frame["original_values"].tolist() == [json.dumps({'x"k': values[i], "天\n": reverse[i]}, ensure_ascii=False) for i in rows]
    assert [json.loads(v)['x"k'] for v in frame["original_values"]] == [values[i] for i in rows]
    texts = {"k": values, "k2": reverse, "n": [str(i) for i in range(10)]}
    assert frame["record_key"].tolist() == ["|".join("" if texts[k][i] is None else texts[k][i] for k in key) for i in rows]
    assert frame["rule_id"].tolist() == [r for i in sorted(failures) for r in failures[i]]
    assert frame["rule_description"].tolist() == [{"r1": "规则一"}.get(r, r) for r in frame["rule_id"]]
    assert frame["row_number"].tolist() == [i + 1 for i in rows]
    assert frame["record_key"].dtype == frame["original_values"].dtype == pd.Series(["x"]).dtype
