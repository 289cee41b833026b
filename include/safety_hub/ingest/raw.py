"""The raw zone's partitions: where a delivery's original bytes and its sidecar are written.

``data/raw/<feed>/dt=<date>/`` (see ``ingest.landing``, which parses what is written here).
This module is what the extract stage needs (``land_raw``, ``read_sidecar``): it imports
no pandas, numpy or pyarrow, so a task that only fetches and copies bytes does not pay for
the parsers' imports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from safety_hub.config import settings
from safety_hub.ingest.delivery import Extract

SIDECAR = "_sidecar.json"
PREVIOUS = "_previous"  # dt=<date>/_previous/<extracted_at>/: the originals of deliveries a newer one replaced
RECORDS = "records.parquet"
REJECTS = "rejects.parquet"
ROW = "__row__"  # records.parquet: the physical row of each record in its file


def partition_dir(feed_id: str, day: dt.date) -> Path:
    return settings.raw_dir() / feed_id / f"dt={day.isoformat()}"


def landed_days(feed_id: str) -> list[dt.date]:
    """Business dates with a raw partition for ``feed_id``."""
    root = settings.raw_dir() / feed_id
    return sorted(dt.date.fromisoformat(p.name.removeprefix("dt=")) for p in root.glob("dt=*") if p.is_dir()) if root.exists() else []


def pending_dir(feed_id: str, day: dt.date) -> Path:
    """A new delivery's bytes, until parsing accepts them into the partition (or refuses them)."""
    return settings.raw_dir() / feed_id / f".pending-dt={day.isoformat()}"


def refused_dir(feed_id: str, day: dt.date) -> Path:
    """Where refused deliveries are kept, one folder per attempt (``<utc time>``), with the reason in the sidecar."""
    return settings.raw_dir() / feed_id / "_refused" / f"dt={day.isoformat()}"


def previous_dir(part: Path) -> Path:
    """Earlier accepted deliveries of a partition's day, one folder per delivery (``<extracted_at>``: originals + sidecar)."""
    return part / PREVIOUS


def _replace_dir(new: Path, final: Path) -> None:
    """Put ``new`` in ``final``'s place by renames; on failure ``final`` stays as it was, and no ``.old-*`` folder is left."""
    if not final.exists():
        new.rename(final)
        return
    old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
    final.rename(old)
    try:
        new.rename(final)
    except BaseException:
        old.rename(final)  # the previous partition stays in place
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def land_raw(extract: Extract, check_digest=None) -> Path:
    """Write the original bytes and the sidecar as the day's pending delivery (``land_records`` accepts or refuses it).

    Files are copied in chunks and hashed as they are copied. ``check_digest(sha256)``,
    when given, sees the delivery's digest before it is put in place and may refuse it
    by raising (e.g. a file already loaded). Written in a ``.tmp-*`` folder renamed into
    place; a failure removes it.
    """
    final = pending_dir(extract.feed_id, extract.business_date)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        digest = hashlib.sha256()
        files = []
        single = isinstance(extract.files, (list, tuple)) and len(extract.files) == 1
        for raw in extract.files:  # a list, or an iterable yielding each file as the source gives it (API pages)
            # The delivery's digest is over its files in order: for one file, that file's own.
            own, size = (digest if single else hashlib.sha256()), 0
            with open(tmp / raw.name, "wb") as out:
                for block in raw.chunks():
                    out.write(block)
                    own.update(block)
                    if own is not digest:
                        digest.update(block)
                    size += len(block)
            files.append({"name": raw.name, "bytes": size, "sha256": own.hexdigest()})
        if check_digest is not None:
            check_digest(digest.hexdigest())
        sidecar = {
            "feed_id": extract.feed_id,
            "business_date": extract.business_date.isoformat(),
            "source": extract.source,
            "files": files,
            "sha256": digest.hexdigest(),
            "extracted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "rows": None,
            "expected_rows": extract.announced_rows(),
        }
        (tmp / SIDECAR).write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # still there only when landing failed
    return final


def _keep_previous(final: Path, pending: Path) -> None:
    """Before ``pending`` replaces the accepted ``final``: keep ``final``'s originals and sidecar under
    ``pending/_previous/<extracted_at>/``, with the earlier ones ``final`` kept (hard links: no bytes copied)."""
    if not (final / SIDECAR).exists():
        return
    keep = previous_dir(pending)
    shutil.rmtree(keep, ignore_errors=True)  # rebuilt from the accepted partition (a failed earlier attempt's)
    keep.mkdir()
    if previous_dir(final).is_dir():
        for version in sorted(previous_dir(final).iterdir()):
            shutil.copytree(version, keep / version.name, copy_function=_link)
    sidecar = read_sidecar(final)
    stamp = _stamp(sidecar.get("extracted_at"))
    target, n = keep / stamp, 1
    while target.exists():
        n += 1
        target = keep / f"{stamp}-{n:03d}"
    target.mkdir()
    for f in sidecar["files"]:
        _link(final / f["name"], target / f["name"])
    shutil.copy2(final / SIDECAR, target / SIDECAR)


def _stamp(extracted_at: str | None) -> str:
    try:
        return dt.datetime.fromisoformat(extracted_at).astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return "unknown"


def _link(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links
        shutil.copy2(src, dst)


def kept_deliveries(feed_id: str, day: dt.date) -> list[Path]:
    """The folders holding the day's accepted deliveries: the partition (current) and each under ``_previous/``."""
    part = partition_dir(feed_id, day)
    folders = sorted(p for p in previous_dir(part).iterdir() if (p / SIDECAR).exists()) if previous_dir(part).is_dir() else []
    return folders + ([part] if (part / SIDECAR).exists() else [])


def verify_delivery(folder: Path) -> bool:
    """Whether the original files in ``folder`` still hash to its sidecar's ``sha256`` (what ``load_audit.raw_sha256`` records)."""
    sidecar = read_sidecar(folder)
    digest = hashlib.sha256()
    for f in sidecar["files"]:
        path = folder / f["name"]
        if not path.is_file():
            return False
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest() == sidecar["sha256"]


def read_sidecar(part: Path) -> dict:
    return json.loads((part / SIDECAR).read_text(encoding="utf-8"))
