"""Small helpers shared by the DAG files; imports nothing heavy (parse-time safe)."""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import BaseNotifier

from safety_hub.settings import BUSINESS_TZ, business_tz

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
    return start.in_timezone(BUSINESS_TZ).date() if hasattr(start, "in_timezone") else start.astimezone(business_tz()).date()


def logical_date_for(day: dt.date, cron_hour: int = 1) -> dt.datetime:
    """The logical date of the scheduled run covering business day ``day``."""
    return dt.datetime.combine(day, dt.time(cron_hour), tzinfo=business_tz()).astimezone(dt.timezone.utc)


def on_failure(context: dict) -> None:
    """Every task's failure callback: one clear log line (DAG, task, run, error), and the error
    kept with the task instance for the run's one rolled-up alert (``RunFailureNotifier``)."""
    from safety_hub.alerts import record_task_failure

    ti = context.get("task_instance")
    log.error(
        "FAILED dag=%s task=%s map_index=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "map_index", -1),
        context.get("run_id"), context.get("exception"),
    )
    record_task_failure(context)


class RunFailureNotifier(BaseNotifier):
    """The DAG-level ``on_failure_callback``: one alert per failed DAG run, listing every failed
    task (mapped instances counted, not one alert each) with its error, sent through the
    ``safety_hub_alerts`` connection (``alerts.py``). Airflow calls it once, when the run fails
    (in the DAG processor under the scheduler; in-process under ``dag.test()``)."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        # Nothing to template; and under dag.test() (Airflow 3.3.2) a DAG callback's context holds a
        # SerializedDAG, on which BaseNotifier's rendering fails (no get_template_env).
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context) -> None:
        from safety_hub.alerts import notify_run_failure

        notify_run_failure(context)


on_run_failure = RunFailureNotifier()  # the DAG-level on_failure_callback of every DAG
