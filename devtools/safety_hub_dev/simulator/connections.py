"""Airflow connections that point every registered feed at the simulator.

Derived from the feed registry (which connection id each feed uses) and the
simulated datasets (where each delivery lands), so a new feed with simulator
data needs no code here. Each API connection carries its own agency's token only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from safety_hub.registry import load_registry
from safety_hub_dev.simulator.spec import SPECS, Api, CsvDrop, SqliteTable, XlsxDrop


def simulator_connections(sim_url: str, token: str | Mapping[str, str], dropzone: Path) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` -> connection JSON for every feed the simulator delivers.

    ``token``: the simulator's master secret (each agency's token is derived from it, as the
    server does) or agency -> token.
    """
    from safety_hub_dev.simulator.server import agency_tokens

    tokens = agency_tokens(token)
    conns: dict[str, dict] = {}
    for feed in load_registry().values():
        spec = SPECS.get(feed.feed_id)
        if spec is None:
            continue
        d = spec.delivery
        if isinstance(d, Api):
            conn = {"conn_type": "http", "host": sim_url, "password": tokens[feed.agency]}
        elif isinstance(d, (CsvDrop, XlsxDrop)):
            conn = {"conn_type": "fs", "extra": {"path": str(Path(dropzone) / d.folder)}}
        elif isinstance(d, SqliteTable):
            conn = {"conn_type": "generic", "extra": {"url": f"sqlite:///{Path(dropzone) / d.folder / d.db}"}}
        else:  # pragma: no cover
            raise TypeError(d)
        cid = feed.delivery.conn_id
        if cid in conns and conns[cid] != conn:
            raise ValueError(f"connection '{cid}' is used by feeds that the simulator delivers to different places")
        conns[cid] = conn
    return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in sorted(conns.items())}
