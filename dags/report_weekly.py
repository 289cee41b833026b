"""Write the weekly reports (一情况两清单 workbook, HTML 周报) for the previous ISO week, or any past week."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from safety_hub.ops.dagkit import WAREHOUSE_POOL, business_date, on_failure, on_run_failure
from safety_hub.config.settings import BUSINESS_TZ

WEEKLY = "0 6 * * 1"  # Monday 06:00 Beijing, after the last ingest of Sunday's business day (04:00)


@dag(
    dag_id="report_weekly",
    schedule=CronDataIntervalTimetable(WEEKLY, timezone=BUSINESS_TZ),
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["report", "weekly"],
    params={"week": Param(None, type=["null", "string"], pattern=r"^\d{4}-W\d{2}$",
                          description="ISO week to report, e.g. 2026-W45 (default: the week before the run)")},
    doc_md="""
### Weekly reports (一情况两清单 + 安全生产周报)
Runs every Monday at 06:00 Beijing time for the previous ISO week (Monday to Sunday); trigger it
with the param `week` (`2026-W45`) to produce any past week. Writes into `reports/<yyyy-Www>/`:
`一情况两清单_<week>.xlsx` (situation, problem-and-hazard list, rules-and-measures list),
`安全生产周报_<week>.html` (self-contained, charts inlined) and `figures.json`.
Figures are computed as of the week's data date (the latest business date loaded within the
week: its Sunday once complete, 终版; else the last loaded day, 非终版, as the files say), from
what the warehouse had loaded up to that date, so producing a past week again gives the same
figures. When the risk marts lack the week or are stale (`mart_district_week` etc.), they are
built for it first (warehouse writer pool). A week without any load fails at once without retry
and writes nothing.
""",
    on_failure_callback=on_run_failure,  # one rolled-up alert per failed run
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": dt.timedelta(minutes=5), "on_failure_callback": on_failure},
)
def report_weekly():
    @task
    def report_week(**context) -> str:
        from safety_hub.config.settings import beijing_today
        from safety_hub.reporting.archive import ReportWeek

        requested = (context.get("params") or {}).get("week")
        week = ReportWeek.parse(requested) if requested else ReportWeek.containing(business_date(context))
        if week.end >= beijing_today() and not requested:
            raise ValueError(f"week {week.label} has not ended yet")
        return week.label

    @task(pool=WAREHOUSE_POOL)
    def ensure_week_marts(week: str) -> bool:
        from airflow.sdk.exceptions import AirflowFailException

        from safety_hub.reporting.archive import NoWeekData, ReportWeek
        from safety_hub.reporting.marts import ensure_week_marts as ensure
        from safety_hub.reporting.produce import week_data_date
        from safety_hub.warehouse.engine import get_engine

        engine, parsed = get_engine(), ReportWeek.parse(week)
        try:  # no data for the week: fail at once, no retry, nothing written
            week_data_date(parsed, engine)
        except NoWeekData as exc:
            raise AirflowFailException(str(exc)) from None
        return ensure(engine, parsed.end)

    # In the writer pool too: on the embedded DuckDB warehouse a reader in another process needs the file's lock.
    @task(pool=WAREHOUSE_POOL)
    def write_reports(week: str, built: bool) -> dict[str, str]:
        from airflow.sdk.exceptions import AirflowFailException

        from safety_hub.reporting.archive import NoWeekData
        from safety_hub.reporting.produce import produce_week

        try:
            report = produce_week(week, ensure_marts=False)
        except NoWeekData as exc:
            raise AirflowFailException(str(exc)) from None
        return {"week": week, "workbook": str(report.workbook), "html": str(report.html), "figures": str(report.figures),
                "label": report.label}

    label = report_week()
    write_reports(label, ensure_week_marts(label))


report_weekly()
