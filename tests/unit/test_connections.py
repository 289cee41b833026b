"""The feeds' Airflow connections are declared once (ops/connections.py) from the registry; the
simulator's values for them (safety_hub_dev/simulator/connections.py) cover every one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safety_hub.config.settings import PROJECT_DIR
from safety_hub.ops.connections import as_environment, check_against_plan, connection_plan

# The connection type each delivery kind reads (the extractors: rest_api host/password, file_drop
# extra.path, sql_extract extra.url).
KIND_TYPES = {"rest_api": "http", "file_drop": "fs", "sql_extract": "generic"}


def _feed_files() -> list[dict]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((PROJECT_DIR / "include" / "feeds").glob("*.yaml"))
            if not p.name.startswith("_")]


def test_one_connection_per_conn_id_of_the_feed_files_with_its_kinds_type():
    expected: dict[str, tuple[str, set[str]]] = {}
    for feed in _feed_files():
        cid, kind = feed["delivery"]["conn_id"], feed["delivery"]["kind"]
        expected.setdefault(cid, (KIND_TYPES[kind], set()))[1].add(feed["feed_id"])
    plan = connection_plan()
    assert {s.conn_id: (s.conn_type, set(s.feeds)) for s in plan} == expected
    assert all(s.agency == s.feeds[0].split("_")[0] for s in plan), "a connection belongs to its feeds' agency"


def test_a_connection_of_another_type_or_unknown_id_is_refused():
    spec = connection_plan()[0]
    with pytest.raises(ValueError, match=f"'{spec.conn_id}' has type 'nope'"):
        check_against_plan({spec.conn_id: {"conn_type": "nope"}})
    with pytest.raises(ValueError, match="not used by any feed"):
        check_against_plan({"no_such_conn": {"conn_type": "http"}})
    with pytest.raises(ValueError, match="unknown field"):
        check_against_plan({spec.conn_id: {"conn_type": spec.conn_type, "hostname": "x"}})


def test_two_agencies_sharing_a_connection_are_refused(monkeypatch):
    from safety_hub.ops import connections

    registry = connections.load_registry()
    api = [f for f in registry.values() if f.delivery.conn_id == "emb_api"][0]
    other = [f for f in registry.values() if f.agency != api.agency and f.delivery.kind == api.delivery.kind][0]
    shared = other.model_copy(update={"delivery": other.delivery.model_copy(update={"conn_id": "emb_api"})})
    monkeypatch.setattr(connections, "load_registry", lambda: {**registry, other.feed_id: shared})
    with pytest.raises(ValueError, match="one connection per agency"):
        connections.connection_plan()


def test_the_simulators_connections_cover_the_plan(tmp_path):
    from safety_hub_dev.simulator.connections import simulator_connection_fields, simulator_connections

    conns = simulator_connection_fields("http://127.0.0.1:8765", "master-token-0123456789", tmp_path)
    check_against_plan(conns)
    assert set(conns) == {s.conn_id for s in connection_plan()}
    for cid, conn in conns.items():
        if conn["conn_type"] == "fs":
            assert Path(conn["extra"]["path"]).parent == tmp_path, cid
        elif conn["conn_type"] == "generic":
            assert conn["extra"]["url"].startswith(f"sqlite:///{tmp_path}/"), cid
    # The local Airflow's form: the same connections as AIRFLOW_CONN_<ID>.
    assert simulator_connections("http://127.0.0.1:8765", "master-token-0123456789", tmp_path) == as_environment(conns)


def test_the_cli_lists_what_a_deployment_defines():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "safety_hub", "connections"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()}
    assert listed == {s.conn_id: s.conn_type for s in connection_plan()}
