"""A large hazard delivery loads under a small DuckDB ``memory_limit``; a load DuckDB refuses fails in one line.

The DuckDB warehouse runs with ``memory_limit`` = ``SAFETY_HUB_DUCKDB_MEMORY_LIMIT`` (512MB by
default). Whatever must stay in memory until commit grows with the delivery: a unique index
(an ART, which DuckDB cannot spill) on ``hazard_version`` made a 2,000,000-row load fail at
commit and invalidate the file. Here the same at a small scale: 300,000 versions under 64MB,
two days, and the first day again (idempotent). Then a load DuckDB cannot run (a limit far
too small, in a process of its own, as an Airflow task is) must fail with one line naming
the feed, the table and the setting, and leave the warehouse as the last good load left it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

FEED = "emb_hazard"
ROWS = 300_000
DAYS = (dt.date(2026, 11, 2), dt.date(2026, 11, 3))
LOAD = ("import datetime as dt, sys; from safety_hub.pipeline import run_load; "
        "run_load(sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3])")


def _deliver(day: dt.date, rows: int = ROWS) -> None:
    """What extract, land and validate leave for ``run_load``: ``valid.parquet`` (typed rows, unique
    keys), ``validation.json`` and the raw partition's sidecar."""
    from safety_hub.config.settings import STAGE_BATCH_ROWS
    from safety_hub.ingest.landing import SIDECAR, partition_dir
    from safety_hub.ingest.raw import RECORDS
    from safety_hub.pipeline import staging_partition

    i = np.arange(rows)
    statuses = np.array(["待整改", "整改中", "待验收", "验收销号"])
    found = pa.array((np.datetime64("2026-10-01") + (i % 30)).astype("datetime64[D]"))
    updated = np.datetime64(f"{day}T08:00:00", "us") + (i % 3600).astype("timedelta64[s]")
    table = pa.table({
        "hazard_id": pa.array([f"YH{n:09d}" for n in range(rows)]),  # the same keys every day
        "uscc": pa.array([f"91120116MA{n % 100_000:07d}A" for n in range(rows)]),
        "org_name": pa.array([f"天津某化工有限公司{n % 100_000}" for n in range(rows)]),
        "district_code": pa.array(np.array(["120116", "120101", "120104"])[i % 3]),
        "found_date": found,
        "grade": pa.array(np.array(["一般隐患", "重大隐患"])[(i % 50 == 0).astype(int)]),
        "description": pa.array([f"消防通道堵塞 第{n}处" for n in range(rows)]),
        "deadline": found,
        "status": pa.array(statuses[i % 4]),
        "listed_supervision": pa.array(i % 97 == 0),
        "report_batch": pa.array([f"EMB-{day:%Y%m%d}-01"] * rows),
        "updated_at": pa.array(updated, pa.timestamp("us", "UTC")),
    })
    stage = staging_partition(FEED, day)
    stage.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, stage / "valid.parquet", row_group_size=STAGE_BATCH_ROWS)
    summary = {"feed_id": FEED, "business_date": day.isoformat(), "batch_id": f"b-{day}", "rows": rows,
               "valid": rows, "quarantined": 0, "physical": rows, "set_aside": {}}
    (stage / "validation.json").write_text(json.dumps(summary), encoding="utf-8")
    part = partition_dir(FEED, day)
    part.mkdir(parents=True, exist_ok=True)
    (part / SIDECAR).write_text(json.dumps({"sha256": f"{day}".ljust(64, "0")}), encoding="utf-8")
    pq.write_table(table, part / RECORDS, row_group_size=STAGE_BATCH_ROWS)  # the landed records (field quality counts them)


def _state(url: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "facts": conn.execute(sa.text("SELECT business_date, COUNT(*), COUNT(DISTINCT hazard_id) FROM fact_hazard "
                                              "GROUP BY 1 ORDER BY 1")).all(),
                "versions": conn.execute(sa.text("SELECT business_date, COUNT(*), COUNT(DISTINCT record_key) FROM hazard_version "
                                                 "GROUP BY 1 ORDER BY 1")).all(),
                "audit": conn.execute(sa.text("SELECT business_date, batch_id, rows_loaded FROM load_audit ORDER BY 1")).all(),
                # On DuckDB the load stages in an ordinary table of its transaction: dropped, or rolled back, with it.
                "staging": conn.execute(sa.text("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'stg%'")).all(),
            }
    finally:
        engine.dispose()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    return tmp_path, url


def test_a_large_hazard_load_commits_under_a_small_memory_limit(home, monkeypatch):
    from safety_hub.config.registry import get_feed
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.engine import get_engine

    _, url = home
    assert get_feed(FEED).lifecycle is not None and get_feed(FEED).target_table == "fact_hazard"
    monkeypatch.setenv("SAFETY_HUB_DUCKDB_MEMORY_LIMIT", "64MB")  # read when this URL's engine is made, just below
    for day in DAYS:
        _deliver(day)
        assert run_load(FEED, day, f"b-{day}")["loaded"] == ROWS
    get_engine(url).dispose()
    first = _state(url)
    assert first["facts"] == [(DAYS[1], ROWS, ROWS)], "the second day's versions of the same keys replace the first's"
    assert first["versions"] == [(d, ROWS, ROWS) for d in DAYS], "every version kept, once"
    assert first["staging"] == [], "no staging table outlives its load"
    assert run_load(FEED, DAYS[0], f"b-{DAYS[0]}")["stale"] == ROWS, "the first day again: older than what is stored"
    get_engine(url).dispose()
    again = _state(url)
    assert (again["facts"], again["versions"]) == (first["facts"], first["versions"]), "a re-run changes no fact and no version"
    assert [a[:2] for a in again["audit"]] == [a[:2] for a in first["audit"]], "one audit row per run"


@pytest.mark.parametrize("setting", ["SAFETY_HUB_DUCKDB_MEMORY_LIMIT", "SAFETY_HUB_DUCKDB_LOAD_MEMORY_LIMIT"])
def test_a_load_duckdb_cannot_run_fails_in_one_line_and_keeps_the_last_good_state(home, setting, monkeypatch):
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.engine import get_engine

    tmp, url = home
    rows = 100_000
    _deliver(DAYS[0], rows)
    run_load(FEED, DAYS[0], f"b-{DAYS[0]}")
    get_engine(url).dispose()  # the load below runs in a process of its own, as a task does
    good = _state(url)
    _deliver(DAYS[1], rows)
    env = {**{k: v for k, v in os.environ.items() if "MEMORY_LIMIT" not in k}, setting: "16MB", "SAFETY_HUB_DUCKDB_WAIT_SECONDS": "30"}
    done = subprocess.run([sys.executable, "-c", LOAD, FEED, DAYS[1].isoformat(), f"b-{DAYS[1]}"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0, done.stdout[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("safety_hub.domain.errors.FeedError: feed emb_hazard:"), done.stderr[-3000:]
    for words in ("fact_hazard", "SAFETY_HUB_DUCKDB_MEMORY_LIMIT", "16MB", "nothing of this delivery was committed"):
        assert words in last, last
    assert len(last) <= 400, last
    assert _state(url) == good, "the warehouse is as the last good load left it"
    assert run_load(FEED, DAYS[1], f"b-{DAYS[1]}")["loaded"] == rows, "and loads the delivery once the limit allows"
    import duckdb

    from safety_hub.config.settings import duckdb_memory_limit

    with duckdb.connect(config={"memory_limit": duckdb_memory_limit()}) as fresh:
        engine_limit = fresh.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with get_engine(url).connect() as conn:  # the load's own limit is put back: the build runs under the engine's
        assert conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar() == engine_limit



def _quarantine(day: dt.date, rows: int) -> None:
    """Add ``rows`` rejected records (one rule each, keys of their own) to ``day``'s staged delivery."""
    from safety_hub.ingest.landing import partition_dir
    from safety_hub.pipeline import staging_partition

    stage = staging_partition(FEED, day)
    at = dt.datetime(2026, 11, 3, 8, tzinfo=dt.timezone.utc)
    pq.write_table(pa.table({
        "feed_id": pa.array([FEED] * rows), "batch_id": pa.array([f"b-{day}"] * rows),
        "business_date": pa.array([day] * rows, pa.date32()), "raw_file": pa.array([str(partition_dir(FEED, day))] * rows),
        "row_number": pa.array(np.arange(ROWS + 1, ROWS + rows + 1, dtype=np.int32)),
        "record_key": pa.array([f"YX{n:09d}" for n in range(rows)]), "rule_id": pa.array(["uscc.valid_uscc"] * rows),
        "rule_description": pa.array(["统一社会信用代码校验位错误"] * rows),
        "original_values": pa.array(['{"qymc": "天津某化工有限公司", "szqx": "120116"}'] * rows),
        "quarantined_at": pa.array([at] * rows, pa.timestamp("us", "UTC")),
    }), stage / "quarantine.parquet")
    summary = json.loads((stage / "validation.json").read_text(encoding="utf-8"))
    summary.update(rows=ROWS + rows, quarantined=rows, physical=ROWS + rows)
    (stage / "validation.json").write_text(json.dumps(summary), encoding="utf-8")


def test_a_delivery_returning_many_records_commits_under_a_small_memory_limit(home, monkeypatch):
    """The 退回台账 grows with every record ever returned: on DuckDB it has no in-memory key
    (migration 0007), and the load keeps one row per (feed, record, first rejection date) itself."""
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.engine import get_engine

    _, url = home
    returned = 300_000
    monkeypatch.setenv("SAFETY_HUB_DUCKDB_MEMORY_LIMIT", "64MB")
    _deliver(DAYS[0])
    _quarantine(DAYS[0], returned)
    for _ in range(2):  # the same run twice: idempotent
        result = run_load(FEED, DAYS[0], f"b-{DAYS[0]}")
        assert (result["loaded"], result["quarantined"]) == (ROWS, returned)
    with get_engine(url).connect() as conn:
        ledger = conn.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT (feed_id, record_key, rejected_on)), MIN(rejected_on), "
                                      "COUNT(closed_on) FROM rejection")).one()
        keyed = conn.execute(sa.text("SELECT COUNT(*) FROM duckdb_constraints() WHERE table_name = 'rejection' "
                                     "AND constraint_type = 'PRIMARY KEY'")).scalar_one()
    assert tuple(ledger) == (returned, returned, DAYS[0], 0), "every returned record once, opened on its day, none corrected"
    assert keyed == 0, "no in-memory key on DuckDB"
