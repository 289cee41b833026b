"""The agencies' HTTP APIs: paginated JSON, bearer token, ``updated_since`` cursor.

``GET /api/v1/<endpoint>?updated_since=<ISO>&updated_until=<ISO>&page=N&page_size=M``
returns ``{"code": 0, "data": {"records": [...], "page", "page_size", "total", "pages"}}``.
Records are generated on request from (seed, date), so the server keeps no state
except optional fault injection (``faults``) used by tests: a queue of responses
to serve instead of the real ones (``429``, ``500``, ``timeout``, ``garbage``;
``ok`` serves one real response).

Each agency has its own bearer token: the EMB token opens the EMB endpoints only, the TC token
the TC ones. The server takes a mapping agency -> token, or one master secret from which each
agency's token is derived (:func:`agency_tokens`; tests, the demo and the native stack), as
:func:`safety_hub_dev.simulator.connections.simulator_connections` derives them for the connections.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from safety_hub_dev.simulator.deliver import api_page
from safety_hub_dev.simulator.generate import DEFAULT_SEED, generate_day
from safety_hub_dev.simulator.spec import CN_TZ, SPECS, Api

MAX_DAYS = 62
MASTER_TOKEN_VAR = "SAFETY_HUB_SIMULATOR_TOKEN"  # the master secret, when the CLI is given no per-agency token
ENDPOINTS = {s.delivery.endpoint: s for s in SPECS.values() if isinstance(s.delivery, Api)}


def endpoint_agency(endpoint: str) -> str:
    """The agency serving ``endpoint`` (a feed id starts with its agency's code)."""
    return ENDPOINTS[endpoint].feed_id.split("_", 1)[0]


def api_agencies() -> list[str]:
    """The agencies whose APIs the simulator serves."""
    return sorted({endpoint_agency(e) for e in ENDPOINTS})


def agency_token(master: str, agency: str) -> str:
    """The bearer token of ``agency`` derived from one master secret (no agency's token reveals another's)."""
    return hmac.new(master.encode(), f"safety_hub simulator api token: {agency}".encode(), hashlib.sha256).hexdigest()[:40]


def agency_tokens(tokens: str | Mapping[str, str]) -> dict[str, str]:
    """agency -> token for every agency with an API: derived from a master secret, or as given."""
    if isinstance(tokens, str):
        return {agency: agency_token(tokens, agency) for agency in api_agencies()}
    missing = [a for a in api_agencies() if not tokens.get(a)]
    if missing:
        raise ValueError(f"no API token for agency {', '.join(missing)}")
    return dict(tokens)


@functools.lru_cache(maxsize=4)
def _day_records(seed: int, day: dt.date, profile: str | None) -> dict:
    return generate_day(day, seed, profile=profile).records  # every feed of the day: one generation per day


@functools.lru_cache(maxsize=128)
def _records_for(seed: int, day: dt.date, feed_id: str, profile: str | None = None) -> tuple[dict, ...]:
    return tuple(_day_records(seed, day, profile).get(feed_id, ()))


def _parse_ts(text: str) -> dt.datetime:
    ts = dt.datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=CN_TZ)
    return ts


class _Handler(BaseHTTPRequestHandler):
    server: "SimulatorServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test and demo output quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, body: dict) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def _fault(self) -> bool:
        fault = self.server.next_fault()
        if fault is None or fault == "ok":  # "ok" serves one real response, to place later faults
            return False
        if fault == "429":
            self._send(429, b'{"code":429,"message":"too many requests"}', {"Retry-After": "1"})
        elif fault == "500":
            self._send(500, b'{"code":500,"message":"internal error"}')
        elif fault == "timeout":
            time.sleep(self.server.timeout_sleep)
            self._send(504, b'{"code":504,"message":"gateway timeout"}')
        elif fault == "garbage":
            self._send(200, b"<html><body>\xe7\xb3\xbb\xe7\xbb\x9f\xe7\xbb\xb4\xe6\x8a\xa4\xe4\xb8\xad</body></html>")
        return True

    def do_GET(self):  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        if url.path == "/health":
            return self._reply(200, {"status": "ok", "endpoints": sorted(ENDPOINTS)})
        endpoint = url.path.removeprefix("/api/v1/")
        spec = ENDPOINTS.get(endpoint) if url.path.startswith("/api/v1/") else None
        if spec is None:
            return self._reply(404, {"code": 404, "message": "not found"})
        expected = f"Bearer {self.server.tokens[endpoint_agency(endpoint)]}"
        if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode()):
            return self._reply(401, {"code": 401, "message": "invalid token"})
        if self._fault():
            return None
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            since = _parse_ts(q["updated_since"])
            until = _parse_ts(q["updated_until"]) if "updated_until" in q else since + dt.timedelta(days=1)
            page, size = int(q.get("page", 1)), int(q.get("page_size", 200))
        except (KeyError, ValueError) as exc:
            return self._reply(400, {"code": 400, "message": f"bad query: {exc}"})
        if page < 1 or not 0 < size <= 5000 or until - since > dt.timedelta(days=MAX_DAYS):
            return self._reply(400, {"code": 400, "message": "page, page_size or window out of range"})
        first, last = since.astimezone(CN_TZ).date(), (until - dt.timedelta(microseconds=1)).astimezone(CN_TZ).date()
        records, day = [], first
        while day <= last:
            records.extend(r for r in _records_for(self.server.seed, day, spec.feed_id, self.server.profile) if since <= _parse_ts(r[spec.updated]) < until)
            day += dt.timedelta(days=1)
        records.sort(key=lambda r: (r[spec.updated], r[spec.key], r[spec.batch]))
        self._reply(200, api_page(records, page, size))


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, token: str | Mapping[str, str], seed: int = DEFAULT_SEED, profile: str | None = None):
        """``token``: agency -> bearer token, or a master secret each agency's token is derived from;
        ``profile``: the simulator's volume profile (None: the demo's; ``"city"``: ``simulate --profile city``'s days)."""
        self.tokens = agency_tokens(token)
        super().__init__((host, port), _Handler)
        self.seed = seed
        self.profile = profile
        self.faults: deque[str] = deque()
        self.timeout_sleep = 3.0
        self._lock = threading.Lock()

    def inject(self, *faults: str) -> None:
        """Serve these faults, in order, instead of the next real responses."""
        with self._lock:
            self.faults.extend(faults)

    def next_fault(self) -> str | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(host: str = "127.0.0.1", port: int = 0, token: str | Mapping[str, str] = "sim-token",
                    seed: int = DEFAULT_SEED) -> SimulatorServer:
    """Start the API on a background thread (port 0 picks a free port)."""
    server = SimulatorServer(host, port, token, seed)
    threading.Thread(target=server.serve_forever, name="agency-simulator", daemon=True).start()
    return server
