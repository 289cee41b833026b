"""Feed health: each feed's last Airflow run (state and error), data freshness, volumes, quality.

Used by ``python -m safety_hub health``, the Feed health page of the Airflow UI
(``health_page.py``, plugin ``plugins/feed_health.py``) and the ``feed_health_check``
DAG's stale-feed alerts (``alerts.py``). Reading health never writes anything.

Two sources, each for what only it knows:

* **Airflow's own run records** (``last_runs``: the ``dag_run`` and ``task_instance`` rows of
  the metadata DB, through Airflow's ORM models; the errors the tasks' failure callback kept as
  XComs, ``alerts.FAILURE_XCOM_KEY``): the state of each ingest DAG's last run and, when it
  failed, which task and why. A feed whose last run failed is 失败, never 正常.
* **The warehouse** (``load_audit``, ``quarantine``, ``validation_result``): freshness by the
  latest *business date* loaded, not by when something last ran: a business date D holds the
  data up to the end of D (Beijing), so the data are as of D+1 00:00 北京时间 and the feed is
  stale once that is more than ``fresh_within_hours`` ago. Replaying an old day through the CLI
  adds a load but no newer business date, so it cannot make a failing feed look fresh.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.config.settings import business_tz
from safety_hub.ops.alerts import FAILURE_XCOM_KEY, TaskFailure, deliver, parse_record, stale_feeds_alert
from safety_hub.warehouse.quarantine import QuarantineCounts, quarantine_counts

log = logging.getLogger(__name__)

RECENT_RUNS = 5  # loads per feed shown as "the last runs"

STATUS_FAILED, STATUS_STALE, STATUS_OK = "failed", "stale", "ok"
STATUS_TEXT = {STATUS_FAILED: "失败 FAILED", STATUS_STALE: "超时 STALE", STATUS_OK: "正常 ok"}


@dataclass
class LoadRun:
    """One successful load of a feed (a ``load_audit`` row) and its business date's 隔离行数."""

    business_date: dt.date
    loaded_at: dt.datetime
    rows_loaded: int
    rows_quarantined: int  # 隔离行数 of the business date (warehouse.quarantine), not the load's own figure


@dataclass
class LastRun:
    """The last run of a feed's ingest DAG, as Airflow recorded it."""

    dag_id: str
    run_id: str
    state: str  # success | failed | running | queued
    run_type: str
    business_date: dt.date | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    error: str | None = None  # failed runs: ``task: ErrorType: message`` of the first failed task
    failed_tasks: list[str] = field(default_factory=list)


@dataclass
class FeedHealth:
    feed_id: str
    status: str  # failed | stale | ok (STATUS_TEXT)
    last_business_date: dt.date | None  # the latest business date loaded
    data_as_of: dt.datetime | None  # the end of that business date (Beijing): how old the data are
    last_loaded_at: dt.datetime | None  # the last successful load (of any business date)
    fresh_within_hours: float
    stale: bool
    last_run: LastRun | None  # the ingest DAG's last run (None: no run recorded, or not known)
    runs_known: bool  # whether Airflow's run records were read
    rows_loaded_last: int | None  # rows loaded by the last load
    quarantine_last: QuarantineCounts  # 隔离行数/隔离记录数/规则违反次数 of the latest business date
    rule_pass_rate: float | None  # 规则通过率: share of the last validation's rules (expectations) that passed
    row_load_rate: float | None  # 行入库率: share of the last load's records (rows_extracted) that were loaded
    volume_note: str | None
    recent_runs: list[LoadRun] = field(default_factory=list)  # newest first, at most RECENT_RUNS

    stale_since: dt.datetime | None = None  # when it went (or goes) stale: ``stale_deadline`` of its data (None: never loaded)

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def data_as_of(business_date: dt.date) -> dt.datetime:
    """The moment the data of ``business_date`` are complete: the end of that day in Beijing, in UTC."""
    return dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time(), tzinfo=business_tz()).astimezone(dt.timezone.utc)


_UNCOVERED_WARNED: set[int] = set()


def stale_deadline(as_of: dt.datetime, hours: float, calendar: str = "working_days") -> dt.datetime:
    """The moment data complete at ``as_of`` become stale: ``hours`` later, counting on ``working_days``
    only the hours of statutory working days (Beijing; ``domain.workdays``), so a weekend or a holiday
    adds its length. A year the calendar does not carry counts Monday to Friday (logged)."""
    from safety_hub.domain.workdays import covered, is_working_day_or_weekday

    if calendar == "every_day":
        return as_of + dt.timedelta(hours=hours)
    tz = business_tz()
    t, left = as_of.astimezone(tz), dt.timedelta(hours=hours)
    while True:
        day = t.date()
        if not covered(day.year) and day.year not in _UNCOVERED_WARNED:
            _UNCOVERED_WARNED.add(day.year)
            log.warning("no statutory working-day calendar for %d: freshness counts Monday to Friday (upgrade chinese-calendar)", day.year)
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        if is_working_day_or_weekday(day):
            if left <= midnight - t:
                return (t + left).astimezone(dt.timezone.utc)
            left -= midnight - t
        t = midnight


def feed_health(engine: sa.Engine, now: dt.datetime | None = None, runs: dict[str, LastRun] | None = None) -> list[FeedHealth]:
    """Health of every registered feed as of ``now`` (default: the current time).

    ``runs``: the ingest DAGs' last runs by DAG id (``last_runs``); ``None`` when Airflow's
    records were not read (the stale-feed check), which leaves ``last_run`` unknown.
    """
    from safety_hub.warehouse.schema import build_metadata

    now = now or dt.datetime.now(dt.timezone.utc)
    md = build_metadata()  # the model only: a health read creates nothing, so it may use a read-only connection
    audit, vr = md.tables["load_audit"], md.tables["validation_result"]
    out = []
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        has_audit, has_results = inspector.has_table("load_audit"), inspector.has_table("validation_result")
        quarantined = quarantine_counts(conn, by=("feed_id", "business_date"))
        for feed in load_registry().values():
            loads, newest_day = [], None
            if has_audit:
                loaded = [audit.c.feed_id == feed.feed_id, audit.c.status == "loaded"]
                loads = conn.execute(
                    sa.select(audit.c.business_date, audit.c.loaded_at, audit.c.rows_loaded, audit.c.rows_extracted, audit.c.volume_note)
                    .where(*loaded).order_by(audit.c.loaded_at.desc()).limit(RECENT_RUNS)
                ).all()
                newest_day = conn.execute(sa.select(sa.func.max(audit.c.business_date)).where(*loaded)).scalar()
            rule_rate = None
            batch = None
            if has_results:
                batch = conn.execute(
                    sa.select(vr.c.batch_id).where(vr.c.feed_id == feed.feed_id).order_by(vr.c.validated_at.desc()).limit(1)
                ).scalar()
            if batch is not None:
                ok, total = conn.execute(
                    sa.select(sa.func.sum(sa.case((vr.c.success, 1), else_=0)), sa.func.count())
                    .where(vr.c.feed_id == feed.feed_id, vr.c.batch_id == batch)
                ).one()
                rule_rate = (ok or 0) / total if total else None
            last = loads[0] if loads else None
            as_of = data_as_of(newest_day) if newest_day else None
            limit = feed.validation.fresh_within_hours
            deadline = stale_deadline(as_of, limit, feed.validation.fresh_calendar) if as_of else None
            stale = deadline is None or now > deadline
            run = (runs or {}).get(f"ingest_{feed.feed_id}")
            status = STATUS_FAILED if run is not None and run.state == "failed" else STATUS_STALE if stale else STATUS_OK
            out.append(FeedHealth(
                feed.feed_id, status, newest_day, as_of, _utc(last[1]) if last else None, limit, stale, run, runs is not None,
                last[2] if last else None,
                quarantined.get((feed.feed_id, newest_day), QuarantineCounts()),
                rule_rate,
                (last[2] / last[3] if last[3] else None) if last else None,
                last[4] if last else None,
                [LoadRun(r[0], _utc(r[1]), r[2], quarantined.get((feed.feed_id, r[0]), QuarantineCounts()).rows) for r in loads],
                deadline,
            ))
    return out


def _run_business_date(run) -> dt.date | None:
    """The business day a run covers: ``conf.business_date``, else its data interval's start (Beijing)."""
    conf = run.conf if isinstance(run.conf, dict) else {}
    if conf.get("business_date"):
        try:
            return dt.date.fromisoformat(str(conf["business_date"]))
        except ValueError:
            return None
    start = run.data_interval_start or run.logical_date
    return _utc(start).astimezone(business_tz()).date() if start else None


def _failed_tasks(dag_id: str, run_id: str) -> list:
    """The failed task instances of a run (``alerts.TaskFailure``), with the errors their failure
    callbacks recorded, from the metadata DB (``last_runs``' ORM session)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(sa.select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.state == "failed")
            .order_by(TaskInstance.task_id, TaskInstance.map_index)).all()
        rows = session.execute(sa.select(XComModel.task_id, XComModel.map_index, XComModel.value).where(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == FAILURE_XCOM_KEY)).all()
        records = {(r.task_id, r.map_index): parse_record(r.value) for r in rows}
        out = []
        for ti in tis:
            record = records.get((ti.task_id, ti.map_index), {})
            label = record.get("label") or (ti.rendered_map_index if ti.map_index >= 0 else None)
            out.append(TaskFailure(ti.task_id, ti.map_index, "failed", label, record.get("error_type"), record.get("error")))
    return out


def last_runs(dag_ids: list[str]) -> dict[str, LastRun]:
    """The last run of each DAG (the one started last; queued ones count), read from Airflow's metadata DB.

    Through Airflow's ORM models (``DagRun``), in whatever process: the API server (the page)
    or the CLI, whose ``AIRFLOW_HOME`` (or ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``) names the
    DB. A failed run's error is the one its failed task recorded (``alerts.record_task_failure``).
    Raises what the DB raises when it cannot be read.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    if not dag_ids:
        return {}
    when = sa.func.coalesce(DagRun.start_date, DagRun.queued_at, DagRun.run_after)
    ranked = (sa.select(DagRun.id, sa.func.row_number().over(partition_by=DagRun.dag_id, order_by=(when.desc(), DagRun.id.desc())).label("n"))
              .where(DagRun.dag_id.in_(dag_ids)).subquery())
    out = {}
    with create_session() as session:
        runs = session.scalars(sa.select(DagRun).join(ranked, ranked.c.id == DagRun.id).where(ranked.c.n == 1)).all()
        found = [(r.dag_id, r.run_id, str(getattr(r.state, "value", r.state)), str(getattr(r.run_type, "value", r.run_type)),
                  _run_business_date(r), r.start_date, r.end_date) for r in runs]
    for dag_id, run_id, state, run_type, day, started, ended in found:
        run = LastRun(dag_id, run_id, state, run_type, day, _utc(started) if started else None, _utc(ended) if ended else None)
        if state == "failed":
            failures = _failed_tasks(dag_id, run_id)
            run.failed_tasks = [f.name for f in failures]
            first = failures[0] if failures else None
            if first is None:
                run.error = "the run failed without a failed task (timed out or stopped)"
            elif first.error_type or first.error:
                run.error = f"{first.name}: " + (f"{first.error_type}: {first.error}" if first.error_type else first.error)
            else:
                run.error = f"{first.name}: no error recorded (the task process may have been killed)"
        out[dag_id] = run
    return out


def airflow_last_runs(feed_ids: list[str] | None = None) -> tuple[dict[str, LastRun] | None, str | None]:
    """``last_runs`` of the feeds' ingest DAGs, or ``(None, reason)`` when Airflow's records cannot be read."""
    from safety_hub.domain.errors import one_line

    feed_ids = feed_ids if feed_ids is not None else list(load_registry())
    try:
        return last_runs([f"ingest_{f}" for f in feed_ids]), None
    except Exception as exc:  # no metadata DB, not migrated, unreachable
        log.warning("Airflow run records unreadable: %s", exc)
        return None, one_line(f"{type(exc).__name__}: {exc}", 300)


def read_engine(url: str | None = None) -> sa.Engine:
    """An engine for reading health from a long-lived process (the API server).

    A DuckDB file admits one writing process: a pooled connection held by the API
    server would lock the pipeline's tasks out, so DuckDB is opened read-only per
    request, for the length of one read (it fails fast while a task holds the file,
    and a task opening the file during that read fails likewise: local DuckDB only).
    Other databases (PostgreSQL in production) pool.
    """
    from safety_hub.config import settings
    from safety_hub.warehouse.engine import get_engine

    url = url or settings.warehouse_url()
    if not url.startswith("duckdb"):
        return get_engine(url)
    return sa.create_engine(url, poolclass=sa.pool.NullPool,
                            connect_args={"read_only": True, "config": {"memory_limit": settings.duckdb_memory_limit()}})


def check_stale_feeds(start: dt.datetime, end: dt.datetime) -> dict:
    """The ``feed_health_check`` task: feed health as of ``end``; alert on feeds that went stale."""
    from safety_hub.warehouse.engine import get_engine

    health = feed_health(get_engine(), now=end)
    alert = stale_feeds_alert(health, start, end)
    channel = deliver(alert) if alert else None
    return {"as_of": end.isoformat(), "stale": [h.feed_id for h in health if h.stale],
            "alerted": alert.facts["stale"] if alert else [], "newly_stale": alert.facts["newly_stale"] if alert else [],
            "channel": channel}
