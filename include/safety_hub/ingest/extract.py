"""Stage 1, extract: fetch a feed's delivery for one business day, unchanged.

One function per delivery kind, each returning the original bytes as a list of
named files. Nothing is parsed here: the landing zone keeps exactly what the
agency sent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from safety_hub.config.connections import get_connection
from safety_hub.domain.errors import FeedError
from safety_hub.config.registry import FileDropDelivery, Feed, RestApiDelivery, SqlExtractDelivery
from safety_hub.config.settings import business_tz

CN_TZ = business_tz()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawFile:
    """One delivered file: its bytes (API pages, extracts), or the path of a dropped file.

    A dropped file is not read here: landing copies it in chunks and hashes it as it
    copies, so a delivery is never held whole in memory by extract.
    """

    name: str
    content: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.content is None and self.path is not None else len(self.content)

    def chunks(self, size: int = 1 << 20):
        """The file's bytes, ``size`` at a time."""
        if self.content is not None:
            yield self.content
            return
        if self.path is None:
            raise TypeError(f"{self.name}: neither content nor path")
        with open(self.path, "rb") as fh:
            while block := fh.read(size):
                yield block


@dataclass(frozen=True)
class Extract:
    feed_id: str
    business_date: dt.date
    source: str  # human-readable origin: URL, file path or table
    files: list[RawFile]
    # Records the source says it delivered (a marker file's count, the rows an extract fetched): checked at landing.
    expected_rows: int | None = None


def _day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=CN_TZ)
    return start, start + dt.timedelta(days=1)


def extract_rest_api(feed: Feed, delivery: RestApiDelivery, day: dt.date) -> Extract:
    """Every page of the day's window, within the feed's limits.

    Each page's request ends within ``request_deadline_seconds`` (retries and waits included)
    and holds at most ``max_page_mb``; at most ``max_pages`` pages and ``max_total_mb`` are read
    per run; a redirect is refused (not followed) and named. Every refusal is a one-line ``FeedError``.
    """
    from safety_hub.ingest import fetch

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
    since, until = _day_window(day)
    session = fetch.session(limits)
    session.headers["Authorization"] = f"Bearer {conn.password}"
    files: list[RawFile] = []
    total, max_total = 0, delivery.max_total_mb * (1 << 20)
    page, pages = 1, 1
    with session:
        while page <= pages:
            params = {"updated_since": since.isoformat(), "updated_until": until.isoformat(), "page": page, "page_size": delivery.page_size}
            try:
                resp = fetch.get(session, url, params, limits)
            except fetch.FetchError as exc:
                raise FeedError(feed.feed_id, url, f"page {page}: {exc}") from None
            if resp.redirect_host is not None:
                raise FeedError(feed.feed_id, url, f"page {page}: HTTP {resp.status} redirect to {resp.redirect_host}, refused "
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
                raise FeedError(feed.feed_id, url, f"page {page}: the API announces {pages} pages, more than the feed's limit "
                                f"delivery.max_pages={delivery.max_pages}; refused (raise it in the feed's YAML if the day really holds that many)")
            total += len(resp.content)
            if total > max_total:
                raise FeedError(feed.feed_id, url, f"page {page}: the pages so far hold {total / (1 << 20):.0f} MB, more than the feed's "
                                f"limit delivery.max_total_mb={delivery.max_total_mb:g}; refused")
            files.append(RawFile(f"page-{page:04d}.json", resp.content))
            page += 1
    return Extract(feed.feed_id, day, f"{url}?updated_since={since.isoformat()}", files)


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
        raise FeedError(feed.feed_id, delivery.conn_id, f"connection host must be an https URL, got {base!r}")
    try:
        loopback = url.hostname == "localhost" or ipaddress.ip_address(url.hostname).is_loopback
    except ValueError:
        loopback = False
    if loopback or delivery.allow_http or (extra or {}).get("allow_http") is True:
        return
    raise FeedError(feed.feed_id, delivery.conn_id,
                    f"plain http to {url.hostname} refused: the bearer token and the agency's data would cross the network "
                    "unencrypted; use the agency's https URL, or set allow_http: true on the feed's delivery (or in the "
                    "connection's extra) if the link is protected otherwise")


ARCHIVE = "_archive"


def drop_folder(feed: Feed) -> Path:
    """The feed's drop folder (its connection's ``extra.path``, or host)."""
    conn = get_connection(feed.delivery.conn_id)
    return Path(conn.extra.get("path") or conn.host or "")


def drop_path(feed: Feed, day: dt.date) -> Path:
    """Where the day's file is dropped; after loading it moves to ``_archive/`` beside it."""
    return drop_folder(feed) / feed.delivery.pattern.format(date=day)


def file_ready(feed: Feed, day: dt.date) -> bool:
    """Complete = marker present, or size unchanged over ``settle_seconds`` (or already archived)."""
    delivery: FileDropDelivery = feed.delivery
    path = drop_path(feed, day)
    if (path.parent / ARCHIVE / path.name).is_file():
        return True
    if not path.is_file():
        return False
    if delivery.marker_suffix:
        return path.with_name(path.name + delivery.marker_suffix).is_file()
    stat = path.stat()
    quiet_for = time.time() - stat.st_mtime
    if quiet_for < delivery.settle_seconds:  # still being written? look again after the settle time
        time.sleep(delivery.settle_seconds - quiet_for)
        return path.is_file() and path.stat().st_size == stat.st_size and stat.st_size > 0
    return stat.st_size > 0


def extract_file_drop(feed: Feed, delivery: FileDropDelivery, day: dt.date) -> Extract:
    """The dropped file's bytes, and the row count its marker announces (checked at landing).

    A symbolic link, or a path resolving outside the drop folder, is refused: the
    pipeline reads only what the agency put in its own folder.
    """
    folder = drop_folder(feed)
    path = drop_path(feed, day)
    if not _exists(path) and _exists(path.parent / ARCHIVE / path.name):
        path = path.parent / ARCHIVE / path.name  # processed before: a rerun reads the archived copy
    if not _exists(path):
        raise FeedError(feed.feed_id, str(path), "file not delivered")
    check_inside(feed, path, folder)
    return Extract(feed.feed_id, day, str(path), [RawFile(path.name, path=path)], expected_rows=marker_rows(feed, path, folder))


def _exists(path: Path) -> bool:
    return path.is_file() or path.is_symlink()


def check_inside(feed: Feed, path: Path, folder: Path) -> None:
    """Refuse a symbolic link, a path resolving outside ``folder`` or anything but a regular file (one line, no content quoted)."""
    if path.is_symlink():
        raise FeedError(feed.feed_id, str(path), "a symbolic link, refused: put the file itself in the drop folder")
    try:
        path.resolve(strict=True).relative_to(folder.resolve(strict=True))
    except (OSError, ValueError):
        raise FeedError(feed.feed_id, str(path), f"resolves outside the drop folder {folder}, refused: put the file itself in the drop folder") from None
    if not path.is_file():
        raise FeedError(feed.feed_id, str(path), "not a regular file, refused")


# A marker announcing the delivery's row count: "rows=65" or "65" (surrounding whitespace ignored).
_MARKER_COUNT = re.compile(r"(?:rows\s*=\s*)?([0-9]{1,12})", re.IGNORECASE)
_MARKER_MAX_BYTES = 256


def marker_rows(feed: Feed, path: Path, folder: Path | None = None) -> int | None:
    """The row count announced by ``<file><marker_suffix>`` beside ``path``; None without a marker or when it is empty.

    An empty marker only says the file is complete. Anything but ``rows=N`` or ``N``
    is refused (the marker's content is not quoted: it may be anything).
    """
    suffix = getattr(feed.delivery, "marker_suffix", None)
    if not suffix:
        return None
    marker = path.with_name(path.name + suffix)
    if not _exists(marker):
        return None
    check_inside(feed, marker, folder if folder is not None else path.parent)
    with marker.open("rb") as fh:
        raw = fh.read(_MARKER_MAX_BYTES + 1)
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        text = None
    if text == "":
        return None
    found = _MARKER_COUNT.fullmatch(text) if text is not None and len(raw) <= _MARKER_MAX_BYTES else None
    if found is None:
        raise FeedError(feed.feed_id, str(marker), "the marker holds no row count (expected 'rows=N', 'N' or nothing); "
                        "write the count of data rows in it and deliver again")
    return int(found.group(1))


def archive_file(feed: Feed, day: dt.date) -> Path | None:
    """Move a loaded drop file (and its marker) into ``_archive/``."""
    path = drop_path(feed, day)
    if not path.is_file():
        return None
    target = path.parent / ARCHIVE / path.name
    target.parent.mkdir(exist_ok=True)
    path.replace(target)
    marker = feed.delivery.marker_suffix and path.with_name(path.name + feed.delivery.marker_suffix)
    if marker and marker.is_file():
        marker.replace(target.with_name(marker.name))
    return target


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
    return Extract(feed.feed_id, day, f"{engine.url.render_as_string(hide_password=True)}#{delivery.table}[{since:%Y-%m-%d}]",
                   [RawFile("extract.jsonl", body)], expected_rows=len(lines))


_EXTRACTORS = {"rest_api": extract_rest_api, "file_drop": extract_file_drop, "sql_extract": extract_sql}


def extract(feed: Feed, day: dt.date) -> Extract:
    """Fetch one business day of ``feed`` in its delivery's original bytes."""
    return _EXTRACTORS[feed.delivery.kind](feed, feed.delivery, day)
