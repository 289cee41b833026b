"""Rebuild conformed dimensions and marts whenever any feed loads new rows."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetAny, dag, task

from safety_hub.ops.dagkit import WAREHOUSE_POOL, asset_uri, on_failure, on_run_failure
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
Triggered by any ingest DAG's load (Airflow Assets). Rebuilds `dim_enterprise`
(one row per USCC across agencies) and `mart_district_hazard` for every loaded
business date, each in one transaction (idempotent). SQL: `include/safety_hub/warehouse/sql/`.
Then rebuilds the Great Expectations Data Docs site (`reports/data_docs/index.html`)
from every stored validation result, so quality history stays browsable.
""",
    on_failure_callback=on_run_failure,  # one rolled-up alert per failed run
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": dt.timedelta(minutes=1), "on_failure_callback": on_failure},
)
def warehouse_build():
    @task(pool=WAREHOUSE_POOL)
    def build_dimensions() -> int:
        from safety_hub.warehouse.engine import get_engine
        from safety_hub.warehouse.build import build_dimensions as build

        return build(get_engine())

    @task(pool=WAREHOUSE_POOL, outlets=[MART_ASSET])
    def build_marts(enterprises: int) -> list[str]:
        from safety_hub.warehouse.engine import get_engine
        from safety_hub.warehouse.build import build_marts as build

        return [d.isoformat() for d in build(get_engine())]

    @task
    def build_data_docs() -> str:
        from safety_hub.quality.docs import build_docs

        return str(build_docs())

    build_marts(build_dimensions()) >> build_data_docs()


warehouse_build()
