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
import logging
import shutil
import uuid
from pathlib import Path

import pandas as pd

from safety_hub import settings
from safety_hub.errors import FeedError
from safety_hub.extract import Extract, RawFile
from safety_hub.registry import Feed

log = logging.getLogger(__name__)
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


def decode_text(feed: Feed, f: RawFile) -> str:
    """Decode a delivered text file: the feed's encoding, or detected when ``auto``.

    Detection order: UTF-8 (with or without BOM), then GB18030 (a superset of
    GBK and GB2312). Anything else (UTF-16, binary) fails with a clear error.
    """
    encoding = getattr(feed.delivery, "encoding", "auto")
    if b"\x00" in f.content[:4096]:
        raise FeedError(feed.feed_id, f.name, "binary or UTF-16 content, expected a text file (UTF-8 or GBK/GB18030)")
    candidates = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    error: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            return f.content.decode(candidate)
        except UnicodeDecodeError as exc:
            error = exc
    wanted = "UTF-8 or GB18030/GBK" if encoding == "auto" else encoding
    raise FeedError(feed.feed_id, f.name, f"not valid {wanted} text at byte {error.start} (wrong encoding?)")


_CSV_OPTIONS = {"dtype": str, "keep_default_na": False, "na_values": [""]}


class _Chain(io.RawIOBase):
    """Bytes objects read one after the other, without copying them into one."""

    def __init__(self, *parts: bytes):
        self._parts = [memoryview(p) for p in parts]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts:
            part = self._parts[0]
            if self._pos < len(part):
                n = min(len(buffer), len(part) - self._pos)
                buffer[:n] = part[self._pos : self._pos + n]
                self._pos += n
                return n
            self._parts.pop(0)
            self._pos = 0
        return 0


def _read_csv_arrow(data: bytes) -> pd.DataFrame | None:
    """``pd.read_csv(dtype=str, keep_default_na=False, na_values=[""])`` of UTF-8 ``data``, read by pyarrow.

    Every column text, blanks missing, the same frame as pandas gives (several times
    faster, on all cores). None when pyarrow cannot read the file as pandas would:
    invalid UTF-8, ragged rows, no data rows, blank or repeated column names (pandas
    renames those), a single column; the caller then reads it with pandas.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(use_threads=True)
    parse = pcsv.ParseOptions(newlines_in_values=True)
    try:
        names = pcsv.open_csv(pa.BufferReader(data), read_options=read, parse_options=parse).schema.names
        # One column: a line of only spaces/tabs is a value to pyarrow, skipped by pandas
        # (with more columns pyarrow refuses such a line as a short row).
        if len(names) < 2 or len(set(names)) != len(names) or not all(names):
            return None
        convert = pcsv.ConvertOptions(column_types={n: pa.large_string() for n in names}, null_values=[""],
                                      strings_can_be_null=True, quoted_strings_can_be_null=True)
        # A last row of blanks: pandas refuses a file ending inside a quoted value, pyarrow
        # reads to the end; such a file swallows this row into its last value.
        sentinel = b",".join([b'""'] * len(names)) + b"\n"
        table = _read_csv_pieces(data, names, sentinel, parse, convert)
        if table is None:
            end = b"" if data.endswith((b"\n", b"\r")) else b"\n"
            table = pcsv.read_csv(io.BufferedReader(_Chain(data, end + sentinel), 1 << 20), read_options=read, parse_options=parse, convert_options=convert)
            if table.num_rows < 2 or table.column_names != names or _sentinel_swallowed(table):
                return None
            table = table.slice(0, table.num_rows - 1)
    except (pa.ArrowException, UnicodeDecodeError, ValueError):
        return None
    text = pd.StringDtype("pyarrow", na_value=np.nan)  # what read_csv(dtype=str) gives
    return table.to_pandas(types_mapper=lambda t: text if t in (pa.string(), pa.large_string()) else None)


def _sentinel_swallowed(table) -> bool:
    """Whether the last row of ``table`` is not the all-blank sentinel row (a quoted value ran into it)."""
    return any(table.column(i)[-1].is_valid for i in range(table.num_columns))


# From this size on a CSV file is read in pieces, one per core (each piece by one thread).
_CSV_PIECE_BYTES = 16 << 20


def _read_csv_pieces(data: bytes, names: list[str], sentinel: bytes, parse, convert):
    """The table ``read_csv`` gives for ``data`` (header and sentinel row excluded), read in pieces in parallel; None to read it whole.

    pyarrow finds the rows of a file whose values may hold newlines by one serial scan
    (``newlines_in_values``), which bounds the whole read to one core. Here the file is
    cut after a newline into one piece per core, each piece read by its own thread with
    the same options. Each piece ends with the blank sentinel row: a piece is read as
    the whole file would read those bytes only when it starts at a row boundary, and it
    ends at one exactly when its sentinel comes back as a row of its own (a cut inside a
    quoted value swallows it). The first piece starts the file, so by induction every
    piece starts at a row boundary; any piece that does not end at one, fails or reads
    differently (names, no rows) sends the caller back to the whole-file read.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from concurrent.futures import ThreadPoolExecutor

    pieces = min(settings.cores(), len(data) // _CSV_PIECE_BYTES)
    if pieces < 2:
        return None
    view = memoryview(data)
    cuts = [0]
    for k in range(1, pieces):
        nl = data.find(b"\n", max(cuts[-1], len(data) * k // pieces))
        if nl < 0 or nl + 1 >= len(data):
            break
        cuts.append(nl + 1)
    cuts.append(len(data))
    if len(cuts) < 3:
        return None
    end = b"" if data.endswith((b"\n", b"\r")) else b"\n"

    def read_piece(k: int):
        body = view[cuts[k] : cuts[k + 1]]
        options = pcsv.ReadOptions(use_threads=False) if k == 0 else pcsv.ReadOptions(use_threads=False, column_names=names)
        tail = (end if k == len(cuts) - 2 else b"") + sentinel
        table = pcsv.read_csv(io.BufferedReader(_Chain(body, tail), 1 << 20), read_options=options, parse_options=parse, convert_options=convert)
        if table.num_rows < 1 or table.column_names != names or _sentinel_swallowed(table):
            return None
        return table.slice(0, table.num_rows - 1)

    try:
        with ThreadPoolExecutor(max_workers=len(cuts) - 1) as pool:
            tables = list(pool.map(read_piece, range(len(cuts) - 1)))
    except (pa.ArrowException, UnicodeDecodeError, ValueError):
        return None
    if any(t is None for t in tables) or sum(t.num_rows for t in tables) < 1:
        return None
    return pa.concat_tables(tables)


def _parse_csv(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    frames = []
    encoding = getattr(feed.delivery, "encoding", "auto")
    for f in files:
        frame = None
        if encoding in ("auto", "utf-8-sig") and b"\x00" not in f.content[:4096]:
            # Valid UTF-8 (pyarrow checks every value and the header) is what decode_text
            # returns for these encodings: read the bytes as they are.
            frame = _read_csv_arrow(f.content)
        if frame is None:
            text = decode_text(feed, f)
            if not text.startswith("\ufeff"):  # a BOM left in the text stays in pandas' first column name
                frame = _read_csv_arrow(text.encode("utf-8"))
            if frame is None:
                try:
                    frame = pd.read_csv(io.StringIO(text), **_CSV_OPTIONS)
                except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                    raise FeedError(feed.feed_id, f.name, f"unreadable CSV: {exc}") from None
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _parse_xlsx(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    """Workbooks as offices make them: title rows, merged multi-level headers, note rows.

    Merged cells are filled, the header is the row naming most of the feed's
    columns, data runs until the first empty row, and a 序号 column is dropped.
    """
    from openpyxl import load_workbook

    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    frames = []
    for f in files:
        try:
            wb = load_workbook(io.BytesIO(f.content), data_only=True)
        except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
            raise FeedError(feed.feed_id, f.name, f"unreadable Excel workbook: {exc.__class__.__name__}: {exc}") from None
        ws = wb.worksheets[0]
        for merged in list(ws.merged_cells.ranges):
            value = ws.cell(merged.min_row, merged.min_col).value
            ws.unmerge_cells(str(merged))
            for row in ws.iter_rows(min_row=merged.min_row, max_row=merged.max_row, min_col=merged.min_col, max_col=merged.max_col):
                for cell in row:
                    cell.value = value
        rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
        scores = [len(expected & {v for v in r if v}) for r in rows[:30]]
        if not scores or max(scores) == 0:
            raise FeedError(feed.feed_id, f.name, "no header row naming the feed's columns in the first 30 rows")
        h = scores.index(max(scores))
        header = [v or f"_blank_{i}" for i, v in enumerate(rows[h])]
        data = []
        for r in rows[h + 1 :]:
            if all(v is None for v in r):
                break  # notes follow the first empty row
            data.append(r)
        frame = pd.DataFrame(data, columns=header, dtype="string")
        frame = frame.drop(columns=[c for c in frame.columns if c == "序号" or c.startswith("_blank_")])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def apply_aliases(feed: Feed, frame: pd.DataFrame) -> pd.DataFrame:
    """Rename headers an agency used before (``aliases``) to the registry's source name."""
    renames = {}
    for c in feed.columns:
        if c.source not in frame.columns:
            alias = next((a for a in c.aliases if a in frame.columns), None)
            if alias:
                renames[alias] = c.source
    return frame.rename(columns=renames)


def unmapped_columns(feed: Feed, frame: pd.DataFrame) -> list[str]:
    """Delivered columns the registry does not map (kept in raw, reported as drift)."""
    known = {c.source for c in feed.columns}
    return [c for c in frame.columns if c not in known]


def parse_files(feed: Feed, files: list[RawFile]) -> pd.DataFrame:
    """Delivered bytes -> a DataFrame of text columns with the agency's names."""
    kind = feed.delivery.kind
    if kind == "rest_api":
        frame = _parse_json_pages(feed, files)
    elif kind == "sql_extract":
        frame = _parse_jsonl(feed, files)
    elif getattr(feed.delivery, "format", "csv") == "xlsx":
        frame = _parse_xlsx(feed, files)
    else:
        frame = _parse_csv(feed, files)
    if frame.empty and len(frame.columns) == 0:
        frame = pd.DataFrame(columns=[c.source for c in feed.columns])
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    frame = apply_aliases(feed, frame)
    missing = [c for c in feed.required_sources if c not in frame.columns]
    if missing:
        names = ", ".join(files_name(files))
        raise FeedError(feed.feed_id, names, f"missing required column(s) {missing}; found {list(frame.columns)}")
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
    """Parse a landed partition into ``records.parquet``; return the updated sidecar."""
    part = partition_dir(feed.feed_id, day)
    if not (part / SIDECAR).exists():
        raise FeedError(feed.feed_id, str(part), "no landed raw partition (run extract first)")
    frame = parse_files(feed, read_raw_files(part))
    frame.to_parquet(part / RECORDS, index=False)
    sidecar = read_sidecar(part)
    drift = unmapped_columns(feed, frame)
    if drift:
        log.warning("feed %s %s: unmapped column(s) %s kept in raw (schema drift: map them or add aliases)", feed.feed_id, day, drift)
    updated = next((c.source for c in feed.columns if c.name == "updated_at"), None)
    watermark = frame[updated].dropna().max() if updated in frame.columns and len(frame) else None
    # The newest update time this run saw: where the next incremental window starts.
    sidecar.update(rows=len(frame), columns=list(frame.columns), unmapped_columns=drift,
                   watermark=None if watermark is None or watermark is pd.NA else str(watermark))
    (part / SIDECAR).write_text(json.dumps(sidecar, ensure_ascii=False, indent=1), encoding="utf-8")
    return sidecar
