"""The feeds' connections declared once: ``python -m safety_hub simulator connections`` (what compose's
``simulator-connections`` and the native stack run) writes every connection of the registry into a
real Airflow metadata DB, where Airflow's server side finds them for the workers' tasks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from safety_hub.ops.connections import connection_plan

PLAN = {spec.conn_id: spec for spec in connection_plan()}
TOKENS = {"EMB_API_TOKEN": "emb-token-0123456789abcdef", "TC_API_TOKEN": "tc-token-0123456789abcdef"}
FERNET_KEY = "kVnBFZP8XnyyEJtXXrz6JTTNPNUa8iiDS-mhwdsk1CA="  # a test key: the subprocesses encrypt and decrypt with it


def _rows() -> dict:
    """The feeds' rows as stored, decrypted here with FERNET_KEY: the ORM's load would decrypt with
    this process's Fernet, which Airflow caches once per process (an earlier test in the same
    worker may have cached one without a key)."""
    import json

    import sqlalchemy as sa
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from cryptography.fernet import Fernet

    fernet, table = Fernet(FERNET_KEY.encode()), Connection.__table__
    columns = [table.c[name] for name in ("conn_id", "conn_type", "host", "password", "extra", "is_encrypted", "is_extra_encrypted")]
    with create_session() as session:
        stored = session.execute(sa.select(*columns).where(table.c.conn_id.in_(PLAN))).all()
    found = {}
    for cid, conn_type, host, password, extra, encrypted, extra_encrypted in stored:
        assert cid not in found, f"{cid} written twice"
        if password and encrypted:
            password = fernet.decrypt(password.encode()).decode()
        if extra and extra_encrypted:
            extra = fernet.decrypt(extra.encode()).decode()
        found[cid] = {"conn_type": conn_type, "host": host, "password": password,
                      "extra": json.loads(extra) if extra else {}, "encrypted": bool(encrypted)}
    return found


def _clear() -> None:
    import sqlalchemy as sa
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(sa.delete(Connection).where(Connection.conn_id.in_(PLAN)))


def _env(**extra: str) -> dict[str, str]:
    """This session's Airflow (its metadata DB) with FERNET_KEY, no connection or token of the environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("AIRFLOW_CONN_") and not k.endswith("_API_TOKEN") and k != "SAFETY_HUB_SIMULATOR_TOKEN"}
    return {**base, "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY, **extra}


def _declare(url: str, out, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "safety_hub", "simulator", "connections", "--url", url, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def declared_db(airflow_db):
    """The session's metadata DB without the feeds' connections before and after (the other tests
    read them from AIRFLOW_CONN_*, which the DB must not shadow or stand in for)."""
    _clear()
    yield airflow_db
    _clear()


def test_every_registry_connection_lands_in_the_metadata_db(declared_db, tmp_path):
    done = _declare("http://simulator:8765", tmp_path / "dropzone", _env(**TOKENS))
    assert done.returncode == 0, done.stderr
    assert "token" not in done.stdout and TOKENS["EMB_API_TOKEN"] not in done.stdout + done.stderr
    rows = _rows()
    assert set(rows) == set(PLAN), {"missing": sorted(set(PLAN) - set(rows))}
    for cid, row in rows.items():
        spec = PLAN[cid]
        assert row["conn_type"] == spec.conn_type, cid
        if spec.conn_type == "http":
            assert row["host"] == "http://simulator:8765" and row["extra"] == {"allow_http": True}, cid
            assert row["password"] == TOKENS[f"{spec.agency.upper()}_API_TOKEN"] and row["encrypted"], cid
        elif spec.conn_type == "fs":
            assert row["extra"]["path"].startswith(f"{tmp_path / 'dropzone'}/"), cid
        else:
            assert row["extra"]["url"].startswith(f"sqlite:///{tmp_path / 'dropzone'}/"), cid

    # Workers' tasks ask the API server (Task Execution API), which reads the metadata DB: a
    # process in Airflow's server context finds the connection with no AIRFLOW_CONN_* set.
    code = "from safety_hub.config.connections import get_connection; print(get_connection('tc_db').extra['url'])"
    server = subprocess.run([sys.executable, "-c", code], env=_env(_AIRFLOW_PROCESS_CONTEXT="server"),
                            capture_output=True, text=True, timeout=300)
    assert server.stdout.strip() == f"sqlite:///{tmp_path}/dropzone/tc/tc_agency.sqlite", server.stderr[-2000:]

    # At every start: replaced, never duplicated.
    again = _declare("http://simulator.internal:9000", tmp_path / "elsewhere", _env(**TOKENS))
    assert again.returncode == 0, again.stderr
    rows = _rows()
    assert set(rows) == set(PLAN)
    assert rows["emb_api"]["host"] == "http://simulator.internal:9000"
    assert rows["hcc_drop"]["extra"]["path"] == str(tmp_path / "elsewhere" / "hcc")


def test_without_the_agencies_tokens_nothing_is_written(declared_db, tmp_path):
    """Compose refuses an unset token itself (${EMB_API_TOKEN:?}); the command refuses too, naming
    the variables, when the simulator is not on loopback (the demo token serves loopback only)."""
    done = _declare("http://simulator:8765", tmp_path, _env())
    assert done.returncode == 2 and "EMB_API_TOKEN" in done.stderr and "TC_API_TOKEN" in done.stderr, done.stderr
    assert _rows() == {}
    one = _declare("http://simulator:8765", tmp_path, _env(EMB_API_TOKEN=TOKENS["EMB_API_TOKEN"]))
    assert one.returncode == 2 and "TC_API_TOKEN" in one.stderr, one.stderr
    assert _rows() == {}
