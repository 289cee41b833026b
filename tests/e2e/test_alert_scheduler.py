"""A failed DAG run alerts once under a real scheduler: the project's callbacks on a DAG run by
Airflow's own scheduler, DAG processor and API server (LocalExecutor, a SQLite metadata DB of
this test's own), the message caught by a local webhook receiver. The task callbacks run in the
task processes, the DAG's in the DAG processor, as in production; only Airflow's public callback
interface is used. The Celery topology is `make stack-test`'s (tests/stack)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safety_hub.ops.alerts import ALERT_CONN_ID
from safety_hub_dev.stack import free_port, service, tail, wait_http
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAGS = Path(__file__).parent / "alert_dags"
DAG_ID = "alert_probe"


def airflow_env(home: Path, port: int, receiver_url: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SAFETY_HUB_"))}
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "false",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "SAFETY_HUB_HOME": str(home / "hub"),
        f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}": json.dumps({"conn_type": "http", "host": receiver_url}),
    }


def cli_json(env: dict[str, str], *args: str) -> list[dict]:
    """An ``airflow`` CLI command's JSON output (its last line: warnings may come before it)."""
    out = subprocess.run([AIRFLOW, *args, "-o", "json"], env=env, capture_output=True, text=True, check=True, timeout=300)
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("[")][-1])


def run_state(env: dict[str, str], run_id: str) -> str | None:
    return next((r["state"] for r in cli_json(env, "dags", "list-runs", DAG_ID) if r["run_id"] == run_id), None)


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """Start api-server, scheduler and DAG processor; trigger the probe DAG; wait for its alert."""
    home = tmp_path_factory.mktemp("airflow_local")
    receiver = Receiver()
    port = free_port()
    env = airflow_env(home, port, f"{receiver.url}")
    try:
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=300)
        subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=300)
        logs = home / "logs"
        with service([AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api-server.log") as api, \
                service([AIRFLOW, "dag-processor"], env, logs / "dag-processor.log") as processor, \
                service([AIRFLOW, "scheduler"], env, logs / "scheduler.log") as scheduler:
            wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", api, logs / "api-server.log")
            run_id = cli_json(env, "dags", "trigger", DAG_ID)[0]["dag_run_id"]
            deadline, state = time.monotonic() + 300, None
            while time.monotonic() < deadline and not receiver.received:
                for name, proc in (("api-server", api), ("dag-processor", processor), ("scheduler", scheduler)):
                    assert proc.poll() is None, f"{name} exited:\n{tail(logs / f'{name}.log')}"
                time.sleep(2)
            time.sleep(5)  # a second message, if one were sent, would come right after the first
            state = run_state(env, run_id)
            yield {"run_id": run_id, "state": state, "messages": list(receiver.received),
                   "processor_log": tail(logs / "dag-processor.log", 20000)}
    finally:
        receiver.close()


def test_a_failed_run_under_the_scheduler_sends_one_rolled_up_alert(failed_run):
    assert failed_run["state"] == "failed"
    assert len(failed_run["messages"]) == 1, (failed_run["messages"], failed_run["processor_log"])
    body = failed_run["messages"][0]["body"]
    run_id = failed_run["run_id"]
    assert (body["source"], body["kind"], body["dag_id"], body["run_id"]) == ("safety-hub", "quality_breach", DAG_ID, run_id)
    assert body["failed_count"] == 3 and body["upstream_failed"] == ["load"]
    failed = {(t["task_id"], t["map_index"]): t for t in body["failed_tasks"]}
    assert set(failed) == {("validate", -1), ("check", 0), ("check", 1)}
    assert failed[("validate", -1)]["error_type"] == "FeedQualityError"
    assert failed[("validate", -1)]["error"].startswith("feed emb_hazard 2026-11-20: 50/100 rows invalid")
    assert (failed[("check", 0)]["label"], failed[("check", 0)]["error"]) == ("emb_hazard", "feed emb_hazard: page 3: HTTP 500")
    assert (failed[("check", 1)]["label"], failed[("check", 1)]["error_type"]) == ("hcc_project", "ValueError")
    text = body["text"]
    for line in (f"DAG: {DAG_ID}", f"运行 run: {run_id}", "失败任务 failed tasks (3): check ×2 [emb_hazard, hcc_project]; validate",
                 "未运行 upstream_failed (1): load", "错误 error check[hcc_project]: ValueError: feed hcc_project: page 3: HTTP 500",
                 "错误 error validate: FeedQualityError: feed emb_hazard 2026-11-20: "):
        assert line in text, (line, text)
    assert "unreadable" not in text
