"""报送情况 for the reports: 应报 / 已报 / 按时 / 迟报 / 漏报 / 重复报送, 报送率 and 及时率 as of a date.

Read from ``mart_reporting_status`` (built by warehouse_build, ``warehouse/reporting_status.py``):
the periods due within a span, and by the as-of date, counted as they stood on that date (a
report that arrived later is not counted; ``sql/reporting_rates.sql``). Grouped by feed (数据源),
department (部门, the feed's agency) or district (区, the reporting unit).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from safety_hub.reporting.sqlfiles import sql_file

GROUPS = {
    "feed": "feed_id, agency_name",
    "agency": "agency, agency_name",
    "unit": "unit_code, unit_name",
    "feed_unit": "feed_id, agency_name, unit_code, unit_name",
}
COUNTS = ("expected", "reported", "on_time", "late", "missed", "repeated")
HEADERS = {"feed_id": "数据源", "agency_name": "部门", "unit_code": "区划代码", "unit_name": "报送单位（区）",
           "expected": "应报", "reported": "已报", "on_time": "按时", "late": "迟报", "missed": "漏报",
           "repeated": "重复报送", "report_rate": "报送率", "timely_rate": "及时率"}


def rates(conn: sa.Connection, first: dt.date, last: dt.date, as_of: dt.date, by: str = "feed") -> pd.DataFrame:
    """One row per group: the counts and 报送率 (reported / expected), 及时率 (on time / expected)."""
    sql = sql_file("reporting_rates.sql")
    result = conn.execute(sa.text(sql.format(group=GROUPS[by])), {"first": first, "last": last, "as_of": as_of})
    frame = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
    if frame.empty:
        return frame.assign(report_rate=pd.Series(dtype=float), timely_rate=pd.Series(dtype=float))
    frame[list(COUNTS)] = frame[list(COUNTS)].astype(int)
    frame["report_rate"] = frame["reported"] / frame["expected"]
    frame["timely_rate"] = frame["on_time"] / frame["expected"]
    return frame


def missed_runs(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """Per feed and unit, the consecutive periods missed up to the last one due by ``as_of``
    (``missed_in_a_row``), with the first of them; units whose last due period was reported are left out."""
    frame = pd.DataFrame(conn.execute(sa.text(
        "SELECT feed_id, agency_name, unit_code, unit_name, period_start, due_date, first_received "
        "FROM mart_reporting_status WHERE due_date <= :as_of ORDER BY feed_id, unit_code, period_start DESC"),
        {"as_of": as_of}).mappings().all())
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=["feed_id", "agency_name", "unit_code", "unit_name", "missed_in_a_row", "missed_since"])
    for (feed_id, unit), group in frame.groupby(["feed_id", "unit_code"], sort=True):
        run, since = 0, None
        for rec in group.itertuples():  # latest period first
            received = rec.first_received
            if received is not None and not pd.isna(received) and pd.Timestamp(received).date() <= as_of:
                break
            run, since = run + 1, rec.period_start
        if run:
            rows.append({"feed_id": feed_id, "agency_name": group["agency_name"].iloc[0], "unit_code": unit,
                         "unit_name": group["unit_name"].iloc[0], "missed_in_a_row": run, "missed_since": since})
    return pd.DataFrame(rows, columns=["feed_id", "agency_name", "unit_code", "unit_name", "missed_in_a_row", "missed_since"])


SCOPES = (("按数据源", "feed"), ("按部门", "agency"), ("按区", "unit"), ("明细", "feed_unit"))


def week_table(conn: sa.Connection, first: dt.date, last: dt.date, as_of: dt.date) -> pd.DataFrame:
    """The 报送情况 of the periods due from ``first`` to ``last`` as of ``as_of``, by feed, by department,
    by district and in detail (feed × district), one frame with a ``scope`` column (统计口径)."""
    parts = []
    for scope, by in SCOPES:
        frame = rates(conn, first, last, as_of, by=by)
        if frame.empty:
            continue
        parts.append(frame.assign(scope=scope))
    columns = ["scope", "feed_id", "agency_name", "unit_code", "unit_name", *COUNTS, "report_rate", "timely_rate"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    return out.astype({c: object for c in ("feed_id", "agency_name", "unit_code", "unit_name")}).where(out.notna(), None)
