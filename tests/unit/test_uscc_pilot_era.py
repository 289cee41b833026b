"""Pilot-era USCCs (DOMAIN.md §1) load with a warning flag in every feed; other bad codes stay quarantined.

A pilot-era code has positions 3-4 ``35``, position 9 ``M`` and positions 10-12 ``000``
(``^[0-9A-HJ-NP-RTUW-Y]{2}35\\d{4}M000``); its check character may fail. Every ``uscc``
column of every feed gets the warning rule ``<column>.pilot_era`` beside ``<column>.valid_uscc``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

import pandas as pd
import pytest

from safety_hub.domain import USCC_CHARSET, is_pilot_era_uscc, is_valid_uscc, uscc_check_char
from safety_hub.landing import apply_aliases
from safety_hub.quality.validate import check_batch
from safety_hub.registry import load_registry
from safety_hub_dev.simulator.generate import generate_day
from safety_hub_dev.simulator.spec import SPECS

DAY = dt.date(2026, 11, 3)


def _wrong_check(first17: str) -> str:
    right = uscc_check_char(first17)
    return first17 + next(c for c in USCC_CHARSET if c != right)


PILOT = _wrong_check("91" + "350102" + "M000" + "7K3P" + "2")  # pilot shape, check character fails
NOT_PILOT = _wrong_check("35" + "010200" + "M000" + "7K3" + "2")  # 35 in positions 1-2 only: an ordinary bad code


def test_the_codes_used_here():
    assert is_valid_uscc(PILOT) and is_pilot_era_uscc(PILOT)
    assert not is_valid_uscc(NOT_PILOT) and not is_pilot_era_uscc(NOT_PILOT)


def _uscc_feeds() -> list[tuple[str, str]]:
    return [(f.feed_id, c.name) for f in load_registry().values() for c in f.columns if c.type == "uscc"]


def test_every_uscc_column_of_every_feed_has_the_warning_rule():
    from safety_hub.quality.expectations import ExpectColumnValuesToNotBePilotEraUscc, build_suite, rule_descriptions

    for feed in load_registry().values():
        suite = build_suite(feed, DAY)
        rules = {e.meta["rule_id"]: e for e in suite.expectations}
        descriptions = rule_descriptions(feed)
        for c in (c for c in feed.columns if c.type == "uscc"):
            rule = f"{c.name}.pilot_era"
            assert isinstance(rules.get(rule), ExpectColumnValuesToNotBePilotEraUscc), (feed.feed_id, rule)
            assert rules[rule].column == c.name
            assert feed.validation.severity(rule) == "warning"
            assert feed.validation.severity(f"{c.name}.valid_uscc") == "error"
            assert "试点" in descriptions[rule] and c.source in descriptions[rule]


@functools.lru_cache(maxsize=None)
def _clean(feed_id: str) -> tuple[dict, ...]:
    data = generate_day(DAY)
    truth = data.truth["feeds"][feed_id]
    valid, touched, key = set(truth["valid_keys"]), {d["key"] for d in truth["defects"]}, SPECS[feed_id].key
    return tuple(r for r in data.records[feed_id] if r[key] in valid and r[key] not in touched)


@pytest.mark.parametrize("feed_id", sorted({f for f, _ in _uscc_feeds()}))
def test_pilot_era_code_loads_flagged_and_a_35_prefix_is_still_rejected(feed_id):
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed = load_registry()[feed_id]
    columns = [c for c in feed.columns if c.type == "uscc"]
    records = apply_aliases(feed, pd.DataFrame([dict(r) for r in _clean(feed_id)[: 2 * len(columns) + 8]]).astype("string"))
    expected_flags, expected_failures = {}, {}
    for i, c in enumerate(columns):
        if c.source not in records.columns:
            pytest.skip(f"{feed_id}: {c.source} not delivered")
        records.loc[2 * i, c.source] = PILOT
        expected_flags[2 * i] = [f"{c.name}.pilot_era"]
        records.loc[2 * i + 1, c.source] = NOT_PILOT
        expected_failures[2 * i + 1] = [f"{c.name}.valid_uscc"]
    check = check_batch(feed, records, DAY)
    assert {i: sorted(r) for i, r in check.failures.items()} == expected_failures
    assert {i: sorted(r) for i, r in check.flags.items()} == expected_flags
    for i, c in enumerate(columns):
        assert check.typed[c.name][2 * i] == PILOT  # loaded as delivered
