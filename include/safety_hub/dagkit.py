"""Small helpers shared by the DAG files; imports nothing heavy (parse-time safe)."""

from __future__ import annotations

import datetime as dt
import logging

from safety_hub.settings import BUSINESS_TZ

log = logging.getLogger("safety_hub.alerts")

WAREHOUSE_POOL = "warehouse_writer"


def asset_uri(table: str) -> str:
    """The Airflow Asset URI for a warehouse table."""
    return f"safety-hub://warehouse/{table}"


def agency_pool(agency: str) -> str:
    return f"pool_{agency}"


def business_date(context: dict) -> dt.date:
    """The business day a run covers: ``params.business_date`` or the data interval start (Beijing)."""
    override = (context.get("params") or {}).get("business_date")
    if override:
        return dt.date.fromisoformat(str(override))
    start = context.get("data_interval_start") or context["logical_date"]
    return start.in_timezone(BUSINESS_TZ).date() if hasattr(start, "in_timezone") else start.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def logical_date_for(day: dt.date, cron_hour: int = 1) -> dt.datetime:
    """The logical date of the scheduled run covering business day ``day``."""
    cn = dt.timezone(dt.timedelta(hours=8))
    return dt.datetime.combine(day, dt.time(cron_hour), tzinfo=cn).astimezone(dt.timezone.utc)


def on_failure(context: dict) -> None:
    """One clear log line per failed task: DAG, task, business date and the error."""
    ti = context.get("task_instance")
    log.error(
        "FAILED dag=%s task=%s map_index=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "map_index", -1),
        context.get("run_id"), context.get("exception"),
    )
