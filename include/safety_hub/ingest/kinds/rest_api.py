"""Delivery kind ``rest_api``: a paginated JSON API with a bearer token and an ``updated_since`` cursor.

Extractor: every page of the business day's window through ``fetch`` (bounded GET), within the
feed's limits. Parser: the landing zone's API pages (``api_pages``). Lineage: the endpoint.
Policy: extract at once, within 30 minutes, with three retries (APIs flap). A local copy
(``safety-hub validate``) is a folder of the pages (``*.json``, in name order) or one page.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from safety_hub.config.connections import ConnectionInfo, get_connection
from safety_hub.config.registry import Feed, RestApiDelivery
from safety_hub.domain.errors import DeliveryRefused, FeedError
from safety_hub.ingest.datasets import DatasetRef, api_dataset
from safety_hub.ingest.delivery import Extract, RawFile, day_window
from safety_hub.ingest.kinds.base import DeliveryKind, read_local_file, register


def extract_rest_api(feed: Feed, delivery: RestApiDelivery, day: dt.date) -> Extract:
    """Every page of the day's window, within the feed's limits, each handed to landing as it arrives.

    The first page (it announces the page count) is fetched here; the others while landing writes
    them (``Extract.files`` is a generator), so one page is held at a time. Each page's request
    ends within ``request_deadline_seconds`` (retries and waits included) and holds at most
    ``max_page_mb``; at most ``max_pages`` pages and ``max_total_mb`` are read per run; a redirect is refused (not followed) and named. Every
    refusal is a one-line ``FeedError`` (after the first page, raised while landing writes the
    pages: nothing is kept).
    """
    from safety_hub.ingest import fetch  # requests and urllib3, only when an API is read

    conn = get_connection(delivery.conn_id)
    limits = fetch.Limits(
        timeout=float(conn.extra.get("timeout", delivery.timeout_seconds)),
        deadline=delivery.request_deadline_seconds,
        max_bytes=int(delivery.max_page_mb * (1 << 20)),
        backoff=float(conn.extra.get("backoff_seconds", 1.0)),
    )
    base = (conn.host or "").rstrip("/")
    check_transport(feed, delivery, base, conn.extra)
    url = base + delivery.endpoint
    since, until = day_window(day)

    session = fetch.session(limits)
    session.headers["Authorization"] = f"Bearer {conn.password}"
    fetched = {"bytes": 0}

    def fetch_page(page: int) -> tuple[RawFile, int]:
        """One page, checked (status, shape, the limits), and the page count it announces."""
        params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(), "page": page, "page_size": delivery.page_size}
        try:
            resp = fetch.get(session, url, params, limits)
        except fetch.FetchError as exc:
            raise FeedError(feed.feed_id, url, f"page {page}: {exc}") from None
        if resp.redirect_host is not None:
            raise DeliveryRefused(feed.feed_id, url, f"page {page}: HTTP {resp.status} redirect to {resp.redirect_host}, refused "
                            "(redirects are not followed: if the agency's API moved, set the connection's host to its new address)")
        if resp.status != 200:
            raise FeedError(feed.feed_id, url, f"page {page}: HTTP {resp.status}: {resp.content[:200].decode('utf-8', 'replace')}")
        try:
            body = json.loads(resp.content)
            pages = int(body["data"]["pages"])
            body["data"]["records"]  # noqa: B018 (shape check)
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError(feed.feed_id, url, f"page {page}: not a ledger page ({exc.__class__.__name__}: {exc})") from None
        if pages > delivery.max_pages:
            raise DeliveryRefused(feed.feed_id, url, f"page {page}: the API announces {pages} pages, more than the feed's limit "
                            f"delivery.max_pages={delivery.max_pages}; refused (raise it in the feed's YAML if the day really holds that many)")
        fetched["bytes"] += len(resp.content)
        if fetched["bytes"] > delivery.max_total_mb * (1 << 20):
            raise DeliveryRefused(feed.feed_id, url, f"page {page}: the pages so far hold {fetched['bytes'] / (1 << 20):.0f} MB, more than the "
                            f"feed's limit delivery.max_total_mb={delivery.max_total_mb:g}; refused")
        return RawFile(f"page-{page:04d}.json", resp.content), pages

    try:
        first, pages = fetch_page(1)  # here: a refused or unreachable API fails the extract before anything is written
    except BaseException:
        session.close()
        raise

    def rest(first: RawFile, pages: int):
        with session:
            yield first
            page = 2
            while page <= pages:
                raw, pages = fetch_page(page)
                yield raw
                page += 1

    return Extract(feed.feed_id, day, f"{url}?updated_since={since.isoformat()}", rest(first, pages))


def check_transport(feed: Feed, delivery: RestApiDelivery, base: str, extra: dict | None = None) -> None:
    """Refuse an API URL that is not https, unless the traffic stays on this machine (a loopback
    host: the tests', the demo's and the native stack's simulator) or plain http is allowed
    explicitly: by the feed (``delivery.allow_http: true``) or by the deployment's connection
    (``extra.allow_http: true``, e.g. compose's simulator on its own network). Plain http would
    carry the agency's bearer token and data in clear."""
    import ipaddress
    from urllib.parse import urlsplit

    url = urlsplit(base)
    if url.scheme == "https" and url.hostname:
        return
    if url.scheme != "http" or not url.hostname:
        raise DeliveryRefused(feed.feed_id, delivery.conn_id, f"connection host must be an https URL, got {base!r}")
    try:
        loopback = url.hostname == "localhost" or ipaddress.ip_address(url.hostname).is_loopback
    except ValueError:
        loopback = False
    if loopback or delivery.allow_http or (extra or {}).get("allow_http") is True:
        return
    raise DeliveryRefused(feed.feed_id, delivery.conn_id,
                    f"plain http to {url.hostname} refused: the bearer token and the agency's data would cross the network "
                    "unencrypted; use the agency's https URL, or set allow_http: true on the feed's delivery (or in the "
                    "connection's extra) if the link is protected otherwise")


def source(feed: Feed, conn: ConnectionInfo, day: dt.date, **facets) -> DatasetRef:
    """The API endpoint the extract reads (lineage)."""
    return api_dataset(conn.host or "", feed.delivery.endpoint, **facets)


def read_local(feed: Feed, path: Path, day: dt.date) -> Extract:
    """A folder of saved API pages (``*.json``, in name order), or one page."""
    if not path.is_dir():
        return read_local_file(feed, path, day)
    pages = sorted(p for p in path.iterdir() if p.suffix == ".json")
    if not pages:
        raise FeedError(feed.feed_id, str(path), "a folder without API pages (*.json)")
    for page in pages:
        if page.is_symlink() or not page.is_file():
            raise DeliveryRefused(feed.feed_id, str(page), "not a regular file, refused")
    return Extract(feed.feed_id, day, str(path), [RawFile(page.name, page.read_bytes()) for page in pages])


KIND = register(DeliveryKind(
    "rest_api", extract=extract_rest_api, parser=lambda feed: "api_pages", source=source,
    retries=3, extract_timeout=dt.timedelta(minutes=30), read_local=read_local,
))
