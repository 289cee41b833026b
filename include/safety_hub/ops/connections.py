"""The Airflow connections of the agency feeds, declared once: derived from the feed registry.

Each feed's delivery names a connection id (``delivery.conn_id`` in ``include/feeds/*.yaml``) and
its delivery kind says the connection's type (``conn_type`` of the delivery model in
``config/registry.py``: ``http`` for an API, ``fs`` for a drop folder, ``generic`` for a database
URL). :func:`connection_plan` lists them: a new feed or agency gets its connection from the
registry. What each connection points at belongs to the deployment:

- production: the agencies' real endpoints, folders and databases, defined the deployment's own
  way (a secrets backend, or ``AIRFLOW_CONN_<ID>`` in the workers' environment); this package
  holds no value of them;
- docker compose and the native stack of ``make stack-test``: the agency simulator's, written into
  Airflow's metadata DB by ``python -m safety_hub simulator connections`` (the dev package,
  ``safety_hub_dev.simulator.connections``) through :func:`declare_connections`;
- the local Airflow (demo, tests): the same simulator connections as ``AIRFLOW_CONN_<ID>``.

Connections in the metadata DB are seen by every Airflow component (a Celery worker's task reads
them through the API server's Task Execution API); ``AIRFLOW_CONN_<ID>`` only by the processes
that have the variable (it wins over the metadata DB where both exist).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from safety_hub.config.registry import load_registry

# The fields of a connection besides its id (Airflow's Connection model).
FIELDS = ("conn_type", "host", "login", "password", "schema", "port", "extra", "description")


@dataclass(frozen=True)
class ConnectionSpec:
    conn_id: str
    conn_type: str
    agency: str
    feeds: tuple[str, ...]


def connection_plan() -> list[ConnectionSpec]:
    """Every connection the registered feeds use, by id: its type, its agency, the feeds using it.

    Refuses one connection id used with two types or by two agencies (a connection carries one
    agency's credentials only).
    """
    found: dict[str, ConnectionSpec] = {}
    for feed in sorted(load_registry().values(), key=lambda f: f.feed_id):
        cid, conn_type = feed.delivery.conn_id, getattr(feed.delivery, "conn_type", None)
        if not conn_type:
            raise ValueError(f"delivery kind {feed.delivery.kind!r} (feed {feed.feed_id}) declares no conn_type: "
                             "set it on its delivery model in config/registry.py")
        seen = found.get(cid)
        if seen is None:
            found[cid] = ConnectionSpec(cid, conn_type, feed.agency, (feed.feed_id,))
            continue
        if seen.conn_type != conn_type:
            raise ValueError(f"connection '{cid}': feed {feed.feed_id} needs type {conn_type}, "
                             f"{', '.join(seen.feeds)} type {seen.conn_type}")
        if seen.agency != feed.agency:
            raise ValueError(f"connection '{cid}' is used by agencies {seen.agency} and {feed.agency}: one connection per agency")
        found[cid] = ConnectionSpec(cid, conn_type, seen.agency, (*seen.feeds, feed.feed_id))
    return [found[cid] for cid in sorted(found)]


def check_against_plan(conns: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a connection the registry does not use, or one of another type than its feeds need."""
    plan = {spec.conn_id: spec for spec in connection_plan()}
    for cid, fields in conns.items():
        spec = plan.get(cid)
        if spec is None:
            raise ValueError(f"connection '{cid}' is not used by any feed of the registry (used: {', '.join(sorted(plan))})")
        if fields.get("conn_type") != spec.conn_type:
            raise ValueError(f"connection '{cid}' has type {fields.get('conn_type')!r}; "
                             f"its feeds ({', '.join(spec.feeds)}) need {spec.conn_type!r}")
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"connection '{cid}': unknown field(s) {', '.join(sorted(unknown))}")


def as_environment(conns: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` -> the connection as JSON (what Airflow reads from the environment)."""
    return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(dict(fields)) for cid, fields in sorted(conns.items())}


def declare_connections(conns: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Create or replace each connection (id -> fields) in Airflow's metadata DB, after
    :func:`check_against_plan`; returns the ids written. Passwords are stored encrypted with
    the deployment's Fernet key, as Airflow does."""
    check_against_plan(conns)
    import sqlalchemy as sa
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        for cid, fields in sorted(conns.items()):
            session.execute(sa.delete(Connection).where(Connection.conn_id == cid))
            values = {k: v for k, v in fields.items() if k != "extra"}
            extra = fields.get("extra")
            session.add(Connection(conn_id=cid, extra=json.dumps(extra) if isinstance(extra, Mapping) else extra, **values))
    return sorted(conns)
