"""Operations wiring: every DAG alerts once per failed run, the hourly freshness check exists,
and the Feed health plugin loads through Airflow's plugin manager without heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = ROOT / "dags"
PLUGINS_DIR = ROOT / "plugins"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.dags and not bag.import_errors
    return bag


def test_every_dag_rolls_its_failures_up_into_one_alert(dagbag):
    from safety_hub.ops.dagkit import RunFailureNotifier, on_failure

    for dag_id, dag in dagbag.dags.items():
        callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
        assert any(isinstance(c, RunFailureNotifier) for c in callbacks), f"{dag_id}: DAG-level on_failure_callback"
        assert dag.default_args.get("on_failure_callback") is on_failure, f"{dag_id}: task failures record their error"


def test_feed_health_check_runs_hourly_in_the_warehouse_pool(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.dags["feed_health_check"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.timetable.summary == "5 * * * *"
    assert str(dag.timetable._timezone.name) == "Asia/Shanghai"
    [task] = dag.tasks
    assert task.task_id == "check_freshness" and task.pool == "warehouse_writer"
    assert "alerts" in dag.tags and dag.max_active_runs == 1


def test_the_airflow_config_points_at_the_plugins_folder():
    import os

    from airflow.configuration import conf

    assert Path(conf.get("core", "plugins_folder")) == PLUGINS_DIR == Path(os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"])
    assert (PLUGINS_DIR / "feed_health.py").is_file()


def test_the_plugin_mounts_the_page_and_adds_it_to_the_ui():
    """Through Airflow's own plugin manager, in a fresh process (plugins load once per process)."""
    code = (
        "import sys\n"
        "from airflow import plugins_manager\n"
        "apps, _ = plugins_manager.get_fastapi_plugins()\n"
        "info = {p['name']: p for p in plugins_manager.get_plugin_info()}\n"
        "print('ERRORS', plugins_manager.get_import_errors())\n"
        "print('APPS', [(a['url_prefix'], a['name'], type(a['app']).__name__) for a in apps])\n"
        "print('VIEWS', [(v['href'], v['url_route'], v['destination'], v['category']) for v in info['safety_hub_feed_health']['external_views']])\n"
        "print('HEAVY', [m for m in ('fastapi', 'airflow.api_fastapi.core_api.security', 'pandas', 'duckdb', 'great_expectations') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if line.split(" ", 1)[0] in ("ERRORS", "APPS", "VIEWS", "HEAVY")}
    assert lines["ERRORS"] == "{}"
    assert lines["APPS"] == "[('/feed-health', 'Feed health', 'LazyASGIApp')]"
    assert lines["VIEWS"] == "[('/feed-health/', 'feed-health', 'nav', 'browse')]"
    assert lines["HEAVY"] == "[]", "the scheduler and DAG processor import plugins: the page's FastAPI app is built lazily"
