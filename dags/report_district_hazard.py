"""Write the Chinese HTML district hazard report after each mart rebuild."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, task

from safety_hub.ops.dagkit import asset_uri, on_failure, on_run_failure


@dag(
    dag_id="report_district_hazard",
    schedule=[Asset(asset_uri("mart_district_hazard"))],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["report"],
    params={"as_of": Param(None, type=["null", "string"], format="date", description="统计截止日 YYYY-MM-DD (default: latest)")},
    doc_md="""
### District hazard report (区县隐患整改情况)
Runs when `mart_district_hazard` changes. Writes `reports/district_hazard_<as_of>.html`
(Chinese, with charts) for the latest business date, or for the `as_of` param.
""",
    on_failure_callback=on_run_failure,  # one rolled-up alert per failed run
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": dt.timedelta(minutes=1), "on_failure_callback": on_failure},
)
def report_district_hazard():
    @task
    def write_report(**context) -> str:
        from safety_hub.reporting.district import write_district_report

        as_of = context["params"].get("as_of")
        return str(write_district_report(dt.date.fromisoformat(as_of) if as_of else None))

    write_report()


report_district_hazard()
