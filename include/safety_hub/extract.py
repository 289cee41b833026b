"""Stage 1, extract: fetch a feed's delivery for one business day, unchanged.

One function per delivery kind, each returning the original bytes as a list of
named files. Nothing is parsed here: the landing zone keeps exactly what the
agency sent.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

from safety_hub.connections import get_connection
from safety_hub.errors import FeedError
from safety_hub.registry import FileDropDelivery, Feed, RestApiDelivery, SqlExtractDelivery

CN_TZ = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class RawFile:
    name: str
    content: bytes


@dataclass(frozen=True)
class Extract:
    feed_id: str
    business_date: dt.date
    source: str  # human-readable origin: URL, file path or table
    files: list[RawFile]


def _day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=CN_TZ)
    return start, start + dt.timedelta(days=1)


def extract_rest_api(feed: Feed, delivery: RestApiDelivery, day: dt.date) -> Extract:
    import requests

    conn = get_connection(delivery.conn_id)
    base = (conn.host or "").rstrip("/")
    if not base.startswith("http"):
        raise FeedError(feed.feed_id, delivery.conn_id, f"connection host must be an http(s) URL, got {base!r}")
    url = base + delivery.endpoint
    since, until = _day_window(day)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {conn.password}"
    files: list[RawFile] = []
    page, pages = 1, 1
    while page <= pages:
        params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(), "page": page, "page_size": delivery.page_size}
        resp = _get_with_retry(session, url, params, delivery.timeout_seconds)
        if resp.status_code != 200:
            raise FeedError(feed.feed_id, url, f"page {page}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            body = resp.json()
            pages = int(body["data"]["pages"])
            body["data"]["records"]  # noqa: B018 (shape check)
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError(feed.feed_id, url, f"page {page}: not a ledger page ({exc.__class__.__name__}: {exc})") from None
        files.append(RawFile(f"page-{page:04d}.json", resp.content))
        page += 1
    return Extract(feed.feed_id, day, f"{url}?updated_since={since.isoformat()}", files)


def _get_with_retry(session, url: str, params: dict, timeout: float, attempts: int = 4):
    """GET with backoff on connection errors, 429 (honouring Retry-After) and 5xx."""
    import requests

    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            resp = session.get(url, params=params, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout):
            if attempt == attempts:
                raise
        else:
            if resp.status_code != 429 and resp.status_code < 500 or attempt == attempts:
                return resp
            retry_after = resp.headers.get("Retry-After")
            if retry_after and retry_after.isdigit():
                delay = float(retry_after)
        time.sleep(delay)
        delay = min(delay * 2, 30)
    raise AssertionError("unreachable")


def extract_file_drop(feed: Feed, delivery: FileDropDelivery, day: dt.date) -> Extract:
    conn = get_connection(delivery.conn_id)
    folder = Path(conn.extra.get("path") or conn.host or "")
    path = folder / delivery.pattern.format(date=day)
    if not path.is_file():
        raise FeedError(feed.feed_id, str(path), "file not delivered")
    return Extract(feed.feed_id, day, str(path), [RawFile(path.name, path.read_bytes())])


def extract_sql(feed: Feed, delivery: SqlExtractDelivery, day: dt.date) -> Extract:
    import sqlalchemy as sa

    conn = get_connection(delivery.conn_id)
    url = conn.extra.get("url") or conn.host
    if not url:
        raise FeedError(feed.feed_id, delivery.conn_id, "connection has no SQLAlchemy URL (extra.url)")
    engine = sa.create_engine(url)
    since, until = _day_window(day)
    col = sa.column(delivery.updated_column)
    # Timestamps are ISO text in the agency DB; compare on the Beijing calendar day.
    query = sa.select(sa.text("*")).select_from(sa.table(delivery.table)).where(
        sa.func.substr(col, 1, 10) == day.isoformat()
    )
    lines: list[bytes] = []
    try:
        with engine.connect() as db:
            rows = db.execution_options(stream_results=True).execute(query).mappings()
            while chunk := rows.fetchmany(delivery.chunk_rows):
                lines.extend(json.dumps(dict(r), ensure_ascii=False, default=str).encode("utf-8") for r in chunk)
    except sa.exc.SQLAlchemyError as exc:
        raise FeedError(feed.feed_id, f"{engine.url.render_as_string(hide_password=True)}/{delivery.table}", f"query failed: {exc.orig or exc}") from None
    finally:
        engine.dispose()
    body = b"\n".join(lines) + (b"\n" if lines else b"")
    return Extract(feed.feed_id, day, f"{engine.url.render_as_string(hide_password=True)}#{delivery.table}[{since:%Y-%m-%d}]", [RawFile("extract.jsonl", body)])


_EXTRACTORS = {"rest_api": extract_rest_api, "file_drop": extract_file_drop, "sql_extract": extract_sql}


def extract(feed: Feed, day: dt.date) -> Extract:
    """Fetch one business day of ``feed`` in its delivery's original bytes."""
    return _EXTRACTORS[feed.delivery.kind](feed, feed.delivery, day)
