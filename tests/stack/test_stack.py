"""``make stack-test``: the production topology, for real, on this machine.

docker-compose.yml's services started natively from the venv (``safety_hub_dev.stack``): Airflow
on PostgreSQL metadata, CeleryExecutor with the Redis broker, api-server, scheduler,
dag-processor, triggerer, two Celery workers, the warehouse on PostgreSQL and the agency
simulator. The hazard ledger's three simulated days come in as a history import: one Airflow
backfill (``POST /backfills``, the scheduler runs it a day at a time). Every other ingest DAG runs
for the three days through the scheduler (runs created through the REST API, one business day
after the other, as the daily schedule would), then warehouse_build and the reports. The warehouse is then held against the simulator's truth,
and the task instances must have run on both workers. Then a fourth day's 在建项目 file arrives
half invalid: its run must fail on the quality threshold and the DAG processor must send exactly
one rolled-up alert to a webhook (a local receiver). Every process is stopped at the end.

The scheduler's own cron and asset scheduling is off (``use_job_schedule``): a live schedule
would add runs for today's business day that the truth does not cover.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import DAYS, expected_quarantine, expected_valid_keys
from deliveries import PROJECT_FEED, deliver_half_invalid
from webhook_receiver import Receiver

pytestmark = pytest.mark.stack

PG_HOST, PG_PORT, REDIS_PORT = "127.0.0.1", 5432, 6379
RUN_TIMEOUT = 1200  # seconds for one business day's ingest runs
BAD_DAY = DAYS[-1] + dt.timedelta(days=1)
HISTORY_FEED = "emb_hazard"  # imported through an Airflow backfill (docs/production.md, "History import")


@pytest.fixture(scope="module")
def stack_run():
    from safety_hub_dev.stack import StackConfig, reachable, running_stack

    for what, port in (("PostgreSQL", PG_PORT), ("Redis", REDIS_PORT)):
        if not reachable(PG_HOST, port):
            pytest.skip(f"{what} is not reachable on {PG_HOST}:{port}: the stack needs the machine's own (see README, 'Production')")
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub.config.registry import load_registry
    from safety_hub.reporting.archive import ReportWeek
    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub.ops.alerts import ALERT_CONN_ID
    from safety_hub_dev.simulator.connections import SPECS  # (registered by the simulator package)
    from safety_hub_dev.stack import backfill, drop_databases, trigger, wait_for_runs

    suffix = os.getpid()
    # its own directory, not pytest's tmp_path: pytest prunes old base temps of concurrent sessions
    cfg = StackConfig(Path(tempfile.mkdtemp(prefix="safety-hub-stack-")), metadata_db=f"safety_hub_stack_{suffix}_airflow",
                      warehouse_db=f"safety_hub_stack_{suffix}_warehouse")
    truth = {}
    for day in DAYS:
        data = generate_day(day)
        write_day(data, cfg.dropzone)
        truth[day] = data.truth
    progress = print
    progress(f"stack work dir (logs in services/; kept with SAFETY_HUB_KEEP_STACK=1): {cfg.workdir}")
    states: dict[tuple[str, str], str] = {}
    receiver = Receiver()
    alert_conn = {f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}": json.dumps({"conn_type": "http", "host": receiver.url})}
    try:
        with running_stack(cfg, progress, schedule=False, extra_env=alert_conn) as stack:
            token = stack.token()
            _wait_for_dags(stack, token)
            registry = load_registry()
            backfill_id, history = backfill(stack, f"ingest_{HISTORY_FEED}", DAYS[0], DAYS[-1], registry[HISTORY_FEED].schedule, token)
            progress(f"history import: backfill {backfill_id} of ingest_{HISTORY_FEED}, {len(history)} runs")
            states |= wait_for_runs(stack, history, RUN_TIMEOUT, progress)
            feeds = sorted(f for f in registry if f != HISTORY_FEED)
            for day in DAYS:  # a business day's runs finish before the next day's start
                runs = [(f"ingest_{f}", trigger(stack, f"ingest_{f}", logical_date_for(day), {"business_date": day.isoformat()}, token))
                        for f in feeds]
                progress(f"{day}: {len(runs)} ingest runs triggered")
                states |= wait_for_runs(stack, runs, RUN_TIMEOUT, progress)
            for dag_id, conf in (("warehouse_build", {}), ("report_district_hazard", {}),
                                 ("report_weekly", {"week": ReportWeek.containing(DAYS[-1]).label})):
                run = (dag_id, trigger(stack, dag_id, None, conf, token))
                states |= wait_for_runs(stack, [run], RUN_TIMEOUT, progress)
            instances = _task_instances(stack, token, states)
            # a broken delivery: stopped by its quality threshold, one alert from the DAG processor
            rows = deliver_half_invalid(cfg.dropzone / SPECS[PROJECT_FEED].delivery.folder, BAD_DAY)
            bad = (f"ingest_{PROJECT_FEED}", trigger(stack, f"ingest_{PROJECT_FEED}", logical_date_for(BAD_DAY),
                                                     {"business_date": BAD_DAY.isoformat()}, token))
            bad_state = wait_for_runs(stack, [bad], RUN_TIMEOUT, progress)[bad]
            receiver.wait_for(1, timeout=300, kind="quality_breach")
            time.sleep(15)  # a second message would come now
            processes = dict(stack.processes)
        yield {"cfg": cfg, "truth": truth, "states": states, "history": history, "instances": instances, "processes": processes,
               "bad_run": bad, "bad_state": bad_state, "bad_rows": rows, "alerts": list(receiver.received)}
    finally:
        receiver.close()
        drop_databases(cfg)
        if not os.environ.get("SAFETY_HUB_KEEP_STACK"):
            shutil.rmtree(cfg.workdir, ignore_errors=True)


def _wait_for_dags(stack, token, timeout: float = 300) -> None:
    """Until the DAG processor has serialised every DAG file's DAGs."""
    import time

    from safety_hub.config.registry import load_registry

    expected = {f"ingest_{f}" for f in load_registry()} | {"warehouse_build", "report_district_hazard", "report_weekly"}
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        dags = {d["dag_id"] for d in stack.api("GET", "/dags?limit=200", token=token)["dags"]}
        if expected <= dags:
            return
        assert time.monotonic() < deadline, f"DAGs not parsed after {timeout}s: {sorted(expected - dags)}"
        time.sleep(3)


def _task_instances(stack, token, states) -> list[dict]:
    out = []
    for dag_id, run_id in states:
        out += stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", token=token)["task_instances"]
    return out


def _warehouse(stack_run, sql: str):
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(stack_run["cfg"].database_url(stack_run["cfg"].warehouse_db))
    try:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(sql)).mappings().all())
    finally:
        engine.dispose()


def test_every_run_succeeded_through_the_scheduler(stack_run):
    from safety_hub.config.registry import load_registry

    states = stack_run["states"]
    assert len(states) == len(DAYS) * len(load_registry()) + 3
    assert set(states.values()) == {"success"}, {k: v for k, v in states.items() if v != "success"}
    runs_per_dag = Counter(dag_id for dag_id, _ in states)
    assert all(n == len(DAYS) for dag_id, n in runs_per_dag.items() if dag_id.startswith("ingest_")), runs_per_dag


def test_the_history_import_ran_as_one_airflow_backfill(stack_run):
    """One backfill run per business day, each a success, through the scheduler."""
    assert len(stack_run["history"]) == len(DAYS)
    assert all(stack_run["states"][run] == "success" for run in stack_run["history"])
    loads = [i for i in stack_run["instances"] if (i["dag_id"], i["dag_run_id"]) in stack_run["history"] and i["task_id"] == "load"]
    assert len(loads) == len(DAYS) and all(i["state"] == "success" for i in loads), loads


def test_no_task_needed_a_retry(stack_run):
    """Nothing here is flaky (the simulator injects no faults in this test): a retry means a race
    between tasks on different workers, like two creating the warehouse schema at once."""
    retried = [(ti["dag_id"], ti["task_id"], ti["try_number"]) for ti in stack_run["instances"] if ti["try_number"] > 1]
    assert not retried, retried


def test_tasks_ran_on_both_celery_workers(stack_run):
    ran = [ti for ti in stack_run["instances"] if ti["state"] == "success"]
    hosts = Counter(ti["hostname"] for ti in ran)
    assert set(hosts) == {"worker-1", "worker-2"}, hosts
    assert min(hosts.values()) >= 0.1 * len(ran), f"one worker did almost nothing: {hosts}"


def test_warehouse_on_postgresql_matches_the_truth(stack_run):
    from safety_hub.config.registry import load_registry

    truth = stack_run["truth"]
    for feed_id, feed in sorted(load_registry().items()):
        facts = _warehouse(stack_run, f"SELECT {feed.key[0]} AS k FROM {feed.target_table}")
        assert facts["k"].is_unique, feed_id
        assert set(facts["k"]) == expected_valid_keys(truth, feed_id), feed_id
        q = _warehouse(stack_run, f"SELECT DISTINCT record_key, rule_id FROM quarantine WHERE feed_id = '{feed_id}' "
                                  f"AND business_date <= '{DAYS[-1]}'")
        assert set(zip(q["record_key"], q["rule_id"])) >= {(d["key"], d["expected_rule"]) for d in expected_quarantine(truth, feed_id)}, feed_id
        assert set(q["record_key"]) == {d["key"] for d in expected_quarantine(truth, feed_id)}, feed_id


def test_a_broken_delivery_fails_its_run_and_alerts_once(stack_run):
    from safety_hub.config.registry import get_feed

    dag_id, run_id = stack_run["bad_run"]
    assert stack_run["bad_state"] == "failed"
    # Besides the 退回清单 notices of the batches with rejected rows (the bad one's among them) and the 报送情况
    # notices of units that missed their reports (the broken batch reported nothing), one alert: the run's.
    assert {a["body"]["kind"] for a in stack_run["alerts"]} <= {"returned_rows", "missed_reports", "quality_breach", "run_failed"}
    alerts = [a for a in stack_run["alerts"] if a["body"]["kind"] in ("quality_breach", "run_failed")]
    assert len(alerts) == 1, alerts
    [returned] = [a["body"] for a in stack_run["alerts"] if a["body"]["kind"] == "returned_rows" and a["body"]["batch_id"] == run_id]
    assert returned["rejected"] >= stack_run["bad_rows"] // 2 and returned["agency"] == get_feed(PROJECT_FEED).agency
    body = alerts[0]["body"]
    assert (body["kind"], body["dag_id"], body["run_id"]) == ("quality_breach", dag_id, run_id)
    [failed] = body["failed_tasks"]
    assert (failed["task_id"], failed["error_type"]) == ("validate", "FeedQualityError")
    assert f"/{stack_run['bad_rows']} rows invalid" in failed["error"]
    assert body["url"].startswith(stack_run["cfg"].api_url)
    loaded = _warehouse(stack_run, f"SELECT COUNT(*) AS n FROM {get_feed(PROJECT_FEED).target_table} WHERE business_date = '{BAD_DAY}'")
    assert int(loaded["n"][0]) == 0, "nothing of the broken batch reached the warehouse"


def test_workers_sent_openlineage_events_for_every_extract_and_load(stack_run):
    """The provider's listener and the tasks' own dataset events, from Celery workers' task processes."""
    import json

    from safety_hub.ops import lineage
    from safety_hub.config.registry import load_registry

    cfg = stack_run["cfg"]
    events = lineage.read_events(lineage.events_path(json.dumps(lineage.file_transport(cfg.workdir / "hub"))))
    by_run: dict[str, dict] = {}
    for e in events:
        r = by_run.setdefault(e["run"]["runId"], {"job": e["job"]["name"], "types": set(), "in": set(), "out": set()})
        r["types"].add(e["eventType"])
        r["in"] |= {d["name"] for d in e.get("inputs") or []}
        r["out"] |= {d["name"] for d in e.get("outputs") or []}
    for feed_id, feed in load_registry().items():
        for task in ("extract", "load"):
            runs = [r for r in by_run.values() if r["job"] == f"ingest_{feed_id}.{task}"]
            assert all("START" in r["types"] and r["types"] & {"COMPLETE", "FAIL"} for r in runs), (feed_id, task, runs)
            complete = [r for r in runs if "COMPLETE" in r["types"]]
            assert len(complete) >= len(DAYS), (feed_id, task, runs)
            assert all(r["in"] and r["out"] for r in complete), (feed_id, task, complete)
        loads = [r for r in by_run.values() if r["job"] == f"ingest_{feed_id}.load"]
        assert any(f"{cfg.warehouse_db}.public.{feed.target_table}" in r["out"] for r in loads), (feed_id, loads[:1])


def test_every_process_of_the_stack_was_stopped(stack_run):
    import psutil

    alive = {name: proc.pid for name, proc in stack_run["processes"].items() if proc.poll() is None}
    assert not alive, alive
    home = str(stack_run["cfg"].workdir / "airflow")
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("AIRFLOW_HOME") == home:
                leftovers.append(proc.info)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    assert not leftovers, f"processes of the stack still running: {leftovers}"
