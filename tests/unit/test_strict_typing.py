"""Lossless or loud (issue 14): a value that is not wholly of its column's type is unparsed, never trimmed to fit.

* ``date``: the whole value must be a date (``2026-10-05xyz`` is not); the date-times and
  spellings accepted before still are. ``datetime``: the same (pandas ISO 8601, whole value).
* ``int``: ``2.7`` is not rounded: unparsed, so ``<column>.parseable`` quarantines the row;
  ``3``, `` 3 `` and ``3.0`` (Excel writes whole numbers as floats) are 3. ``decimal`` keeps fractions.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pytest

from safety_hub.landing import apply_aliases
from safety_hub.quality.normalise import UNPARSED, _typed, normalise
from safety_hub.quality.validate import check_batch
from safety_hub.registry import Column, get_feed

DAY = dt.date(2026, 11, 3)


def _column(kind: str) -> Column:
    return Column(source="src", name="col", type=kind)


def _type(kind: str, values: list) -> tuple[list, list]:
    typed, unparsed = _typed(_column(kind), pd.Series(values, dtype="string"))
    return typed.tolist(), ([None] * len(values) if unparsed is None else [None if pd.isna(v) else v for v in unparsed.tolist()])


def test_date_with_trailing_text_is_unparsed():
    values = ["2026-10-05xyz", "2026-10-05", "2026/10/5", "2026年10月5日", "20261005", "46300", "2026-10-05 10:30:00",
              "2026-10-05 99:00", " 2026-10-05xyz "]
    typed, unparsed = _type("date", values * 2)  # repeated: the per-distinct-value path
    ok = pd.Timestamp("2026-10-05")
    assert typed[:9] == [pd.NaT, ok, ok, ok, ok, ok, ok, pd.NaT, pd.NaT]
    assert unparsed[:9] == ["2026-10-05xyz", None, None, None, None, None, None, "2026-10-05 99:00", "2026-10-05xyz"]


def test_datetime_with_trailing_text_is_unparsed():
    values = ["2026-10-05T10:00:00+08:00", "2026-10-05T10:00:00+08:00junk", "2026-10-05 10:00xyz", "2026-10-05"]
    typed, unparsed = _type("datetime", values)
    assert typed[0] == pd.Timestamp("2026-10-05T02:00:00Z") and typed[3] == pd.Timestamp("2026-10-05T00:00:00Z")
    assert pd.isna(typed[1]) and pd.isna(typed[2])
    assert unparsed == [None, values[1], values[2], None]


def test_int_rejects_fractions_and_keeps_whole_numbers():
    values = ["3", " 3 ", "3.0", "2.7", "0.5", "-1", "1,200", "１２", "inf", "1e20", "x", "", None]
    typed, unparsed = _type("int", values)
    assert typed == [3, 3, 3, pd.NA, pd.NA, -1, 1200, 12, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]
    assert unparsed == [None, None, None, "2.7", "0.5", None, None, None, "inf", "1e20", "x", None, None]
    got, _ = _typed(_column("int"), pd.Series(["2.7", "3"], dtype="string"))
    assert str(got.dtype) == "Int64"  # one fraction no longer turns the whole column to floats


def test_decimal_is_unaffected():
    typed, unparsed = _type("decimal", ["2.7", "3", "3.0", "1,000.25", "x"])
    assert typed[:4] == [2.7, 3.0, 3.0, 1000.25] and pd.isna(typed[4])
    assert unparsed == [None, None, None, None, "x"]


@pytest.fixture(scope="module")
def accidents() -> pd.DataFrame:
    from safety_hub_dev.simulator.generate import generate_day
    from safety_hub_dev.simulator.spec import SPECS

    data = generate_day(DAY)
    truth, key = data.truth["feeds"]["emb_accident"], SPECS["emb_accident"].key
    valid, touched = set(truth["valid_keys"]), {d["key"] for d in truth["defects"]}
    clean = [r for r in data.records["emb_accident"] if r[key] in valid and r[key] not in touched][:6]
    return apply_aliases(get_feed("emb_accident"), pd.DataFrame(clean).astype("string"))


def test_fraction_of_a_person_and_a_date_with_junk_are_quarantined(accidents):
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed = get_feed("emb_accident")
    records = accidents.copy()
    records.loc[0, "重伤人数"] = "2.7"
    records.loc[1, "重伤人数"] = "3.0"  # whole: loads as 3
    records.loc[2, "事故发生日期"] = records.loc[2, "事故发生日期"] + "xyz"
    check = check_batch(feed, records, DAY)
    # (both columns are required too: the unparsed value leaves them missing)
    assert {i: sorted(r) for i, r in check.failures.items()} == {
        0: ["serious_injuries.parseable", "serious_injuries.required"], 2: ["occurred_date.parseable", "occurred_date.required"]}
    assert check.typed["serious_injuries"][1] == 3 and str(check.typed["serious_injuries"].dtype) == "Int64"
    assert check.typed[UNPARSED + "serious_injuries"][0] == "2.7"
    assert normalise(feed, records)[UNPARSED + "occurred_date"][2].endswith("xyz")
