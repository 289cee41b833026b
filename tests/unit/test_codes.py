"""The domain-code checks and the custom Great Expectations built on them.

Tricky cases come from DOMAIN.md: the USCC charset trap (S, V, Z allowed by a
public regex), the pilot-era allow-list, a firm keeping its old 武清县 region,
legacy district codes, full-width plates, 挂 trailers, 8-character new-energy
plates, bracket variants of penalty document numbers.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pytest

from safety_hub.domain import codes
from safety_hub.domain.uscc import make_uscc
from safety_hub.domain.places import map_district


@pytest.mark.parametrize("plate, ok", [
    ("津A12345", True),
    ("津ＡＢ1234", True),          # full-width letters, converted first (津Ａ -> 津A)
    ("津E8T6Y2", True),            # 津E is taxis: the letter does not mean a district
    ("津AD12345", True),           # new energy, small: D first, 8 characters
    ("津A12345F", True),           # new energy, large: F last
    ("津I12345", False),           # I and O are never issuing-office letters
    ("津O12345", False),
    ("津S12345", False),           # 津 offices stop at R
    ("京A12345", False),           # another province
    ("津A1234", False),            # too short
    ("津A123456", False),          # 8 characters but not a new-energy pattern
    ("津A1234挂", False),          # a trailer plate is not a motor vehicle plate
    ("", False),
])
def test_plate(plate, ok):
    assert codes.is_valid_plate(plate) is ok


@pytest.mark.parametrize("plate, ok", [
    ("津A1234挂", True), ("津ＲＸ８８１挂", True), ("津A12345", False), ("津A1234G", False), ("津I1234挂", False), ("冀A1234挂", False),
])
def test_trailer_plate(plate, ok):
    assert codes.is_valid_trailer_plate(plate) is ok


@pytest.mark.parametrize("permit, ok", [
    ("120116202403150107", True),
    ("１２０１１６２０２４０３１５０１０７", True),  # full-width digits
    ("130116202403150107", False),  # 河北 prefix: not a Tianjin permit
    ("120116202413150107", False),  # month 13
    ("120116202402300107", False),  # 30 February
    ("120116202403150007", False),  # sequence 00
    ("12011620240315010", False),   # 17 digits
    ("12011620240315010A", False),
])
def test_permit_no(permit, ok):
    assert codes.is_valid_permit_no(permit) is ok


def test_permit_specialty_is_a_soft_rule_checked_only_when_asked():
    assert codes.is_valid_permit_no("120116202403150125")
    assert not codes.is_valid_permit_no("120116202403150125", strict_specialty=True)
    assert codes.permit_date("120116202403150107") == dt.date(2024, 3, 15)
    assert codes.permit_date("120116202402300107") is None


@pytest.mark.parametrize("un, ok", [
    ("1203", True), ("UN1203", False), ("１２０３", True), ("0004", True), ("3599", True),
    ("0000", False), ("0003", False), ("3600", False), ("120", False), ("12030", False), ("12a3", False), ("", False),
])
def test_un_number(un, ok):
    assert codes.is_valid_un_number(un) is ok


@pytest.mark.parametrize("un, dg_class, ok", [
    ("1203", "第3类", True),      # petrol is class 3
    ("1203", "3", True),
    ("1075", "2.1", True),       # LPG: division 2.1 of class 2
    ("1203", "第8类", False),
    ("1830", "第3类", False),     # sulphuric acid is corrosive (8)
    ("9998", "第3类", True),      # unknown number: cannot be checked here
    ("1203", "不详", True),        # unreadable class: the enum rule reports it
])
def test_un_number_matches_class(un, dg_class, ok):
    assert codes.un_number_matches_class(un, dg_class) is ok


@pytest.mark.parametrize("doc, ok", [
    ("(津保)应急罚[2023]k-39号", True),   # the real one in DOMAIN.md
    ("（津保）应急罚〔2023〕k-39号", True),
    ("(津保)应急罚［2023］k-39号", True),
    ("津滨应急罚〔2026〕112号", True),
    ("(津)应急罚[2026]7号", True),
    ("(津保)应急罚[23]k-39号", False),    # two-digit year
    ("(津保)应急罚[1899]k-39号", False),
    ("(冀保)应急罚[2023]k-39号", False),
    ("(津保)应急罚[2023]k-39", False),    # no 号
    ("(津保)安监罚[2023]k-39号", False),
])
def test_penalty_doc_no(doc, ok):
    assert codes.is_valid_penalty_doc_no(doc) is ok


def test_doc_no_bracket_variants_normalise_to_one_spelling():
    variants = ["(津保)应急罚[2023]k-39号", "（津保）应急罚〔2023〕k-39号", "(津保)应急罚［2023］k-39号", " (津保)应急罚 [2023] k-39号 "]
    assert len({codes.normalise_doc_no(v) for v in variants}) == 1
    assert codes.normalise_doc_no(None) is None and codes.normalise_doc_no("  ") is None


def test_column_mask_calls_the_check_once_per_distinct_value():
    seen = []

    def check(value):
        seen.append(value)
        return value == "a"

    mask = codes.column_mask(pd.Series(["a", "b", "a", None, "a"], index=[10, 11, 12, 13, 14], dtype="string"), check)
    assert mask.tolist() == [True, False, True, False, True] and list(mask.index) == [10, 11, 12, 13, 14]
    assert sorted(seen) == ["a", "b"]


# --- The GX expectations over a real batch --------------------------------------------------

@pytest.fixture(scope="module")
def validate():
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    asset = ctx.data_sources.add_pandas("codes").add_dataframe_asset("frame")
    batch_def = asset.add_batch_definition_whole_dataframe("whole")

    def run(frame: pd.DataFrame, expectation) -> list[int]:
        result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(expectation, result_format={"result_format": "COMPLETE"})
        assert not (result.exception_info or {}).get("raised_exception"), result.exception_info
        return sorted(result.result.get("unexpected_index_list") or [])

    return run


def test_uscc_expectation_keeps_pilot_era_codes_and_a_lifelong_old_region(validate):
    from safety_hub.quality.expectations import ExpectColumnValuesToBeValidUscc

    good = "91120116697415782C"                       # DOMAIN.md's worked example
    old_region = make_uscc("91", "120222", "MA05KQ2T")  # 宝坻 firm still carrying 武清县's code
    pilot = "91350100M0001234XX"                      # pilot-era allow-list (DOMAIN.md §1): check character fails
    frame = pd.DataFrame({"uscc": [good, old_region, pilot, "91120116697415782S", "91120116697415782D", "9112011669741578", None]})
    assert validate(frame, ExpectColumnValuesToBeValidUscc(column="uscc")) == [3, 4, 5]


def test_known_district_expectation_after_legacy_mapping(validate):
    from safety_hub.quality.expectations import ExpectColumnValuesToBeKnownDistrict

    raw = ["120116", "120107", "塘沽", "120222", "保税区", "120199", "999999"]
    frame = pd.DataFrame({"district_code": pd.Series([map_district(v) or v for v in raw], dtype="string")})
    assert validate(frame, ExpectColumnValuesToBeKnownDistrict(column="district_code")) == [5, 6]


def test_code_expectations_flag_exactly_the_bad_rows(validate):
    from safety_hub.quality import expectations as ex

    frame = pd.DataFrame({
        "plate": ["津A12345", "津I12345", "津AD12345", None],
        "trailer": ["津A1234挂", "津A1234", None, "津B2345挂"],
        "permit": ["120116202403150107", "120116202413150107", "130116202403150107", None],
        "un": ["1203", "0000", "1830", "12030"],
        "doc": ["(津保)应急罚[2023]k-39号", "(津保)应急罚[23]k-39号", "（津）应急罚〔2026〕3号", None],
    })
    assert validate(frame, ex.ExpectColumnValuesToBeValidPlate(column="plate")) == [1]
    assert validate(frame, ex.ExpectColumnValuesToBeValidTrailerPlate(column="trailer")) == [1]
    assert validate(frame, ex.ExpectColumnValuesToBeValidPermitNo(column="permit")) == [1, 2]
    assert validate(frame, ex.ExpectColumnValuesToBeValidUnNumber(column="un")) == [1, 3]
    assert validate(frame, ex.ExpectColumnValuesToBeValidPenaltyDocNo(column="doc")) == [1]


def test_un_class_pair_expectation(validate):
    from safety_hub.quality.expectations import ExpectColumnPairUnNumberToMatchClass

    frame = pd.DataFrame({"un": ["1203", "1203", "1830", None, "1075"], "cls": ["第3类", "第8类", "第3类", "第3类", "第2类"]})
    assert validate(frame, ExpectColumnPairUnNumberToMatchClass(column_A="un", column_B="cls")) == [1, 2]


def test_consistent_per_key_fails_every_row_of_a_conflicting_key_but_not_resubmissions(validate):
    from safety_hub.quality.expectations import ExpectMulticolumnValuesToBeConsistentPerKey

    frame = pd.DataFrame({
        "doc_no_norm": ["D1", "D1", "D2", "D2", "D3", None, None],
        "record_id": ["R1", "R1", "R2", "R3", "R4", "R5", "R6"],  # D1 resubmitted; D2 shared by two cases
    })
    assert validate(frame, ExpectMulticolumnValuesToBeConsistentPerKey(column_list=["doc_no_norm", "record_id"])) == [2, 3]
    stretch = pd.DataFrame({
        "line": ["京沪线", "京沪线", "京沪线", "津山线"], "km_from": ["K1+000", "K1+000", "K5+000", "K1+000"],
        "km_to": ["K5+000", "K5+000", "K9+000", "K5+000"], "chief": ["张", "李", "王", "赵"],
    })
    assert validate(stretch, ExpectMulticolumnValuesToBeConsistentPerKey(column_list=["line", "km_from", "km_to", "chief"], key_columns=3)) == [0, 1]


def test_code_columns_are_stored_in_one_spelling():
    """A ``code`` column (plates, permits, UN numbers) is half-width, upper case and trimmed in the warehouse."""
    from safety_hub.quality.normalise import normalise
    from safety_hub.config.registry import get_feed

    typed = normalise(get_feed("tc_dg_waybill"), pd.DataFrame({"CPHM": ["津Ａ12345 ", "津b23456", None], "UNH": ["１２０３", "1203", ""],
                                                               "GCHM": ["津ａ1234挂", None, "津A1234挂"]}))
    assert typed["plate"].tolist()[:2] == ["津A12345", "津B23456"] and pd.isna(typed["plate"][2])
    assert typed["un_no"].tolist()[:2] == ["1203", "1203"] and pd.isna(typed["un_no"][2])
    assert typed["trailer_plate"].tolist()[0] == "津A1234挂"
