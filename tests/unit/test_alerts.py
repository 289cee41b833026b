"""Alerts: one message per failed run whatever the number of failed (mapped) tasks, quality
breaches named as such, stale feeds once when they go stale plus a morning summary, and
delivery to a real local webhook receiver and SMTP server through the Airflow connection."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from safety_hub.ops import alerts
from safety_hub.ops.alerts import ALERT_CONN_ID, TaskFailure, run_failure_alert, stale_feeds_alert
from safety_hub.ops.health import STATUS_OK, STATUS_STALE, FeedHealth, data_as_of, stale_deadline
from safety_hub.config.settings import business_tz
from safety_hub.warehouse.quarantine import QuarantineCounts
from webhook_receiver import Receiver

CN = business_tz()
CONN_ENV = f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# --- the roll-up ------------------------------------------------------------------------------

def mapped_failures() -> list[TaskFailure]:
    return [
        TaskFailure("check_feed", 0, "failed", "emb_hazard", "FeedError", "feed emb_hazard: page 3: HTTP 500"),
        TaskFailure("check_feed", 4, "failed", "hcc_project", "FeedError", "feed hcc_project: 在建项目_20261103.csv: missing column"),
        TaskFailure("check_feed", 2, "failed", "tc_dg_waybill", "TimeoutError", "timed out"),
        TaskFailure("summarise", -1, "upstream_failed"),
    ]


def test_a_run_with_many_failed_mapped_tasks_is_one_message_counting_them():
    alert = run_failure_alert("feed_sweep", "manual__2026-11-03T01:00:00+00:00", mapped_failures(), "task_failure",
                              "http://airflow.example/dags/feed_sweep/runs/manual__2026-11-03T01%3A00%3A00%2B00%3A00")
    text = alert.text()
    assert alert.kind == alerts.KIND_RUN_FAILED
    assert alert.title == "【safety-hub】DAG 运行失败 run failed：feed_sweep"
    assert "失败任务 failed tasks (3): check_feed ×3 [emb_hazard, tc_dg_waybill, hcc_project]" in text, "ordered by map index"
    assert "未运行 upstream_failed (1): summarise" in text
    assert "错误 error check_feed[hcc_project]: FeedError: feed hcc_project: 在建项目_20261103.csv: missing column" in text
    assert "错误 error check_feed[tc_dg_waybill]: TimeoutError: timed out" in text
    assert "运行 run: manual__2026-11-03T01:00:00+00:00" in text and "链接 link: http://airflow.example/dags/feed_sweep/runs/" in text
    payload = alert.payload()
    assert payload["failed_count"] == 3 and payload["upstream_failed"] == ["summarise"]
    assert [(t["task_id"], t["map_index"], t["label"]) for t in payload["failed_tasks"]] == [
        ("check_feed", 0, "emb_hazard"), ("check_feed", 2, "tc_dg_waybill"), ("check_feed", 4, "hcc_project")]
    json.dumps(payload, ensure_ascii=False)  # a webhook body


def test_a_failed_task_without_a_recorded_error_is_still_listed():
    alert = run_failure_alert("warehouse_build", "r1", [TaskFailure("build_marts")])
    assert "failed tasks (1): build_marts" in alert.text()
    assert "错误 error build_marts: no error recorded (the task process may have been killed)" in alert.text()


def test_many_errors_are_capped_but_counted():
    failures = [TaskFailure("load", i, "failed", f"f{i}", "ValueError", "x") for i in range(alerts.MAX_ERRORS + 5)]
    alert = run_failure_alert("d", "r", failures)
    assert alert.text().count("错误 error load[") == alerts.MAX_ERRORS
    assert "… 5 more failed task(s)" in alert.text() and alert.facts["failed_count"] == alerts.MAX_ERRORS + 5


def test_a_quality_breach_is_named_as_such():
    failures = [TaskFailure("validate", -1, "failed", None, "FeedQualityError",
                            "feed emb_hazard 2026-11-03: 40/100 rows invalid (40.0% > threshold 30%)"),
                TaskFailure("load", -1, "upstream_failed")]
    alert = run_failure_alert("ingest_emb_hazard", "r", failures)
    assert alert.kind == alerts.KIND_QUALITY
    assert alert.title == "【safety-hub】数据质量超阈值 quality threshold breach：ingest_emb_hazard"
    assert "FeedQualityError: feed emb_hazard 2026-11-03: 40/100 rows invalid" in alert.text()


def test_state_keys_of_mapped_instances_are_split_by_the_dags_task_ids():
    ids = {"extract", "load_day", "load"}
    assert alerts._split_state_key("load", ids) == ("load", -1)
    assert alerts._split_state_key("load_day_3", ids) == ("load_day", 3)
    assert alerts._split_state_key("load_day", ids) == ("load_day", -1)


# --- stale feeds ------------------------------------------------------------------------------

def health(feed_id: str, business_date: dt.date | None, limit: float, now: dt.datetime) -> FeedHealth:
    """A feed whose latest business date loaded is ``business_date`` (loaded at 02:00 the next day)."""
    as_of = data_as_of(business_date) if business_date else None
    deadline = stale_deadline(as_of, limit) if as_of else None
    stale = deadline is None or now > deadline
    loaded_at = dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time(2), tzinfo=CN) if business_date else None
    return FeedHealth(feed_id, STATUS_STALE if stale else STATUS_OK, business_date, as_of, loaded_at, limit, stale, None, False,
                      10, QuarantineCounts(1, 1, 1), 1.0, 0.9, None, stale_since=deadline)


def test_a_feed_alerts_in_the_hour_it_goes_stale_and_not_in_the_next():
    start = dt.datetime(2026, 11, 4, 11, 5, tzinfo=CN)
    end = start + dt.timedelta(hours=1)
    rows = [health("emb_hazard", dt.date(2026, 11, 2), 36, end),  # data as of 11-03 00:00: stale at 12:00 on the 4th
            health("hcc_project", dt.date(2026, 11, 3), 36, end),  # fresh
            health("tc_dg_vehicle", dt.date(2026, 10, 30), 36, end)]  # stale for long
    alert = stale_feeds_alert(rows, start, end)
    assert alert.kind == alerts.KIND_STALE
    assert alert.facts["newly_stale"] == ["emb_hazard"] and alert.facts["stale"] == ["emb_hazard", "tc_dg_vehicle"]
    assert "新超时 newly stale (1): emb_hazard" in alert.text()
    assert "检查时间 as of: 2026-11-04 12:05 北京时间" in alert.text()
    assert ("emb_hazard: 最新业务日期 latest business date 2026-11-02 (数据截至 data as of 2026-11-03 00:00 北京时间), "
            "应每 36 小时内更新 expected within 36 h; 最后成功加载 last load 2026-11-03 02:00 北京时间") in alert.text()
    later = [health(h.feed_id, h.last_business_date, 36, end + dt.timedelta(hours=1)) for h in rows]
    assert stale_feeds_alert(later, end, end + dt.timedelta(hours=1)) is None, "no repeat every hour"


def test_the_check_covering_eight_oclock_lists_every_stale_feed_even_never_loaded():
    start = dt.datetime(2026, 11, 4, 7, 5, tzinfo=CN)
    end = start + dt.timedelta(hours=1)
    rows = [health("emb_hazard", None, 36, end), health("hcc_project", dt.date(2026, 11, 3), 36, end)]
    alert = stale_feeds_alert(rows, start, end)
    assert alert.facts == {"as_of": end.isoformat(), "newly_stale": [], "stale": ["emb_hazard"], "daily_summary": True}
    assert "emb_hazard: 从未加载 never loaded" in alert.text()
    assert stale_feeds_alert(rows, start + dt.timedelta(hours=1), end + dt.timedelta(hours=1)) is None
    fresh = [health("hcc_project", dt.date(2026, 11, 3), 36, end)]
    assert stale_feeds_alert(fresh, start, end) is None, "no summary when nothing is stale"


# --- delivery ---------------------------------------------------------------------------------

def test_without_the_connection_alerts_are_only_logged(monkeypatch, caplog):
    monkeypatch.delenv(CONN_ENV, raising=False)
    alert = run_failure_alert("d", "r", [TaskFailure("t", error_type="ValueError", error="boom")])
    with caplog.at_level("WARNING", logger="safety_hub.ops.alerts"):
        assert alerts.deliver(alert) == "log"
    assert "ValueError: boom" in caplog.text


def test_webhook_receives_the_json_message(monkeypatch, receiver):
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "http", "host": receiver.url}))
    alert = run_failure_alert("ingest_emb_hazard", "r", [TaskFailure("extract", error_type="FeedError", error="HTTP 500")])
    assert alerts.deliver(alert) == "webhook"
    [message] = receiver.received
    assert message["path"] == "/hook" and message["content_type"].startswith("application/json")
    assert message["body"]["kind"] == "run_failed" and message["body"]["dag_id"] == "ingest_emb_hazard"
    assert message["body"]["text"] == alert.text() and message["body"]["source"] == "safety-hub"


def test_webhook_in_the_robot_text_format_and_from_a_uri(monkeypatch, receiver):
    monkeypatch.setenv(CONN_ENV, f"http://127.0.0.1:{receiver.port}/hook?format=wecom")
    alert = run_failure_alert("d", "r", [TaskFailure("t")])
    assert alerts.deliver(alert) == "webhook"
    assert receiver.received[0]["body"] == {"msgtype": "text", "text": {"content": alert.text()}}


def test_a_webhook_that_refuses_raises(monkeypatch):
    refusing = Receiver(status=500)
    try:
        monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "http", "host": refusing.url}))
        with pytest.raises(Exception, match="500"):
            alerts.deliver(run_failure_alert("d", "r", [TaskFailure("t")]))
    finally:
        refusing.close()


def test_email_through_the_smtp_connection(monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore
        import smtpd

    received = []

    class Server(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, data))

    server = Server(("127.0.0.1", 0), None)
    port = server.socket.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            asyncore.loop(timeout=0.05, count=1)

    loop = threading.Thread(target=serve, daemon=True)
    loop.start()
    try:
        monkeypatch.setenv(CONN_ENV, json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"from_email": "safety-hub@example.cn", "to": "ops@example.cn, duty@example.cn",
                      "disable_ssl": True, "disable_tls": True}}))
        alert = run_failure_alert("warehouse_build", "r", [TaskFailure("build_marts", error_type="ValueError", error="boom")])
        assert alerts.deliver(alert) == "email"
    finally:
        stop.set()
        loop.join(timeout=5)
        server.close()
    [(sender, recipients, data)] = received
    assert sender == "safety-hub@example.cn" and recipients == ["ops@example.cn", "duty@example.cn"]
    from email import message_from_bytes
    from email.header import decode_header, make_header

    mail = message_from_bytes(data if isinstance(data, bytes) else data.encode())
    assert str(make_header(decode_header(mail["Subject"]))) == alert.title
    html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    assert "ValueError: boom" in html_part.get_payload(decode=True).decode("utf-8")


def test_webhook_url_from_connection_parts():
    from safety_hub.config.connections import ConnectionInfo

    assert alerts.webhook_url(ConnectionInfo("c", host="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")) == \
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    assert alerts.webhook_url(ConnectionInfo("c", host="hooks.local", conn_type="http", port=8080, schema="alerts/in")) == \
        "http://hooks.local:8080/alerts/in"
