"""Feed health against real Airflow DAG runs and a CLI replay, and the quarantine counts of every
tool for the same day.

* A feed whose last ingest run failed for real (a broken delivery: the 在建项目 file in UTF-16,
  refused by ``land``) is 失败 with that run's error in ``feed_health``, the ``health`` CLI, and
  the Feed health payload, though its data are still fresh.
* Replaying its last good day through the CLI adds a load but no newer business date: the feed
  does not become fresh, and its last run is still the failed one.
* 隔离行数 / 隔离记录数 / 规则违反次数 of one day (and over all days) are the same in the
  quarantine CLI, the health CLI, the Feed health payload and the demo summary, and equal the
  counts recomputed here from the ``quarantine`` table.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

import deliveries
from conftest import DAYS, query

pytestmark = pytest.mark.e2e
FEED = "hcc_project"
GOOD_DAY, BAD_DAY = dt.date(2026, 11, 30), dt.date(2026, 12, 1)  # later than any other test's run of this feed (its last run is the latest by date)


def _state(dag_run) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


@pytest.fixture
def isolated_hub(simulator, airflow_db, tmp_path, monkeypatch):
    """A data dir and warehouse of this test's own; the DAG runs go to the session's metadata DB."""
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return tmp_path


def _cli(capsys, *args: str) -> tuple[int, str]:
    from safety_hub.cli import main

    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def test_a_failed_last_run_is_failed_everywhere_and_a_replay_does_not_make_the_feed_fresh(isolated_hub, capsys):
    from airflow.sdk import Connection

    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub.ops.health import data_as_of, feed_health, last_runs
    from safety_hub.ops.health_page import health_payload
    from safety_hub_dev.localairflow import load_dags
    from safety_hub.config.registry import get_feed
    from safety_hub_dev.simulator import generate_day
    from safety_hub.warehouse.engine import get_engine

    drop = Connection.get("hcc_drop").extra_dejson["path"]
    dag = load_dags()[f"ingest_{FEED}"]
    deliveries.deliver(drop, GOOD_DAY, deliveries.csv_bytes(generate_day(GOOD_DAY).records[FEED]))
    good = dag.test(logical_date=logical_date_for(GOOD_DAY), run_conf={"business_date": GOOD_DAY.isoformat()})
    assert _state(good) == "success"
    deliveries.deliver(drop, BAD_DAY, deliveries.csv_bytes(generate_day(BAD_DAY).records[FEED], "utf-16"))
    bad = dag.test(logical_date=logical_date_for(BAD_DAY), run_conf={"business_date": BAD_DAY.isoformat()})
    assert _state(bad) == "failed"

    # Airflow's own records: the failed run, its failed task and its error
    runs = last_runs([f"ingest_{FEED}", "ingest_no_such_feed"])
    assert set(runs) == {f"ingest_{FEED}"}
    run = runs[f"ingest_{FEED}"]
    assert (run.run_id, run.state, run.business_date, run.failed_tasks) == (bad.run_id, "failed", BAD_DAY, ["land"])
    assert run.error.startswith("land: FeedError: ") and "UTF-16" in run.error, run.error

    engine = get_engine()
    limit = get_feed(FEED).validation.fresh_within_hours
    fresh_now = data_as_of(GOOD_DAY) + dt.timedelta(hours=2)  # GOOD_DAY's data are fresh then
    [h] = [h for h in feed_health(engine, now=fresh_now, runs=runs) if h.feed_id == FEED]
    assert h.last_business_date == GOOD_DAY and not h.stale, "the data loaded are fresh"
    assert h.status == "failed" and h.status_text == "失败 FAILED" and h.last_run.run_id == bad.run_id

    payload = health_payload(engine, now=fresh_now)  # reads the runs itself, as the page does
    [row] = [f for f in payload["feeds"] if f["feed_id"] == FEED]
    # Other tests of the session may have left failed runs of other feeds: the page lists exactly the feeds whose last run failed.
    failed_now = [f["feed_id"] for f in payload["feeds"] if f["status"] == "failed"]
    assert payload["runs_error"] is None and FEED in payload["failed"] and payload["failed"] == failed_now
    assert row["status"] == "failed" and row["last_run"]["run_id"] == bad.run_id and "UTF-16" in row["last_run"]["error"]

    code, out = _cli(capsys, "health")
    [line] = [l for l in out.splitlines() if l.startswith(f"{FEED} ")]
    assert "失败 FAILED" in line and " failed " in line and str(BAD_DAY) in line and "正常" not in line, line
    assert f"  ! ingest_{FEED} {bad.run_id}: land: FeedError: " in out
    [failed_line] = [l for l in out.splitlines() if l.startswith("failed (the last run of its ingest DAG failed): ")]
    assert FEED in failed_line.split(": ", 1)[1].split(", ") and "all feeds" not in out
    assert code == 0 and _cli(capsys, "health", "--fail-on-stale")[0] == 1

    # A replay of the good day through the CLI: a newer load, no newer business date, no Airflow run
    loaded_before = h.last_loaded_at
    code, out = _cli(capsys, "replay", "--feed", FEED, "--date", GOOD_DAY.isoformat())
    assert code == 0, out
    later = data_as_of(GOOD_DAY) + dt.timedelta(hours=limit + 1)  # past the freshness limit of GOOD_DAY's data
    runs_after = last_runs([f"ingest_{FEED}"])
    assert runs_after[f"ingest_{FEED}"].run_id == bad.run_id, "a CLI replay is not an Airflow run"
    [replayed] = [h for h in feed_health(engine, now=later, runs=runs_after) if h.feed_id == FEED]
    assert replayed.last_loaded_at > loaded_before, "the replay loaded"
    assert replayed.last_business_date == GOOD_DAY and replayed.stale and replayed.status == "failed"
    [without_runs] = [h for h in feed_health(engine, now=later, runs={}) if h.feed_id == FEED]
    assert without_runs.stale and without_runs.status == "stale", "the replay alone does not make it fresh"


# --- one count definition, every tool ---------------------------------------------------------------

COUNTS = re.compile(r"隔离行数 ([\d,]+) · 隔离记录数 ([\d,]+) · 规则违反次数 ([\d,]+)")


def expected_counts(run, feed_id: str, day: dt.date | None = None) -> tuple[int, int, int]:
    """The three counts recomputed here from the quarantine table's rows (pandas, not the shared SQL)."""
    q = query(run, "SELECT * FROM quarantine WHERE feed_id = :f", f=feed_id)
    if day is not None:
        q = q[pd.to_datetime(q["business_date"]).dt.date == day]
    key = q["record_key"].fillna("")
    q = q.assign(row_id=q["batch_id"] + "|" + q["raw_file"] + "|" + q["row_number"].astype(str) + "|" + key.where(q["row_number"] == 0, ""),
                 record_id=key.where(key != "", "row:" + q["batch_id"] + "|" + q["raw_file"] + "|" + q["row_number"].astype(str)))
    return q["row_id"].nunique(), q["record_id"].nunique(), len(q)


def _ints(match) -> tuple[int, int, int]:
    return tuple(int(g.replace(",", "")) for g in match.groups())


def test_every_tool_counts_the_quarantine_the_same(duckdb_run, capsys):
    from safety_hub_dev.demo import print_summary
    from safety_hub.ops.health import feed_health
    from safety_hub.ops.health_page import health_payload

    run = duckdb_run
    feed, day = "emb_hazard", DAYS[-1]  # the session's latest business date: what health shows
    rows, records, failures = want = expected_counts(run, feed, day)
    assert failures > rows > 0 and records > 0, "the day has a row breaking two rules: the counts differ"

    code, out = _cli(capsys, "quarantine", "--feed", feed, "--date", day.isoformat())
    assert code == 0 and _ints(COUNTS.search(out)) == want, out
    assert sum(int(n) for n in re.findall(r"规则违反次数 (\d+) over", out)) == failures, "per rule: its failures"

    health = {h.feed_id: h for h in feed_health(run.engine(), runs={})}
    h = health[feed]
    assert h.last_business_date == day
    assert (h.quarantine_last.rows, h.quarantine_last.records, h.quarantine_last.failures) == want
    assert h.recent_runs[0].business_date == day and h.recent_runs[0].rows_quarantined == rows

    payload = health_payload(run.engine(), runs={})
    [page_row] = [f for f in payload["feeds"] if f["feed_id"] == feed]
    assert page_row["quarantine_last"] == {"rows": rows, "records": records, "failures": failures}

    code, out = _cli(capsys, "health")
    [line] = [l for l in out.splitlines() if l.startswith(f"{feed} ")]
    columns = re.search(r" (\d+) +(\d+) +(\d+) +(\d+) +(\d+%|-) +(\d+%|-)", line)  # loaded, the three counts, the two rates
    assert tuple(int(n) for n in columns.groups()[1:4]) == want, line
    assert columns.group(5) == f"{h.rule_pass_rate:.0%}" and columns.group(6) == f"{h.row_load_rate:.0%}", line

    all_days = expected_counts(run, feed)
    code, out = _cli(capsys, "quarantine", "--feed", feed)
    assert _ints(COUNTS.search(out)) == all_days
    capsys.readouterr()
    print_summary()
    summary = capsys.readouterr().out
    [demo_line] = [l for l in summary.splitlines() if l.strip().startswith(f"{feed} ")]
    assert _ints(COUNTS.search(demo_line)) == all_days, demo_line
