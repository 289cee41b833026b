"""Finding 9: REST extraction has limits.

A local HTTP server in a thread plays a hostile agency API: it trickles a byte every
0.5 s (in the body, or in the status line), sends a 150 MB page, claims 10**9 pages,
asks to retry after an hour, or redirects to another host. Each extraction must end
quickly with a one-line ``FeedError`` naming the page, read no more than the page
limit, and never touch the other host.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from safety_hub.config.connections import ConnectionInfo
from safety_hub.domain.errors import FeedError

DAY = dt.date(2026, 11, 2)
MB = 1 << 20


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, fmt, *args):
        pass

    def _head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def do_GET(self):  # noqa: N802
        self.server.hits += 1
        mode, stop = self.server.mode, self.server.stop
        try:
            if mode == "trickle-body":
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(MB)})
                while not stop.wait(0.5):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif mode == "trickle-status":  # the status line itself, one byte every 0.5 s
                for byte in b"HTTP/1.1 200 OK" + b" " * 10_000:
                    if stop.wait(0.5):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            elif mode in ("huge", "huge-unannounced"):
                headers = {"Content-Type": "application/json", "Connection": "close"}
                if mode == "huge":
                    headers["Content-Length"] = str(150 * MB)
                self._head(200, headers)
                self.wfile.write(b'{"code": 0, "data": {"pages": 1, "records": [], "pad": "')
                block = b"x" * MB
                for _ in range(150):
                    if stop.is_set():
                        return
                    self.wfile.write(block)
                self.wfile.write(b'"}}')
            elif mode == "endless":
                body = json.dumps({"code": 0, "data": {"records": [], "page": 1, "page_size": 50, "total": 10**9 * 50, "pages": 10**9}}).encode()
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
                self.wfile.write(body)
            elif mode == "retry-after-hour":
                self._head(429, {"Retry-After": "3600", "Content-Length": "2"})
                self.wfile.write(b"{}")
            elif mode == "redirect":
                self._head(302, {"Location": f"{self.server.elsewhere}/api/v1/hazards?page=1", "Content-Length": "0"})
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str):
        super().__init__(("127.0.0.1", 0), _Hostile)
        self.mode, self.hits, self.stop, self.elsewhere = mode, 0, threading.Event(), ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve():
    servers = []

    def start(mode: str) -> _Server:
        server = _Server(mode)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop.set()
        server.shutdown()
        server.server_close()


def _feed(**delivery):
    from safety_hub.config.registry import Feed, get_feed

    feed = get_feed("emb_hazard")
    data = feed.model_dump()
    data["delivery"].update(delivery)
    return Feed.model_validate(data)  # validated, as a feed YAML would be


def _extract(monkeypatch, server: _Server, seconds: float, **delivery) -> tuple[FeedError, float]:
    """Extract from ``server`` in a thread; fail unless it raised a ``FeedError`` within ``seconds``."""
    from safety_hub.ingest.kinds import rest_api as extract

    monkeypatch.setattr(extract, "get_connection", lambda conn_id: ConnectionInfo(conn_id, server.url, "token", {"timeout": 5, "backoff_seconds": 0.1}))
    feed = _feed(**delivery)
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = extract.extract_rest_api(feed, feed.delivery, DAY)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - started
    server.stop.set()  # release a hanging extraction (the old code) so the thread ends
    assert not worker.is_alive(), f"the extraction was still running after {seconds} s"
    error = outcome.get("error")
    assert isinstance(error, FeedError), f"expected a FeedError, got {outcome}"
    text = str(error)
    assert "\n" not in text and len(text) <= 300, text
    assert "page 1:" in text, text
    return error, elapsed


@pytest.mark.parametrize("mode", ["trickle-body", "trickle-status"])
def test_a_trickling_server_is_cut_off_at_the_request_deadline(serve, monkeypatch, mode):
    """One byte every 0.5 s never trips a socket timeout of 5 s; the 2 s deadline ends the request."""
    server = serve(mode)
    error, elapsed = _extract(monkeypatch, server, 20, request_deadline_seconds=2)
    assert "deadline of 2 s" in str(error)
    assert elapsed < 6, f"took {elapsed:.1f} s"
    assert server.hits == 1, "a request that ran out of time is not retried"


def test_the_default_deadline_is_bounded():
    from safety_hub.config.registry import RestApiDelivery

    delivery = RestApiDelivery(kind="rest_api", conn_id="x", endpoint="/x")
    assert (delivery.request_deadline_seconds, delivery.max_page_mb, delivery.max_pages) == (120, 50, 10_000)


@pytest.mark.parametrize("mode", ["huge", "huge-unannounced"])
def test_a_huge_page_is_refused_in_bounded_memory(serve, monkeypatch, mode):
    """A 150 MB page against a 4 MB limit: refused from its Content-Length, or after reading just past 4 MB."""
    server = serve(mode)
    tracemalloc.start()
    try:
        error, elapsed = _extract(monkeypatch, server, 30, max_page_mb=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "limit of 4 MB" in str(error), error
    assert elapsed < 10
    assert peak < 16 * MB, f"peak {peak / MB:.0f} MB to refuse a page over 4 MB"


def test_a_server_claiming_a_billion_pages_is_refused_at_the_first(serve, monkeypatch):
    server = serve("endless")
    error, elapsed = _extract(monkeypatch, server, 20)
    assert "announces 1000000000 pages" in str(error) and "max_pages=10000" in str(error), error
    assert server.hits == 1 and elapsed < 5


def test_a_page_cap_set_in_the_feed_applies(serve, monkeypatch):
    server = serve("endless")
    error, _ = _extract(monkeypatch, server, 20, max_pages=3)
    assert "max_pages=3" in str(error)


def test_retry_after_past_the_deadline_fails_at_once(serve, monkeypatch):
    """A 429 asking for an hour is not waited for when the request has 10 s."""
    server = serve("retry-after-hour")
    error, elapsed = _extract(monkeypatch, server, 20, request_deadline_seconds=10)
    assert "retry after 3600 s" in str(error), error
    assert elapsed < 5


def test_a_redirect_to_another_host_is_refused_and_not_followed(serve, monkeypatch):
    elsewhere = serve("endless")  # would answer a valid (if endless) ledger page
    server = serve("redirect")
    server.elsewhere = f"http://localhost:{elsewhere.server_address[1]}"
    error, elapsed = _extract(monkeypatch, server, 20)
    assert f"HTTP 302 redirect to localhost:{elsewhere.server_address[1]}, refused" in str(error), error
    assert elsewhere.hits == 0, "the other host was never asked"
    assert elapsed < 5
