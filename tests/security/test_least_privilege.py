"""Finding 12: least privilege between the warehouse, Airflow and the agencies.

- The warehouse connected as the PostgreSQL superuser that also owns Airflow's database. Now an
  owner role holds the warehouse's schema (DDL: ``warehouse migrate``) and tasks log in as a task
  role with DML and temporary tables on the warehouse only, no way into Airflow's database.
- One agency's token was set on another agency's connection (``tc_api`` carried the EMB token).
- The simulator's token was on its command line (``ps`` showed it).
- Plain-http agency URLs were followed: the bearer token and the data crossed the network in clear.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from pg_scratch import ADMIN_URL
from registry_copy import copy_registry, edit_feed, site_contact_feed, write_feed

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]


# --- warehouse roles ------------------------------------------------------------------------------


@pytest.fixture()
def provisioned():
    """A warehouse and a stand-in for Airflow's database, provisioned with their own roles (names
    carry the pid: roles are shared by the whole server), the schema made by the owner."""
    from safety_hub.warehouse import engine as warehouse_engine
    from safety_hub.warehouse.engine import ensure_schema
    from safety_hub.warehouse.roles import drop_roles, provision

    pytest.importorskip("psycopg2")
    warehouse_engine._ensured.clear()  # a database of the same name (same pid) was ensured by an earlier test
    pid = os.getpid()
    roles = {"owner": f"sh_test_owner_{pid}", "task": f"sh_test_task_{pid}", "metadata_role": f"sh_test_airflow_{pid}"}
    warehouse_db, metadata_db = f"sh_test_warehouse_{pid}", f"sh_test_airflow_{pid}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {str(exc).splitlines()[0][:200]}")
    url = sa.make_url(ADMIN_URL)
    engines = {}
    try:
        for _ in range(2):  # idempotent: compose's airflow-init provisions at every start
            provision(admin, warehouse_db=warehouse_db, owner=roles["owner"], owner_password="owner-pw-0123456789",
                      task=roles["task"], task_password="task-pw-0123456789",
                      metadata_db=metadata_db, metadata_role=roles["metadata_role"], metadata_password="airflow-pw-0123456789")
        engines = {name: sa.create_engine(url.set(username=role, database=warehouse_db)) for name, role in roles.items()}
        engines["metadata"] = sa.create_engine(url.set(username=roles["task"], database=metadata_db))
        engines["admin"] = sa.create_engine(url.set(database=warehouse_db))
        ensure_schema(engines["owner"])
        yield {"admin": engines["admin"], "logins": engines, "roles": roles}
    finally:
        for engine in engines.values():
            engine.dispose()
        with admin.connect() as conn:
            for db in (warehouse_db, metadata_db):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        drop_roles(admin, roles.values())
        admin.dispose()


def _denied(engine: sa.Engine, sql: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="permission denied|must be owner"):
        with engine.begin() as conn:
            conn.execute(sa.text(sql))


def test_owner_owns_the_warehouse_tables(provisioned):
    owner = provisioned["roles"]["owner"]
    with provisioned["admin"].connect() as conn:
        owners = {r for (r,) in conn.execute(sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"))}
        superuser = conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": owner}).scalar_one()
    assert owners == {owner} and superuser is False


def test_task_login_writes_rows_and_temp_tables_but_no_schema(provisioned):
    from safety_hub.warehouse.engine import ensure_schema

    task = provisioned["logins"]["task"]
    with task.begin() as conn:
        assert conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one() is False
        conn.execute(sa.text("INSERT INTO dim_district (district_code, district_name) VALUES ('999999', 'test')"))
        conn.execute(sa.text("UPDATE dim_district SET district_name = 'test 2' WHERE district_code = '999999'"))
        conn.execute(sa.text("DELETE FROM dim_district WHERE district_code = '999999'"))
        conn.execute(sa.text("CREATE TEMPORARY TABLE stg_test AS SELECT * FROM fact_hazard WHERE 1 = 0"))
    ensure_schema(task)  # an up-to-date schema needs no DDL, so every task may call it
    _denied(task, "CREATE TABLE intruder (a int)")
    _denied(task, "ALTER TABLE fact_hazard ADD COLUMN intruder int")
    _denied(task, "DROP TABLE load_audit")
    _denied(task, "CREATE INDEX intruder ON load_audit (feed_id)")


def test_task_login_cannot_enter_airflows_database(provisioned):
    with pytest.raises(sa.exc.OperationalError, match="permission denied|not permitted"):
        with provisioned["logins"]["metadata"].connect():
            pass


def test_a_schema_change_by_the_task_login_fails_in_one_line_naming_the_fix(provisioned, tmp_path, monkeypatch):
    from safety_hub.warehouse.engine import SchemaBehind, ensure_schema

    _copy_feeds(tmp_path / "feeds")
    monkeypatch.setenv("SAFETY_HUB_FEEDS_DIR", str(tmp_path / "feeds"))
    with pytest.raises(SchemaBehind, match="warehouse migrate") as caught:
        ensure_schema(provisioned["logins"]["task"])
    assert "\n" not in str(caught.value)
    ensure_schema(provisioned["logins"]["owner"])  # the owner migrates; then tasks go on
    ensure_schema(provisioned["logins"]["task"])
    _task_writes_the_new_table(provisioned)


def test_a_superuser_migrating_makes_the_tables_as_the_owner(provisioned, tmp_path, monkeypatch):
    """An admin running ``warehouse migrate`` or ``grant-analyst`` as the superuser: the new table is
    still the owner's, so it comes with the task login's rights (default privileges)."""
    from safety_hub.warehouse.engine import ensure_schema

    _copy_feeds(tmp_path / "feeds")
    monkeypatch.setenv("SAFETY_HUB_FEEDS_DIR", str(tmp_path / "feeds"))
    ensure_schema(provisioned["admin"])
    with provisioned["admin"].connect() as conn:
        owners = {r for (r,) in conn.execute(sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"))}
    assert owners == {provisioned["roles"]["owner"]}
    _task_writes_the_new_table(provisioned)


def _task_writes_the_new_table(provisioned) -> None:
    with provisioned["logins"]["task"].begin() as conn:
        conn.execute(sa.text("SELECT new_col FROM fact_construction_project"))
        conn.execute(sa.text("DELETE FROM fact_site_contact"))
        conn.execute(sa.text("SELECT * FROM fact_site_contact"))


def _copy_feeds(target: Path) -> None:
    """The registry plus a schema change: a column on 在建项目 and a new feed with its own table."""
    copy_registry(target)
    feed = edit_feed(target / "hcc_project.yaml", lambda feed: feed["columns"].append({"source": "新列", "name": "new_col"}))
    write_feed(target / "hcc_site_contact.yaml", site_contact_feed(feed))


def test_compose_warehouse_logins():
    """Tasks, the feed-health page and the failure callback use the task login; only airflow-init
    holds the owner's and the superuser's passwords (it provisions the roles and migrates)."""
    env = lambda service: SERVICES[service]["environment"]  # noqa: E731
    for service in ("airflow-worker", "airflow-dag-processor", "airflow-apiserver"):
        assert env(service)["SAFETY_HUB_WAREHOUSE_URL"].startswith("postgresql+psycopg2://safety_hub_task:${WAREHOUSE_TASK_PASSWORD"), service
    init = env("airflow-init")
    assert init["SAFETY_HUB_WAREHOUSE_URL"].startswith("postgresql+psycopg2://safety_hub_owner:${WAREHOUSE_OWNER_PASSWORD")
    script = " ".join(SERVICES["airflow-init"]["command"])
    assert script.index("warehouse provision") < script.index("airflow db migrate") < script.index("warehouse migrate")
    metadata = env("airflow-scheduler")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert metadata.startswith("postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD"), "Airflow's own role, not the superuser"
    assert SERVICES["postgres"]["environment"].get("POSTGRES_USER", "postgres") == "postgres"


# --- agency tokens ---------------------------------------------------------------------------------


def test_each_agency_connection_has_its_own_token(tmp_path):
    from safety_hub_dev.simulator.connections import simulator_connections

    conns = {k: json.loads(v) for k, v in simulator_connections("http://127.0.0.1:1", "master-token-0123456789", tmp_path).items()}
    emb, tc = conns["AIRFLOW_CONN_EMB_API"]["password"], conns["AIRFLOW_CONN_TC_API"]["password"]
    assert emb and tc and emb != tc and "master-token-0123456789" not in (emb, tc)
    # Compose's connections (simulator-connections) take each agency's token from its own variable.
    given = {k: json.loads(v) for k, v in simulator_connections("http://simulator:8765", {"emb": "emb-token", "tc": "tc-token"}, tmp_path).items()}
    assert given["AIRFLOW_CONN_EMB_API"]["password"] == "emb-token" and given["AIRFLOW_CONN_TC_API"]["password"] == "tc-token"


def test_one_agencys_token_does_not_open_another_agencys_api():
    import requests

    from safety_hub_dev.simulator.server import ENDPOINTS, agency_tokens, start_in_thread

    server = start_in_thread(port=0, token="master-token-0123456789")
    try:
        tokens = agency_tokens("master-token-0123456789")
        by_agency = {spec.feed_id.split("_")[0]: endpoint for endpoint, spec in ENDPOINTS.items()}
        assert {"emb", "tc"} <= set(by_agency)
        window = {"updated_since": "2026-11-02T00:00:00+08:00", "page": 1, "page_size": 5}
        for agency, endpoint in by_agency.items():
            for holder, token in tokens.items():
                status = requests.get(f"{server.url}/api/v1/{endpoint}", params=window,
                                      headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
                assert status == (200 if holder == agency else 401), (holder, agency)
    finally:
        server.shutdown()
        server.server_close()


def test_simulator_takes_its_tokens_from_the_environment_not_argv():
    import requests

    from safety_hub_dev.simulator.server import ENDPOINTS
    from safety_hub_dev.stack import free_port

    port = free_port()
    tokens = {"EMB_API_TOKEN": "emb-token-0123456789abcdef", "TC_API_TOKEN": "tc-token-0123456789abcdef"}
    proc = subprocess.Popen([sys.executable, "-m", "safety_hub", "simulator", "serve", "--port", str(port)],
                            env={**os.environ, **tokens}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "no answer"
                time.sleep(0.3)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert not any(token in cmdline for token in tokens.values())
        window = {"updated_since": "2026-11-02T00:00:00+08:00", "page": 1, "page_size": 5}
        statuses = {}
        for endpoint, spec in ENDPOINTS.items():
            agency = spec.feed_id.split("_")[0]
            for holder, token in (("emb", tokens["EMB_API_TOKEN"]), ("tc", tokens["TC_API_TOKEN"])):
                statuses[(agency, holder)] = requests.get(f"http://127.0.0.1:{port}/api/v1/{endpoint}", params=window,
                                                          headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
        assert statuses == {(a, h): 200 if a == h else 401 for a, h in statuses}, statuses
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_simulator_refuses_to_listen_beyond_loopback_without_tokens():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_TOKEN") and k != "SAFETY_HUB_SIMULATOR_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "safety_hub", "simulator", "serve", "--host", "0.0.0.0", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "EMB_API_TOKEN" in done.stderr, done.stderr


# --- plain http ------------------------------------------------------------------------------------


def _api_feed(**delivery):
    from safety_hub.config.registry import get_feed

    feed = get_feed("emb_hazard")
    return feed.model_copy(update={"delivery": feed.delivery.model_copy(update=delivery)})


def test_plain_http_to_a_remote_agency_is_refused_before_any_request(monkeypatch):
    from safety_hub.domain.errors import FeedError
    from safety_hub.ingest.kinds.rest_api import extract_rest_api

    monkeypatch.setenv("AIRFLOW_CONN_EMB_API", json.dumps({"conn_type": "http", "host": "http://agency.example.gov.cn", "password": "t"}))
    feed = _api_feed()
    with pytest.raises(FeedError, match="plain http") as caught:
        extract_rest_api(feed, feed.delivery, dt.date(2026, 11, 2))
    assert "\n" not in str(caught.value) and len(str(caught.value)) <= 300


@pytest.mark.parametrize("host,delivery,extra,allowed", [
    ("https://agency.example.gov.cn", {}, {}, True),
    ("http://agency.example.gov.cn", {}, {}, False),
    ("http://agency.example.gov.cn", {"allow_http": True}, {}, True),      # the feed says so
    ("http://simulator:8765", {}, {"allow_http": True}, True),             # the deployment's connection says so
    ("http://simulator:8765", {}, {"allow_http": "yes"}, False),           # only a real true
    ("http://127.0.0.1:8765", {}, {}, True),                               # never leaves the machine
    ("http://localhost:8765", {}, {}, True),
    ("http://[::1]:8765", {}, {}, True),
    ("ftp://agency.example.gov.cn", {"allow_http": True}, {}, False),
])
def test_transport_rules(host, delivery, extra, allowed):
    from safety_hub.domain.errors import FeedError
    from safety_hub.ingest.kinds.rest_api import check_transport

    feed = _api_feed(**delivery)
    if allowed:
        check_transport(feed, feed.delivery, host, extra)
    else:
        with pytest.raises(FeedError):
            check_transport(feed, feed.delivery, host, extra)


def test_feed_files_do_not_allow_http():
    from safety_hub.config.registry import RestApiDelivery, load_registry

    assert RestApiDelivery.model_fields["allow_http"].default is False
    assert not [f.feed_id for f in load_registry().values() if getattr(f.delivery, "allow_http", False)]
    # The deployment's connection says so: the simulator's (compose reaches it at http://simulator:8765).
    from safety_hub_dev.simulator.connections import simulator_connection_fields

    apis = [c for c in simulator_connection_fields("http://simulator:8765", "master-token-0123456789", Path("/dz")).values()
            if c["conn_type"] == "http"]
    assert apis and all(c["extra"]["allow_http"] is True for c in apis)
