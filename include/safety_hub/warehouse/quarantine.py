"""What "how many were quarantined" means: one definition, named the same in every tool.

The ``quarantine`` table holds one row per (rejected row, broken rule). Three counts are read
from it, here only, by the quarantine CLI, the health CLI and the Feed health page, and the
demo summary:

* **隔离行数** (quarantined rows): delivered rows set apart, each once however many rules it
  broke: a row is (batch, raw file, row number). Rows refused at landing (``row.shape``...)
  are rows too; so is a loaded version quarantined later by the warehouse build
  (``status.no_regression``, row number 0: one row per record key), which
  ``load_audit.rows_quarantined`` (the load's own reconciliation) does not count.
* **隔离记录数** (quarantined records): distinct records among those rows, by the feed's key
  (``record_key``): the same hazard rejected in two rows, or on two days, is one record.
  A row without a key (refused at landing) is a record of its own.
* **规则违反次数** (rule failures): rows of the table, one per (row, rule).

So 规则违反次数 >= 隔离行数 >= 隔离记录数 for any selection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

ROWS = "隔离行数"
RECORDS = "隔离记录数"
FAILURES = "规则违反次数"
LABELS = {"rows": f"{ROWS} quarantined rows", "records": f"{RECORDS} distinct records",
          "failures": f"{FAILURES} rule failures"}


@dataclass(frozen=True)
class QuarantineCounts:
    rows: int = 0
    records: int = 0
    failures: int = 0

    def text(self) -> str:
        """``隔离行数 33 · 隔离记录数 33 · 规则违反次数 34`` (the names of every tool)."""
        return f"{ROWS} {self.rows:,} · {RECORDS} {self.records:,} · {FAILURES} {self.failures:,}"


_GROUPS = ("feed_id", "business_date")


def quarantine_counts(conn: sa.Connection, *, feed_id: str | None = None, business_date: dt.date | None = None,
                      by: tuple[str, ...] = ("feed_id",)) -> dict[tuple, QuarantineCounts]:
    """The three counts per group of ``by`` (columns of ``feed_id``, ``business_date``), optionally for one feed or day.

    Keys are tuples of the ``by`` values (``()`` with ``by=()``: one total). Groups with nothing
    quarantined are absent. Reads only; an absent table counts nothing.
    """
    unknown = set(by) - set(_GROUPS)
    if unknown:
        raise ValueError(f"group by {sorted(unknown)}: only {_GROUPS}")
    if not sa.inspect(conn).has_table("quarantine"):
        return {}
    where, params = [], {}
    if feed_id is not None:
        where.append("feed_id = :feed_id")
        params["feed_id"] = feed_id
    if business_date is not None:
        where.append("business_date = :business_date")
        params["business_date"] = business_date
    cols = ", ".join(by)
    # One row per quarantined row (batch, file, row number) with its record's identity and its rule count.
    per_row = f"""
        SELECT feed_id, business_date, batch_id, raw_file, row_number,
               MAX(CASE WHEN record_key IS NULL OR record_key = ''
                        THEN 'row:' || batch_id || ':' || raw_file || ':' || CAST(row_number AS VARCHAR)
                        ELSE 'key:' || record_key END) AS record_id,
               COUNT(*) AS failures
        FROM quarantine {"WHERE " + " AND ".join(where) if where else ""}
        GROUP BY feed_id, business_date, batch_id, raw_file, row_number,
                 CASE WHEN row_number > 0 THEN '' ELSE COALESCE(record_key, '') END"""
    sql = f"""
        SELECT {cols + ", " if cols else ""}COUNT(*) AS n_rows,
               COUNT(DISTINCT feed_id || '|' || record_id) AS n_records, SUM(failures) AS n_failures
        FROM ({per_row}) r
        {"GROUP BY " + cols if cols else ""}"""
    out = {}
    for row in conn.execute(sa.text(sql), params).all():
        key = tuple(row[: len(by)])
        n_rows, n_records, n_failures = row[len(by):]
        if n_rows:
            out[key] = QuarantineCounts(int(n_rows), int(n_records), int(n_failures or 0))
    return out


def counts_for(conn: sa.Connection, feed_id: str, business_date: dt.date | None = None) -> QuarantineCounts:
    """The three counts of one feed (one business date, or all of them)."""
    return quarantine_counts(conn, feed_id=feed_id, business_date=business_date, by=()).get((), QuarantineCounts())
