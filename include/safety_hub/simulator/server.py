"""The EMB hazard-ledger API: paginated JSON, bearer token, ``updated_since`` cursor.

``GET /api/v1/hazards?updated_since=<ISO>&updated_until=<ISO>&page=N&page_size=M``
returns ``{"code": 0, "data": {"records": [...], "page", "page_size", "total", "pages"}}``.
Records are generated on request from (seed, date), so the server keeps no state.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from safety_hub.simulator.generate import DEFAULT_SEED, generate_day

MAX_DAYS = 62


@functools.lru_cache(maxsize=64)
def _hazards_for(seed: int, day: dt.date) -> tuple[dict, ...]:
    return tuple(generate_day(day, seed).records["emb_hazard"])


def _parse_ts(text: str) -> dt.datetime:
    ts = dt.datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return ts


class _Handler(BaseHTTPRequestHandler):
    server: "SimulatorServer"

    def log_message(self, fmt, *args):  # keep test and demo output quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        if url.path == "/health":
            return self._reply(200, {"status": "ok"})
        if url.path != "/api/v1/hazards":
            return self._reply(404, {"code": 404, "message": "not found"})
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._reply(401, {"code": 401, "message": "invalid token"})
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            since = _parse_ts(q["updated_since"])
            until = _parse_ts(q["updated_until"]) if "updated_until" in q else since + dt.timedelta(days=1)
            page, size = int(q.get("page", 1)), int(q.get("page_size", 200))
        except (KeyError, ValueError) as exc:
            return self._reply(400, {"code": 400, "message": f"bad query: {exc}"})
        if page < 1 or not 0 < size <= 5000 or until - since > dt.timedelta(days=MAX_DAYS):
            return self._reply(400, {"code": 400, "message": "page, page_size or window out of range"})
        cn = dt.timezone(dt.timedelta(hours=8))
        first, last = since.astimezone(cn).date(), (until - dt.timedelta(microseconds=1)).astimezone(cn).date()
        records = []
        day = first
        while day <= last:
            records.extend(r for r in _hazards_for(self.server.seed, day) if since <= _parse_ts(r["gxsj"]) < until)
            day += dt.timedelta(days=1)
        records.sort(key=lambda r: (r["gxsj"], r["yhbh"], r["bsbc"]))
        pages = max(1, -(-len(records) // size))
        chunk = records[(page - 1) * size : page * size]
        self._reply(200, {"code": 0, "data": {"records": chunk, "page": page, "page_size": size, "total": len(records), "pages": pages}})


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, token: str, seed: int = DEFAULT_SEED):
        super().__init__((host, port), _Handler)
        self.token, self.seed = token, seed

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0, token: str = "sim-token", seed: int = DEFAULT_SEED) -> SimulatorServer:
    """Start the API on a background thread (port 0 picks a free port)."""
    server = SimulatorServer(host, port, token, seed)
    threading.Thread(target=server.serve_forever, name="agency-simulator", daemon=True).start()
    return server
