"""Hourly: feed freshness from the warehouse; alert when a feed goes stale, and a morning summary."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from safety_hub.ops.dagkit import WAREHOUSE_POOL, on_failure, on_run_failure
from safety_hub.config.settings import BUSINESS_TZ

HOURLY = "5 * * * *"  # five past the hour: after the ingest DAGs' on-the-hour and ten-minute starts


@dag(
    dag_id="feed_health_check",
    schedule=CronDataIntervalTimetable(HOURLY, timezone=BUSINESS_TZ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["ops", "alerts"],
    doc_md="""
### Feed health check (数据源时效检查)
Every hour, computes feed health (`safety_hub.ops.health`, the same figures as the UI's
**Feed health** page and `python -m safety_hub health`) as of the end of the run's interval, and
sends one alert through the `safety_hub_alerts` connection when a feed went stale in that hour
(no successful load within its `fresh_within_hours`), plus a summary of every stale feed at
08:00 Beijing time. Failed runs of every DAG alert on their own (`RunFailureNotifier`).
""",
    on_failure_callback=on_run_failure,
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": dt.timedelta(minutes=5), "on_failure_callback": on_failure},
)
def feed_health_check():
    @task(pool=WAREHOUSE_POOL)  # reading the DuckDB file takes its lock
    def check_freshness(**context) -> dict:
        from safety_hub.ops.health import check_stale_feeds

        return check_stale_feeds(context["data_interval_start"], context["data_interval_end"])

    check_freshness()


feed_health_check()
