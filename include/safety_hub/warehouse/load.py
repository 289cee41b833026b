"""Load a validated batch into its fact table: stage, dedupe and merge in SQL.

``valid.parquet`` is read in record batches, so memory is bounded by
``STAGE_BATCH_ROWS``, not by the size of the batch. Everything after staging is
set-based SQL on either engine, inside the caller's transaction (a failure leaves
the previous state; re-running a day changes nothing):

1. **stage**: each record batch gets its position (``_row``) and, for hazard
   ledgers, its hazard identity (Arrow kernels), and goes into a temporary
   staging table through ``bulk_insert`` (DuckDB Arrow scan, PostgreSQL COPY);
2. **dedupe**: repeated reports of one key collapse to the latest
   ``(updated_at, report_batch)``, missing values lowest, the later row winning a tie;
3. **versions**: for hazard ledgers, the batch's versions replace its
   business-date partition of ``hazard_version`` (stale ones included: the history);
   likewise the (USCC, name, district) the batch reports replace its partition of
   ``enterprise_observation`` (the enterprise dimensions' input) and, for a feed
   with a ``version_table`` (the key-enterprise registry's ``registry_version``, the
   campaign ledgers'), its rows its partition of that table;
4. **merge**: replace the batch's business-date partition, skip rows older than
   what is stored, delete superseded versions, insert with the batch's lineage.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.config.registry import Feed
from safety_hub.ingest.parquetfiles import iter_batches
from safety_hub.config.settings import STAGE_BATCH_ROWS  # rows read from valid.parquet and staged at a time
from safety_hub.warehouse import changes
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.engine import postgres_setting
from safety_hub.warehouse.schema import ENTERPRISE_OBSERVATION
from safety_hub.warehouse.lifecycle import IDENTITY, identity_keys, record_versions
from safety_hub.warehouse.sqltext import insert_select, sql_file

ROW = "_row"  # staging: the row's position in the batch (ties in dedupe go to the later row)
DEDUPE_ORDER = ("updated_at", "report_batch")  # the latest report of a key wins, in this order


@dataclass(frozen=True)
class LoadResult:
    staged: int  # rows read from the batch
    duplicates: int  # repeated reports of a key in the batch, collapsed
    loaded: int  # rows inserted into the fact table
    stale: int  # rows skipped because a newer version is stored
    touched: tuple[dt.date, ...] = ()  # business dates whose as-of views the batch changed: its own, and those of rows it superseded in a table a mart reads


def load_parquet(conn: sa.Connection, md: sa.MetaData, feed: Feed, path: Path, day: dt.date, *,
                 batch_id: str, raw_file: str, loaded_at: dt.datetime) -> LoadResult:
    """Load a staged ``valid.parquet`` (typed feed columns) without holding it in memory.

    DuckDB stages it with ``read_parquet`` in SQL (Arrow data registered from Python stays
    allocated until the transaction commits, so streaming batches through Python would not
    bound memory there); PostgreSQL receives it in record batches through COPY.
    """
    lineage = _lineage(feed, day, batch_id, raw_file, loaded_at)
    if conn.dialect.name == "duckdb":
        return _load(conn, md, feed, lineage, lambda stg: _stage_parquet_duckdb(conn, stg, feed, path))
    batches = iter_batches(path, STAGE_BATCH_ROWS)
    return _load(conn, md, feed, lineage, lambda stg: _stage(conn, stg, feed, batches))


def load_frame(conn: sa.Connection, md: sa.MetaData, feed: Feed, rows: pd.DataFrame, day: dt.date, *,
               batch_id: str, raw_file: str, loaded_at: dt.datetime) -> LoadResult:
    """Load typed rows held in memory (tests, small batches): the same SQL as ``load_parquet``."""
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    lineage = _lineage(feed, day, batch_id, raw_file, loaded_at)
    return _load(conn, md, feed, lineage, lambda stg: _stage(conn, stg, feed, table.to_batches(STAGE_BATCH_ROWS)))


def _lineage(feed: Feed, day: dt.date, batch_id: str, raw_file: str, loaded_at: dt.datetime) -> dict:
    return {"feed_id": feed.feed_id, "batch_id": batch_id, "business_date": day, "raw_file": raw_file, "loaded_at": loaded_at}


def _load(conn: sa.Connection, md: sa.MetaData, feed: Feed, lineage: dict, stage: Callable[[sa.Table], int]) -> LoadResult:
    fact = md.tables[feed.target_table]
    stg = _create_staging(conn, fact, feed)
    staged = stage(stg)
    with postgres_setting(conn, "work_mem", _merge_work_mem(conn, staged)):
        duplicates = _dedupe(conn, stg, feed)
        if feed.lifecycle is not None:
            record_versions(conn, md, feed, stg, lineage)
        if set(changes.CONFORMED_COLUMNS) <= set(stg.c.keys()) and ENTERPRISE_OBSERVATION in md.tables:
            _record_observations(conn, md.tables[ENTERPRISE_OBSERVATION], stg, lineage)
        loaded, stale, superseded = _merge(conn, fact, stg, feed, lineage)
    conn.execute(sa.text(f'DROP TABLE "{stg.name}"'))
    # Superseding a stored row changes the as-of views of its business date on only where a mart reads
    # the fact table itself (changes.read_by_marts): the marts read a hazard ledger through hazard_version
    # and a feed with a version table (the registry snapshot's registry_version) through that table,
    # whose partitions are business dates.
    touched = tuple(sorted({lineage["business_date"], *(superseded if changes.read_by_marts(fact.name) else ())}))
    return LoadResult(staged=staged, duplicates=duplicates, loaded=loaded, stale=stale, touched=touched)


def _create_staging(conn: sa.Connection, fact: sa.Table, feed: Feed) -> sa.Table:
    """The load's staging table, created and dropped inside its transaction (no other connection ever sees it).

    PostgreSQL: a temporary table. DuckDB: an ordinary table: DuckDB keeps a temporary table's rows
    uncompressed in memory and spills them under ``memory_limit``, while a table of the database file
    is written compressed as it fills; at 2M hazard rows under 512MB that halves the staging's memory
    and the time of the inserts that read it (bench/README.md). A failed load rolls it back with the rest.
    """
    name = f"stg_{feed.feed_id}_{uuid.uuid4().hex[:8]}"
    temporary = "" if conn.dialect.name == "duckdb" else "TEMPORARY "
    conn.execute(sa.text(f'CREATE {temporary}TABLE "{name}" AS SELECT * FROM "{fact.name}" WHERE 1 = 0'))
    extra = [sa.Column(ROW, sa.BigInteger)] + ([sa.Column(IDENTITY, sa.Text)] if feed.lifecycle is not None else [])
    for column in extra:
        conn.execute(sa.text(f'ALTER TABLE "{name}" ADD COLUMN "{column.name}" {column.type.compile(dialect=conn.dialect)}'))
    return sa.Table(name, sa.MetaData(), *[sa.Column(c.name, c.type) for c in fact.columns], *extra)


def _stage(conn: sa.Connection, stg: sa.Table, feed: Feed, batches: Iterable[pa.RecordBatch]) -> int:
    """Insert Arrow record batches into the staging table with their positions; return the row count."""
    lc = feed.lifecycle
    offset = 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        table = pa.Table.from_batches([batch]).append_column(ROW, pa.array(np.arange(offset, offset + n), pa.int64()))
        if lc is not None:
            col = lc.columns
            table = table.append_column(IDENTITY, identity_keys(table[col["uscc"]], table[col["description"]], table[col["found_date"]]))
        bulk_insert(conn, stg, table)
        offset += n
    return offset


def _stage_parquet_duckdb(conn: sa.Connection, stg: sa.Table, feed: Feed, path: Path) -> int:
    """``INSERT … SELECT FROM read_parquet``: positions from ``file_row_number``, the hazard identity
    from ``lifecycle.identity_keys`` run by DuckDB as a vectorised (Arrow) function."""
    present = set(pq.read_schema(path).names)
    cols = [c.name for c in stg.columns if c.name in present]
    names = [f'"{c}"' for c in cols] + [f'"{ROW}"']
    exprs = [f'"{c}"' for c in cols] + ["file_row_number"]
    source = str(path).replace("'", "''")
    with _identity_function(conn.connection.driver_connection) if feed.lifecycle is not None else nullcontext() as udf:
        if udf is not None:
            col = feed.lifecycle.columns
            names.append(f'"{IDENTITY}"')
            exprs.append(f'{udf}(CAST("{col["uscc"]}" AS VARCHAR), CAST("{col["description"]}" AS VARCHAR), CAST("{col["found_date"]}" AS DATE))')
        return conn.execute(sa.text(
            f'INSERT INTO "{stg.name}" ({", ".join(names)}) SELECT {", ".join(exprs)} '
            f"FROM read_parquet('{source}', file_row_number = true)")).rowcount


@contextmanager
def _identity_function(raw) -> Iterator[str]:
    """``identity_keys`` callable from SQL on this DuckDB connection, for the duration of one statement.

    A Python function lives in the catalog of the database instance, which every connection
    to the same file in this process shares: a fixed name registered by one pooled
    connection would clash with the next. So each load registers its own name and removes it.
    """
    name = f"_safety_hub_identity_{uuid.uuid4().hex[:12]}"
    raw.create_function(name, identity_keys, ["VARCHAR", "VARCHAR", "DATE"], "VARCHAR", type="arrow", null_handling="special")
    try:
        yield name
    except BaseException:
        # The statement failed (out of memory, say) and aborted the transaction: removing the function
        # would fail too ("transaction is aborted") and hide the error. The rollback removes it.
        raise
    raw.remove_function(name)


def _dedupe(conn: sa.Connection, stg: sa.Table, feed: Feed) -> int:
    """Keep one row per key: the largest (updated_at, report_batch, position), missing values lowest."""
    text_order = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""  # code-point order on both engines
    order = [f'"{c}"{text_order if isinstance(stg.c[c].type, sa.String) else ""} DESC NULLS LAST' for c in DEDUPE_ORDER if c in stg.c]
    order.append(f'"{ROW}" DESC')
    partition = ", ".join(f'"{k}"' for k in feed.key)
    # Every key once (the usual batch): nothing to rank. On DuckDB the probe groups the keys' 64-bit hashes,
    # a fraction of the memory of the keys themselves (at 10M rows the keys' hash table was the load's peak):
    # equal keys (missing ones too) have equal hashes, so a batch whose hashes are unique has unique keys,
    # and a repeated hash (a repeated key, or a collision) goes on to the exact ranking below.
    grouped = f"hash({partition})" if conn.dialect.name == "duckdb" else partition
    if conn.execute(sa.text(f'SELECT 1 FROM "{stg.name}" GROUP BY {grouped} HAVING COUNT(*) > 1 LIMIT 1')).first() is None:
        return 0
    removed = conn.execute(sa.text(
        f'DELETE FROM "{stg.name}" WHERE "{ROW}" IN (SELECT "{ROW}" FROM ('
        f'SELECT "{ROW}", ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {", ".join(order)}) AS rn '
        f'FROM "{stg.name}") ranked WHERE rn > 1)')).rowcount
    return max(removed or 0, 0)


def _merge(conn: sa.Connection, fact: sa.Table, stg: sa.Table, feed: Feed, lineage: dict) -> tuple[int, int, list[dt.date]]:
    """Merge the staged rows into the fact table; return (rows loaded, stale rows skipped, the business
    dates of the stored rows the batch superseded: the as-of views of those dates change too)."""
    match = " AND ".join(f's."{k}" = f."{k}"' for k in feed.key)
    _record_changes(conn, fact, stg, feed, lineage, match)
    conn.execute(fact.delete().where(fact.c.feed_id == feed.feed_id, fact.c.business_date == lineage["business_date"]))
    if feed.version_table:  # every staged row, stale ones too
        _record_versions(conn, fact.metadata.tables[feed.version_table], stg, lineage)
    stale = conn.execute(sa.text(
        f'DELETE FROM "{stg.name}" s WHERE EXISTS (SELECT 1 FROM "{fact.name}" f WHERE {match} AND f.updated_at > s.updated_at)')).rowcount
    superseded = [as_date(r[0]) for r in conn.execute(sa.text(
        f'SELECT DISTINCT f.business_date FROM "{fact.name}" f WHERE EXISTS (SELECT 1 FROM "{stg.name}" s WHERE {match})'))]
    conn.execute(sa.text(f'DELETE FROM "{fact.name}" f WHERE EXISTS (SELECT 1 FROM "{stg.name}" s WHERE {match})'))
    cols, exprs, params = insert_select(conn, fact, lineage, {c.name: f's."{c.name}"' for c in fact.columns})
    loaded = conn.execute(sa.text(f'INSERT INTO "{fact.name}" ({cols}) SELECT {exprs} FROM "{stg.name}" s'), params).rowcount
    stale = stale if stale is not None and stale >= 0 else 0
    if loaded is None or loaded < 0:
        loaded = conn.execute(sa.text(f'SELECT COUNT(*) FROM "{stg.name}"')).scalar_one()
    return loaded, stale, superseded


def _record_observations(conn: sa.Connection, table: sa.Table, stg: sa.Table, lineage: dict) -> None:
    """Replace the feed's business-date partition of ``enterprise_observation`` with the (USCC, name,
    district) the staged rows report (stale ones included: the delivery reported them that day), inside
    the load's transaction; the partition's former USCCs and names go to the change log as well."""
    params = {"feed_id": lineage["feed_id"], "day": lineage["business_date"]}
    partition = f"FROM {table.name} WHERE feed_id = :feed_id AND business_date = :day"
    for scope, column in ((changes.USCC, "uscc"), (changes.ORG_NAME, "org_name")):
        changes.record(conn, changes.DIMENSIONS, scope, lineage, f"SELECT {column} {partition}", params)
    conn.execute(sa.text(f"DELETE {partition}"), params)
    conn.execute(sa.text(
        f'INSERT INTO {table.name} (feed_id, business_date, uscc, org_name, district_code, updated_at) '
        f'SELECT :feed_id, :day, s.uscc, s.org_name, s.district_code, MAX(s.updated_at) FROM "{stg.name}" s '
        "WHERE s.uscc IS NOT NULL GROUP BY s.uscc, s.org_name, s.district_code"), params)


def _record_versions(conn: sa.Connection, table: sa.Table, stg: sa.Table, lineage: dict) -> None:
    """Replace the feed's business-date partition of its version table (the feed's ``version_table``)
    with the staged rows (after dedupe, stale ones included: what the delivery said that day), inside
    the load's transaction."""
    conn.execute(table.delete().where(table.c.feed_id == lineage["feed_id"], table.c.business_date == lineage["business_date"]))
    cols, exprs, params = insert_select(conn, table, lineage, {c.name: f's."{c.name}"' for c in table.columns if c.name in stg.c})
    conn.execute(sa.text(f'INSERT INTO "{table.name}" ({cols}) SELECT {exprs} FROM "{stg.name}" s'), params)


def _record_changes(conn: sa.Connection, fact: sa.Table, stg: sa.Table, feed: Feed, lineage: dict, match: str) -> None:
    """Log the watched keys (``changes.watched``) of the rows the merge may delete (the batch's
    business-date partition, the stored versions of its keys) and of the rows it stages, for the
    incremental build (``warehouse/changes.py``), and the batch's partition (its quarantined records)."""
    changes.record(conn, changes.DIMENSIONS, changes.PARTITION, lineage, "SELECT CAST(:day AS DATE)", {"day": lineage["business_date"]})
    for consumer, scope, column in changes.watched(feed):
        changes.record(conn, consumer, scope, lineage,
                       f'SELECT f."{column}" FROM "{fact.name}" f WHERE f.feed_id = :feed_id AND f.business_date = :day '
                       f'UNION ALL SELECT f."{column}" FROM "{fact.name}" f WHERE EXISTS (SELECT 1 FROM "{stg.name}" s WHERE {match}) '
                       f'UNION ALL SELECT s."{column}" FROM "{stg.name}" s',
                       {"feed_id": feed.feed_id, "day": lineage["business_date"]})


MERGE_WORK_MEM_PER_ROW = 128  # bytes of work_mem per staged row: the key hash of the merge in one batch
MERGE_WORK_MEM_MAX = 256 * 1024 * 1024


def _merge_work_mem(conn: sa.Connection, rows: int) -> str | None:
    """PostgreSQL: the ``work_mem`` the merge's hash joins need for ``rows`` staged keys, or None
    when the setting already gives them that (never lowered; elsewhere None).

    With PostgreSQL's default 4MB a 1M-row merge hashes in many batches, and the
    ``DELETE ... WHERE EXISTS`` then visits the fact table's pages in scrambled order,
    dirtying each several times (the upsert's SQL took about twice as long; see
    bench/README.md).
    """
    if conn.dialect.name != "postgresql":
        return None
    want_kb = min(MERGE_WORK_MEM_MAX, rows * MERGE_WORK_MEM_PER_ROW) // 1024
    current = conn.execute(sa.text("SELECT pg_size_bytes(current_setting('work_mem'))")).scalar_one()
    return f"{want_kb}kB" if want_kb * 1024 > current else None


def detect_snapshot_deletions(conn: sa.Connection, feed: Feed) -> int:
    """Recompute ``snapshot_deletion`` for a snapshot feed (inside the load's transaction)."""
    conn.execute(sa.text("DELETE FROM snapshot_deletion WHERE feed_id = :feed_id"), {"feed_id": feed.feed_id})
    sql = sql_file("snapshot_deletion.sql").format(fact=feed.target_table, key=feed.key[0])
    return conn.execute(sa.text(sql), {"feed_id": feed.feed_id}).rowcount
