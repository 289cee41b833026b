"""uscc_valid_mask (vectorised, for GX) gives exactly the answers of is_valid_uscc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safety_hub.domain.uscc import (
    USCC_CHARSET,
    is_pilot_era_uscc,
    is_valid_uscc,
    make_uscc,
    uscc_check_char,
    uscc_pilot_era_mask,
    uscc_valid_mask,
)

EXAMPLE = "91120116697415782C"  # the GB 32100 worked example (DOMAIN.md §1)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def assert_agrees(values, dtype=object, index=None) -> pd.Series:
    series = pd.Series(list(values), dtype=dtype, index=index)
    got = uscc_valid_mask(series)
    expected = [is_valid_uscc(v) for v in series.tolist()]
    assert got.dtype == bool
    assert got.index.equals(series.index)
    mismatches = [(v, g, e) for v, g, e in zip(series.tolist(), got.tolist(), expected) if g != e]
    assert not mismatches, mismatches[:10]
    pilot = uscc_pilot_era_mask(series)  # the warning rule's mask agrees with its scalar rule too
    assert pilot.dtype == bool and pilot.index.equals(series.index)
    pilot_expected = [is_pilot_era_uscc(v) for v in series.tolist()]
    mismatches = [(v, g, e) for v, g, e in zip(series.tolist(), pilot.tolist(), pilot_expected) if g != e]
    assert not mismatches, mismatches[:10]
    assert not (pilot & ~got).any()  # every pilot-era code is a valid one
    return got


def test_worked_example():
    assert uscc_check_char(EXAMPLE[:17]) == "C"
    got = assert_agrees([EXAMPLE, EXAMPLE[:17] + "D"])
    assert got.tolist() == [True, False]


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_fullwidth_lowercase_and_spaces(dtype):
    forms = [
        _fullwidth(EXAMPLE),
        EXAMPLE.lower(),
        _fullwidth(EXAMPLE.lower()),
        f"  {EXAMPLE}\t",
        f"\u3000{_fullwidth(EXAMPLE)}\u3000",  # ideographic spaces
        "9112 0116 6974 1578 2C",
        "\x1c" + EXAMPLE + "\x1f",  # str.strip() removes these too
        EXAMPLE[:9] + "\t" + EXAMPLE[9:],  # an inner tab is not removed: invalid
    ]
    got = assert_agrees(forms, dtype=dtype)
    assert got.tolist() == [True] * 7 + [False]


def test_wrong_lengths_blanks_and_nulls():
    values = ["", " ", "\u3000", EXAMPLE[:17], EXAMPLE + "0", EXAMPLE * 2, "9", None, float("nan")]
    got = assert_agrees(values)
    assert not got.any()
    assert_agrees([v for v in values if v is not None and v == v], dtype="str")
    assert_agrees([EXAMPLE, None, pd.NA, ""], dtype="string")


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_letters_outside_the_charset(letter):
    values = [EXAMPLE[:pos] + letter + EXAMPLE[pos + 1:] for pos in range(18)]
    got = assert_agrees(values + [v.lower() for v in values])
    assert not got.any()


def test_letters_in_positions_3_to_8():
    # Recompute the check char so only the region rule can fail.
    values = []
    for pos in range(2, 8):
        first17 = EXAMPLE[:pos] + "A" + EXAMPLE[pos + 1:17]
        values.append(first17 + uscc_check_char(first17))
    got = assert_agrees(values)
    assert not got.any()


def _pilot(dept: str = "91", region_tail: str = "0100", rest: str = "1234", check_ok: bool = False) -> str:
    """A pilot-era code (DOMAIN.md §1: positions 3-4 ``35``, 9 ``M``, 10-12 ``000``); C18 wrong unless ``check_ok``."""
    first17 = dept + "35" + region_tail + "M000" + rest + "5"
    right = uscc_check_char(first17)
    return first17 + (right if check_ok else next(c for c in USCC_CHARSET if c != right))


def test_pilot_era_codes():
    wrong, right = _pilot(), _pilot(check_ok=True)
    values = [
        wrong,  # check character fails: accepted as issued
        right,
        wrong.lower(),
        _fullwidth(wrong),
        f" {wrong}\t",
        _pilot("Y1", "9999", "ABCD"),
        wrong[:5] + "A" + wrong[6:],  # a letter in 3-8: still invalid
        wrong[:8] + "N" + wrong[9:],  # not M000: the check char decides (wrong)
        wrong[:17] + "I",  # I is not in the charset
        wrong[:17],  # too short
        "35" + "010200" + wrong[8:],  # 35 in positions 1-2, not 3-4: no pilot shape, check char wrong
        "35" + "020100" + "M000" + "1234AB",  # the old, wrong allow-list pattern: now rejected
    ]
    got = assert_agrees(values)
    assert got.tolist() == [True] * 6 + [False] * 6
    assert uscc_pilot_era_mask(pd.Series(values)).tolist() == [True] * 6 + [False] * 6


def test_keeps_the_index_of_a_filtered_column():
    # GX hands map metrics the column with nulls dropped: a gappy, non-zero-based index.
    full = pd.Series([EXAMPLE, None, "bad", EXAMPLE.lower(), None, EXAMPLE[:17] + "0"], dtype="str", index=range(100, 106))
    column = full.dropna()
    got = uscc_valid_mask(column)
    assert got.index.equals(column.index)
    assert got.to_dict() == {100: True, 102: False, 103: True, 105: False}
    assert uscc_valid_mask(column.iloc[:0]).empty


def test_non_text_columns_fall_back_to_the_scalar_rule():
    assert_agrees([EXAMPLE, 123, None, 1.5])
    assert_agrees([91120116697415782])


_SUBSTITUTES = sorted(set(USCC_CHARSET + USCC_CHARSET.lower() + "IOZSVioszv -\t\u3000\uff21\uff11é"))
_dept = st.text(alphabet=USCC_CHARSET, min_size=2, max_size=2)
_region = st.text(alphabet="0123456789", min_size=6, max_size=6)
_body = st.text(alphabet=USCC_CHARSET, min_size=8, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dept=_dept, region=_region, body=_body)
def test_every_single_character_substitution(dept, region, body):
    code = make_uscc(dept, region, body)
    assert is_valid_uscc(code)
    variants = [code, code.lower(), _fullwidth(code)]
    variants += [code[:pos] + c + code[pos + 1:] for pos in range(18) for c in _SUBSTITUTES]
    variants += [code[:pos] + code[pos + 1:] for pos in range(18)]  # deletions: wrong length
    assert_agrees(variants)
    assert_agrees(variants, dtype="str", index=np.arange(len(variants)) * 3 + 7)


_near_alphabet = st.sampled_from(list(USCC_CHARSET + "abcdefghijklmnopqrstuvwxyzIOZSV \t\u3000\uff10\uff21\uff4d\u0131\u00df"))
_near_codes = st.lists(_near_alphabet, min_size=15, max_size=21).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=24), _near_codes, st.none()), max_size=40))
def test_random_strings(values):
    assert_agrees(values)
    assert_agrees([v for v in values if v is not None], dtype="str")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_dept, _region, _body, st.sampled_from(["plain", "lower", "fullwidth", "padded", "pilot"])), min_size=1, max_size=30))
def test_generated_codes_in_every_spelling(parts):
    values = []
    for dept, region, body, spelling in parts:
        code = make_uscc(dept, region, body)
        if spelling == "pilot":  # positions 3-4 35, 9 M, 10-12 000; any tail (the check char may fail)
            code = dept + "35" + region[2:] + "M000" + body[:6]
        values.append({"plain": code, "lower": code.lower(), "fullwidth": _fullwidth(code), "padded": f" {code} ", "pilot": code}[spelling])
    got = assert_agrees(values)
    assert got.all()
