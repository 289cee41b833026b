"""Shared test set-up.

Airflow reads its configuration when it is imported, so ``pytest_configure`` (before any test
module is collected, hence before Airflow is imported) points this process at one session-wide,
project-isolated Airflow (SQLite metadata in a temp dir); ``pytest_unconfigure`` takes those
settings back. Every other environment change is made by a fixture through ``monkeypatch`` or
``pytest.MonkeyPatch.context()`` and undone when the fixture ends; two autouse fixtures fail the
test, or the session, that leaves a project variable (``PROJECT_ENV``) changed.

End-to-end tests share one metadata DB and one simulated run of the DAGs per warehouse backend
and per pytest process. The tests that read the PostgreSQL run are marked ``postgres``, those that
read only the DuckDB run ``duckdb_run`` (``pytest_collection_modifyitems``); ``make test`` runs
each of the two sets in one process and the rest on others, pytest invocations side by side
(tests/lanes.sh).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safety_hub_dev.demo import DEMO_DAYS  # light imports: no Airflow

SESSION_DIR = Path(tempfile.mkdtemp(prefix="safety-hub-tests-"))
SIM_TOKEN = "test-token-0123456789"
DROPZONE = SESSION_DIR / "dropzone"
DAYS = list(DEMO_DAYS)  # the demo's window: the README's example dates are in it

# The variables the project and its local Airflow read: no test may leave one changed. Airflow's
# own AIRFLOW_CTX_* (the task context it exports while a task runs in this process) are not ours.
PROJECT_ENV = ("SAFETY_HUB_", "AIRFLOW_")
NOT_PROJECT_ENV = ("AIRFLOW_CTX_",)
SESSION_ENV = pytest.StashKey[pytest.MonkeyPatch]()


def project_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PROJECT_ENV) and not k.startswith(NOT_PROJECT_ENV)}


def env_diff(before: dict[str, str], after: dict[str, str]) -> str:
    return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
                     for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k))


def pytest_configure(config):
    """The session's Airflow and data dir, set before collection imports Airflow; undone at unconfigure.

    The simulator URL is set once the server has a port (``sim_server``)."""
    from safety_hub_dev.localairflow import airflow_env

    mp = config.stash[SESSION_ENV] = pytest.MonkeyPatch()
    env = airflow_env(airflow_home=SESSION_DIR / "airflow", hub_home=SESSION_DIR / "hub-duckdb",
                      sim_url="http://127.0.0.1:9", token=SIM_TOKEN, dropzone=DROPZONE)
    for name, value in env.items():
        mp.setenv(name, value)
    mp.delenv("SAFETY_HUB_WAREHOUSE_URL", raising=False)  # the DuckDB default under SAFETY_HUB_HOME
    (SESSION_DIR / "airflow").mkdir(parents=True, exist_ok=True)


def pytest_unconfigure(config):
    if SESSION_ENV in config.stash:
        config.stash[SESSION_ENV].undo()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests that read a backend's session run (before ``-m`` selects), so that the
    tests of each session run can be run by one process and the rest by others (``make test``,
    tests/lanes.sh).

    The PostgreSQL run's warehouse is one database (SAFETY_HUB_TEST_POSTGRES_URL): every test
    that reads it must be in one process, the one that builds it (``postgres_run`` refuses a
    second builder). Those tests get the ``postgres`` marker (the parity test, which also reads
    the DuckDB run, among them); the tests that read only the DuckDB run get ``duckdb_run``.
    """
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("run")
        if "postgres_run" in names or backend == "postgres":
            item.add_marker(pytest.mark.postgres)
        elif "duckdb_run" in names or backend == "duckdb":
            item.add_marker(pytest.mark.duckdb_run)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@contextlib.contextmanager
def environment_unchanged(who: str) -> Iterator[None]:
    """Fail when the project's environment variables differ after the block from before it."""
    before = project_env()
    yield
    after = project_env()
    assert after == before, f"{who} left the environment changed: {env_diff(before, after)}"


@pytest.fixture(scope="session", autouse=True)
def _session_leaves_the_environment_as_it_found_it():
    """Session- and module-scoped fixtures undo their environment changes (checked when the session ends)."""
    with environment_unchanged("a fixture"):
        yield


@pytest.fixture(autouse=True)
def _test_leaves_the_environment_as_it_found_it(request):
    """A test and its function-scoped fixtures undo their environment changes (monkeypatch does)."""
    with environment_unchanged(request.node.nodeid):
        yield


@pytest.fixture(autouse=True)
def _the_run_in_use(request):
    """A test that reads one session run directly (``duckdb_run`` or ``postgres_run``) has the
    package pointed at it for its duration; through ``run`` the module fixture does it."""
    if "run" in request.fixturenames:
        return
    used = [name for name in ("duckdb_run", "postgres_run") if name in request.fixturenames]
    if len(used) == 1:
        request.getfixturevalue(used[0]).activate(request.getfixturevalue("monkeypatch"))


@pytest.fixture(scope="session")
def sim_server():
    """The simulator's HTTP API on a free port (tests may inject faults into it); its connections
    are in the environment while it serves."""
    from safety_hub_dev.simulator.connections import simulator_connections
    from safety_hub_dev.simulator.server import start_in_thread

    server = start_in_thread(token=SIM_TOKEN)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in simulator_connections(server.url, SIM_TOKEN, DROPZONE).items():
                mp.setenv(name, value)
            yield server
    finally:
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

    def activate(self, mp: pytest.MonkeyPatch) -> None:
        """Point the package at this run's warehouse and data dir (settings are read per call)
        through ``mp``: undone with it."""
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", self.warehouse_url)
        mp.setenv("SAFETY_HUB_HOME", str(self.hub_home))


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def run(request) -> Iterator[PipelineRun]:
    """The session's pipeline run on each backend (PostgreSQL skips without its URL), the
    package pointed at it for the module."""
    pipeline_run = request.getfixturevalue(f"{request.param}_run")
    with pytest.MonkeyPatch.context() as mp:
        pipeline_run.activate(mp)
        yield pipeline_run


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
    """Run every DAG for DAYS through Airflow into ``warehouse_url`` (the session fixtures call it
    once per backend); the environment points at the run only while it is built."""
    from safety_hub_dev.localairflow import run_days

    run = PipelineRun(backend, warehouse_url, SESSION_DIR / f"hub-{backend}", {}, truth)
    with pytest.MonkeyPatch.context() as mp:
        run.activate(mp)
        run.states = run_days(DAYS, progress=lambda line: None)
    return run


# make test (tests/lanes.sh) runs the DuckDB run's tests and the PostgreSQL run's in two processes side
# by side. The parity test, in the PostgreSQL lane, needs the DuckDB run's warehouse too: the DuckDB
# lane copies its warehouse, as built, into this shared directory, and the PostgreSQL lane reads the
# copy instead of building the same run a second time (``duckdb_warehouse``).
SHARED_RUNS_ENV = "SAFETY_HUB_TEST_SHARED_RUNS"
DUCKDB_LANE_PID_ENV = "SAFETY_HUB_TEST_DUCKDB_LANE_PID"
SHARED_WAREHOUSE = "duckdb-run-warehouse.duckdb"
SHARED_FAILED = "duckdb-run-failed.txt"
SHARED_WAIT_SECONDS = 60 * 60


def _shared_runs() -> Path | None:
    value = os.environ.get(SHARED_RUNS_ENV)
    return Path(value) if value else None


@pytest.fixture(scope="session")
def duckdb_run(simulator, airflow_db) -> PipelineRun:
    warehouse = SESSION_DIR / "hub-duckdb" / "data" / "warehouse.duckdb"
    shared = _shared_runs()
    try:
        run = run_pipeline("duckdb", f"duckdb:///{warehouse}", simulator)
    except BaseException as exc:
        if shared is not None:
            (shared / SHARED_FAILED).write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        raise
    if shared is not None and not (shared / SHARED_WAREHOUSE).exists():
        # The warehouse as built, before any test reads it, checkpointed (no WAL beside it) and
        # renamed into place, so a reader never sees half a copy.
        import sqlalchemy as sa

        engine = run.engine()
        with engine.begin() as conn:
            conn.execute(sa.text("CHECKPOINT"))
        shutil.copy(warehouse, shared / f"{SHARED_WAREHOUSE}.part")
        (shared / f"{SHARED_WAREHOUSE}.part").rename(shared / SHARED_WAREHOUSE)
    return run


class WarehouseCopy:
    """A copy of the DuckDB run's warehouse, opened read-only (what the parity test compares)."""

    def __init__(self, path: Path):
        import sqlalchemy as sa

        self.path = path
        self._engine = sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})

    def engine(self):
        return self._engine


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def duckdb_warehouse(request):
    """The DuckDB run's warehouse to compare with: under make test the DuckDB lane's copy (waited
    for while that lane builds it), else this process's own ``duckdb_run``."""
    import time

    shared, lane = _shared_runs(), os.environ.get(DUCKDB_LANE_PID_ENV)
    if shared is None or not lane:
        yield request.getfixturevalue("duckdb_run")
        return
    copy, failed = shared / SHARED_WAREHOUSE, shared / SHARED_FAILED
    deadline = time.monotonic() + SHARED_WAIT_SECONDS
    while not copy.exists():
        if failed.exists():
            pytest.fail(f"the DuckDB lane could not build its run ({failed.read_text(encoding='utf-8')}): nothing to compare with")
        if not _pid_alive(int(lane)):
            pytest.fail(f"the DuckDB lane (pid {lane}) ended without copying its run's warehouse to {copy}: see its log")
        if time.monotonic() > deadline:
            pytest.fail(f"the DuckDB lane did not copy its run's warehouse to {copy} within {SHARED_WAIT_SECONDS} s")
        time.sleep(2)
    warehouse = WarehouseCopy(copy)
    yield warehouse
    warehouse.engine().dispose()


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
                    "the tests marked 'postgres' must run in one process, without -n (make test: the postgres lane of tests/lanes.sh)")
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

    from safety_hub.config.registry import get_feed
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    feed = get_feed(feed_id)
    engine = get_engine()
    ensure_schema(engine)
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(f"SELECT {feed.key[0]} FROM {feed.target_table}"))]
