"""A project-local Airflow (SQLite metadata, LocalExecutor) for the demo, the UI and tests.

``configure`` puts every setting in the environment *before* Airflow is
imported; ``prepare`` migrates the metadata DB and creates the pools;
``run_days`` runs the real DAGs with ``dag.test()`` (real DAG runs recorded in
Airflow's database), one ingest run per feed per day, then the warehouse and
report DAGs (the weekly report for the week of the last day).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

from safety_hub.ops import lineage
from safety_hub.config import settings
from safety_hub_dev.simulator.connections import simulator_connections

log = logging.getLogger(__name__)
DEFAULT_SIM_PORT = 8765
DEFAULT_TOKEN = "demo-token-not-a-secret"


def airflow_env(airflow_home: Path, hub_home: Path, sim_url: str, token: str, dropzone: Path, warehouse_url: str | None = None) -> dict[str, str]:
    """Every variable the local Airflow and the feeds need."""
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        # INFO: a task's log holds what it did and why (a skipped extract says which delivery it
        # had already loaded); Airflow's own chatter at INFO stays in the task logs too.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "SAFETY_HUB_HOME": str(hub_home),
        **lineage.airflow_settings(hub_home),  # OpenLineage events as JSON files (README, "Lineage")
        **simulator_connections(sim_url, token, dropzone),
    }
    if warehouse_url:
        env["SAFETY_HUB_WAREHOUSE_URL"] = warehouse_url
    return env


def configure(**kwargs) -> dict[str, str]:
    if "airflow" in sys.modules and "airflow.configuration" in sys.modules:
        log.warning("Airflow was imported before configure(); settings may not apply")
    env = airflow_env(**kwargs)
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def prepare() -> None:
    """Migrate the metadata DB (a subprocess, as Airflow's CLI does it) and create the pools."""
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    create_pools()


def create_pools(warehouse_slots: int = 1) -> None:
    """The pools of ``safety_hub.ops.pools`` (the one declaration); the local Airflow serves the
    embedded DuckDB warehouse, so its writer pool has 1 slot."""
    from safety_hub.ops.pools import declare_pools

    declare_pools(warehouse_slots=warehouse_slots)


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.PROJECT_DIR / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run_dag(dag, logical_date: dt.datetime | None, conf: dict | None = None,
            data_interval: tuple[dt.datetime, dt.datetime] | None = None) -> str:
    """Run one DAG through ``dag.test()``; return the run's final state.

    ``data_interval``: the interval the scheduler gives the run of ``logical_date``, recorded on
    the run. ``dag.test()`` infers a manual run's interval as the one *ending* at its logical date;
    the scheduler, meeting that run where it wants to create its own, computes its next run from
    that interval's end, i.e. the same logical date again, and logs "run already exists" once a
    second forever. With the scheduled interval recorded, it moves on to the next day.
    """
    run = dag.test(logical_date=logical_date, run_conf=conf or {})
    state = str(getattr(run.state, "value", run.state))
    if data_interval is not None:
        _record_interval(dag.dag_id, run.run_id, data_interval)
    log.info("dag %s logical_date=%s -> %s", dag.dag_id, logical_date, state)
    return state


def _record_interval(dag_id: str, run_id: str, interval: tuple[dt.datetime, dt.datetime]) -> None:
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(sa.update(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
                        .values(data_interval_start=interval[0], data_interval_end=interval[1]))


def run_ingest(dags: dict, feed_id: str, day: dt.date) -> str:
    """Run ``ingest_<feed_id>`` for business day ``day`` as the scheduler would have: the logical
    date and data interval of that day's scheduled run, and the day as the ``business_date`` param."""
    from safety_hub.ops.dagkit import logical_date_for, scheduled_interval
    from safety_hub.config.registry import get_feed

    schedule = get_feed(feed_id).schedule
    return run_dag(dags[f"ingest_{feed_id}"], logical_date_for(day, schedule), {"business_date": day.isoformat()},
                   data_interval=scheduled_interval(day, schedule))


def run_days(days: list[dt.date], progress=print) -> dict[str, str]:
    """Run every ingest DAG for each day, then warehouse_build and the reports. Returns run states."""
    from safety_hub.reporting.archive import ReportWeek

    dags = load_dags()
    states: dict[str, str] = {}
    ingest = sorted(d for d in dags if d.startswith("ingest_"))
    for day in days:
        for dag_id in ingest:
            states[f"{dag_id}@{day}"] = state = run_ingest(dags, dag_id.removeprefix("ingest_"), day)
            progress(f"  {dag_id:<28} {day}  {state}")
    for dag_id in ("warehouse_build", "report_district_hazard"):
        states[dag_id] = state = run_dag(dags[dag_id], None)
        progress(f"  {dag_id:<28} {'':10}  {state}")
    week = ReportWeek.containing(days[-1]).label  # the week of the last day (it may not have ended)
    states["report_weekly"] = state = run_dag(dags["report_weekly"], None, {"week": week})
    progress(f"  {'report_weekly':<28} {week:10}  {state}")
    return states
