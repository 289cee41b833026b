"""Field quality history (信息缺失): per feed, agency field and business day, how many delivered records
fill the field and how many a rule of the field rejected.

Written with each validated batch, in the transaction that commits its quarantine (the load's, or
validate's for a batch over its threshold), replacing the business day's rows: so the table holds,
per day, the delivery the warehouse's quarantine describes. The data-item catalogue
(``reporting/catalogue.py``) reads its fill and validity rates from here.

* ``records``: the delivery's records (rows of the landed ``records.parquet``);
* ``filled``: records whose field is not blank (landing stores a blank as null), counted by DuckDB
  over the landed file in one pass (the file carries no column statistics);
* ``invalid``: records quarantined by a rule of the field (rule ids ``<column>.<check>``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from safety_hub.config.registry import Feed
from safety_hub.warehouse.schema import FIELD_QUALITY as TABLE


def fill_counts(path: Path, sources: list[str]) -> tuple[int, dict[str, int]]:
    """(records, non-null values per source field) of a landed ``records.parquet``; a field the file lacks counts 0."""
    import duckdb
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    asked = [s for s in sources if s in present]
    quoted = "".join(', COUNT("{}")'.format(s.replace('"', '""')) for s in asked)
    with duckdb.connect() as db:
        db.execute("SET threads = 1")
        row = db.execute(f"SELECT COUNT(*){quoted} FROM read_parquet(?)", [str(path)]).fetchone()
    counts = dict(zip(asked, row[1:]))
    return int(row[0]), {s: int(counts.get(s, 0)) for s in sources}


def record(conn: sa.Connection, feed: Feed, day: dt.date, batch_id: str, records_path: Path) -> int:
    """Replace ``day``'s field quality of ``feed`` with the batch's, in ``conn``'s transaction; the rows written."""
    rows, filled = fill_counts(records_path, [c.source for c in feed.columns])
    invalid = dict(conn.execute(sa.text(
        "SELECT split_part(rule_id, '.', 1), COUNT(DISTINCT row_number) FROM quarantine "
        "WHERE feed_id = :f AND business_date = :d AND batch_id = :b AND rule_id LIKE '%.%' GROUP BY 1"),
        {"f": feed.feed_id, "d": day, "b": batch_id}).all())
    now = dt.datetime.now(dt.timezone.utc)
    conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE feed_id = :f AND business_date = :d"), {"f": feed.feed_id, "d": day})
    values = [{"feed_id": feed.feed_id, "business_date": day, "batch_id": batch_id, "source_field": c.source,
               "column_name": c.name, "records": rows, "filled": filled[c.source], "invalid": int(invalid.get(c.name, 0)),
               "measured_at": now} for c in feed.columns]
    if values:
        conn.execute(sa.text(
            f"INSERT INTO {TABLE} (feed_id, business_date, batch_id, source_field, column_name, records, filled, invalid, measured_at) "
            "VALUES (:feed_id, :business_date, :batch_id, :source_field, :column_name, :records, :filled, :invalid, :measured_at)"), values)
    return len(values)


def history(conn: sa.Connection, days: int) -> dict[tuple[str, str], dict[dt.date, tuple[float | None, float | None]]]:
    """(feed, column) -> {business date: (fill rate, validity rate)} for each feed's latest ``days`` measured dates."""
    if not sa.inspect(conn).has_table(TABLE):
        return {}
    rows = conn.execute(sa.text(f"""
        SELECT q.feed_id, q.column_name, q.business_date, q.records, q.filled, q.invalid
        FROM {TABLE} q JOIN (
            SELECT feed_id, business_date, DENSE_RANK() OVER (PARTITION BY feed_id ORDER BY business_date DESC) AS n
            FROM (SELECT DISTINCT feed_id, business_date FROM {TABLE}) d) recent
          ON recent.feed_id = q.feed_id AND recent.business_date = q.business_date AND recent.n <= :days""",), {"days": days}).all()
    out: dict[tuple[str, str], dict] = {}
    for feed_id, column, day, records, filled, invalid in rows:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
        out.setdefault((feed_id, column), {})[day] = ((filled / records, 1 - invalid / records) if records else (None, None))
    return out
