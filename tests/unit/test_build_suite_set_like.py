"""build_suite adds each expectation once, as ExpectationSuite.add_expectation did, without its quadratic scan."""

from __future__ import annotations

import datetime as dt

import pytest

from safety_hub.config.registry import Rule, get_feed, load_registry


def _context():
    from safety_hub.quality.engine import Engine

    return Engine().context


def _reference_suite(feed, business_date):
    """The suite as build_suite made it before: one ExpectationSuite.add_expectation per rule."""
    import great_expectations as gx

    from safety_hub.quality.expectations import suite_rules

    suite = gx.ExpectationSuite(name=f"{feed.feed_id}_suite")
    for rule_id, expectation in suite_rules(feed, business_date):
        expectation.meta = {"rule_id": rule_id}
        suite.add_expectation(expectation)
    return suite


def _as_json(suite) -> list:
    """The suite's expectations, without their ids: add_expectation gives an expectation a random
    id when the suite belongs to a GX context's store (depends on which tests ran before)."""
    return [(e.expectation_type, {k: v for k, v in e.configuration.to_json_dict().items() if k != "id"}) for e in suite.expectations]


@pytest.mark.parametrize("feed_id", sorted(load_registry()))
def test_suite_equals_one_add_expectation_per_rule(feed_id):
    from safety_hub.quality.expectations import build_suite

    _context()
    feed, day = get_feed(feed_id), dt.date(2026, 11, 3)
    got, want = build_suite(feed, day), _reference_suite(feed, day)
    assert got.name == want.name and got.meta == want.meta
    assert _as_json(got) == _as_json(want)  # not got == want: ExpectationSuite equality compares the random ids


def test_a_repeated_rule_is_added_once_under_its_first_id():
    from safety_hub.quality.expectations import build_suite

    _context()
    feed = get_feed("emb_hazard")
    again = Rule(id="hazard_id.present", expectation="expect_column_values_to_not_be_null", kwargs={"column": "hazard_id"}, severity="error")
    other = Rule(id="grade.present_if_major", expectation="expect_column_values_to_not_be_null",
                 kwargs={"column": "grade", "row_condition": {"type": "comparison", "column": {"name": "grade"}, "operator": "==", "parameter": "重大隐患"}})
    feed = feed.model_copy(update={"validation": feed.validation.model_copy(update={"rules": [*feed.validation.rules, again, other, again]})})
    day = dt.date(2026, 11, 3)
    got, want = build_suite(feed, day), _reference_suite(feed, day)
    assert _as_json(got) == _as_json(want)
    ids = [e.meta["rule_id"] for e in got.expectations]
    assert "hazard_id.required" in ids and "hazard_id.present" not in ids and "grade.present_if_major" in ids
