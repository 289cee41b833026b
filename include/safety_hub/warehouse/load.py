"""Load a validated batch into its fact table: staging, then merge by key.

One transaction per batch: replace the batch's business-date partition, drop
incoming rows older than what is stored, delete superseded versions, insert.
A failure leaves the previous state; re-running a day changes nothing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from safety_hub.registry import Feed
from safety_hub.warehouse.bulk import bulk_insert


def dedupe(feed: Feed, valid: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Repeated reports of one key collapse to the latest (updated_at, report_batch)."""
    order = [c for c in ("updated_at", "report_batch") if c in valid.columns]
    ranked = valid.sort_values(order, kind="stable", na_position="first") if order else valid
    kept = ranked.drop_duplicates(subset=feed.key, keep="last").sort_index()
    return kept, len(valid) - len(kept)


def merge_batch(conn: sa.Connection, md: sa.MetaData, feed: Feed, rows: pd.DataFrame, business_date: dt.date) -> tuple[int, int]:
    """Merge ``rows`` (typed columns + lineage) into the feed's fact table.

    Returns (rows loaded, stale rows skipped because a newer version is stored).
    """
    fact = md.tables[feed.target_table]
    stg_name = f"stg_{feed.feed_id}"
    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{stg_name}"'))
    conn.execute(sa.text(f'CREATE TEMPORARY TABLE "{stg_name}" AS SELECT * FROM "{fact.name}" WHERE 1 = 0'))
    stg = sa.Table(stg_name, sa.MetaData(), *[sa.Column(c.name, c.type) for c in fact.columns])
    bulk_insert(conn, stg, rows)
    match = " AND ".join(f's."{k}" = f."{k}"' for k in feed.key)
    conn.execute(fact.delete().where(fact.c.feed_id == feed.feed_id, fact.c.business_date == business_date))
    stale = conn.execute(sa.text(f'DELETE FROM "{stg_name}" s WHERE EXISTS (SELECT 1 FROM "{fact.name}" f WHERE {match} AND f.updated_at > s.updated_at)')).rowcount
    conn.execute(sa.text(f'DELETE FROM "{fact.name}" f WHERE EXISTS (SELECT 1 FROM "{stg_name}" s WHERE {match})'))
    cols = ", ".join(f'"{c.name}"' for c in fact.columns)
    loaded = conn.execute(sa.text(f'INSERT INTO "{fact.name}" ({cols}) SELECT {cols} FROM "{stg_name}"')).rowcount
    conn.execute(sa.text(f'DROP TABLE "{stg_name}"'))
    stale = stale if stale is not None and stale >= 0 else 0
    return (loaded if loaded is not None and loaded >= 0 else len(rows) - stale), stale
