"""Stage 2, land: the raw landing zone ``data/raw/<feed>/dt=<date>/``.

A partition holds the original bytes of every delivered file, ``records.parquet``
(the same rows, agency column names, all text) and ``_sidecar.json`` (source,
rows, sha256, extracted_at). Writing a partition replaces it atomically, so
re-running a date never duplicates and any day can be replayed from here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import uuid
from pathlib import Path

import pandas as pd

from safety_hub import settings
from safety_hub.errors import FeedError
from safety_hub.extract import Extract, RawFile
from safety_hub.registry import Feed

SIDECAR = "_sidecar.json"
RECORDS = "records.parquet"


def partition_dir(feed_id: str, day: dt.date) -> Path:
    return settings.raw_dir() / feed_id / f"dt={day.isoformat()}"


def land_raw(extract: Extract) -> Path:
    """Write the original bytes and the sidecar; replace any earlier partition."""
    final = partition_dir(extract.feed_id, extract.business_date)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    files = []
    for raw in extract.files:
        (tmp / raw.name).write_bytes(raw.content)
        digest.update(raw.content)
        files.append({"name": raw.name, "bytes": len(raw.content), "sha256": hashlib.sha256(raw.content).hexdigest()})
    sidecar = {
        "feed_id": extract.feed_id,
        "business_date": extract.business_date.isoformat(),
        "source": extract.source,
        "files": files,
        "sha256": digest.hexdigest(),
        "extracted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": None,
    }
    (tmp / SIDECAR).write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
    if final.exists():
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    return final


def read_sidecar(part: Path) -> dict:
    return json.loads((part / SIDECAR).read_text(encoding="utf-8"))


def _parse_json_pages(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    records: list[dict] = []
    for f in files:
        try:
            records.extend(json.loads(f.content)["data"]["records"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError(feed.feed_id, f.name, f"not a ledger page: {exc}") from None
    return pd.DataFrame.from_records(records)


def _parse_jsonl(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    records = []
    for f in files:
        for n, line in enumerate(f.content.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise FeedError(feed.feed_id, f"{f.name} line {n}", f"not JSON: {exc}") from None
    return pd.DataFrame.from_records(records)


def _parse_csv(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    encoding = getattr(feed.delivery, "encoding", "utf-8")
    frames = []
    for f in files:
        try:
            text = f.content.decode(encoding)
        except UnicodeDecodeError as exc:
            raise FeedError(feed.feed_id, f.name, f"not valid {encoding} text at byte {exc.start} (wrong encoding?)") from None
        try:
            frames.append(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""]))
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise FeedError(feed.feed_id, f.name, f"unreadable CSV: {exc}") from None
    return pd.concat(frames, ignore_index=True)


def parse_files(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    """Delivered bytes -> a DataFrame of text columns with the agency's names."""
    kind = feed.delivery.kind
    if kind == "rest_api":
        frame = _parse_json_pages(feed, files)
    elif kind == "sql_extract":
        frame = _parse_jsonl(feed, files)
    else:
        frame = _parse_csv(feed, files)
    if frame.empty and len(frame.columns) == 0:
        frame = pd.DataFrame(columns=[c.source for c in feed.columns])
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    missing = [c for c in feed.required_sources if c not in frame.columns]
    if missing:
        names = ", ".join(files_name(files))
        raise FeedError(feed.feed_id, names, f"missing required column(s) {missing}; found {list(frame.columns)}")
    frame = frame.astype("string").replace({"": pd.NA})
    return frame


def files_name(files: list[RawFile]) -> list[str]:
    return [f.name for f in files]


def read_raw_files(part: Path) -> list[RawFile]:
    sidecar = read_sidecar(part)
    return [RawFile(f["name"], (part / f["name"]).read_bytes()) for f in sidecar["files"]]


def land_records(feed: Feed, day: dt.date) -> dict:
    """Parse a landed partition into ``records.parquet``; return the updated sidecar."""
    part = partition_dir(feed.feed_id, day)
    if not (part / SIDECAR).exists():
        raise FeedError(feed.feed_id, str(part), "no landed raw partition (run extract first)")
    frame = parse_files(feed, read_raw_files(part))
    frame.to_parquet(part / RECORDS, index=False)
    sidecar = read_sidecar(part)
    sidecar.update(rows=len(frame), columns=list(frame.columns))
    (part / SIDECAR).write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
    return sidecar
