"""Resolve Airflow connections by id (tokens, URLs and paths never live in YAML).

Uses Airflow's own lookup (secrets backends, env ``AIRFLOW_CONN_<ID>``, metadata
DB) when Airflow is installed; otherwise reads ``AIRFLOW_CONN_<ID>`` JSON itself
so the package and its CLI also run without Airflow.
"""

from __future__ import annotations

import json
import os
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


def get_connection(conn_id: str) -> ConnectionInfo:
    try:
        from airflow.sdk import Connection
    except ImportError:  # running without Airflow
        raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
        if not raw:
            raise LookupError(f"connection '{conn_id}' is not defined (set AIRFLOW_CONN_{conn_id.upper()})") from None
        data = json.loads(raw)
        extra = data.get("extra") or {}
        return ConnectionInfo(conn_id, data.get("host"), data.get("password"), json.loads(extra) if isinstance(extra, str) else extra,
                              data.get("conn_type"), data.get("login"), data.get("port"), data.get("schema"))
    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException and friends
        raise LookupError(f"connection '{conn_id}' is not defined (set AIRFLOW_CONN_{conn_id.upper()}): {exc}") from exc
    return ConnectionInfo(conn_id, conn.host, conn.password, conn.extra_dejson or {}, conn.conn_type, conn.login, conn.port, conn.schema)
