"""Precision and recall of validation per injected defect kind, over a simulated week.

The simulator injects at most one defect per record and records, for each, the
rule expected to catch it (``expected_rule``: quarantined) or to flag it
(``expected_flag``: loaded with a warning). Every feed's records of seven
business days are validated with the feed's real suite; per defect kind:

* recall: every injected defect is caught, under the rule that describes it;
* precision: every row caught by that rule was injected with a defect for it,
  so no clean row is quarantined or flagged.

Delivery bytes (CSV encodings, XLSX layouts, API pages) are covered by
``test_feeds_truth.py``; here every feed's records land as JSON records (as API
pages and database extracts do), the cheapest path, so seven days stay affordable.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import logging

import pytest

import pandas as pd
from safety_hub.ingest.landing import apply_aliases
from safety_hub.quality.validate import check_batch
from safety_hub.config.registry import get_feed
from safety_hub_dev.simulator.generate import REPAIRABLE, generate_day
from safety_hub_dev.simulator.spec import SPECS

WEEK = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(7)]
# A swapped date pair may also put the earlier field after the business day.
SECONDARY = {"date_order": (".not_future",)}


@functools.lru_cache(maxsize=None)
def week():
    return [generate_day(day) for day in WEEK]


@functools.lru_cache(maxsize=None)
def outcomes(feed_id: str) -> list[dict]:
    """Per delivered key and day: kind injected, rules expected, rules that fired."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed = get_feed(feed_id)
    rows = []
    for data in week():
        # As an API page or a database extract lands: one JSON object per record.
        frame = apply_aliases(feed, pd.DataFrame.from_records(json.loads(json.dumps(data.records[feed_id], ensure_ascii=False))))
        check = check_batch(feed, frame, data.day)
        keys = check.typed[feed.key[0]].astype("string")
        fired: dict[str, set[str]] = collections.defaultdict(set)
        flagged: dict[str, set[str]] = collections.defaultdict(set)
        for idx, rules in check.failures.items():
            fired[keys[idx]].update(rules)
        for idx, rules in check.flags.items():
            flagged[keys[idx]].update(rules)
        # duplicates and resubmissions are for the load and the warehouse; so are status regressions
        # (found by comparing with the earlier version: tests/e2e/test_hazards.py)
        defects = {d["key"]: d for d in data.truth["feeds"][feed_id]["defects"] if d["kind"] not in ("duplicate", "resubmitted")}
        later = {k for k, d in defects.items() if d.get("stage") == "warehouse"}
        for key in set(keys.dropna()) - later:
            d = defects.get(key, {})
            rows.append({
                "day": data.day, "key": key, "kind": d.get("kind", "clean"),
                "expected_rule": d.get("expected_rule"), "expected_flag": d.get("expected_flag"),
                "fired": fired.get(key, set()), "flagged": flagged.get(key, set()),
            })
    return rows


def score(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Per kind: injected, caught (under its rule), and rows its rule caught that lack that defect."""
    table: dict[str, dict[str, int]] = collections.defaultdict(lambda: {"injected": 0, "caught": 0, "false_alarms": 0})
    expected_by_rule: dict[str, set] = collections.defaultdict(set)
    kind_rules: dict[str, set[str]] = collections.defaultdict(set)
    for r in rows:
        rule = r["expected_rule"] or r["expected_flag"]
        if rule:
            expected_by_rule[rule].add((r["day"], r["key"]))
            kind_rules[r["kind"]].add(rule)
    for r in rows:
        rule = r["expected_rule"] or r["expected_flag"]
        if rule:
            t = table[r["kind"]]
            t["injected"] += 1
            got, other = (r["fired"], r["flagged"]) if r["expected_rule"] else (r["flagged"], r["fired"])
            extra = {x for x in got - {rule} if not x.endswith(SECONDARY.get(r["kind"], ("\0",)))}
            t["caught"] += int(rule in got and not extra and not other)
        for fired_rule in r["fired"] | r["flagged"]:
            if (r["day"], r["key"]) not in expected_by_rule[fired_rule] and not any(
                    fired_rule.endswith(s) for s in SECONDARY.get(r["kind"], ())):
                kinds = [k for k, rules in kind_rules.items() if fired_rule in rules] or [f"unexpected rule {fired_rule}"]
                for k in kinds:
                    table[k]["false_alarms"] += 1
    return dict(table)


@pytest.mark.parametrize("feed_id", sorted(SPECS))
def test_every_defect_kind_is_caught_exactly_over_a_week(feed_id):
    table = score(outcomes(feed_id))
    report = {k: {**v, "precision": v["caught"] / max(1, v["caught"] + v["false_alarms"]), "recall": v["caught"] / max(1, v["injected"])}
              for k, v in table.items()}
    print(f"\n{feed_id}: " + json.dumps(report, ensure_ascii=False, indent=1))
    for kind, t in report.items():
        assert t["recall"] == 1.0 and t["precision"] == 1.0, (feed_id, kind, t)


@pytest.mark.parametrize("feed_id", sorted(SPECS))
def test_clean_and_repaired_rows_pass(feed_id):
    """Clean records, and records whose defect the pipeline repairs, are neither quarantined nor flagged."""
    passing = [r for r in outcomes(feed_id) if r["kind"] in {"clean", *REPAIRABLE}]
    assert passing
    wrongly = [(r["day"], r["key"], sorted(r["fired"] | r["flagged"])) for r in passing if r["fired"] or r["flagged"]]
    assert not wrongly, wrongly[:5]


def test_the_week_injects_every_kind_of_every_dataset():
    """Each dataset's own rule defects occur in the week, so the per-kind check above is not vacuous (a small
    ledger carries one of its kinds a day in turn: ``DatasetSpec.rule_defect_each_day``)."""
    seen = {(f, d["kind"]) for data in week() for f, t in data.truth["feeds"].items() for d in t["defects"]}
    missing = [(f, rd.kind) for f, spec in SPECS.items() for rd in spec.rule_defects if (f, rd.kind) not in seen]
    assert not missing, missing
    generic = {"duplicate", "invalid_uscc", "missing_required", "fullwidth", "unknown_district", "date_order", "resubmitted", "status_regression"}
    assert generic <= {k for _, k in seen}
