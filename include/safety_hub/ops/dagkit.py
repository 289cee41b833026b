"""Small helpers shared by the DAG files; imports nothing heavy (parse-time safe)."""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import BaseNotifier

from safety_hub.config.settings import BUSINESS_TZ, business_tz

log = logging.getLogger("safety_hub.ops.alerts")

from safety_hub.ops.pools import WAREHOUSE_POOL, agency_pool  # noqa: F401  (the DAG files import them from here)


def asset_uri(table: str) -> str:
    """The Airflow Asset URI for a warehouse table."""
    return f"safety-hub://warehouse/{table}"


TOUCHED_KEY = "business_dates"  # a load's Asset event extra: the business dates whose stored rows it changed


def touched_dates(triggering_asset_events) -> list[dt.date] | None:
    """The business dates the triggering Asset events touched, coalesced (sorted, distinct), or None
    for a full build: a manual run (no events), or an event that does not say (an older producer)."""
    events = [e for asset in (triggering_asset_events or {}) for e in triggering_asset_events[asset]]
    if not events:
        return None
    dates: set[dt.date] = set()
    for event in events:
        listed = (event.extra or {}).get(TOUCHED_KEY)
        if listed is None:
            return None
        dates |= {dt.date.fromisoformat(str(d)) for d in listed}
    return sorted(dates)


def business_date(context: dict) -> dt.date:
    """The business day a run covers: ``params.business_date`` or the data interval start (Beijing)."""
    override = (context.get("params") or {}).get("business_date")
    if override:
        return dt.date.fromisoformat(str(override))
    start = context.get("data_interval_start") or context["logical_date"]
    return start.in_timezone(BUSINESS_TZ).date() if hasattr(start, "in_timezone") else start.astimezone(business_tz()).date()


def _daily_time(schedule: str) -> dt.time:
    """The time of day of a daily cron (``"30 2 * * *"`` -> 02:30); ValueError for any other schedule."""
    fields = schedule.split()
    minute, hour, rest = (fields[0], fields[1], fields[2:]) if len(fields) == 5 else ("", "", [])
    if not (minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]):
        raise ValueError(f"not a daily cron schedule (minute hour * * *): {schedule!r}")
    return dt.time(int(hour), int(minute))


def logical_date_for(day: dt.date, schedule: str = "0 1 * * *") -> dt.datetime:
    """The logical date of the scheduled run covering business day ``day`` (UTC).

    An ingest DAG's schedule is a daily cron in Beijing time over data intervals: the run for
    business day D has the logical date D at the cron's time and the interval [D, D+1) at that
    time. A run made by hand for a day (the demo, tests, a backfill) uses the same logical date,
    so it is the run the scheduler would have made, not a neighbour it collides with.
    """
    return dt.datetime.combine(day, _daily_time(schedule), tzinfo=business_tz()).astimezone(dt.timezone.utc)


def scheduled_interval(day: dt.date, schedule: str) -> tuple[dt.datetime, dt.datetime]:
    """The data interval of the scheduled run covering ``day``: [D, D+1) at the cron's time (UTC)."""
    return logical_date_for(day, schedule), logical_date_for(day + dt.timedelta(days=1), schedule)


class _Notifier(BaseNotifier):
    """A notifier without templated fields."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        # Nothing to template; and under dag.test() (Airflow 3.3.2) a DAG callback's context holds a
        # SerializedDAG, on which BaseNotifier's rendering fails (no get_template_env).
        if self.template_fields:
            super().render_template_fields(context, jinja_env)


class TaskFailureRecorder(_Notifier):
    """Every task's ``on_failure_callback``: one clear log line (DAG, task, run, error), and the
    error kept with the task instance (``ti.xcom_push``) for the run's one rolled-up alert
    (``RunFailureNotifier``). Airflow calls it in the task's own process, after its last try."""

    def notify(self, context) -> None:
        from safety_hub.ops.alerts import record_task_failure

        ti = context.get("ti")
        log.error(
            "FAILED dag=%s task=%s map_index=%s run=%s error=%s",
            getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "map_index", -1),
            context.get("run_id"), context.get("exception"),
        )
        record_task_failure(context)


class RunFailureNotifier(_Notifier):
    """The DAG-level ``on_failure_callback``: one alert per failed DAG run, listing every failed
    task (mapped instances counted, not one alert each) with its error, sent through the
    ``safety_hub_alerts`` connection (``alerts.notify_run_failure``). Airflow calls it once, when
    the run fails, in the DAG processor; the run's task states and recorded errors are read
    through the context's ``ti`` (``airflow.sdk.TaskInstance``)."""

    def notify(self, context) -> None:
        from safety_hub.ops.alerts import notify_run_failure

        notify_run_failure(context)


on_failure = TaskFailureRecorder()  # every task's on_failure_callback (default_args)
on_run_failure = RunFailureNotifier()  # the DAG-level on_failure_callback of every DAG
