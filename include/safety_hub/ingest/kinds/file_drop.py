"""Delivery kind ``file_drop``: daily files dropped in a folder (CSV or XLSX), ``pattern`` formatted with the date.

Extractor: the dropped file (by path: landing copies and hashes it in chunks) once complete
(a marker, or a size that has settled), and the row count its marker announces. Parser:
``csv`` or ``xlsx`` by the delivery's ``format``. Lineage: the file where the agency drops it.
Policy: the DAG waits for a complete file (sensor ``wait_for_file``, rescheduled every 5
minutes for the delivery's ``wait_timeout_hours``), then extracts within 15 minutes with one
retry (a file exists or not); a file whose sha256 was already loaded is skipped; after
loading it moves to ``_archive/``. A local copy (``safety-hub validate``) is read with the
count of the marker beside it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

from safety_hub.config.connections import ConnectionInfo, get_connection
from safety_hub.config.registry import Feed, FileDropDelivery
from safety_hub.domain.errors import DeliveryRefused, FeedError
from safety_hub.ingest.datasets import DatasetRef, file_dataset
from safety_hub.ingest.delivery import Extract, RawFile
from safety_hub.ingest.kinds.base import DeliveryKind, Wait, read_local_file, register

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
        raise DeliveryRefused(feed.feed_id, str(path), "a symbolic link, refused: put the file itself in the drop folder")
    try:
        path.resolve(strict=True).relative_to(folder.resolve(strict=True))
    except (OSError, ValueError):
        raise DeliveryRefused(feed.feed_id, str(path), f"resolves outside the drop folder {folder}, refused: put the file itself in the drop folder") from None
    if not path.is_file():
        raise DeliveryRefused(feed.feed_id, str(path), "not a regular file, refused")


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
        raise DeliveryRefused(feed.feed_id, str(marker), "the marker holds no row count (expected 'rows=N', 'N' or nothing); "
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


def parser(feed: Feed) -> str:
    """The landing parser of the delivery's format."""
    return getattr(feed.delivery, "format", "csv")


def source(feed: Feed, conn: ConnectionInfo, day: dt.date, **facets) -> DatasetRef:
    """The file where the agency drops it (lineage), also when a rerun reads the copy moved to ``_archive/``."""
    folder = Path(conn.extra.get("path") or conn.host or "")
    return file_dataset(folder / feed.delivery.pattern.format(date=day), **facets)


def wait(feed: Feed) -> Wait:
    """Wait for a complete file (``file_ready``) for the delivery's ``wait_timeout_hours``, without holding a worker slot between pokes."""
    return Wait("wait_for_file", ready=file_ready, timeout=feed.delivery.wait_timeout_hours * 3600, poke_interval=300)


def read_local(feed: Feed, path: Path, day: dt.date) -> Extract:
    """A file saved on this machine, with the row count of ``<file><marker_suffix>`` beside it, as the extract reads it."""
    local = read_local_file(feed, path, day)
    return Extract(local.feed_id, day, local.source, local.files, expected_rows=marker_rows(feed, path))


KIND = register(DeliveryKind(
    "file_drop", extract=extract_file_drop, parser=parser, source=source,
    retries=1, extract_timeout=dt.timedelta(minutes=15), wait=wait,
    dedupe_by_digest=True, after_load=archive_file, read_local=read_local,
))
