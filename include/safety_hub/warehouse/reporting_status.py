"""报送情况: the expected reports (``dim_reporting_duty``) and their status (``mart_reporting_status``).

Rebuilt whole by every warehouse build (``build.build_marts``), in its transaction: a few rows per
feed, unit and period, and each row answers any as-of date through its dates, so an incremental
build and a full one hold the same rows. The duties come from the registry (``reporters`` of each
feed, ``config/registry.Reporters``) and the statutory working-day calendar (``domain/reporting.py``),
from the feed's first delivery in the warehouse up to the warehouse's as-of date (the latest loaded
business date), periods due by then only; the status is set-based SQL over ``report_receipt``
(``sql/mart_reporting_status.sql``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.config.registry import agencies, load_registry
from safety_hub.domain.places import DISTRICTS
from safety_hub.domain.reporting import FREQUENCY_NAMES, periods_between
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.sqltext import sql_file


def reporting_as_of(conn: sa.Connection) -> dt.date | None:
    """The warehouse's as-of date for reporting: the latest business date loaded or received."""
    values = [conn.execute(sa.text(f"SELECT MAX(business_date) FROM {t}")).scalar() for t in ("load_audit", "report_receipt")]
    dates = [as_date(v) for v in values if v is not None]
    return max(dates) if dates else None


def duties(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """Every (feed, unit, period) due by ``as_of``, from each feed's first receipt on."""
    names = {code: a.name for code, a in agencies().items()}
    first = {r[0]: as_date(r[1]) for r in conn.execute(sa.text(
        "SELECT feed_id, MIN(business_date) FROM report_receipt GROUP BY feed_id"))}
    rows = []
    for feed in load_registry().values():
        rep = feed.reporters
        if rep is None or feed.feed_id not in first:
            continue
        units = list(DISTRICTS) if rep.units == "all_districts" else list(rep.units)
        for period in periods_between(first[feed.feed_id], as_of, rep.frequency, rep.due_working_days):
            if period.start < first[feed.feed_id] or period.due > as_of:
                continue  # a period begun before the feed's first delivery is not held against its units
            for unit in units:
                rows.append({"feed_id": feed.feed_id, "unit_code": unit, "period_start": period.start, "agency": feed.agency,
                             "agency_name": names.get(feed.agency, feed.agency), "unit_name": DISTRICTS.get(unit, unit),
                             "frequency": FREQUENCY_NAMES[rep.frequency], "period_end": period.end, "due_date": period.due})
    return pd.DataFrame(rows)


def refresh_reporting_status(conn: sa.Connection, md: sa.MetaData) -> int:
    """Rebuild ``dim_reporting_duty`` and ``mart_reporting_status``; return the mart's row count."""
    conn.execute(md.tables["mart_reporting_status"].delete())
    conn.execute(md.tables["dim_reporting_duty"].delete())
    as_of = reporting_as_of(conn)
    if as_of is None:
        return 0
    frame = duties(conn, as_of)
    if frame.empty:
        return 0
    bulk_insert(conn, md.tables["dim_reporting_duty"], frame)
    return conn.execute(sa.text(sql_file("mart_reporting_status.sql")), {"as_of": as_of}).rowcount


