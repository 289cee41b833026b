"""Extraction faults, each followed by a rerun that yields exactly the truth:
over real HTTP (429, 5xx, timeout, garbage page), with real dropped files
(truncated, duplicate, drifted columns, wrong or other encodings)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from conftest import DAYS, expected_valid_keys, fact_keys
from safety_hub.domain.errors import DuplicateDelivery, FeedError
from safety_hub.pipeline import run_feed
from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.deliver import csv_bytes
from safety_hub_dev.simulator.spec import SPECS

pytestmark = pytest.mark.e2e
DAY = DAYS[0]


def truth_keys(simulator, feed_id: str, day: dt.date = DAY) -> set:
    """Keys a warehouse holding only ``day`` must have (a status regression is a first version there)."""
    return expected_valid_keys({day: simulator[day]}, feed_id)


@pytest.fixture
def fast_api(sim_server, monkeypatch):
    """The EMB API connection with a 1 s timeout and 0.1 s backoff, so faults resolve quickly."""
    conn = json.loads(os.environ["AIRFLOW_CONN_EMB_API"])
    conn["extra"] = {"timeout": 1, "backoff_seconds": 0.1}
    monkeypatch.setenv("AIRFLOW_CONN_EMB_API", json.dumps(conn))
    sim_server.timeout_sleep = 2.0
    yield sim_server
    sim_server.faults.clear()


@pytest.mark.parametrize("faults", [("429",), ("500", "500"), ("timeout",), ("ok", "429", "500", "timeout")],
                         ids=["429", "5xx", "timeout", "mixed-midway"])
def test_api_retries_transient_faults_and_loads_exactly(hub, simulator, fast_api, faults):
    fast_api.inject(*faults)
    result = run_feed("emb_hazard", DAY)
    assert not fast_api.faults, "every injected fault was served"
    keys = fact_keys("emb_hazard")
    assert len(keys) == len(set(keys)) == result["loaded"]
    assert set(keys) == truth_keys(simulator, "emb_hazard")


@pytest.mark.parametrize("faults, problem", [(("ok", "garbage"), "page 2: not a ledger page"),
                                             (("ok", "500", "500", "500", "500"), "page 2: HTTP 500")],
                         ids=["garbage-page", "retries-exhausted"])
def test_api_failure_midway_leaves_nothing_and_rerun_is_exact(hub, simulator, fast_api, faults, problem):
    from safety_hub.ingest.landing import partition_dir

    fast_api.inject(*faults)
    with pytest.raises(FeedError, match=problem):
        run_feed("emb_hazard", DAY)
    assert fact_keys("emb_hazard") == []
    assert not partition_dir("emb_hazard", DAY).exists(), "a failed extract lands nothing"
    run_feed("emb_hazard", DAY)
    assert sorted(fact_keys("emb_hazard")) == sorted(truth_keys(simulator, "emb_hazard"))


# --- file drops -------------------------------------------------------------------------------

FEED = "hcc_project"


def _drop(day: dt.date, content: bytes) -> str:
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.config.registry import get_feed

    path = drop_path(get_feed(FEED), day)
    archived = path.parent / "_archive" / path.name
    if archived.exists():
        archived.unlink()
    path.write_bytes(content)
    return str(path)


def _records(day: dt.date = DAY) -> list[dict]:
    return generate_day(day).records[FEED]


def test_truncated_file_then_complete_file_yields_the_truth(hub, simulator):
    full = csv_bytes(_records(), "gbk")
    _drop(DAY, full[: len(full) // 3])
    try:
        run_feed(FEED, DAY)
    except FeedError:
        pass  # a cut in a multi-byte character is unreadable; a cut between rows loads fewer rows
    assert set(fact_keys(FEED)) <= truth_keys(simulator, FEED)
    _drop(DAY, full)
    run_feed(FEED, DAY)
    assert sorted(fact_keys(FEED)) == sorted(truth_keys(simulator, FEED))


def test_duplicate_file_is_recognised_skipped_and_audited(hub, simulator):
    import sqlalchemy as sa

    from safety_hub.warehouse.engine import get_engine

    content = csv_bytes(_records(), "gbk")
    _drop(DAY, content)
    run_feed(FEED, DAY)
    _drop(DAY, content)  # the agency sends the same file again
    with pytest.raises(DuplicateDelivery, match="already loaded"):
        run_feed(FEED, DAY, batch_id="second-delivery")
    with get_engine().connect() as conn:
        statuses = [r[0] for r in conn.execute(sa.text("SELECT status FROM load_audit WHERE feed_id = :f ORDER BY loaded_at"), {"f": FEED})]
    assert statuses == ["loaded", "skipped_duplicate_file"]
    assert sorted(fact_keys(FEED)) == sorted(truth_keys(simulator, FEED))


def test_drifted_columns_new_kept_in_raw_renamed_mapped_by_alias(hub, simulator):
    import pandas as pd

    from safety_hub.ingest.landing import partition_dir, read_sidecar

    rows = [{("工程名称" if k == "项目名称" else k): v for k, v in r.items()} | {"备注": "新增字段"} for r in _records()]
    _drop(DAY, csv_bytes(rows, "gbk"))
    run_feed(FEED, DAY)
    part = partition_dir(FEED, DAY)
    assert read_sidecar(part)["unmapped_columns"] == ["备注"]
    assert "备注" in pd.read_parquet(part / "records.parquet").columns, "a new column is kept in raw"
    assert sorted(fact_keys(FEED)) == sorted(truth_keys(simulator, FEED))


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_encodings_are_detected(hub, simulator, encoding):
    _drop(DAY, csv_bytes(_records(), encoding))
    run_feed(FEED, DAY)
    assert sorted(fact_keys(FEED)) == sorted(truth_keys(simulator, FEED))


def test_wrong_encoding_fails_then_rerun_is_exact(hub, simulator):
    _drop(DAY, csv_bytes(_records(), "utf-16"))
    with pytest.raises(FeedError, match="UTF-16"):
        run_feed(FEED, DAY)
    assert fact_keys(FEED) == []
    _drop(DAY, csv_bytes(_records(), "gbk"))
    run_feed(FEED, DAY)
    assert sorted(fact_keys(FEED)) == sorted(truth_keys(simulator, FEED))


def test_every_simulated_feed_has_a_registry_entry():
    from safety_hub.config.registry import load_registry

    assert set(SPECS) <= set(load_registry())
