"""check_batch hands GX fewer, cheaper frames: still the results of one whole-frame run.

* plain (not) null checks share one frame with the nearly empty ``_unparsed_*`` columns;
* overlapping small groups share a frame (pair checks along a chain of dates...);
* a text column read only by row conditions comparing it for (in)equality, membership
  or missing values is given to those expectations as ``category``.
Every result must equal one ``batch.validate`` of the whole typed frame, in order.
"""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
import pytest

from gx_reference import comparable, whole_frame_validate
from safety_hub.config.registry import Rule, get_feed


@functools.lru_cache(maxsize=None)
def _day():
    from safety_hub_dev.simulator.generate import generate_day

    return generate_day(dt.date(2026, 11, 3))


def _records(feed_id: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(_day().records[feed_id]).astype("string").replace({"": pd.NA})


def _assert_same_as_whole_frame(feed, records, day):
    from safety_hub.quality.validate import check_batch

    check = check_batch(feed, records, day)
    whole = whole_frame_validate(feed, records, day)
    assert [comparable(r) for r in check.gx_result.results] == [comparable(r) for r in whole.results]
    assert check.gx_result.statistics == whole.statistics
    return check


@pytest.mark.parametrize("feed_id", ["emb_policy_measure", "hcc_gas_inspection", "hcc_hazard", "tc_rail_hazard", "hcc_major_hazard_work",
                                     "emb_insurance", "emb_accident", "emb_hazard"])
def test_feeds_with_row_conditions_equal_one_whole_frame_run(feed_id):
    _assert_same_as_whole_frame(get_feed(feed_id), _records(feed_id), dt.date(2026, 11, 3))


def _cond(column, operator, parameter):
    return {"type": "comparison", "column": {"name": column}, "operator": operator, "parameter": parameter}


EXTRA_RULES = [
    Rule(id="x.ne", expectation="expect_column_values_to_be_null", kwargs={"column": "measures", "row_condition": _cond("status", "!=", "验收销号")}),
    Rule(id="x.not_in", expectation="expect_column_values_to_not_be_null", kwargs={"column": "closed_date", "row_condition": _cond("status", "NOT_IN", ["待整改", "整改中"])}),
    Rule(id="x.in", expectation="expect_column_values_to_not_be_null", kwargs={"column": "closed_date", "row_condition": _cond("status", "IN", ["待整改"])}),
    Rule(id="x.and", expectation="expect_column_values_to_be_in_set",
         kwargs={"column": "grade", "value_set": ["重大隐患"], "row_condition": {"type": "and", "conditions": [_cond("category", "==", "消防安全"), _cond("source", "!=", "企业自查")]}}),
    Rule(id="x.or", expectation="expect_column_values_to_be_null",
         kwargs={"column": "deadline", "row_condition": {"type": "or", "conditions": [_cond("owner", "==", "张伟"), {"type": "nullity", "column": {"name": "report_batch"}, "is_null": True}]}}),
    Rule(id="x.nullity", expectation="expect_column_values_to_not_be_null", kwargs={"column": "fixed_date", "row_condition": {"type": "nullity", "column": {"name": "category"}, "is_null": False}}),
    # not eligible: an order comparison, a non-text parameter, the condition's column also checked
    Rule(id="x.order", expectation="expect_column_values_to_be_null", kwargs={"column": "measures", "row_condition": _cond("status", ">", "待整改")}),
    Rule(id="x.self", expectation="expect_column_values_to_be_in_set", kwargs={"column": "status", "value_set": ["验收销号"], "row_condition": _cond("status", "!=", "待整改")}),
]


def _with_rules(feed, rules):
    return feed.model_copy(update={"validation": feed.validation.model_copy(update={"rules": [*feed.validation.rules, *rules]})})


def test_conditions_on_categorical_columns_select_the_same_rows():
    feed = _with_rules(get_feed("emb_hazard"), EXTRA_RULES)
    records = _records("emb_hazard").copy()
    # missing values in the condition columns (they match neither == nor IN; != and NOT_IN keep them)
    for col in ("zgzt", "yhlb", "yhly", "zrr", "bsbc"):
        records.loc[records.index[::7], col] = pd.NA
    check = _assert_same_as_whole_frame(feed, records, dt.date(2026, 11, 3))
    assert all(check.rule_counts[r.id] > 0 for r in EXTRA_RULES), check.rule_counts  # every rule finds rows to compare


def test_which_columns_are_given_as_categories():
    from safety_hub.quality.expectations import build_suite
    from safety_hub.quality.normalise import normalise
    from safety_hub.quality.engine import Engine, _plan_facts, _Suite, _Typed

    Engine().context  # noqa: B018  (a GX context, our expectations registered)
    feed = _with_rules(get_feed("emb_hazard"), EXTRA_RULES)
    typed = normalise(feed, _records("emb_hazard"))
    suite = build_suite(feed, dt.date(2026, 11, 3))
    condition_only = _plan_facts(_Typed(typed), _Suite(suite))[3]
    got = {e.meta["rule_id"]: set(cols) for e, cols in zip(suite.expectations, condition_only) if cols}
    assert got == {
        "closed_date.required_if_closed": {"status"}, "measures.required_if_major": {"grade"}, "deadline.required_if_major": {"grade"},
        "x.ne": {"status"}, "x.not_in": {"status"}, "x.in": {"status"}, "x.and": {"category", "source"},
        "x.or": {"owner", "report_batch"}, "x.nullity": {"category"},
    }  # listed_supervision is boolean; x.order compares order; x.self checks its condition's column


def test_groups_cover_every_expectation_once_with_categories():
    from safety_hub.quality.expectations import build_suite
    from safety_hub.quality.normalise import normalise
    from safety_hub.quality.engine import Engine, _expectation_groups, _plan_facts, _Suite, _Typed

    Engine().context  # noqa: B018  (a GX context, our expectations registered)
    feed = _with_rules(get_feed("emb_hazard"), EXTRA_RULES)
    typed = normalise(feed, _records("emb_hazard"))
    suite = build_suite(feed, dt.date(2026, 11, 3))
    ranged, sparse, complete, categorical = _plan_facts(_Typed(typed), _Suite(suite))
    groups = _expectation_groups(_Suite(suite), list(typed.columns), ranged, sparse, categorical, complete)
    members = sorted(i for _, m in groups for i in m)
    assert members == list(range(len(suite.expectations)))
    for cols, m in groups:  # one set of categorical columns per frame
        assert len({categorical[i] for i in m}) == 1
        assert cols is None or all(categorical[i] <= set(cols) for i in m)
