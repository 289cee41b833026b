"""A subset of the adversarial corpus (tests/adversarial) through the real ingest DAGs and the warehouse.

A delivery read in full: rows in the fact table + duplicates and stale versions merged away +
quarantined + set aside with a reason = the physical data rows of the delivery, recorded per
file in the raw partition's sidecar and in ``load_audit`` (``rows_physical``, ``rows_set_aside``).
A refused delivery, dropped for a day whose good delivery was already loaded, fails its run
with the one-line reason and leaves the previous partition and the warehouse unchanged.

Runs in its own SAFETY_HUB_HOME, DuckDB warehouse and drop folders (the session's runs are untouched).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from adversarial import generate
from safety_hub_dev.simulator.spec import SPECS

pytestmark = pytest.mark.e2e
DAY = generate.DAY
READ = ["xlsx-blank-row-inside", "csv-unmatched-quotes", "csv-title-and-notes"]
REFUSED = ["csv-cut-mid-row", "limit-csv-field-40000-chars", "csv-duplicate-header"]
CASES = {c.id: c for c in generate.build()}


@pytest.fixture(scope="module")
def hub(airflow_db, tmp_path_factory):
    """Its own data dir, warehouse and drop folders (one per agency folder the simulator uses)."""
    home = tmp_path_factory.mktemp("hub-adversarial")
    drop = home / "dropzone"
    env = {"SAFETY_HUB_HOME": str(home), "SAFETY_HUB_WAREHOUSE_URL": f"duckdb:///{home / 'warehouse.duckdb'}"}
    for case_id in READ + REFUSED:
        feed = generate.Source(CASES[case_id].feed).feed
        folder = drop / SPECS[feed.feed_id].delivery.folder
        folder.mkdir(parents=True, exist_ok=True)
        env[f"AIRFLOW_CONN_{feed.delivery.conn_id.upper()}"] = json.dumps({"conn_type": "fs", "extra": {"path": str(folder)}})
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield home


def _deliver(case: generate.Case) -> Path:
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.config.registry import get_feed

    path = drop_path(get_feed(case.feed), DAY)
    for name, content in case.files.items():
        (path.parent / name).write_bytes(content)
    return path


def _run(feed_id: str) -> str:
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub_dev.localairflow import load_dags, run_dag

    return run_dag(load_dags()[f"ingest_{feed_id}"], logical_date_for(DAY), {"business_date": DAY.isoformat()})


def _warehouse(feed_id: str) -> dict:
    """What the warehouse holds for the feed's day: fact rows (and a checksum), quarantine, audit."""
    from safety_hub.config.registry import get_feed
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    feed = get_feed(feed_id)
    engine = get_engine()
    ensure_schema(engine)
    q = {"f": feed_id, "d": DAY}
    with engine.connect() as conn:
        facts = conn.execute(sa.text(f"SELECT * FROM {feed.target_table} WHERE business_date = :d ORDER BY 1"), q).all()
        rules = dict(conn.execute(sa.text("SELECT rule_id, COUNT(*) FROM quarantine WHERE feed_id = :f AND business_date = :d GROUP BY rule_id"), q).all())
        rows = conn.execute(sa.text("SELECT COUNT(DISTINCT row_number) FROM quarantine WHERE feed_id = :f AND business_date = :d"), q).scalar_one()
        audit = [dict(r) for r in conn.execute(sa.text("SELECT * FROM load_audit WHERE feed_id = :f AND business_date = :d AND status = 'loaded'"), q).mappings()]
    digest = hashlib.sha256(repr([tuple(str(v) for v in r if not isinstance(v, dt.datetime)) for r in facts]).encode()).hexdigest()
    return {"facts": len(facts), "facts_sha": digest, "quarantine_rules": rules, "quarantined_rows": rows,
            "audit": [{k: v for k, v in a.items() if k != "loaded_at"} for a in audit]}


def _partition(feed_id: str) -> dict:
    """The raw partition's files (name -> sha256), sidecar included."""
    from safety_hub.ingest.landing import partition_dir

    part = partition_dir(feed_id, DAY)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(part.iterdir()) if p.is_file()}


@pytest.mark.parametrize("case_id", READ)
def test_a_delivery_read_in_full_reconciles_in_the_warehouse(hub, case_id):
    from safety_hub.ingest.landing import partition_dir, read_sidecar

    case = CASES[case_id]
    want = case.expect
    _deliver(case)
    assert _run(case.feed) == "success"

    got = _warehouse(case.feed)
    [audit] = got["audit"]
    aside = sum(want["set_aside"].values())
    assert (audit["rows_physical"], audit["rows_set_aside"], audit["rows_extracted"]) == (want["physical"], aside, want["records"])
    assert audit["rows_quarantined"] == got["quarantined_rows"] == want["quarantined_rows"]
    for rule, n in want["quarantined"].items():
        assert got["quarantine_rules"].get(rule, 0) == n, (rule, got["quarantine_rules"])
    assert got["facts"] == audit["rows_loaded"]
    # Every physical row of the delivery: a fact, merged into one (duplicate, stale version), quarantined or set aside.
    assert got["facts"] + audit["rows_duplicate"] + audit["rows_stale"] + audit["rows_quarantined"] + audit["rows_set_aside"] == want["physical"]
    accounting = read_sidecar(partition_dir(case.feed, DAY))["accounting"]
    assert accounting["physical"] == want["physical"] and accounting["set_aside"] == want["set_aside"]
    assert accounting["parsed"] + accounting["rejected"] == want["records"]


@pytest.mark.parametrize("case_id", REFUSED)
def test_a_refused_delivery_fails_its_run_and_changes_nothing(hub, case_id, caplog):
    case = CASES[case_id]
    good = CASES[f"control-{case.feed}"]
    _deliver(good)
    assert _run(case.feed) == "success"
    before = (_partition(case.feed), _warehouse(case.feed))
    assert before[1]["facts"] > 0

    path = _deliver(case)
    with caplog.at_level(logging.ERROR, logger="safety_hub.ops.dagkit"):
        assert _run(case.feed) == "failed"
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("FAILED ")]
    assert failed, "no task failure was logged"
    error = failed[0].split(" error=", 1)[1]
    assert "\n" not in error and len(error) <= 300, error
    assert error.startswith(f"feed {case.feed}: {path.name}: ") and case.expect["message"] in error, error
    assert _warehouse(case.feed) == before[1], "a refused delivery must leave the warehouse as it was"
    assert _partition(case.feed) == before[0], "a refused delivery must leave the previous raw partition as it was"
