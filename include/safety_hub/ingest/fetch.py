"""Bounded HTTP GETs for the REST extract.

A page's request ends within a deadline (its retries and their waits included),
reads at most a given number of bytes, never follows a redirect, and retries
connection errors, timeouts, 429 and 5xx with urllib3's ``Retry`` (exponential
backoff, ``Retry-After`` honoured but never past the deadline).

The deadline is enforced three ways: each socket operation has a timeout; the body
is read in chunks with the clock checked between them; and a timer shuts the
request's socket down when the time is up, so a read blocked on a server that
trickles its status line or headers returns too.
"""

from __future__ import annotations

import contextvars
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
ERROR_BODY_BYTES = 4096  # of a non-200 answer, read for its message only


class FetchError(Exception):
    """A GET that gave no usable answer within its limits; ``str()`` is one line (no page content)."""


@dataclass(frozen=True)
class Limits:
    timeout: float  # seconds for each connect and each socket read
    deadline: float  # seconds for the whole request: attempts, waits between them and the body
    max_bytes: int  # of the body (decoded)
    backoff: float = 1.0  # seconds before the second retry; doubles after (urllib3 waits 0 s before the first)
    attempts: int = 4


@dataclass(frozen=True)
class Page:
    status: int
    url: str
    headers: dict = field(repr=False)
    content: bytes = field(repr=False)

    @property
    def redirect_host(self) -> str | None:
        """For a 3xx: the host (and port) its Location points to."""
        location = self.headers.get("Location") or self.headers.get("location")
        if not 300 <= self.status < 400 or not location:
            return None
        return urlsplit(urljoin(self.url, location)).netloc or "?"


class _Deadline:
    """A request's clock; when it runs out, the sockets the request opened are shut down."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    @property
    def passed(self) -> bool:
        return self._expired or self.remaining() <= 0

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> _Deadline:
        self._token = _CURRENT.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _CURRENT.reset(self._token)


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown (an SSL socket's own would drop its state under a reading thread)
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


_CURRENT: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("safety_hub_fetch_deadline", default=None)


class DeadlinePassed(Exception):
    """Raised from inside urllib3's retry loop; never an ``OSError``, so nothing retries it."""


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self, *args, **kwargs):
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args, **kwargs):
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineRetry(Retry):
    """urllib3's ``Retry`` that gives up once the request's deadline has passed and never waits past it."""

    def increment(self, *args, **kwargs):
        deadline = _CURRENT.get()
        if deadline is not None and deadline.passed:
            raise DeadlinePassed(f"no answer within the request deadline of {deadline.seconds:g} s")
        return super().increment(*args, **kwargs)

    def sleep(self, response=None) -> None:
        deadline = _CURRENT.get()
        if deadline is not None:
            after = self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
            wait = after or self.get_backoff_time()
            if wait >= deadline.remaining():
                asked = f"the server asks to retry after {wait:g} s" if after else f"the next retry in {wait:g} s"
                raise DeadlinePassed(f"{asked}, past the request deadline of {deadline.seconds:g} s")
            if response is not None:
                log.warning("HTTP %s, retry in %.1f s (%s)", response.status, wait, "Retry-After" if after else "backoff")
        super().sleep(response)


class _Adapter(HTTPAdapter):
    """requests' adapter whose connections report their socket to the request's deadline."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # SOCKS managers keep their own pools
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def session(limits: Limits) -> requests.Session:
    """A session retrying 429, 5xx, connection errors and timeouts (``limits.attempts`` tries in all)."""
    retries = limits.attempts - 1
    retry = _DeadlineRetry(
        total=retries, connect=retries, read=retries, status=retries, redirect=0, raise_on_redirect=False,
        status_forcelist={429, *range(500, 600)}, allowed_methods={"GET"}, raise_on_status=False,
        backoff_factor=limits.backoff, backoff_max=60, respect_retry_after_header=True,
    )
    s = requests.Session()
    adapter = _Adapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def get(s: requests.Session, url: str, params: dict, limits: Limits) -> Page:
    """GET ``url`` within ``limits``: the answer (3xx not followed; at most ``ERROR_BODY_BYTES`` of a non-200 body).

    Raises ``FetchError`` (one line) when the deadline passes, the body is over ``limits.max_bytes``,
    or the request fails after its retries.
    """
    with _Deadline(limits.deadline) as deadline:
        try:
            resp = s.get(url, params=params, timeout=(limits.timeout, limits.timeout), stream=True, allow_redirects=False)
        except DeadlinePassed as exc:
            raise FetchError(str(exc)) from None
        except requests.RequestException as exc:
            if deadline.passed:
                raise FetchError(f"no answer within the request deadline of {limits.deadline:g} s") from None
            raise FetchError(f"{exc.__class__.__name__} after retries: {exc}") from None
        try:
            if 300 <= resp.status_code < 400:
                content = b""
            else:
                content = _read(resp, deadline, limits, cap=None if resp.status_code == 200 else ERROR_BODY_BYTES)
        finally:
            resp.close()
        return Page(resp.status_code, resp.url, dict(resp.headers), content)


def _read(resp: requests.Response, deadline: _Deadline, limits: Limits, cap: int | None) -> bytes:
    """The body, chunk by chunk: stopped at the deadline, refused past ``max_bytes`` (or cut at ``cap``)."""
    mb = limits.max_bytes / (1 << 20)
    declared = resp.headers.get("Content-Length", "")
    if cap is None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"the server announces {int(declared) / (1 << 20):.0f} MB, more than the page limit of {mb:g} MB")
    body = bytearray()
    try:
        for chunk in resp.iter_content(CHUNK):
            body += chunk
            if cap is not None and len(body) >= cap:
                return bytes(body[:cap])
            if len(body) > limits.max_bytes:
                raise FetchError(f"the page is over the limit of {mb:g} MB; stopped reading")
            if deadline.passed:
                break
    except requests.RequestException as exc:
        if not deadline.passed:
            raise FetchError(f"the body broke off after {len(body)} bytes: {exc.__class__.__name__}: {exc}") from None
    if deadline.passed:  # the timer may have ended a blocked read (a short body, or an error)
        raise FetchError(f"the page took longer than the request deadline of {limits.deadline:g} s "
                         f"({len(body)} bytes read); stopped reading")
    return bytes(body)
