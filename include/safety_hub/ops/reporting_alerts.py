"""The missed-report alert: a unit that has missed ``reporters.alert_after_missed`` consecutive
periods of a feed (漏报, ``mart_reporting_status``) is announced through the alerts connection
(``alerts.deliver``), once per run of missed periods: ``reporting_alert`` remembers each run by its
first missed period, so the next builds stay quiet until the unit reports and misses again.
Run by the ``warehouse_build`` DAG after ``build_marts`` (``python -m safety_hub`` has no command
for it; ``check_missed_reports`` takes an engine).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.config.registry import load_registry
from safety_hub.ops.alerts import deliver, missed_reports_alert
from safety_hub.reporting.reporting_status import missed_runs
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.reporting_status import reporting_as_of


def due_alerts(conn: sa.Connection) -> tuple[dt.date | None, list[dict]]:
    """(as-of date, the runs of missed periods at or over their feed's threshold not alerted yet)."""
    as_of = reporting_as_of(conn)
    if as_of is None:
        return None, []
    thresholds = {f.feed_id: f.reporters.alert_after_missed for f in load_registry().values() if f.reporters is not None}
    alerted = {(r[0], r[1], as_date(r[2])) for r in conn.execute(sa.text("SELECT feed_id, unit_code, missed_since FROM reporting_alert"))}
    out = []
    for r in missed_runs(conn, as_of).to_dict("records"):
        threshold = thresholds.get(r["feed_id"])
        since = as_date(r["missed_since"])
        if threshold is not None and r["missed_in_a_row"] >= threshold and (r["feed_id"], r["unit_code"], since) not in alerted:
            out.append({**r, "missed_since": since, "threshold": threshold})
    return as_of, out


def check_missed_reports(engine: sa.Engine) -> dict:
    """Alert once on every new run of missed reports at its threshold; record what was sent."""
    md = ensure_schema(engine)
    with engine.connect() as conn:
        as_of, runs = due_alerts(conn)
    if not runs:
        return {"as_of": as_of.isoformat() if as_of else None, "alerted": [], "channel": None}
    channel = deliver(missed_reports_alert(runs, as_of))
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(md.tables["reporting_alert"].insert(), [
            {"feed_id": r["feed_id"], "unit_code": r["unit_code"], "missed_since": r["missed_since"], "missed": r["missed_in_a_row"],
             "alerted_at": now} for r in runs])
    return {"as_of": as_of.isoformat(), "alerted": [f"{r['feed_id']}:{r['unit_code']}" for r in runs], "channel": channel}


