"""The simulator's history defects held to the warehouse's rules over a simulated week (no Airflow).

安责险 cover gaps and overlaps (``emb_insurance``) and penalty document numbers reused across days
(``emb_enforcement``) show only over several batches. The week's valid records are typed by the
feeds' own normalisation, kept one row per key (the newest day's version, as the load merges) in
a DuckDB warehouse, and the cross rules must flag exactly the truth's defects whose partner was
loaded too: over the whole week, the e2e tests' three days, and days with one missing between them.
"""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub.landing import apply_aliases
from safety_hub.quality.normalise import normalise
from safety_hub.registry import get_feed
from safety_hub_dev.simulator.generate import generate_day
from safety_hub_dev.simulator.spec import SPECS
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.crosscheck import run_cross_rules
from safety_hub.warehouse.engine import ensure_schema

WEEK = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(7)]
RULES = {"emb_insurance": {"insurance_cover.no_overlap", "insurance_cover.no_gap"},
         "emb_enforcement": {"doc_no.unique_across_batches"}}


@functools.lru_cache(maxsize=None)
def day_data(day: dt.date):
    return generate_day(day)


def fact_rows(feed_id: str, day: dt.date, columns: list[str]) -> pd.DataFrame:
    """The day's valid records as the fact table holds them."""
    feed, data = get_feed(feed_id), day_data(day)
    records = pd.DataFrame.from_records(data.records[feed_id]).astype("string").replace({"": pd.NA})
    typed = normalise(feed, apply_aliases(feed, records))
    typed = typed[typed[feed.key[0]].isin(data.truth["feeds"][feed_id]["valid_keys"])].drop_duplicates(feed.key[0], keep="last")
    lineage = {"feed_id": feed_id, "batch_id": f"run-{day}", "business_date": day, "raw_file": f"raw/{feed_id}/dt={day}",
               "loaded_at": dt.datetime.now(dt.timezone.utc)}
    return typed.assign(**lineage)[columns]


def expected_flags(feed_id: str, days: list[dt.date]) -> set[tuple[str, str]]:
    """(key, rule) of the days' history defects whose partner's day is loaded as well."""
    out = set()
    for day in days:
        for d in day_data(day).truth["feeds"][feed_id]["defects"]:
            if d.get("expected_flag") not in RULES[feed_id]:
                continue
            if "origin_day" in d and dt.date.fromisoformat(d["origin_day"]) not in days:
                continue  # the case it shares a number with was never loaded
            out.add((d["key"], d["expected_flag"]))
            if "partner" in d:
                out.add((d["partner"], d["expected_flag"]))
    return out


@pytest.mark.parametrize("days", [WEEK, WEEK[:3], [WEEK[0], WEEK[2]], [WEEK[1], WEEK[3], WEEK[4]]],
                         ids=["week", "e2e-days", "day-missing", "other-days"])
def test_history_rules_flag_exactly_the_injected_defects(tmp_path, days):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    with engine.begin() as conn:
        for feed_id in RULES:
            table = md.tables[get_feed(feed_id).target_table]
            rows = pd.concat([fact_rows(feed_id, day, [c.name for c in table.columns]) for day in days])
            bulk_insert(conn, table, rows.drop_duplicates(get_feed(feed_id).key[0], keep="last"))
        run_cross_rules(conn, md)
        flags = conn.execute(sa.text("SELECT feed_id, record_key, rule_id FROM quality_flag")).all()
    engine.dispose()
    for feed_id, rules in RULES.items():
        got = {(key, rule) for f, key, rule in flags if f == feed_id and rule in rules}
        assert got == expected_flags(feed_id, days), feed_id


def test_the_week_holds_every_history_defect_kind_and_both_overlaps():
    """Not vacuous: each kind occurs where a test loads it, an overlap of each shape among them."""
    kinds = {(f, d["kind"]) for day in WEEK for f in RULES for d in day_data(day).truth["feeds"][f]["defects"]
             if d.get("stage") == "warehouse"}
    assert {(f, rd.kind) for f in RULES for rd in SPECS[f].rule_defects if rd.history} <= kinds
    e2e = [(f, d) for day in WEEK[:3] for f in RULES for d in day_data(day).truth["feeds"][f]["defects"] if d.get("stage") == "warehouse"]
    assert {"cover_gap", "policy_overlap", "headcount_below_employees"} <= {d["kind"] for f, d in e2e if f == "emb_insurance"}
    assert any(d["kind"] == "doc_no_reused" and dt.date.fromisoformat(d["origin_day"]) in WEEK[:3] for f, d in e2e)
    overlaps = [d for day in WEEK for d in day_data(day).truth["feeds"]["emb_insurance"]["defects"] if d["kind"] == "policy_overlap"]
    assert {d["after"][:-2] == d["key"][:-2] for d in overlaps} == {True, False}, "an early renewal and a second policy for one cover"


def test_renewals_follow_the_policy_they_renew():
    """A clean renewal starts the day after the policy it renews ends; both are delivered that day."""
    feed = get_feed("emb_insurance")
    for day in WEEK:
        data = day_data(day)
        defects = {d["key"] for d in data.truth["feeds"]["emb_insurance"]["defects"]}
        frame = normalise(feed, pd.DataFrame.from_records(data.records["emb_insurance"]).astype("string").replace({"": pd.NA}))
        frame = frame[frame["policy_no"].isin(set(data.truth["feeds"]["emb_insurance"]["valid_keys"]) - defects)]
        for uscc, policies in frame.drop_duplicates("policy_no").groupby("uscc"):
            if len(policies) != 2:
                continue  # a renewal whose other half carries a quarantined defect
            first, second = policies.sort_values("start_date").itertuples()
            assert second.start_date - first.end_date == pd.Timedelta(days=1), (day, uscc)
