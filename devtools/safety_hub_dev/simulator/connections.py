"""The agency feeds' Airflow connections, pointing at the simulator.

One declaration for the three development deployments: compose and the native stack write it
into Airflow's metadata DB (``python -m safety_hub simulator connections``, through
``safety_hub.ops.connections.declare_connections``), the local Airflow sets it as
``AIRFLOW_CONN_<ID>`` (:func:`simulator_connections`). Which connections exist and their types come
from the feed registry (``safety_hub.ops.connections.connection_plan``), where each delivery lands
from the simulated datasets, so a new feed with simulator data needs no code here. Each API
connection carries its own agency's token only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from safety_hub.ops.connections import as_environment, connection_plan
from safety_hub_dev.simulator.spec import SPECS, Api, CsvDrop, SqliteTable, XlsxDrop


def simulator_connection_fields(sim_url: str, token: str | Mapping[str, str], dropzone: Path) -> dict[str, dict]:
    """conn_id -> connection fields for every connection of the registry whose feeds the simulator delivers.

    ``token``: the simulator's master secret (each agency's token is derived from it, as the
    server does) or agency -> token. The simulator speaks plain http, so its API connections say
    ``allow_http`` (needed where it is not on loopback, e.g. compose's ``http://simulator:8765``).
    """
    from safety_hub_dev.simulator.server import agency_tokens

    tokens = agency_tokens(token)
    conns: dict[str, dict] = {}
    for spec in connection_plan():
        for feed_id in spec.feeds:
            if feed_id not in SPECS:
                continue
            d = SPECS[feed_id].delivery
            if isinstance(d, Api):
                conn = {"conn_type": "http", "host": sim_url, "password": tokens[spec.agency], "extra": {"allow_http": True}}
            elif isinstance(d, (CsvDrop, XlsxDrop)):
                conn = {"conn_type": "fs", "extra": {"path": str(Path(dropzone) / d.folder)}}
            elif isinstance(d, SqliteTable):
                conn = {"conn_type": "generic", "extra": {"url": f"sqlite:///{Path(dropzone) / d.folder / d.db}"}}
            else:  # pragma: no cover
                raise TypeError(d)
            if conn["conn_type"] != spec.conn_type:
                raise ValueError(f"the simulator delivers {feed_id} as {conn['conn_type']}, its registry delivery "
                                 f"needs a {spec.conn_type} connection ('{spec.conn_id}')")
            if spec.conn_id in conns and conns[spec.conn_id] != conn:
                raise ValueError(f"connection '{spec.conn_id}' is used by feeds that the simulator delivers to different places")
            conns[spec.conn_id] = conn
    return conns


def simulator_connections(sim_url: str, token: str | Mapping[str, str], dropzone: Path) -> dict[str, str]:
    """The same connections as ``AIRFLOW_CONN_<ID>`` -> connection JSON (the local Airflow's form)."""
    return as_environment(simulator_connection_fields(sim_url, token, dropzone))
