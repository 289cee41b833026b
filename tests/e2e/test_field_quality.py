"""信息缺失: the warehouse's field quality history, per feed, data item and business day, held to the simulator's truth."""

from __future__ import annotations

import datetime as dt

from conftest import DAYS, query


def test_fill_counts_of_every_item_of_every_delivered_day_equal_the_truth(run):
    from safety_hub.config.registry import load_registry

    rows = query(run, "SELECT feed_id, business_date, source_field, column_name, records, filled, invalid FROM field_quality")
    assert len(rows), "field quality recorded"
    got = {(r.feed_id, dt.date.fromisoformat(str(r.business_date)[:10]), r.source_field): (int(r.records), int(r.filled))
           for r in rows.itertuples()}
    want = {}
    for feed_id, feed in load_registry().items():
        for day in DAYS:
            truth = run.truth[day]["feeds"][feed_id]
            for c in feed.columns:
                want[(feed_id, day, c.source)] = (truth["rows_delivered"], truth["filled"].get(c.source, 0))
    assert got == want
    assert any(filled < records for records, filled in want.values()), "the span leaves fields blank"


def test_invalid_counts_are_the_quarantined_records_of_each_items_rules(run):
    from safety_hub.config.registry import load_registry

    columns = {(f, c.name) for f, feed in load_registry().items() for c in feed.columns}
    rows = query(run, "SELECT feed_id, business_date, column_name, invalid FROM field_quality")
    q = query(run, "SELECT feed_id, business_date, split_part(rule_id, '.', 1) AS column_name, COUNT(DISTINCT row_number) AS n "
                   "FROM quarantine WHERE rule_id LIKE '%.%' AND rule_id <> 'status.no_regression' GROUP BY 1, 2, 3")
    want = {(r.feed_id, str(r.business_date)[:10], r.column_name): int(r.n) for r in q.itertuples() if (r.feed_id, r.column_name) in columns}
    got = {(r.feed_id, str(r.business_date)[:10], r.column_name): int(r.invalid) for r in rows.itertuples() if r.invalid}
    assert got and got == want
