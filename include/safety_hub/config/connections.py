"""Resolve Airflow connections by id (tokens, URLs and paths never live in YAML).

Inside Airflow (a task, a DAG file: ``airflow`` already imported) the lookup is Airflow's own
(secrets backends, env ``AIRFLOW_CONN_<ID>``, metadata DB). A process that has not imported
Airflow (the CLI, a stage run in a fresh interpreter, the benchmarks) reads a JSON
``AIRFLOW_CONN_<ID>`` itself: importing Airflow to read an environment variable costs about two
seconds. Without that variable it asks Airflow (the metadata DB), and without Airflow installed the
variable is the only source, so the package and its CLI also run without Airflow.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    host: str | None = None
    password: str | None = None
    extra: dict = field(default_factory=dict)
    conn_type: str | None = None
    login: str | None = None
    port: int | None = None
    schema: str | None = None


def _from_json(conn_id: str, raw: str) -> ConnectionInfo:
    data = json.loads(raw)
    extra = data.get("extra") or {}
    return ConnectionInfo(conn_id, data.get("host"), data.get("password"), json.loads(extra) if isinstance(extra, str) else extra,
                          data.get("conn_type"), data.get("login"), data.get("port"), data.get("schema"))


def get_connection(conn_id: str) -> ConnectionInfo:
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw and raw.lstrip().startswith("{") and "airflow" not in sys.modules:
        return _from_json(conn_id, raw)  # a URI-form variable is Airflow's to parse
    try:
        from airflow.sdk import Connection
    except ImportError:  # running without Airflow
        if not raw:
            raise LookupError(f"connection '{conn_id}' is not defined (set AIRFLOW_CONN_{conn_id.upper()})") from None
        return _from_json(conn_id, raw)
    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException and friends
        raise LookupError(f"connection '{conn_id}' is not defined (set AIRFLOW_CONN_{conn_id.upper()}): {exc}") from exc
    return ConnectionInfo(conn_id, conn.host, conn.password, conn.extra_dejson or {}, conn.conn_type, conn.login, conn.port, conn.schema)
