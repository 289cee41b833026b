"""Bad deliveries fail their task with one clear message naming the feed, the file
and the problem; the raw file stays in the landing zone; nothing partial reaches
the warehouse. Runs the real ingest DAG in its own warehouse."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import sqlalchemy as sa

from safety_hub.domain.errors import FeedError, FeedQualityError
from safety_hub_dev.simulator import generate_day
from deliveries import csv_bytes, deliver

pytestmark = pytest.mark.e2e
FEED = "hcc_project"


@pytest.fixture(scope="module")
def bad_env(simulator, airflow_db, tmp_path_factory):
    """A separate data dir and warehouse for the module (the environment restored afterwards)."""
    home = tmp_path_factory.mktemp("hub-bad")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
        from airflow.sdk import Connection

        drop = Connection.get("hcc_drop").extra_dejson["path"]
        yield home, drop


def _run_ingest(day: dt.date) -> str:
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub_dev.localairflow import load_dags, run_dag

    return run_dag(load_dags()[f"ingest_{FEED}"], logical_date_for(day), {"business_date": day.isoformat()})


def _facts_for(day: dt.date) -> int:
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine()
    ensure_schema(engine)
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM fact_construction_project WHERE business_date = :d"), {"d": day}).scalar_one()


CASES = {
    "wrong_encoding": (dt.date(2026, 11, 10), lambda rows: csv_bytes(rows, encoding="utf-16"), "UTF-16 text: save the file as UTF-8 or GBK"),
    "missing_column": (dt.date(2026, 11, 11), lambda rows: csv_bytes(rows, drop_column="施工许可证号"), "missing required column(s) ['施工许可证号']"),
    "unreadable": (dt.date(2026, 11, 12), lambda rows: bytes(range(128, 256)) * 8, "not text in UTF-8 or GBK: UTF-8 fails at byte 0 (line 1)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_delivery_fails_cleanly_and_keeps_the_raw_file(bad_env, case):
    from safety_hub.ingest.landing import partition_dir, refused_dir
    from safety_hub.pipeline import run_extract, run_land

    home, drop = bad_env
    day, make, problem = CASES[case]
    content = make(generate_day(day).records[FEED])
    path = deliver(drop, day, content)

    assert _run_ingest(day) == "failed"
    (kept,) = refused_dir(FEED, day).glob(f"*/{os.path.basename(path)}")
    assert kept.read_bytes() == content, "the refused file must stay in the landing zone, unchanged"
    assert problem in json.loads((kept.parent / "_sidecar.json").read_text(encoding="utf-8"))["refused"]
    assert not partition_dir(FEED, day).exists(), "a refused delivery is not the day's partition"
    assert _facts_for(day) == 0, "nothing may reach the warehouse"

    run_extract(FEED, day)
    with pytest.raises(FeedError) as err:
        run_land(FEED, day)
    message = str(err.value)
    assert message.startswith(f"feed {FEED}: {os.path.basename(path)}: ")
    assert problem in message
    assert "\n" not in message, "one line"


def test_batch_over_the_threshold_stops_before_the_warehouse(bad_env):
    from safety_hub.pipeline import run_extract, run_land, run_validate
    from safety_hub.warehouse.engine import get_engine

    day = dt.date(2026, 11, 13)
    rows = generate_day(day).records[FEED]
    for row in rows[: len(rows) // 2]:
        row["所在区"] = "999999"  # half the batch has an unknown district
    deliver(bad_env[1], day, csv_bytes(rows))

    assert _run_ingest(day) == "failed"
    assert _facts_for(day) == 0
    with get_engine().connect() as conn:
        rejected = conn.execute(sa.text("SELECT COUNT(DISTINCT row_number) FROM quarantine WHERE feed_id = :f AND business_date = :d"), {"f": FEED, "d": day}).scalar_one()
    assert rejected >= len(rows) // 2, "rejected rows stay in quarantine"

    run_extract(FEED, day)
    run_land(FEED, day)
    with pytest.raises(FeedQualityError, match=r"feed hcc_project 2026-11-13: \d+/\d+ rows invalid .* > threshold 30%"):
        run_validate(FEED, day, "manual__threshold")
