"""Alerts from real DAG runs (``dag.test()``) to a local webhook receiver (the ``safety_hub_alerts``
connection): a failed ingest run sends exactly one message naming the DAG, the run and the task it
failed on; the hourly ``feed_health_check`` alerts when feeds go stale in its hour and stays quiet in
the next. The rolled-up message (every failed task with its error, a quality breach named as such)
is checked under a real scheduler and DAG processor by test_alert_scheduler.py, and under the Celery
workers by `make stack-test` (tests/stack)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
import json
from urllib.parse import quote

import pytest

from safety_hub.ops.alerts import ALERT_CONN_ID
from safety_hub.config.settings import business_tz
import deliveries
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
CONN_ENV = f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}"
CN = business_tz()
FEED = "hcc_project"
BAD_DAY = dt.date(2026, 11, 20)  # a day of its own: test_bad_input uses 11-10..11-13


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "http", "host": r.url}))
    yield r
    r.close()


@pytest.fixture
def isolated_hub(simulator, airflow_db, tmp_path, monkeypatch):
    """A data dir and warehouse of this test's own (the session's runs are untouched)."""
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return tmp_path


def deliver_half_invalid(day: dt.date) -> int:
    from airflow.sdk import Connection

    return deliveries.deliver_half_invalid(Connection.get("hcc_drop").extra_dejson["path"], day)


def test_a_failed_run_under_dag_test_still_sends_one_alert_naming_the_task_it_failed_on(isolated_hub, receiver, monkeypatch):
    """``dag.test()`` calls the DAG's failure callback in the test's own process, outside any Task
    SDK process, where the run's task states cannot be read: one alert still goes out, naming the
    DAG, the run and the task the run failed on, and saying the states were unreadable. The full
    roll-up (errors, mapped tasks, upstream_failed) is checked under a real scheduler
    (test_alert_scheduler.py) and under Celery (tests/stack)."""
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub_dev.localairflow import load_dags

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")  # links in the message
    deliver_half_invalid(BAD_DAY)
    dag = load_dags()[f"ingest_{FEED}"]
    dag_run = dag.test(logical_date=logical_date_for(BAD_DAY), run_conf={"business_date": BAD_DAY.isoformat()})
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"

    messages = receiver.wait_for(1, timeout=10, kind="run_failed")
    assert len(messages) == 1, receiver.received
    [returned] = receiver.of_kind("returned_rows")  # the batch's 退回清单, written after the failed validate
    assert returned["body"]["rejected"] > 0 and Path(returned["body"]["path"]).is_file()
    assert len(receiver.received) == 2, receiver.received
    body = messages[0]["body"]
    assert messages[0]["path"] == "/hook" and messages[0]["content_type"].startswith("application/json")
    assert (body["source"], body["kind"], body["dag_id"], body["run_id"]) == ("safety-hub", "run_failed", f"ingest_{FEED}", dag_run.run_id)
    assert [(t["task_id"], t["map_index"], t["state"]) for t in body["failed_tasks"]] == [("validate", -1, "failed")]
    assert body["reason"].startswith("task_failure (任务状态不可读 task states unreadable: ")
    assert body["url"] == f"http://airflow.example:8080/dags/ingest_{FEED}/runs/{quote(dag_run.run_id, safe='')}"
    for line in (f"DAG: ingest_{FEED}", f"运行 run: {dag_run.run_id}", "失败任务 failed tasks (1): validate", f"链接 link: {body['url']}"):
        assert line in body["text"], line


def test_a_failed_run_without_the_connection_only_logs(isolated_hub, monkeypatch, caplog):
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub_dev.localairflow import load_dags

    monkeypatch.delenv(CONN_ENV, raising=False)
    day = BAD_DAY + dt.timedelta(days=1)
    deliver_half_invalid(day)
    with caplog.at_level("WARNING", logger="safety_hub.ops.alerts"):
        dag_run = load_dags()[f"ingest_{FEED}"].test(logical_date=logical_date_for(day), run_conf={"business_date": day.isoformat()})
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    alerts_logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT ")]
    assert len(alerts_logged) == 2 and alerts_logged[0].startswith("ALERT returned_rows\n"), alerts_logged  # the 退回清单, then the run's
    assert f"运行 run: {dag_run.run_id}" in alerts_logged[1]


# --- stale feeds ---------------------------------------------------------------------------------

def contains_eight_oclock(start: dt.datetime, end: dt.datetime) -> bool:
    days = {start.astimezone(CN).date(), end.astimezone(CN).date()}
    return any(start < dt.datetime.combine(d, dt.time(8), tzinfo=CN) <= end for d in days)


def test_the_hourly_check_alerts_when_feeds_go_stale_and_not_again(run, receiver):
    """As of the hour after the freshest feed's limit runs out (freshness goes by the latest
    business date loaded: the session's last simulated day, plus each feed's limit)."""
    from airflow.sdk import timezone

    from safety_hub.ops.health import feed_health
    from safety_hub_dev.localairflow import load_dags

    dag = load_dags()["feed_health_check"]
    latest_deadline = max(h.stale_since for h in feed_health(run.engine()))
    messages_before = 0
    for hours_after in (1, 2):
        logical_date = timezone.coerce_datetime(latest_deadline + dt.timedelta(hours=hours_after))
        interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
        start, end = interval.start, interval.end
        health = feed_health(run.engine(), now=end)
        newly = sorted(h.feed_id for h in health if h.stale_since is not None and start <= h.stale_since < end)
        stale = sorted(h.feed_id for h in health if h.stale)
        expect_message = bool(newly) or (contains_eight_oclock(start, end) and bool(stale))

        dag_run = dag.test(logical_date=logical_date)
        assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
        messages = receiver.wait_for(messages_before + expect_message, timeout=10)
        assert len(messages) == messages_before + expect_message, (hours_after, newly, messages)
        if hours_after == 1:
            assert newly and max(h.stale_since for h in health) >= start, "the freshest feed goes stale in this hour"
            assert expect_message
        if expect_message:
            body = messages[-1]["body"]
            assert body["kind"] == "stale_feeds" and body["newly_stale"] == newly and sorted(body["stale"]) == stale
            assert body["as_of"] == end.isoformat() and body["title"] == f"【safety-hub】数据源超时未更新 stale feeds：{len(stale)} 个"
            for feed_id in newly:
                assert f"  {feed_id}: 最新业务日期 latest business date " in body["text"]
        messages_before = len(messages)
