"""Stage 2, land: the raw landing zone ``data/raw/<feed>/dt=<date>/``.

A partition holds the original bytes of every delivered file, ``records.parquet``
(the parsed rows, agency column names, all text, and the physical row of each),
``rejects.parquet`` (rows refused as rows, e.g. ``row.shape``, with their raw text)
and ``_sidecar.json`` (source, sha256, extracted_at, and the row ``accounting``:
physical rows = parsed + rejected + set aside with a reason). Writing a partition
replaces it atomically, so re-running a date never duplicates and any day can be
replayed from here; the originals of the delivery it replaces are kept under
``_previous/<extracted_at>/`` with their sidecar, so every sha256 the audit recorded
can still be verified (``kept_deliveries``, ``verify_delivery``). The parsers live beside this module, one per delivery format:
``delimited`` (CSV), ``xlsx`` (Excel), ``records`` (API pages, JSON lines).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.kinds import get_kind
from safety_hub.ingest.landing import accounting
from safety_hub.ingest.landing.accounting import Parsed
from safety_hub.ingest.landing.delimited import PIECE_BYTES, Unstreamable, parse_csv, stream_csv
from safety_hub.ingest.landing.records import iter_pages, parse_jsonl, parse_pages, stream_jsonl
from safety_hub.ingest.landing.xlsx import parse_xlsx
from safety_hub.config.files import atomic_path, temporary_name, write_atomic
from safety_hub.config.registry import Feed

# The raw zone's paths and the extract stage's writing of original bytes live in ``ingest.raw``
# (no pandas there, for the extract task); imported here so every caller of ``landing`` finds them.
from safety_hub.ingest.raw import (  # noqa: F401
    PREVIOUS, RECORDS, REJECTS, ROW, SIDECAR, _keep_previous, _replace_dir, kept_deliveries, land_raw,
    partition_dir, pending_dir, previous_dir, read_sidecar, refused_dir, verify_delivery,
)

log = logging.getLogger(__name__)


def apply_aliases(feed: Feed, frame: pd.DataFrame) -> pd.DataFrame:
    """Rename headers an agency used before (``aliases``) to the registry's source name."""
    renames = {}
    for c in feed.columns:
        if c.source not in frame.columns:
            alias = next((a for a in c.aliases if a in frame.columns), None)
            if alias:
                renames[alias] = c.source
    return frame.rename(columns=renames)


def unmapped_columns(feed: Feed, frame: pd.DataFrame | list[str]) -> list[str]:
    """Delivered columns (of a frame, or names) the registry does not map (kept in raw, reported as drift)."""
    known = {c.source for c in feed.columns}
    return [c for c in (frame.columns if isinstance(frame, pd.DataFrame) else frame) if c not in known]


# The parsers a delivery kind chooses from (``DeliveryKind.parser``), by name: each reads a delivery's
# files into one ``ParsedFile`` per file (API pages: one for all the pages), every physical row accounted for.
PARSERS = {
    "api_pages": lambda feed, files: parse_pages(feed, [(f.name, f.content) for f in files]),
    "jsonl": lambda feed, files: [parse_jsonl(feed, f.name, f.content) for f in files],
    "csv": lambda feed, files: [parse_csv(feed, f.name, f.content) for f in files],
    "xlsx": lambda feed, files: [parse_xlsx(feed, f.name, f.content) for f in files],
}


def parse_files(feed: Feed, files: list[RawFile], expected_rows: int | None = None) -> Parsed:
    """Delivered bytes -> text columns with the agency's names, every physical row accounted for.

    Refused (``FeedError``, one line) when a file is over the feed's limits, not text,
    truncated, has no recognisable header or repeats a column name, when its rows do
    not reconcile, or when ``expected_rows`` (a manifest's count) differs from the rows read.
    """
    for f in files:
        _check_size(feed, f.name, len(f.content))
    parsed = PARSERS[get_kind(feed.delivery.kind).parser(feed)](feed, files)
    parsed = [accounting.check(feed.feed_id, p) for p in parsed]
    frames = [p.frame for p in parsed if len(p.frame.columns) or len(p.frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[c.source for c in feed.columns])
    names = ", ".join(files_name(files))
    frame = _named(feed, names, frame)
    rows = np.concatenate([p.rows for p in parsed]) if parsed else np.empty(0, dtype=np.int64)
    out = Parsed(_as_text(frame), rows, [p.count for p in parsed], [r for p in parsed for r in p.rejects])
    if len(out.frame) > feed.limits.max_rows:
        _over_rows(feed, names, f"{len(out.frame)} rows")
    _check_announced(feed, names, expected_rows, out.records)
    return out


# The checks a delivery passes whether it is parsed whole (``parse_files``) or piece by piece (``stream_records``).

def _check_size(feed: Feed, name: str, size: int) -> None:
    if size > feed.limits.max_file_mb * (1 << 20):
        raise FeedError(feed.feed_id, name, f"{size / (1 << 20):.0f} MB, more than the feed's limit limits.max_file_mb={feed.limits.max_file_mb:g}")


def _named(feed: Feed, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its header names cleaned (spaces, a BOM) and aliases renamed; refused when a required column is missing."""
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame = apply_aliases(feed, frame)
    missing = [c for c in feed.required_sources if c not in frame.columns]
    if missing:
        raise FeedError(feed.feed_id, name, f"missing required column(s) {missing}; found {list(frame.columns)[:20]}")
    return frame


def _over_rows(feed: Feed, name: str, rows: str):
    raise FeedError(feed.feed_id, name, f"{rows}, more than the feed's limit limits.max_rows={feed.limits.max_rows}")


def _check_announced(feed: Feed, name: str, expected: int | None, records: int) -> None:
    """A manifest's or marker's count against the records read (parsed + rejected as rows)."""
    if expected is not None and expected != records:
        raise FeedError(feed.feed_id, name, f"the delivery announces {expected} rows and holds {records} "
                        "(parsed + rejected); incomplete or truncated delivery, deliver it again")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, blanks missing (what ``records.parquet`` holds)."""
    return _blank_to_na(frame.astype("string"))


def _blank_to_na(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame.replace({"": pd.NA})`` for a frame of ``string`` columns; skips the copy when no value is blank.

    The pyarrow CSV read already gives blanks as missing, so usually no value is ``""``:
    finding that out is one comparison per column instead of pandas' replace.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for i in range(frame.shape[1]):
        values = frame.iloc[:, i].array
        if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
            return frame.replace({"": pd.NA})
        arrow = values.__arrow_array__()
        if not (pa.types.is_large_string(arrow.type) or pa.types.is_string(arrow.type)) or pc.any(pc.equal(arrow, "")).as_py():
            return frame.replace({"": pd.NA})
    return frame


def files_name(files: list[RawFile]) -> list[str]:
    return [f.name for f in files]


def read_raw_files(part: Path) -> list[RawFile]:
    sidecar = read_sidecar(part)
    return [RawFile(f["name"], (part / f["name"]).read_bytes()) for f in sidecar["files"]]


def land_records(feed: Feed, day: dt.date) -> dict:
    """Parse a landed partition into ``records.parquet`` (and ``rejects.parquet``); return the updated sidecar.

    The sidecar's ``accounting`` says, per file, how many physical rows were parsed,
    rejected as rows (quarantined by validation under their landing rule) and set aside
    with a reason; a refused delivery leaves no records behind.
    """
    final = partition_dir(feed.feed_id, day)
    pending = pending_dir(feed.feed_id, day)
    part = pending if (pending / SIDECAR).exists() else final
    if not (part / SIDECAR).exists():
        raise FeedError(feed.feed_id, str(final), "no landed raw partition (run extract first)")
    sidecar = read_sidecar(part)
    try:
        landed = _land_streamed(feed, part, sidecar) if _streamable(feed, sidecar) else None
        if landed is None:
            parsed = parse_files(feed, read_raw_files(part), expected_rows=sidecar.get("expected_rows"))
            _, watermark = _write_records(feed, part / RECORDS, [parsed.frame.assign(**{ROW: parsed.rows})])
            _write_atomic(part / REJECTS, accounting.rejects_frame(parsed.rejects))
            landed = _Landed(list(parsed.frame.columns), parsed.files, parsed.records, watermark)
    except FeedError as exc:
        log.error("%s", exc.detail)
        if part == pending:  # the new delivery is kept aside; the day's accepted partition stays as it was
            sidecar["refused"] = exc.detail
            write_atomic(pending / SIDECAR, json.dumps(sidecar, ensure_ascii=False, indent=1))
            target = refused_dir(feed.feed_id, day) / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            target.parent.mkdir(parents=True, exist_ok=True)
            pending.rename(target)
            exc.add_note(f"refused delivery kept in {target}")
        raise
    drift = unmapped_columns(feed, landed.columns)
    if drift:
        log.warning("feed %s %s: unmapped column(s) %s kept in raw (schema drift: map them or add aliases)", feed.feed_id, day, drift)
    # The newest update time this run saw: where the next incremental window starts.
    sidecar.update(rows=landed.records, columns=landed.columns, unmapped_columns=drift,
                   accounting=accounting.totals(landed.files), watermark=landed.watermark)
    write_atomic(part / SIDECAR, json.dumps(sidecar, ensure_ascii=False, indent=1))
    if part == pending:
        _keep_previous(final, pending)  # the accepted delivery it replaces stays verifiable
        _replace_dir(pending, final)
    for c in landed.files:
        log.info("feed %s %s: %s: %d physical rows = %d parsed + %d rejected + %d set aside %s%s", feed.feed_id, day, c.name,
                 c.physical, c.parsed, c.rejected, c.set_aside_total, c.set_aside, f" ({'; '.join(c.notes)})" if c.notes else "")
    return sidecar


@dataclass
class _Landed:
    columns: list[str]
    files: list[accounting.FileCount]
    records: int  # parsed + rejected as rows
    watermark: str | None


def _watermark(feed: Feed, frame: pd.DataFrame, earlier: str | None = None) -> str | None:
    """The newest ``updated_at`` value in ``frame`` (text, as delivered), or ``earlier`` when that is newer."""
    updated = next((c.source for c in feed.columns if c.name == "updated_at"), None)
    newest = frame[updated].dropna().max() if updated in frame.columns and len(frame) else None
    newest = None if newest is None or newest is pd.NA or (isinstance(newest, float) and np.isnan(newest)) else str(newest)
    return max((w for w in (earlier, newest) if w is not None), default=None)


# The parsers that can also read a file piece by piece, with the result of a whole read (``stream_records``).
STREAMERS = {"csv": stream_csv, "jsonl": stream_jsonl}


PAGE_BATCH_RECORDS = 100_000  # API pages: records.parquet is written this many records (whole pages) at a time


def _streamable(feed: Feed, sidecar: dict) -> bool:
    """Landed piece by piece in bounded memory: one file of a format read in pieces (a dropped CSV, a
    database extract's JSON lines), or API pages (a page at a time)."""
    parser = get_kind(feed.delivery.kind).parser(feed)
    return (parser in STREAMERS and len(sidecar["files"]) == 1) or (parser == "api_pages" and bool(sidecar["files"]))


def stream_pages(feed: Feed, part: Path, names: list[str]):
    """``parse_files`` of a delivery's API pages, read one page at a time: yields record frames (agency names,
    text, ``ROW``) of about ``PAGE_BATCH_RECORDS`` records and returns ``(page counts, rejects)`` at the end.

    The same checks and refusals as ``parse_files`` (each page, the announced total, header names and
    required columns, the row limit). Raises ``Unstreamable`` when a page has a field no page before it
    had (a whole read's columns would differ).
    """
    label = ", ".join(names)
    for name in names:
        _check_size(feed, name, (part / name).stat().st_size)
    counts, rejects, columns, frames, numbers, held, rows = [], [], None, [], [], 0, 0

    def batch() -> pd.DataFrame:
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return _as_text(_named(feed, label, frame)).assign(**{ROW: np.concatenate(numbers)})

    for parsed in iter_pages(feed, ((name, (part / name).read_bytes()) for name in names)):
        accounting.check(feed.feed_id, parsed)
        counts.append(parsed.count)
        rejects.extend(parsed.rejects)
        frame = parsed.frame
        if not (len(frame.columns) or len(frame)):
            continue
        if columns is None:
            columns = list(frame.columns)
        elif list(frame.columns) != columns:
            if not set(columns).issuperset(frame.columns):
                raise Unstreamable("a page has a field no page before it had")
            frame = frame.reindex(columns=columns)
        rows += len(frame)
        if rows > feed.limits.max_rows:
            _over_rows(feed, label, f"more than {feed.limits.max_rows} rows")
        frames.append(frame)
        numbers.append(parsed.rows)
        held += len(frame)
        if held >= PAGE_BATCH_RECORDS:
            yield batch()
            frames, numbers, held = [], [], 0
    if frames:
        yield batch()
    return counts, rejects


def stream_records(feed: Feed, name: str, path: Path, piece_bytes: int | None = None, parser: str = "csv"):
    """``parse_files`` of one file (CSV, or JSON lines with ``parser="jsonl"``), piece by piece: yields each
    piece's records (the frame, agency names, text, ``ROW`` = physical row) and returns ``(file count, rejects)``
    at the end (``StopIteration.value``).

    The same checks and refusals as ``parse_files``, through the same functions (size, header names
    and required columns, row limit, accounting), taken as the pieces come and on the totals at the end. Raises ``Unstreamable`` for a file that
    must be read whole.
    """
    _check_size(feed, name, path.stat().st_size)
    count, rejects, rows = accounting.FileCount(name), [], 0
    # JSON lines: a quarter of a CSV piece (a record as a Python dict costs several times its bytes).
    default = PIECE_BYTES if parser == "csv" else PIECE_BYTES // 4
    for piece in STREAMERS[parser](feed, name, path, piece_bytes or default):
        frame = _named(feed, name, piece.frame)  # every piece has the first one's columns (stream_csv, stream_jsonl)
        rows += len(frame)
        if rows > feed.limits.max_rows:
            _over_rows(feed, name, f"more than {feed.limits.max_rows} rows")
        count.physical += piece.count.physical
        for reason, n in piece.count.set_aside.items():
            count.aside(reason, n)
        count.notes.extend(piece.count.notes)
        rejects.extend(piece.rejects)
        yield _as_text(frame).assign(**{ROW: piece.rows})
    accounting.check(feed.feed_id, accounting.ParsedFile(pd.DataFrame(index=range(rows)), np.empty(rows), count, rejects))
    return count, rejects


def _land_streamed(feed: Feed, part: Path, sidecar: dict) -> _Landed | None:
    """Write ``records.parquet`` piece by piece from the partition's one file, or page by page from its
    API pages (None: read it whole)."""
    names = [f["name"] for f in sidecar["files"]]
    name = ", ".join(names)
    parser = get_kind(feed.delivery.kind).parser(feed)
    done: dict = {}

    def announced(records: int) -> None:  # checked before records.parquet is put in place
        _check_announced(feed, name, sidecar.get("expected_rows"), records + len(done["value"][1]))

    pieces = stream_pages(feed, part, names) if parser == "api_pages" else stream_records(feed, name, part / name, parser=parser)
    try:
        written = _write_records(feed, part / RECORDS, _returning(pieces, done), check=announced)
    except Unstreamable as why:
        log.info("feed %s: %s read whole (%s)", feed.feed_id, name, why)
        return None
    if written is None:  # no piece at all (a file without a header, pages without a record): read whole
        return None
    (records, columns), watermark = written
    counts, rejects = done["value"]
    _write_atomic(part / REJECTS, accounting.rejects_frame(rejects))
    if parser != "api_pages":  # one file: its count is summed over the pieces
        counts.parsed, counts.rejected = records, len(rejects)
        counts = [counts]
    return _Landed(columns, counts, records + len(rejects), watermark)


def _returning(generator, into: dict):
    """``generator``'s items; its return value goes to ``into["value"]`` once it is exhausted."""
    into["value"] = yield from generator


def _write_records(feed: Feed, path: Path, frames, check=None):
    """Write record frames (each with ``ROW``) as one parquet file, one row group or more per frame, put in
    place atomically once ``check(records)`` passes; ((records, columns), watermark), or None without a frame.

    Both ways a delivery is landed (streamed piece by piece, or parsed whole) write through here.
    No column statistics are written: nothing filters ``records.parquet`` by them, and for text
    columns they cost about a quarter of the write.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = temporary_name(path)
    writer, records, watermark, columns = None, 0, None, None
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                columns = [c for c in frame.columns if c != ROW]
                writer = pq.ParquetWriter(tmp, table.schema, write_statistics=False)
            writer.write_table(table.cast(writer.schema, safe=False) if not table.schema.equals(writer.schema, check_metadata=False) else table)
            records += len(frame)
            watermark = _watermark(feed, frame, watermark)
        if writer is None:
            return None
        writer.close()
        writer = None
        if check is not None:
            check(records)
        tmp.replace(path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return (records, columns), watermark


def _write_atomic(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_records(part: Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """A landed partition's records (agency names, text), the physical row of each, and the rows rejected at landing."""
    records = pd.read_parquet(part / RECORDS)
    rows = records.pop(ROW).to_numpy(dtype=np.int64) if ROW in records.columns else np.arange(1, len(records) + 1, dtype=np.int64)
    rejects = pd.read_parquet(part / REJECTS) if (part / REJECTS).exists() else accounting.rejects_frame([])
    return records, rows, rejects
