"""Rebuild conformed dimensions and marts whenever any feed loads new rows: incrementally,
from the business dates the loads' Asset events touched; fully when triggered by hand."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetAny, dag, task

from safety_hub.ops.dagkit import WAREHOUSE_POOL, asset_uri, on_failure, on_run_failure, touched_dates
from safety_hub.config.registry import load_registry

FACT_ASSETS = [Asset(asset_uri(f.target_table)) for f in load_registry().values()]
MART_ASSET = Asset(asset_uri("mart_district_hazard"))


@dag(
    dag_id="warehouse_build",
    schedule=AssetAny(*FACT_ASSETS),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["warehouse", "model"],
    doc_md="""
### Warehouse build
Triggered by any ingest DAG's load (Airflow Assets). Each load's Asset event carries, in its
`extra`, the business dates it touched (`business_dates`: the day loaded and, for a fact table
the marts read, the days of the stored rows it superseded); the run coalesces the dates of every event since the last run.

* `build_dimensions` refreshes `dim_enterprise` (one row per USCC name version, SCD2),
  `dim_enterprise_asof` (the name and district shown on each date, as known that day) and
  `enterprise_match` for the enterprises, names and partitions the loads changed (their change log,
  `build_change`; whole on a full build), rebuilds `dim_industry`; `dim_date` only when the loaded
  date range grows.
  It reports the earliest date on which what the marts show of a dimension changed.
* `build_marts` refreshes the hazard lifecycle and the cross-feed rules for the hazard records,
  identities and rule scopes the loads changed (whole on a full build), then recomputes
  `mart_district_hazard` for every loaded as-of date from the earliest touched (or changed)
  date on (a late update on day D changes the as-of views of D and of every later date), and the
  risk marts for their weeks. Earlier dates and weeks are left as they are. It also starts from
  the build watermark (`build_watermark`) when earlier: every load, and a dimension change,
  records its earliest touched date there, and only a successful `build_marts` clears the rows
  it read, so the dates of a run that failed are recomputed by the next one.
* Triggered by hand (no Asset events), or by an event without `business_dates`: a full build,
  every as-of date (the same as `python -m safety_hub warehouse build --full`).

* `check_missed_reports` alerts (through the `safety_hub_alerts` connection) on every unit that
  has missed its feed's `reporters.alert_after_missed` consecutive reports (`mart_reporting_status`),
  once per run of missed periods (`reporting_alert`).

Each step is one transaction (idempotent). SQL: `include/safety_hub/warehouse/sql/`.
Then rebuilds the Great Expectations Data Docs site (`reports/data_docs/index.html`)
from every stored validation result, so quality history stays browsable.
""",
    on_failure_callback=on_run_failure,  # one rolled-up alert per failed run
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": dt.timedelta(minutes=1), "on_failure_callback": on_failure},
)
def warehouse_build():
    @task(pool=WAREHOUSE_POOL)
    def build_dimensions(**context) -> dict:
        from safety_hub.warehouse.build import affected_since, rebuild_dimensions
        from safety_hub.warehouse.engine import get_engine

        touched = touched_dates(context.get("triggering_asset_events"))
        enterprises, changed_from = rebuild_dimensions(get_engine(), incremental=touched is not None)
        since = None if touched is None else affected_since(touched, changed_from)
        return {"enterprises": enterprises, "full": touched is None,
                "touched": [d.isoformat() for d in touched or []], "since": since.isoformat() if since else None}

    @task(pool=WAREHOUSE_POOL, outlets=[MART_ASSET])
    def build_marts(plan: dict) -> list[str]:
        from safety_hub.warehouse.engine import get_engine
        from safety_hub.warehouse.build import build_marts as build

        if plan["full"]:
            as_of = build(get_engine())
        else:  # nothing touched and no dimension change: only the lifecycle and cross rules
            as_of = build(get_engine(), since=dt.date.fromisoformat(plan["since"]) if plan["since"] else dt.date.max)
        return [d.isoformat() for d in as_of]

    @task(pool=WAREHOUSE_POOL)
    def check_missed_reports() -> dict:
        from safety_hub.ops.reporting_alerts import check_missed_reports as check
        from safety_hub.warehouse.engine import get_engine

        return check(get_engine())

    @task
    def build_data_docs() -> str:
        from safety_hub.quality.docs import build_docs

        return str(build_docs())

    marts = build_marts(build_dimensions())
    marts >> check_missed_reports()
    marts >> build_data_docs()


warehouse_build()
