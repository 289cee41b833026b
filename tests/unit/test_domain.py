"""Unit and property tests for ``safety_hub.domain`` (DOMAIN.md §1, §2, rule C4)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety_hub.domain.places import DISTRICTS, map_district
from safety_hub.domain.uscc import USCC_CHARSET, USCC_WEIGHTS, is_pilot_era_uscc, is_valid_uscc, make_uscc, normalise_uscc, org_code_check_char, uscc_check_char
from safety_hub.domain.dates import parse_date

WORKED_EXAMPLE = "91120116697415782C"  # DOMAIN.md §1: sum 1321, 1321 mod 31 = 19, 31 - 19 = 12 -> 'C'
ORG_WEIGHTS_FROM_SPEC = (3, 7, 9, 10, 5, 8, 4, 2)  # DOMAIN.md §1, GB 11714


def _substitutions(code: str):
    """Every code that differs from ``code`` in exactly one position (by another charset character)."""
    for pos in range(len(code)):
        for ch in USCC_CHARSET:
            if ch != code[pos]:
                yield pos, ch, code[:pos] + ch + code[pos + 1 :]


def _org_value(ch: str) -> int:
    """GB 11714 value of a character: digits as themselves, letters A=10 ... Z=35."""
    return int(ch) if ch.isdigit() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(ch) + 10


# --- is_valid_uscc / uscc_check_char -------------------------------------------------


def test_worked_example_is_valid():
    assert is_valid_uscc(WORKED_EXAMPLE)


def test_worked_example_check_char():
    assert uscc_check_char(WORKED_EXAMPLE[:17]) == "C"


def test_worked_example_sum_matches_domain_doc():
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(WORKED_EXAMPLE[:17], USCC_WEIGHTS))
    assert total == 1321
    assert 31 - total % 31 == 12 == USCC_CHARSET.index("C")


def test_weights_are_powers_of_three_mod_31():
    assert USCC_WEIGHTS == tuple(pow(3, i, 31) for i in range(17))
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_charset_excludes_ambiguous_letters():
    assert len(USCC_CHARSET) == 31
    assert not set("IOZSV") & set(USCC_CHARSET)


@pytest.mark.parametrize(
    "variant",
    [
        "９１１２０１１６６９７４１５７８２Ｃ",  # full-width
        "91120116697415782c",  # lower-case check char
        "  91120116697415782C  ",  # padded
        "\u300091120116697415782c\t",  # ideographic space + tab + lower-case
        " ９１１２０１１６６９７４１５７８２ｃ ",  # full-width lower-case, padded
    ],
)
def test_normalised_forms_of_valid_code_are_accepted(variant):
    assert normalise_uscc(variant) == WORKED_EXAMPLE
    assert is_valid_uscc(variant)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        WORKED_EXAMPLE[:17],  # too short
        WORKED_EXAMPLE + "0",  # too long
        "9112011669741578",  # 16
    ],
)
def test_wrong_length_and_blank_rejected(value):
    assert not is_valid_uscc(value)


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_letters_outside_charset_rejected(letter):
    # Put the forbidden letter in the body (position 10) and also try it as the check char.
    in_body = WORKED_EXAMPLE[:9] + letter + WORKED_EXAMPLE[10:]
    as_check = WORKED_EXAMPLE[:17] + letter
    assert not is_valid_uscc(in_body)
    assert not is_valid_uscc(as_check)
    assert not is_valid_uscc(as_check.lower())


@pytest.mark.parametrize("pos", range(2, 8))
def test_non_digit_in_region_rejected_even_with_matching_check_char(pos):
    # Build a code whose check char is *correct* for a letter in positions 3-8, so only
    # the "digits in 3-8" rule can reject it.
    first17 = WORKED_EXAMPLE[: pos] + "A" + WORKED_EXAMPLE[pos + 1 : 17]
    code = first17 + uscc_check_char(first17)
    assert not is_valid_uscc(code)


def test_wrong_check_char_rejected():
    for ch in USCC_CHARSET:
        code = WORKED_EXAMPLE[:17] + ch
        assert is_valid_uscc(code) is (ch == "C")


def _pilot17(dept: str = "91", region: str = "350100", rest: str = "12345") -> str:
    """The first 17 positions of a pilot-era code (DOMAIN.md §1): 3-4 ``35``, 9 ``M``, 10-12 ``000``."""
    assert region.startswith("35")
    return dept + region + "M000" + rest


def _with_wrong_check(first17: str) -> str:
    right = uscc_check_char(first17)
    return first17 + next(c for c in USCC_CHARSET if c != right)


@pytest.mark.parametrize("dept", ["91", "92", "12", "52", "Y1", "0A"])
def test_pilot_era_code_accepted_and_flagged_with_wrong_check_char(dept):
    first17 = _pilot17(dept)
    for code in (_with_wrong_check(first17), first17 + uscc_check_char(first17)):
        assert is_valid_uscc(code), code  # legal: never quarantined
        assert is_pilot_era_uscc(code), code  # flagged by the warning rule
        assert is_valid_uscc(code.lower()) and is_pilot_era_uscc(" " + code.lower() + " ")


def test_pilot_era_allow_list_is_the_documented_shape():
    first17 = _pilot17()
    # Each part of the shape matters: without it, a wrong check char is rejected (and nothing flagged).
    for mutated in (
        first17[:2] + "36" + first17[4:],  # positions 3-4 not 35
        first17[:8] + "N" + first17[9:],  # position 9 not M
        first17[:9] + "001" + first17[12:],  # positions 10-12 not 000
        "35" + "010200" + first17[8:],  # 35 in positions 1-2 (the old, wrong reading): not pilot shape
        "35020000M00012345",  # the old allow-list's own example
    ):
        code = _with_wrong_check(mutated)
        assert not is_valid_uscc(code), code
        assert not is_pilot_era_uscc(code), code
    # A valid ordinary code is not flagged.
    assert is_valid_uscc(WORKED_EXAMPLE) and not is_pilot_era_uscc(WORKED_EXAMPLE)


def test_pilot_era_code_still_needs_length_charset_and_region_digits():
    code = _with_wrong_check(_pilot17())
    for bad in (code[:17], code + "0", code[:17] + "S", code[:17] + "I", "9I" + code[2:], code[:6] + "A" + code[7:]):
        assert not is_valid_uscc(bad), bad
        assert not is_pilot_era_uscc(bad), bad
    assert not is_pilot_era_uscc(None) and not is_pilot_era_uscc("")


dept_types = st.sampled_from(["91", "92", "12", "52", "11", "59"])
regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
bodies = st.text(alphabet=USCC_CHARSET, min_size=8, max_size=8)


@settings(max_examples=150, deadline=None)
@given(dept_types, regions, bodies)
def test_made_codes_valid_and_every_single_substitution_invalid(dept_type, region, body8):
    code = make_uscc(dept_type, region, body8)
    assert len(code) == 18
    assert code.startswith(dept_type + region + body8)
    assert code[16] == org_code_check_char(body8)
    assert is_valid_uscc(code)
    for pos, ch, mutated in _substitutions(code):
        # A substitution that makes a pilot-era code (..35....M000......) is allow-listed by design.
        assert is_valid_uscc(mutated) is is_pilot_era_uscc(mutated), (code, pos, ch, mutated)


def test_every_single_substitution_of_worked_example_invalid():
    count = 0
    for pos, ch, mutated in _substitutions(WORKED_EXAMPLE):
        assert not is_valid_uscc(mutated), (pos, ch, mutated)
        count += 1
    assert count == 18 * 30


# --- org_code_check_char (GB 11714) -------------------------------------------------


def test_org_code_check_char_by_hand_digits():
    # Body of the worked example: 69741578 (its position 17 is '2').
    # 6*3 + 9*7 + 7*9 + 4*10 + 1*5 + 5*8 + 7*4 + 8*2
    # = 18 + 63 + 63 + 40 + 5 + 40 + 28 + 16 = 273;  273 mod 11 = 9;  11 - 9 = 2  -> '2'
    assert org_code_check_char("69741578") == "2"
    assert WORKED_EXAMPLE[16] == "2"


def test_org_code_check_char_by_hand_letters():
    # A1B2C3D4 with A=10, B=11, C=12, D=13:
    # 10*3 + 1*7 + 11*9 + 2*10 + 12*5 + 3*8 + 13*4 + 4*2
    # = 30 + 7 + 99 + 20 + 60 + 24 + 52 + 8 = 300;  300 mod 11 = 3;  11 - 3 = 8  -> '8'
    assert org_code_check_char("A1B2C3D4") == "8"


def _brute_force_body(remainder: int) -> str:
    for digits in itertools.product("0123456789", repeat=8):
        body = "".join(digits)
        if sum(_org_value(c) * w for c, w in zip(body, ORG_WEIGHTS_FROM_SPEC)) % 11 == remainder:
            return body
    raise AssertionError(f"no body with remainder {remainder}")


def test_org_code_check_10_is_x():
    body = _brute_force_body(1)  # 11 - 1 = 10
    assert org_code_check_char(body) == "X"


def test_org_code_check_11_is_zero():
    body = _brute_force_body(0)  # 11 - 0 = 11
    assert org_code_check_char(body) == "0"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))
def test_org_code_check_char_matches_spec(body):
    check = 11 - sum(_org_value(c) * w for c, w in zip(body, ORG_WEIGHTS_FROM_SPEC)) % 11
    expected = {10: "X", 11: "0"}.get(check, str(check))
    assert org_code_check_char(body) == expected


# --- map_district ---------------------------------------------------------------------

CURRENT_CODES = [
    "120101", "120102", "120103", "120104", "120105", "120106", "120110", "120111",
    "120112", "120113", "120114", "120115", "120116", "120117", "120118", "120119",
]
LEGACY = {
    "120107": "120116",
    "120108": "120116",
    "120109": "120116",
    "120221": "120117",
    "120222": "120114",
    "120223": "120118",
    "120224": "120115",
    "120225": "120119",
}


def test_sixteen_current_districts():
    assert sorted(DISTRICTS) == CURRENT_CODES


@pytest.mark.parametrize("code", CURRENT_CODES)
def test_current_code_maps_to_itself(code):
    assert map_district(code) == code


@pytest.mark.parametrize("legacy,current", sorted(LEGACY.items()))
def test_legacy_code_maps_to_current(legacy, current):
    assert map_district(legacy) == current


@pytest.mark.parametrize(
    "value,expected",
    [
        ("塘沽", "120116"),
        ("汉沽", "120116"),
        ("大港区", "120116"),
        ("滨海新区", "120116"),
        ("和平区", "120101"),
        ("和平", "120101"),
        ("天津市南开区", "120104"),
        ("保税区", "120116"),
        ("东疆", "120116"),
        ("蓟县", "120119"),
        ("蓟州区", "120119"),
        ("武清县", "120114"),
        (" 西青区 ", "120111"),
        ("１２０１０１", "120101"),
        ("１２０２２２", "120114"),
        ("120101.0", "120101"),
        ("120107.0", "120116"),
        (120104, "120104"),
    ],
)
def test_map_district_names_and_forms(value, expected):
    assert map_district(value) == expected


@pytest.mark.parametrize("value", ["120199", "北京", "北京市朝阳区", "", "999999", None, float("nan")])
def test_map_district_unknown_is_none(value):
    assert map_district(value) is None


# --- parse_date (C4) ----------------------------------------------------------------


def test_excel_epoch_arithmetic():
    # 1899-12-30 + 44260 days = 2021-03-05 (independent of the package)
    assert dt.date(1899, 12, 30) + dt.timedelta(days=44260) == dt.date(2021, 3, 5)


@pytest.mark.parametrize(
    "text",
    ["2021.3.5", "2021年3月5日", "2021-03-05", "2021/3/5", "20210305", "44260", " 2021-03-05 ", "２０２１-０３-０５"],
)
def test_parse_date_formats(text):
    assert parse_date(text) == dt.date(2021, 3, 5)


@pytest.mark.parametrize("value", ["1900-01-01", "1900.1.1", "abc", "", "   ", None, "2021-02-30", "2021.13.1", "2021年2月30日"])
def test_parse_date_rejects(value):
    assert parse_date(value) is None


def test_parse_date_passes_dates_through():
    assert parse_date(dt.date(2021, 3, 5)) == dt.date(2021, 3, 5)
    assert parse_date(dt.datetime(2021, 3, 5, 10, 30)) == dt.date(2021, 3, 5)


@pytest.mark.parametrize("code, sector", [
    ("C2614", "危化"), ("C2672", "烟花爆竹"), ("F5265", "危化"), ("F5211", "工贸"), ("B0810", "非煤矿山"),
    ("C3120", "金属冶炼"), ("E4790", "建筑"), ("G5435", "危货运输"), ("G5430", None), ("D4511", "燃气"),
    ("A0421", "渔业"), ("G5310", "铁路"), ("c2614", "危化"), ("Ｃ２６１４", "危化"), ("K7010", None), (None, None),
])
def test_industry_sector_longest_prefix(code, sector):
    from safety_hub.domain.industry import industry_sector

    assert industry_sector(code) == sector


# The whole value must be a date (issue 14: 2026-10-05xyz was read as 2026-10-05).
@pytest.mark.parametrize("value", [
    "2026-10-05xyz", "2026-10-05 xyz", "2026-10-05-extra", "2026/10/5号", "2026/10/05 10:30 备注", "2026年10月5日前",
    "x2026-10-05", "2026-10-05T", "2026-10-05 10", "2026-10-05 25:00", "2026-10-05 10:60", "2026-10-05T10:00:61",
    "2026-10-05T10:00:00+08:00junk", "2026.10.5 10:00", "202610051", "46300.5", "2026-10-05 10:00 10:00",
])
def test_parse_date_requires_the_whole_value(value):
    assert parse_date(value) is None


@pytest.mark.parametrize("value", [
    "2026-10-05", "2026-10-5", "2026/10/5", "2026/10/05", "2026.10.5", "2026年10月5日", "20261005", "46300", "46300.0",
    "２０２６－１０－０５", " 2026-10-05 ", "\u30002026年10月5日\u3000",
    # date-times in date columns, as spreadsheets and databases write them: the date as written
    "2026-10-05 10:30", "2026-10-05 10:30:15", "2026-10-05T10:30:15", "2026-10-05T10:30:15.123456",
    "2026-10-05T23:59:59+08:00", "2026-10-05T00:00:00Z", "2026/10/05 08:00", "2026-10-05 00:00:00",
])
def test_parse_date_keeps_every_legitimate_spelling(value):
    assert parse_date(value) == dt.date(2026, 10, 5)
