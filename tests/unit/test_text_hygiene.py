"""Text hygiene, one rule for every feed, in normalisation (issue 14; quality/normalise.py docstring).

* control characters (Cc: NUL, the other C0 characters, DEL, C1) and zero-width characters
  (U+200B-U+200D, U+2060, U+FEFF) are removed from every column typed from text;
* a run of tab/CR/LF becomes one space, unless the column is ``multiline``;
* a ``str`` key column is half-width and trimmed (one hazard, one key); names lose zero-width spaces;
* the quarantine keeps the delivered text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pandas as pd
import pytest
from pydantic import ValidationError

from safety_hub.domain import canonical_org_name, clean_text, normalise_org_name
from safety_hub.landing import apply_aliases
from safety_hub.quality import normalise as norm
from safety_hub.quality.normalise import _typed, normalise
from safety_hub.registry import Column, get_feed

DAY = dt.date(2026, 11, 3)
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
C1 = [chr(c) for c in range(0x7F, 0xA0)]  # DEL and the C1 block
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def _column(kind: str = "str", **kw) -> Column:
    return Column(source="src", name="col", type=kind, **kw)


# --- the rule, one value ----------------------------------------------------------------------

@pytest.mark.parametrize("char", C0 + C1 + ZERO_WIDTH, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_and_zero_width_character_is_removed(char):
    assert clean_text(f"天津{char}宏远") == "天津宏远"
    assert clean_text(f"天津{char}宏远", multiline=True) == "天津宏远"


def test_line_breaks_become_one_space_unless_multiline():
    assert clean_text("整改\r\n措施\t到位\n\n") == "整改 措施 到位 "
    assert clean_text("整改\r\n措施\t到位", multiline=True) == "整改\r\n措施\t到位"
    assert clean_text("a\r\x00\nb") == "a b"  # removed first, then the run is one space
    assert clean_text("普通文本 （全角） ＡＢ") == "普通文本 （全角） ＡＢ"  # nothing else changes


def test_names_lose_zero_width_and_control_characters():
    assert normalise_org_name("\u200b天津\u200b宏远化工有限公司\ufeff") == "天津宏远化工有限公司"
    assert normalise_org_name("天津宏远\x0b化工有限公司") == "天津宏远化工有限公司"
    assert normalise_org_name("\u200b\u2060") is None
    assert canonical_org_name("（天津）宏远\u200b化工有限责任公司") == canonical_org_name("天津宏远化工有限公司")


# --- the rule over columns ----------------------------------------------------------------------

DIRTY = ["天津\u200b宏远", "\ufeff天津宏远", "整改\r\n措施", "a\x0bb", "\x00NUL", "c1\x85", "\u200b", " \t ", "clean", None]


@pytest.mark.parametrize("storage", ["pyarrow", "python"])
def test_str_columns_single_line_and_multiline(storage):
    raw = pd.Series(DIRTY * 3, dtype=pd.StringDtype(storage))
    got, _ = _typed(_column("str"), raw)
    assert got.tolist()[:10] == ["天津宏远", "天津宏远", "整改 措施", "ab", "NUL", "c1", pd.NA, pd.NA, "clean", pd.NA]
    got, _ = _typed(_column("str", multiline=True), raw)
    assert got.tolist()[:10] == ["天津宏远", "天津宏远", "整改\r\n措施", "ab", "NUL", "c1", pd.NA, pd.NA, "clean", pd.NA]


@pytest.mark.parametrize("kind, dirty, clean", [
    ("code", "津A\u200b12345", "津A12345"),
    ("uscc", "91120116\u200b697415782C", "91120116697415782C"),
    ("uscc", "\ufeff９１１２０１１６６９７４１５７８２Ｃ", "91120116697415782C"),
    ("org_name", "天津\u200b宏远（化工）", "天津宏远(化工)"),
    ("district", "120116\x00", "120116"),
    ("date", "2026-10-05\u200b", pd.Timestamp("2026-10-05")),
    ("datetime", "\ufeff2026-10-05T10:00:00+08:00", pd.Timestamp("2026-10-05T02:00:00Z")),
    ("int", "1\u200b2", 12),
    ("decimal", "2.5\x0b", 2.5),
    ("bool", "是\u200b", True),
])
def test_every_text_typed_column_is_clean_before_typing(kind, dirty, clean):
    got, unparsed = _typed(_column(kind), pd.Series([dirty, dirty, None], dtype="string"))
    assert got.tolist()[:2] == [clean, clean]
    assert unparsed is None or unparsed.isna().all()


def test_enum_spelling_with_a_zero_width_space_is_recognised():
    column = _column("enum", values={"重大隐患": ["重大", "重大隐患"], "一般隐患": ["一般"]})
    got, _ = _typed(column, pd.Series(["重大\u200b", "一般\x0b"], dtype="string"))
    assert got.tolist() == ["重大隐患", "一般隐患"]


def test_a_clean_column_is_returned_as_it_is():
    text = pd.Series(["天津宏远", "整改措施", None] * 100, dtype="string")
    assert norm._clean(text) is text  # one scan, no rewrite
    assert norm._clean(pd.Series(["a\nb"], dtype="string"), multiline=True).tolist() == ["a\nb"]


def test_multiline_is_a_str_option_only_and_the_registry_stays_strict():
    assert Column(source="s", name="c", multiline=True).multiline
    with pytest.raises(ValidationError, match="multiline"):
        Column(source="s", name="c", type="date", multiline=True)
    with pytest.raises(ValidationError):
        Column(source="s", name="c", multi_line=True)


# --- keys ---------------------------------------------------------------------------------------

def _hazards(n: int = 6) -> pd.DataFrame:
    from safety_hub_dev.simulator.generate import generate_day
    from safety_hub_dev.simulator.spec import SPECS

    data = generate_day(DAY)
    truth, key = data.truth["feeds"]["emb_hazard"], SPECS["emb_hazard"].key
    valid, touched = set(truth["valid_keys"]), {d["key"] for d in truth["defects"]}
    clean = [r for r in data.records["emb_hazard"] if r[key] in valid and r[key] not in touched][:n]
    return apply_aliases(get_feed("emb_hazard"), pd.DataFrame(clean).astype("string"))


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_a_fullwidth_key_is_the_same_key():
    feed = get_feed("emb_hazard")
    records = _hazards()
    key = next(c for c in feed.columns if c.name == "hazard_id")
    delivered = records[key.source].tolist()
    records.loc[0, key.source] = _fullwidth(delivered[0])
    records.loc[1, key.source] = "\u3000" + _fullwidth(delivered[1]) + "\u200b"
    records.loc[2, "yhms"] = "（全角）描述ＡＢ"  # not a key: full-width text stays as written
    typed = normalise(feed, records)
    assert typed["hazard_id"].tolist() == delivered
    assert typed["description"][2] == "（全角）描述ＡＢ"


def test_quarantine_keeps_the_delivered_text():
    from safety_hub.quality.validate import check_batch, quarantine_frame

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed = get_feed("emb_hazard")
    records = _hazards()
    records.loc[0, "yhms"] = "消防通道\x0b堵塞\u200b"
    records.loc[0, "ssq"] = "999999"  # an unknown district: quarantined
    records.loc[1, "yhms"] = "消防通道\x0b堵塞\u200b"  # clean otherwise: loads, cleaned
    check = check_batch(feed, records, DAY)
    assert 0 in check.failures and 1 not in check.failures
    assert check.typed["description"][1] == "消防通道堵塞"
    frame = quarantine_frame(check, records, batch_id="b", business_date=DAY, raw_file="f", key=feed.key, descriptions={})
    original = json.loads(frame["original_values"].iloc[0])
    assert original["yhms"] == "消防通道\x0b堵塞\u200b"


# --- the fast check finds exactly the values the rule changes -----------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# The characters of the rule and their UTF-8 neighbours (same lead bytes): ·, NBSP, U+200A/U+200E, U+205F/U+2061, U+FEFE, ，
_ALPHABET = list("ab天，（") + C0[:3] + ["\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x9f", "\xa0", "\xb7"] + ZERO_WIDTH + \
    ["\u200a", "\u200e", "\u205f", "\u2061", "\ufefe", "\uff0c", "\u2014"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=_ALPHABET, max_size=6)), max_size=12), st.booleans())
def test_fast_check_and_rewrite_agree_with_the_scalar_rule(values, multiline):
    text = pd.Series(values, dtype="string")
    want = [None if v is None else clean_text(v, multiline) for v in values]
    got = norm._clean(text, multiline)
    assert [None if pd.isna(v) else v for v in got.tolist()] == want
    for one in values:  # value by value: the check says "unclean" exactly when the rule changes it
        if one is not None:
            data = next(norm._value_data(pd.Series([one], dtype="string").array.__arrow_array__()), None)
            assert (data is not None and norm._unclean_utf8(data, multiline)) == (clean_text(one, multiline) != one), repr(one)
