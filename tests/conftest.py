"""Shared test set-up.

Airflow reads its configuration at import time, so the environment for one
session-wide, project-isolated Airflow (SQLite metadata in a temp dir) is set
here, before any test module imports Airflow. End-to-end tests share one
metadata DB and one simulated run of the DAGs per warehouse backend.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SESSION_DIR = Path(tempfile.mkdtemp(prefix="safety-hub-tests-"))
SIM_TOKEN = "test-token-0123456789"
DROPZONE = SESSION_DIR / "dropzone"

from safety_hub_dev.demo import DEMO_DAYS  # noqa: E402  (light imports: no Airflow)
from safety_hub_dev.localairflow import configure  # noqa: E402

DAYS = list(DEMO_DAYS)  # the demo's window: the README's example dates are in it

# The simulator URL is fixed up once the server has a port (see `simulator` fixture).
configure(airflow_home=SESSION_DIR / "airflow", hub_home=SESSION_DIR / "hub-duckdb", sim_url="http://127.0.0.1:9",
          token=SIM_TOKEN, dropzone=DROPZONE)
os.environ.pop("SAFETY_HUB_WAREHOUSE_URL", None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``): the tests that read one backend's
    session run go to one worker together, so each worker builds at most what it reads.

    Every worker is its own process with its own SESSION_DIR, simulator, Airflow metadata DB
    and pipeline runs. The PostgreSQL run's warehouse is one database
    (SAFETY_HUB_TEST_POSTGRES_URL), so every test that reads it must be on one worker: the
    "postgres" group (which also builds the DuckDB run for the parity test). The DuckDB
    run's tests form the other group; everything else goes wherever a worker is free.
    """
    if not getattr(config.option, "loadgroup", False):  # not an xdist worker under --dist loadgroup
        return
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("run")
        if "postgres_run" in names or backend == "postgres":
            _join_group(item, "postgres")
        elif "duckdb_run" in names or backend == "duckdb":
            _join_group(item, "duckdb")


def _join_group(item, group: str) -> None:
    """``xdist_group(group)``. xdist 3.8 applies the mark by appending ``@group`` to
    ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is ``item._id``), so the
    group is appended here where xdist's did not take."""
    item.add_marker(pytest.mark.xdist_group(group))
    if "@" not in item.nodeid.rpartition("]")[2] and hasattr(item, "_id"):
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(f"{item.nodeid}@{group}")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def sim_server():
    """The simulator's HTTP API on a free port (tests may inject faults into it)."""
    from safety_hub_dev.simulator.connections import simulator_connections
    from safety_hub_dev.simulator.server import start_in_thread

    server = start_in_thread(token=SIM_TOKEN)
    os.environ.update(simulator_connections(server.url, SIM_TOKEN, DROPZONE))
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def simulator(sim_server):
    """Every agency's deliveries for DAYS (API served, files dropped, databases written); returns the truth."""
    from safety_hub_dev.simulator import generate_day, write_day

    truth = {}
    for day in DAYS:
        data = generate_day(day)
        write_day(data, DROPZONE)
        truth[day] = data.truth
    return truth


@pytest.fixture(scope="session")
def airflow_db():
    """One migrated Airflow metadata DB (SQLite) with the pools, for the whole session."""
    from safety_hub_dev.localairflow import prepare

    prepare()
    return SESSION_DIR / "airflow"


@dataclass
class PipelineRun:
    backend: str
    warehouse_url: str
    hub_home: Path
    states: dict
    truth: dict

    def engine(self):
        from safety_hub.warehouse.engine import get_engine

        return get_engine(self.warehouse_url)

    def activate(self):
        """Point the package at this run's warehouse and data dir (settings are read per call)."""
        os.environ["SAFETY_HUB_WAREHOUSE_URL"] = self.warehouse_url
        os.environ["SAFETY_HUB_HOME"] = str(self.hub_home)


_runs: dict[str, PipelineRun] = {}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def run(request) -> PipelineRun:
    """The session's pipeline run on each backend (PostgreSQL skips without its URL)."""
    return request.getfixturevalue(f"{request.param}_run")


def query(run: PipelineRun, sql: str, **params):
    """Rows of ``sql`` on the run's warehouse as a DataFrame."""
    import pandas as pd
    import sqlalchemy as sa

    with run.engine().connect() as conn:
        return pd.DataFrame(conn.execute(sa.text(sql), params).mappings().all())


def detected(defect: dict, truth: dict) -> bool:
    """Whether the warehouse can see ``defect`` given the days loaded (``truth`` by day).

    A status regression is found by comparing with the closed version loaded on its
    origin day; when that day is not loaded, the regressed version is simply the first.
    Likewise a reused document number needs the case of its origin day beside it.
    Other defects (cross-feed ones included) are seen whenever their day is loaded.
    """
    return "origin_day" not in defect or dt.date.fromisoformat(defect["origin_day"]) in truth


def expected_valid_keys(truth: dict, feed_id: str) -> set:
    """Keys the fact table must hold after loading ``truth``'s days."""
    keys = {k for day in truth.values() for k in day["feeds"][feed_id]["valid_keys"]}
    return keys | {d["key"] for day in truth.values() for d in day["feeds"][feed_id]["defects"]
                   if d["expected_rule"] and not detected(d, truth)}


def expected_quarantine(truth: dict, feed_id: str) -> list[dict]:
    """Injected defects the quarantine must hold after loading ``truth``'s days."""
    return [d for day in truth.values() for d in day["feeds"][feed_id]["defects"] if d["expected_rule"] and detected(d, truth)]


def run_pipeline(backend: str, warehouse_url: str, truth: dict) -> PipelineRun:
    """Run every DAG for DAYS through Airflow into ``warehouse_url`` (once per backend per session)."""
    if backend not in _runs:
        from safety_hub_dev.localairflow import run_days

        run = PipelineRun(backend, warehouse_url, SESSION_DIR / f"hub-{backend}", {}, truth)
        run.activate()
        run.states = run_days(DAYS, progress=lambda line: None)
        _runs[backend] = run
    _runs[backend].activate()
    return _runs[backend]


@pytest.fixture(scope="session")
def duckdb_run(simulator, airflow_db) -> PipelineRun:
    return run_pipeline("duckdb", f"duckdb:///{SESSION_DIR / 'hub-duckdb' / 'data' / 'warehouse.duckdb'}", simulator)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("SAFETY_HUB_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SAFETY_HUB_TEST_POSTGRES_URL is not set (.ci/run sets it when PostgreSQL is reachable on 127.0.0.1:5432)")
    import sqlalchemy as sa

    try:
        with sa.create_engine(url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {url} is not reachable: {exc.orig}")
    return url


@pytest.fixture(scope="session")
def postgres_run(simulator, airflow_db, postgres_url) -> Iterator[PipelineRun]:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    # One session run per database: a second pytest worker building it into the same database
    # would double every load. The lock is held by this connection until the session ends.
    guard = engine.connect()
    if not guard.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": POSTGRES_RUN_LOCK}).scalar():
        guard.close()
        pytest.fail("another pytest process is building the PostgreSQL session run in this database: "
                    "tests that read postgres_run must be in the 'postgres' xdist group (tests/conftest.py)")
    with engine.begin() as conn:  # a clean warehouse for this session
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    try:
        yield run_pipeline("postgres", postgres_url, simulator)
    finally:
        guard.close()
        engine.dispose()


POSTGRES_RUN_LOCK = 0x5AFE_7E57  # pg advisory lock: one session run per test database


@pytest.fixture
def hub(simulator, tmp_path, monkeypatch):
    """An isolated data dir and DuckDB warehouse for one test (the session runs are untouched)."""
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return tmp_path


def fact_keys(feed_id: str) -> list:
    """Every key in the feed's fact table (duplicates kept, so tests see them)."""
    import sqlalchemy as sa

    from safety_hub.registry import get_feed
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    feed = get_feed(feed_id)
    engine = get_engine()
    ensure_schema(engine)
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(f"SELECT {feed.key[0]} FROM {feed.target_table}"))]
