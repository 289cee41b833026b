"""Two loads of the same feed and day at once end with exactly the batch's keys, on each backend.

Each load runs in its own process, as two Celery workers (or a UI re-run beside a scheduled run)
would; both must succeed (the second waits for the first: a per-feed lock) and no key may appear
twice (fact tables carry a unique index on their key).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa

from pg_scratch import scratch_database

DAY = dt.date(2026, 11, 2)
FEED = "hcc_project"
LOAD = "import datetime as dt, json, sys; from safety_hub.pipeline import run_load; print(json.dumps(run_load(sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3])))"


def _prepare(home, url) -> set[str]:
    """Land and validate the day's 在建项目 file; return the keys of its valid rows."""
    from deliveries import csv_bytes

    from safety_hub.ingest.delivery import Extract, RawFile
    from safety_hub.ingest.landing import land_raw
    from safety_hub.pipeline import run_land, run_validate, staging_partition
    from safety_hub_dev.simulator import generate_day

    rows = generate_day(DAY).records[FEED]
    land_raw(Extract(FEED, DAY, "test", [RawFile("在建项目_20261102.csv", csv_bytes(rows))]))
    run_land(FEED, DAY)
    run_validate(FEED, DAY, "first")
    return set(pd.read_parquet(staging_partition(FEED, DAY) / "valid.parquet")["project_id"])


def _race(home, url) -> None:
    drop = json.dumps({"conn_type": "fs", "extra": {"path": str(home / "drop")}})
    env = {**os.environ, "SAFETY_HUB_HOME": str(home), "SAFETY_HUB_WAREHOUSE_URL": url, "AIRFLOW_CONN_HCC_DROP": drop}
    procs = [subprocess.Popen([sys.executable, "-c", LOAD, FEED, DAY.isoformat(), f"run-{n}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    outcomes = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in outcomes] == [0, 0], [err[-600:] for _, err, _ in outcomes]


def _check(engine: sa.Engine, keys: set[str]) -> None:
    with engine.connect() as conn:
        total, distinct = conn.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT project_id) FROM fact_construction_project")).one()
        audits = conn.execute(sa.text("SELECT COUNT(*) FROM load_audit WHERE feed_id = :f AND status = 'loaded'"), {"f": FEED}).scalar_one()
    assert total == distinct == len(keys), "every key exactly once"
    assert audits == 2


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    return tmp_path


def test_concurrent_loads_on_duckdb(home, monkeypatch):
    url = f"duckdb:///{home / 'warehouse.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    keys = _prepare(home, url)
    from safety_hub.warehouse.engine import get_engine

    get_engine(url).dispose()  # the test process holds no DuckDB connection while the loads run
    _race(home, url)
    engine = sa.create_engine(url)
    _check(engine, keys)
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_loads_on_postgres(home, monkeypatch):
    with scratch_database("safety_hub_race") as engine:
        url = engine.url.render_as_string(hide_password=False)
        monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
        keys = _prepare(home, url)
        _race(home, url)
        _check(engine, keys)


@pytest.mark.postgres
def test_fact_tables_refuse_a_second_row_for_a_key_on_postgres(home):
    """PostgreSQL, where loads of one feed may run on several workers at once: the key is unique in the table."""
    from safety_hub.warehouse.engine import ensure_schema

    with scratch_database("safety_hub_unique") as engine:
        ensure_schema(engine)
        _insert_twice(engine)


def _insert_twice(engine) -> None:
    row = {"project_id": "P1", "feed_id": FEED, "batch_id": "b", "business_date": DAY, "raw_file": "f", "loaded_at": dt.datetime.now(dt.timezone.utc)}
    cols = ", ".join(row)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO fact_construction_project ({cols}) VALUES ({', '.join(':' + k for k in row)})"), row)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO fact_construction_project ({cols}) VALUES ({', '.join(':' + k for k in row)})"), row)
