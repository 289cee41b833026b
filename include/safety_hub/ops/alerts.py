"""Alerts: one message per failed DAG run (its failed tasks rolled up), per quality-threshold
breach and for feeds that went stale, sent where the Airflow connection ``safety_hub_alerts`` says.

The connection decides the channel (no connection: alerts are only logged):

* ``http``/``https``: a webhook; the message is POSTed as JSON. ``extra.format``:
  ``json`` (default: ``kind``, ``title``, ``text`` and the facts below) or ``wecom`` /
  ``dingtalk`` (the robots' ``{"msgtype": "text", "text": {"content": ...}}``).
* ``smtp``/``email``: an e-mail through the SMTP provider's hook (host, port, login,
  password; ``extra.from_email``, ``extra.to`` with comma-separated addresses).

How a failed run becomes one message, through Airflow's documented callback interface only
(notifiers, and the callback context's ``ti``: ``airflow.sdk.TaskInstance``): every task's
``on_failure_callback`` (``dagkit.TaskFailureRecorder``) records its error as an XCom
(``safety_hub_failure``) of the failed task instance; the DAG's own ``on_failure_callback``
(``dagkit.RunFailureNotifier``), called once when the run fails (in the DAG processor under
the scheduler), reads the run's task states and those XComs through the context's ``ti`` and
sends one message naming the DAG, the run, every failed task (mapped ones counted, with
their feed) and each error. A run that failed on ``FeedQualityError`` is sent as a
quality-threshold breach. Units that missed a configured number of consecutive reports come from
the warehouse build (``reporting_alerts.check_missed_reports``). Stale feeds come from ``health.feed_health`` via the hourly
``feed_health_check`` DAG (``health.check_stale_feeds``).

Imports no Airflow at module level: the Airflow parts are imported where they run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from safety_hub.config.settings import beijing_time, business_tz

log = logging.getLogger("safety_hub.ops.alerts")

ALERT_CONN_ID = "safety_hub_alerts"
FAILURE_XCOM_KEY = "safety_hub_failure"
SUMMARY_HOUR = 8  # Beijing time: the check covering 08:00 lists every stale feed, even long-stale ones
MAX_ERRORS = 10  # errors quoted in one message (the count of failures is always complete)
MAX_ERROR_CHARS = 600

KIND_RUN_FAILED = "run_failed"
KIND_QUALITY = "quality_breach"
KIND_STALE = "stale_feeds"
KIND_RETURNED = "returned_rows"
KIND_MISSED = "missed_reports"


@dataclass(frozen=True)
class TaskFailure:
    """One task instance of a failed run that failed, or never ran because an upstream one did."""

    task_id: str
    map_index: int = -1
    state: str = "failed"  # failed | upstream_failed
    label: str | None = None  # the rendered map index (a feed id) of a mapped task
    error_type: str | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.label or self.map_index}]"


@dataclass
class Alert:
    kind: str
    title: str
    lines: list[str]
    facts: dict = field(default_factory=dict)

    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def payload(self) -> dict:
        return {"source": "safety-hub", "kind": self.kind, "title": self.title, "text": self.text(), **self.facts}


# --- composing -------------------------------------------------------------------------------

def _task_summary(failures: list[TaskFailure]) -> str:
    """``validate; check ×3 [a, b, c]``: one entry per task, mapped instances counted."""
    by_task: dict[str, list[TaskFailure]] = defaultdict(list)
    for f in failures:
        by_task[f.task_id].append(f)
    parts = []
    for task_id, items in by_task.items():
        mapped = [f for f in items if f.map_index >= 0]
        if not mapped:
            parts.append(task_id)
        else:
            labels = ", ".join(str(f.label or f.map_index) for f in sorted(mapped, key=lambda f: f.map_index))
            parts.append(f"{task_id} ×{len(mapped)} [{labels}]")
    return "; ".join(parts)


def run_failure_alert(dag_id: str, run_id: str, failures: list[TaskFailure], reason: str | None = None,
                      url: str | None = None) -> Alert:
    """The one message for a failed DAG run."""
    failed = sorted((f for f in failures if f.state == "failed"), key=lambda f: (f.task_id, f.map_index))
    skipped = sorted((f for f in failures if f.state != "failed"), key=lambda f: (f.task_id, f.map_index))
    quality = any(f.error_type == "FeedQualityError" for f in failed)
    kind = KIND_QUALITY if quality else KIND_RUN_FAILED
    title = f"【safety-hub】{'数据质量超阈值 quality threshold breach' if quality else 'DAG 运行失败 run failed'}：{dag_id}"
    lines = [f"DAG: {dag_id}", f"运行 run: {run_id}",
             f"失败任务 failed tasks ({len(failed)}): {_task_summary(failed) or '-'}"]
    if skipped:
        lines.append(f"未运行 upstream_failed ({len(skipped)}): {_task_summary(skipped)}")
    if reason:
        lines.append(f"原因 reason: {reason}")
    for f in failed[:MAX_ERRORS]:
        error = f"{f.error_type}: {f.error}" if f.error_type else (f.error or "no error recorded (the task process may have been killed)")
        lines.append(f"错误 error {f.name}: {error}")
    if len(failed) > MAX_ERRORS:
        lines.append(f"… {len(failed) - MAX_ERRORS} more failed task(s), see the run")
    if url:
        lines.append(f"链接 link: {url}")
    facts = {
        "dag_id": dag_id, "run_id": run_id, "reason": reason, "url": url,
        "failed_count": len(failed), "failed_tasks": [asdict(f) for f in failed],
        "upstream_failed": [f.name for f in skipped],
    }
    return Alert(kind, title, lines, facts)


def _contains_local_hour(start: dt.datetime, end: dt.datetime, hour: int) -> bool:
    """Whether ``hour``:00 Beijing time falls in (start, end]."""
    cn = business_tz()
    for day in {start.astimezone(cn).date(), end.astimezone(cn).date()}:
        moment = dt.datetime.combine(day, dt.time(hour), tzinfo=cn)
        if start < moment <= end:
            return True
    return False


def stale_feeds_alert(health: list, start: dt.datetime, end: dt.datetime, summary_hour: int = SUMMARY_HOUR) -> Alert | None:
    """The stale-feed message for a check covering (start, end], ``health`` computed as of ``end``.

    Sent when a feed went stale within the interval (its last load plus its freshness
    limit fell inside it), and by the check covering ``summary_hour`` (Beijing) whenever
    any feed is stale, never-loaded ones included: an alert per feed going late and a
    daily reminder, not one per feed per hour.
    """
    newly = [h for h in health if h.stale_since is not None and start <= h.stale_since < end]
    stale = [h for h in health if h.stale]
    summary = _contains_local_hour(start, end, summary_hour)
    if not newly and not (summary and stale):
        return None
    lines = [f"检查时间 as of: {beijing_time(end)}"]
    if newly:
        lines.append(f"新超时 newly stale ({len(newly)}): {', '.join(h.feed_id for h in newly)}")
    lines.append(f"当前超时 stale now ({len(stale)}):")
    for h in stale:
        if h.last_business_date is None:
            lines.append(f"  {h.feed_id}: 从未加载 never loaded")
            continue
        lines.append(f"  {h.feed_id}: 最新业务日期 latest business date {h.last_business_date} (数据截至 data as of {beijing_time(h.data_as_of)}), "
                     f"应每 {h.fresh_within_hours:g} 小时内更新 expected within {h.fresh_within_hours:g} h; "
                     f"最后成功加载 last load {beijing_time(h.last_loaded_at)}")
    title = f"【safety-hub】数据源超时未更新 stale feeds：{len(stale)} 个"
    facts = {"as_of": end.isoformat(), "newly_stale": [h.feed_id for h in newly], "stale": [h.feed_id for h in stale],
             "daily_summary": summary}
    return Alert(KIND_STALE, title, lines, facts)


def returned_rows_alert(feed_title: str, agency_name: str, day: dt.date, batch_id: str, returned: dict) -> Alert:
    """The notice that a batch's 退回清单 (``pipeline.run_returns``) is in its agency's outbox: counts and path, no row values."""
    title = f"【safety-hub】退回清单 {agency_name}：{feed_title} {day} 退回 {returned['rejected']} 行"
    lines = [f"业务日期 business date: {day}；批次 batch: {batch_id}",
             f"已隔离（未入库）rejected: {returned['rejected']} 行；已入库待核对 flagged: {returned['flagged']} 行；"
             f"问题 {returned['lines']} 条（行 × 规则）",
             f"清单 list: {returned['path']}",
             "请修正后在下次报送中重新报送 please correct the rows and deliver them again"]
    facts = {"agency": returned["agency"], "business_date": day.isoformat(), "batch_id": batch_id, "path": returned["path"],
             "rejected": returned["rejected"], "flagged": returned["flagged"]}
    return Alert(KIND_RETURNED, title, lines, facts)


def missed_reports_alert(runs: list[dict], as_of: dt.date) -> Alert:
    """Units that missed their feed's ``reporters.alert_after_missed`` consecutive periods (漏报), one message."""
    title = f"【safety-hub】连续漏报 missed reports：{len(runs)} 个单位"
    lines = [f"统计截止日 as of: {as_of}"]
    for r in runs:
        lines.append(f"  {r['agency_name']} {r['feed_id']}：{r['unit_name']}（{r['unit_code']}）自 {r['missed_since']} 起连续漏报 "
                     f"{r['missed_in_a_row']} 期（阈值 {r['threshold']}）")
    facts = {"as_of": as_of.isoformat(), "units": [{"feed_id": r["feed_id"], "unit_code": r["unit_code"],
                                                     "missed_since": str(r["missed_since"]), "missed": r["missed_in_a_row"]} for r in runs]}
    return Alert(KIND_MISSED, title, lines, facts)


# --- delivering ------------------------------------------------------------------------------

def _alert_connection():
    from safety_hub.config.connections import get_connection

    try:
        return get_connection(ALERT_CONN_ID)
    except LookupError:
        return None


def webhook_url(conn) -> str:
    """The webhook URL of an http connection: its host if that is a URL, else built from its parts."""
    host = conn.host or ""
    if "://" in host:
        return host
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.lstrip('/')}" if conn.schema else ""
    return f"{scheme}://{host}{port}{path}"


def _post(url: str, payload: dict, timeout: float) -> None:
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the URL is the operator's own)
        response.read()


def _webhook_body(alert: Alert, fmt: str) -> dict:
    if fmt in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": alert.text()}}
    if fmt != "json":
        raise ValueError(f"connection {ALERT_CONN_ID}: unknown extra.format {fmt!r} (json, wecom, dingtalk)")
    return alert.payload()


def _send_email(alert: Alert, conn) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from safety_hub.reporting.rendering import render

    to = conn.extra.get("to")
    if not to:
        raise ValueError(f"connection {ALERT_CONN_ID}: extra.to (comma-separated addresses) is required for e-mail")
    body = render("alert_email.html", text=alert.text())
    with SmtpHook(smtp_conn_id=ALERT_CONN_ID) as hook:
        hook.send_email_smtp(to=to, subject=alert.title, html_content=body)


def deliver(alert: Alert) -> str:
    """Log the alert, then send it through ``safety_hub_alerts``; return the channel used."""
    log.warning("ALERT %s\n%s", alert.kind, alert.text())
    conn = _alert_connection()
    if conn is None:
        return "log"
    kind = (conn.conn_type or "").lower()
    if kind in ("http", "https"):
        _post(webhook_url(conn), _webhook_body(alert, conn.extra.get("format", "json")), float(conn.extra.get("timeout", 10)))
        return "webhook"
    if kind in ("smtp", "email"):
        _send_email(alert, conn)
        return "email"
    raise ValueError(f"connection {ALERT_CONN_ID} has conn_type {conn.conn_type!r}: use http(s) for a webhook or smtp for e-mail")


# --- reading a failed run from Airflow -------------------------------------------------------
# Only through the Task SDK's public task-instance interface (``airflow.sdk.TaskInstance``: the
# ``ti`` of the callback's context): ``xcom_push`` in the task's callback, ``get_task_states``
# and ``xcom_pull`` in the DAG's.

def failure_record(context: dict) -> dict:
    """What a failed task keeps for the run's roll-up: its error and its rendered map index."""
    ti, exc = context["ti"], context.get("exception")
    error = str(exc) if exc is not None else None
    return {"error_type": type(exc).__name__ if exc is not None else None,
            "error": error[:MAX_ERROR_CHARS] if error else None,
            "label": getattr(ti, "rendered_map_index", None)}


def record_task_failure(context: dict) -> None:
    """Keep a failed task's error with its task instance (an XCom) for the run's roll-up."""
    ti = context.get("ti")
    if ti is None:
        return
    try:
        ti.xcom_push(key=FAILURE_XCOM_KEY, value=failure_record(context))
    except Exception:  # e.g. a killed task's callback run where XComs cannot be written
        log.warning("could not record the failure of %s for the run's alert", getattr(ti, "task_id", "?"), exc_info=True)


def _split_state_key(key: str, task_ids: set[str]) -> tuple[str, int]:
    """``get_task_states`` names a mapped instance ``<task_id>_<map_index>``."""
    if key in task_ids:
        return key, -1
    task_id, _, index = key.rpartition("_")
    return (task_id, int(index)) if index.isdigit() and task_id in task_ids else (key, -1)


def parse_record(value) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"error": value}
    return value if isinstance(value, dict) else {}


def run_failures(ti, dag_id: str, run_id: str, task_ids: set[str]) -> list[TaskFailure]:
    """Every failed and upstream-failed task instance of a run, with the errors recorded for them,
    read through ``ti`` (a task instance of the run, as the DAG callback's context gives it)."""
    states = ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
    out = []
    for key, state in sorted(states.items()):
        if state not in ("failed", "upstream_failed"):
            continue
        task_id, map_index = _split_state_key(key, task_ids)
        record = {}
        if state == "failed":
            record = parse_record(ti.xcom_pull(task_ids=task_id, key=FAILURE_XCOM_KEY, map_indexes=map_index, run_id=run_id))
        out.append(TaskFailure(task_id, map_index, state, record.get("label"), record.get("error_type"), record.get("error")))
    return out


def run_url(dag_id: str, run_id: str) -> str | None:
    """The run's page in the Airflow UI, when ``[api] base_url`` is configured."""
    from urllib.parse import quote

    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except Exception:
        base = ""
    return f"{base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}" if base else None


def notify_run_failure(context: dict) -> Alert:
    """The DAG-level failure callback's work: roll the run's failures up into one alert and send it.

    The context is the one Airflow gives a DAG's ``on_failure_callback`` (``dag``, ``run_id``,
    ``reason``, and ``ti``: the task instance that failed the run). When the run's task states
    cannot be read (no ``ti``: a run failed by its timeout; or a DAG callback run outside a Task
    SDK process, as ``dag.test()`` runs it), the alert says so and names what the context holds.
    """
    dag, ti = context["dag"], context.get("ti")
    run_id = context.get("run_id") or context["dag_run"].run_id
    failures, unreadable = [], None
    if ti is None:
        unreadable = "no task instance in the callback's context"
    else:
        try:
            failures = run_failures(ti, dag.dag_id, run_id, set(dag.task_ids))
        except Exception as exc:
            log.warning("could not read the task states of %s %s", dag.dag_id, run_id, exc_info=True)
            unreadable = f"{type(exc).__name__}: {exc}"
        if not failures:
            failures = [TaskFailure(ti.task_id, ti.map_index if ti.map_index is not None else -1, "failed", ti.rendered_map_index)]
    reason = context.get("reason")
    if unreadable:
        reason = f"{reason or '-'} (任务状态不可读 task states unreadable: {unreadable})"
    alert = run_failure_alert(dag.dag_id, run_id, failures, reason, run_url(dag.dag_id, run_id))
    deliver(alert)
    return alert
