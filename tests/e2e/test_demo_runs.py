"""The demo's DAG runs are the runs the scheduler would have made for their days (issue 16: after
the demo, an unpaused ingest DAG logged "run already exists" about once a second).

``dag.test()`` gives a run the interval that *ends* at its logical date; the scheduler, finding
that run where it wanted to create its own, computes its next run from that interval's end, the
same logical date again, forever. ``localairflow.run_ingest`` records the scheduled interval.
The check is the scheduler's own step on meeting an existing run (``calculate_dagrun_date_fields``
with it as reference) on the session's real runs.
"""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import DAYS

pytestmark = pytest.mark.e2e


def test_logical_date_follows_the_feed_schedule():
    from safety_hub.dagkit import logical_date_for, scheduled_interval

    utc = dt.timezone.utc
    assert logical_date_for(dt.date(2026, 11, 3), "30 2 * * *") == dt.datetime(2026, 11, 2, 18, 30, tzinfo=utc)  # 02:30 Beijing
    assert logical_date_for(dt.date(2026, 11, 3)) == dt.datetime(2026, 11, 2, 17, 0, tzinfo=utc)
    assert scheduled_interval(dt.date(2026, 11, 3), "0 4 * * *") == (dt.datetime(2026, 11, 2, 20, tzinfo=utc),
                                                                    dt.datetime(2026, 11, 3, 20, tzinfo=utc))
    with pytest.raises(ValueError, match="daily cron"):
        logical_date_for(dt.date(2026, 11, 3), "@hourly")


def test_demo_runs_leave_the_scheduler_its_next_day(duckdb_run):
    import sqlalchemy as sa
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    from safety_hub.dagkit import logical_date_for, scheduled_interval
    from safety_hub.registry import load_registry

    checked = 0
    with create_session() as session:
        for feed in load_registry().values():
            dag_id = f"ingest_{feed.feed_id}"
            serdag = SerializedDagModel.get(dag_id=dag_id, session=session).dag
            for day in DAYS:
                logical = logical_date_for(day, feed.schedule)
                run = session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical))
                assert run is not None, f"{dag_id}: no run at the scheduled logical date of {day} ({logical})"
                assert (run.data_interval_start, run.data_interval_end) == scheduled_interval(day, feed.schedule), dag_id
                model = DagModel(dag_id=dag_id)
                model.calculate_dagrun_date_fields(dag=serdag, reference_run=run)  # the scheduler meeting this run
                assert model.next_dagrun > run.logical_date, (dag_id, day, model.next_dagrun)
                checked += 1
    assert checked == len(load_registry()) * len(DAYS)


def test_local_airflow_task_logs_at_info(tmp_path):
    """What Airflow itself reads from the local environment (``airflow config``), not just the dict."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from safety_hub_dev.localairflow import airflow_env

    env = airflow_env(airflow_home=tmp_path / "airflow", hub_home=tmp_path, sim_url="http://127.0.0.1:9", token="t" * 20,
                      dropzone=tmp_path / "dropzone")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "config", "get-value", "logging", "logging_level"],
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "INFO"
