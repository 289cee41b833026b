"""Issue 15, finding 4: a symbolic link named like a delivery in a drop folder was followed: it
landed the file it pointed at (an admin's password file) and quoted its content in the alert.

Through the real ingest DAG: a delivery that is a symbolic link, or a marker that is one, or a
path that leads out of the drop folder, is refused; the task fails at once (no retry: the same
delivery would be refused again) with one line naming the refusal; nothing of the target lands, and its content is in no alert or log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

import pytest

from safety_hub.ops.alerts import ALERT_CONN_ID
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
FEED = "hcc_project"
DAY = dt.date(2026, 11, 26)
SECRET = "admin:s3cr3t-passw0rd-Zq9"


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv(f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}", json.dumps({"conn_type": "http", "host": r.url}))
    yield r
    r.close()


@pytest.fixture
def drop(simulator, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    folder = tmp_path / "drop"
    folder.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_HCC_DROP", json.dumps({"conn_type": "fs", "extra": {"path": str(folder)}}))
    secret = tmp_path / "etc" / "passwd"
    secret.parent.mkdir()
    secret.write_text(f"项目编号,项目名称\n{SECRET},x\n", encoding="utf-8")
    return folder, secret


def extract_tries(dag_run) -> tuple[str, int]:
    """The extract task's state and try number in ``dag_run``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="extract").one()
        return str(getattr(ti.state, "value", ti.state)), ti.try_number


def test_a_symbolic_link_delivery_is_refused_without_quoting_its_target(drop, receiver, caplog):
    from safety_hub.config import settings
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub_dev.localairflow import load_dags
    from safety_hub.config.registry import get_feed

    folder, secret = drop
    os.symlink(secret, drop_path(get_feed(FEED), DAY))
    with caplog.at_level(logging.DEBUG):
        dag_run = load_dags()[f"ingest_{FEED}"].test(logical_date=logical_date_for(DAY), run_conf={"business_date": DAY.isoformat()})
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    assert extract_tries(dag_run) == ("failed", 1), "a refused delivery fails at once: a retry would refuse it again"
    [message] = receiver.wait_for(1, timeout=10)
    [failed] = message["body"]["failed_tasks"]
    assert failed["task_id"] == "extract", failed
    logs = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "a symbolic link, refused" in logs, "the task's error names the refusal"
    # Under dag.test() the run's callback cannot read the errors the tasks recorded (README, "Alerts"),
    # so the alert carries none; under the scheduler it quotes the refusal on one short line.
    if failed["error"] is not None:
        assert "a symbolic link, refused" in failed["error"], failed
        assert "\n" not in failed["error"] and len(failed["error"]) <= 300
    assert SECRET not in json.dumps(message, ensure_ascii=False) and SECRET not in logs, "the target's content is quoted nowhere"
    landed = [p for p in settings.raw_dir().rglob("*") if p.is_file()] if settings.raw_dir().exists() else []
    assert not any(SECRET.encode() in p.read_bytes() for p in landed), "nothing of the target landed"
    assert secret.read_text(encoding="utf-8").count(SECRET) == 1 and os.path.islink(drop_path(get_feed(FEED), DAY)), "both left as they were"
