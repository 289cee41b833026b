"""Load a validated batch into its fact table: staging, then merge by key.

One transaction per batch: replace the batch's business-date partition, drop
incoming rows older than what is stored, delete superseded versions, insert.
A failure leaves the previous state; re-running a day changes nothing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from safety_hub.registry import Feed
from safety_hub.warehouse.bulk import bulk_insert


def dedupe(feed: Feed, valid: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Repeated reports of one key collapse to the latest (updated_at, report_batch).

    Per key the row kept is the last one of a stable sort on (updated_at, report_batch)
    with missing values first, i.e. the largest (updated_at, report_batch, position);
    kept rows stay in index order. Done on integer codes (one ``np.lexsort`` over the
    rows of repeated keys only), not by sorting and de-duplicating the whole frame.
    """
    n = len(valid)
    order = [c for c in ("updated_at", "report_batch") if c in valid.columns]
    group = _key_codes(valid, list(feed.key)) if n else None
    if group is None:  # empty, or a key factorize cannot take: the plain way
        ranked = valid.sort_values(order, kind="stable", na_position="first") if order else valid
        kept = ranked.drop_duplicates(subset=feed.key, keep="last").sort_index()
        return kept, n - len(kept)
    counts = np.bincount(group)
    repeated = np.flatnonzero(counts[group] > 1)
    if len(repeated) == 0:
        kept = valid.copy(deep=False) if valid.index.is_monotonic_increasing else valid.sort_index()
        return kept, 0
    g = group[repeated]
    # np.lexsort: last key is the primary one; stable, so equal (updated_at, report_batch) keep position order.
    idx = np.lexsort([*(_rank_codes(valid[c])[repeated] for c in reversed(order)), g])
    g_sorted = g[idx]
    last = np.empty(len(idx), dtype=bool)
    last[:-1] = g_sorted[1:] != g_sorted[:-1]
    last[-1] = True
    keep = np.ones(n, dtype=bool)  # rows of keys seen once, plus the last row of each repeated key
    keep[repeated] = False
    keep[repeated[idx[last]]] = True
    kept = valid.iloc[np.flatnonzero(keep)]
    if not valid.index.is_monotonic_increasing:
        kept = kept.sort_index()
    return kept, n - len(kept)


def _key_codes(frame: pd.DataFrame, key: list[str]) -> np.ndarray | None:
    """One dense int64 code per distinct key (missing values equal to each other), or None."""
    if not key or any(k not in frame.columns for k in key):
        return None  # drop_duplicates raises or decides, as before
    codes = None
    for k in key:
        try:
            c, uniques = pd.factorize(frame[k], use_na_sentinel=False)
        except TypeError:  # unhashable values: leave it to drop_duplicates
            return None
        c = c.astype(np.int64, copy=False)
        codes = c if codes is None else pd.factorize(codes * max(len(uniques), 1) + c)[0].astype(np.int64, copy=False)
    return codes


def _rank_codes(col: pd.Series) -> np.ndarray:
    """Integers ordered as ``sort_values(na_position="first")`` orders ``col``."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col.dtype):
        return np.asarray(col.array.asi8)  # NaT is the smallest int64: first
    codes, _ = pd.factorize(col, sort=True)  # missing -> -1: first
    return codes


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
    restore = _raise_work_mem(conn, len(rows)) if conn.dialect.name == "postgresql" else None
    match = " AND ".join(f's."{k}" = f."{k}"' for k in feed.key)
    conn.execute(fact.delete().where(fact.c.feed_id == feed.feed_id, fact.c.business_date == business_date))
    stale = conn.execute(sa.text(f'DELETE FROM "{stg_name}" s WHERE EXISTS (SELECT 1 FROM "{fact.name}" f WHERE {match} AND f.updated_at > s.updated_at)')).rowcount
    conn.execute(sa.text(f'DELETE FROM "{fact.name}" f WHERE EXISTS (SELECT 1 FROM "{stg_name}" s WHERE {match})'))
    cols = ", ".join(f'"{c.name}"' for c in fact.columns)
    loaded = conn.execute(sa.text(f'INSERT INTO "{fact.name}" ({cols}) SELECT {cols} FROM "{stg_name}"')).rowcount
    conn.execute(sa.text(f'DROP TABLE "{stg_name}"'))
    if restore is not None:
        conn.execute(sa.text("SELECT set_config('work_mem', :v, true)"), {"v": restore})
    stale = stale if stale is not None and stale >= 0 else 0
    return (loaded if loaded is not None and loaded >= 0 else len(rows) - stale), stale


MERGE_WORK_MEM_PER_ROW = 128  # bytes of work_mem per staged row: the key hash of the merge in one batch
MERGE_WORK_MEM_MAX = 256 * 1024 * 1024


def _raise_work_mem(conn: sa.Connection, rows: int) -> str | None:
    """Give the merge's hash joins room for the staged keys (``SET LOCAL``; returns the value to restore).

    With PostgreSQL's default 4MB a 1M-row merge hashes in many batches, and the
    ``DELETE ... WHERE EXISTS`` then visits the fact table's pages in scrambled order,
    dirtying each several times (the upsert's SQL took about twice as long; see
    bench/README.md). Never lowers a larger setting; scoped to this transaction and
    put back before merge_batch returns.
    """
    want_kb = min(MERGE_WORK_MEM_MAX, rows * MERGE_WORK_MEM_PER_ROW) // 1024
    current = conn.execute(sa.text("SELECT current_setting('work_mem'), pg_size_bytes(current_setting('work_mem'))")).one()
    if want_kb * 1024 <= current[1]:
        return None
    conn.execute(sa.text("SELECT set_config('work_mem', :v, true)"), {"v": f"{want_kb}kB"})
    return current[0]
