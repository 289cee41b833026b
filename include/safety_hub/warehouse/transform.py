"""Stage 5, model: conformed dimensions and marts, rebuilt from the facts.

The SQL lives in ``safety_hub/sql/*.sql`` (one statement per concern, readable
by an analyst); each rebuild is one transaction and therefore idempotent.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pandas as pd
import sqlalchemy as sa

from safety_hub.domain import industry_sector
from safety_hub.registry import load_registry
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.engine import ensure_schema

CONFORMED_COLUMNS = ("uscc", "org_name", "district_code")


def sql_file(name: str) -> str:
    return resources.files("safety_hub").joinpath("sql", name).read_text(encoding="utf-8")


def _enterprise_sources() -> str:
    selects = []
    for feed in load_registry().values():
        names = {c.name for c in feed.columns}
        if set(CONFORMED_COLUMNS) <= names:
            selects.append(
                f"SELECT uscc, org_name, district_code, feed_id, business_date, updated_at FROM {feed.target_table} WHERE uscc IS NOT NULL"
            )
    return "\n    UNION ALL\n    ".join(selects)


def build_dimensions(engine: sa.Engine) -> int:
    """Rebuild dim_enterprise, dim_date and dim_industry (one transaction); return dim_enterprise's row count."""
    md = ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM dim_enterprise"))
        conn.execute(sa.text(sql_file("dim_enterprise.sql").format(sources=_enterprise_sources())))
        _rebuild(conn, md.tables["dim_date"], _dates(conn))
        _rebuild(conn, md.tables["dim_industry"], _industries(conn))
        return conn.execute(sa.text("SELECT COUNT(*) FROM dim_enterprise")).scalar_one()


def _rebuild(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    conn.execute(table.delete())
    if rows:
        bulk_insert(conn, table, pd.DataFrame(rows))


def _dates(conn: sa.Connection) -> list[dict]:
    """Every day of the years around the loaded business dates (a year either side)."""
    first, last = conn.execute(sa.text("SELECT MIN(business_date), MAX(business_date) FROM load_audit")).one()
    if first is None:
        return []
    day, end = dt.date(first.year - 1, 1, 1), dt.date(last.year + 1, 12, 31)
    rows = []
    while day <= end:
        iso = day.isocalendar()
        rows.append({"date_key": day, "year": day.year, "quarter": (day.month - 1) // 3 + 1, "month": day.month, "day": day.day,
                     "iso_year": iso.year, "iso_week": iso.week, "week_label": f"{iso.year}-W{iso.week:02d}",
                     "weekday": iso.weekday, "is_weekend": iso.weekday >= 6})
        day += dt.timedelta(days=1)
    return rows


def _industries(conn: sa.Connection) -> list[dict]:
    """The industry codes enterprises are registered under, with their supervision sector."""
    selects = [f"SELECT DISTINCT industry_code FROM {f.target_table} WHERE industry_code IS NOT NULL"
               for f in load_registry().values() if "industry_code" in {c.name for c in f.columns}]
    if not selects:
        return []
    codes = sorted({r[0].strip().upper() for r in conn.execute(sa.text(" UNION ".join(selects))) if r[0].strip()})
    return [{"industry_code": c, "section": c[0], "division": c[:3] if len(c) >= 3 else None, "sector": industry_sector(c)} for c in codes]


def build_marts(engine: sa.Engine, as_of: list[dt.date] | None = None) -> list[dt.date]:
    """Rebuild mart_district_hazard for ``as_of`` dates (default: every loaded business date)."""
    with engine.begin() as conn:
        if as_of is None:
            as_of = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT business_date FROM load_audit ORDER BY 1"))]
        stmt = sa.text(sql_file("mart_district_hazard.sql"))
        for day in as_of:
            conn.execute(sa.text("DELETE FROM mart_district_hazard WHERE as_of_date = :d"), {"d": day})
            conn.execute(stmt, {"as_of": day})
    return as_of


def detect_snapshot_deletions(conn: sa.Connection, feed) -> int:
    """Recompute ``snapshot_deletion`` for a snapshot feed (inside the load's transaction)."""
    conn.execute(sa.text("DELETE FROM snapshot_deletion WHERE feed_id = :feed_id"), {"feed_id": feed.feed_id})
    sql = sql_file("snapshot_deletion.sql").format(fact=feed.target_table, key=feed.key[0])
    return conn.execute(sa.text(sql), {"feed_id": feed.feed_id}).rowcount
