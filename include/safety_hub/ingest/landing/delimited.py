"""CSV deliveries, read line by line with every physical line accounted for.

A delivered CSV is decoded (UTF-8, else GB18030/GBK, with truncation told apart
from a wrong encoding), its header found among the first lines (title lines above
it are set aside), and its body read by pyarrow. Unless the feed declares
``multiline_values``, one physical line is one record: a line with an unmatched
quote character (an odd number of ``"``) would swallow its neighbours into one
value, so it is taken out before parsing and quarantined as ``row.shape`` with its
raw text, like a line whose field count differs from the header's. Blank lines
are set aside anywhere, note lines (填报人/审核人/注...) only below the data. A file
whose last line is incomplete and lacks its final newline is refused as truncated.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.accounting import FileCount, ParsedFile, Reject
from safety_hub.config.registry import Feed

HEADER_SEARCH_LINES = 30
# A note row below the data starts like one of these (注：…, 填报人：…).
NOTE = re.compile(r"^(?:(?:注|备注|说明|填表说明)\s*[：:0-9０-９一二三]|(?:填报人|填报单位|填表人|审核人|制表人|制表单位|单位负责人|负责人|联系电话|联系人|填报日期|报送日期))")
_CHUNK = 64 << 20
PIECE_BYTES = 32 << 20  # stream_csv: a file is parsed this many bytes of whole lines at a time


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _truncated(exc: UnicodeDecodeError, size: int) -> bool:
    """A decode error that only says the bytes stop inside a character."""
    return exc.end >= size and exc.reason in ("unexpected end of data", "incomplete multibyte sequence")


def _decode_error(data: bytes, encoding: str) -> UnicodeDecodeError | None:
    """The first decode error of ``data`` in ``encoding``, read in chunks (no whole-file copy)."""
    return _first_decode_error((data[pos : pos + _CHUNK] for pos in range(0, len(data), _CHUNK)), encoding)


def _first_decode_error(blocks: Iterable[bytes], encoding: str) -> UnicodeDecodeError | None:
    """The first decode error of the bytes ``blocks`` hold, one after the other, in ``encoding``; its
    positions are offsets in all of them (a file's bytes: ``_utf8_state``, or one buffer's: ``_decode_error``)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pos = 0
    try:
        for block in blocks:
            decoder.decode(block)
            pos += len(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # Positions are relative to the block (and any bytes the decoder held back from the one before).
        held = len(decoder.getstate()[0]) if hasattr(decoder, "getstate") else 0
        exc.start += pos - held
        exc.end += pos - held
        return exc
    return None


def to_utf8(feed: Feed, name: str, data: bytes) -> bytes:
    """The file's text as UTF-8 bytes without a BOM; refused with the right byte and line when it is not text."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) >= 4 and data[1:4:2] == b"\x00\x00" and data[0:1] != b"\x00"):
        raise FeedError(feed.feed_id, name, "UTF-16 text: save the file as UTF-8 or GBK and deliver it again")
    encoding = getattr(feed.delivery, "encoding", "auto")
    utf8_error = None
    if encoding in ("auto", "utf-8", "utf-8-sig"):
        body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        utf8_error = _decode_error(body, "utf-8")
        if utf8_error is None:
            return body
        if _truncated(utf8_error, len(body)):
            raise FeedError(feed.feed_id, name, f"truncated: the file ends inside a UTF-8 character at byte {len(data)} "
                            f"(line {_line_of(data, len(data))}); the upload was cut off, deliver the whole file again")
        if encoding != "auto":
            start = utf8_error.start + len(data) - len(body)
            raise FeedError(feed.feed_id, name, f"not valid {encoding} text at byte {start} (line {_line_of(data, start)}); "
                            "save the file in the feed's encoding and deliver it again")
    legacy = "gb18030" if encoding == "auto" else encoding
    try:
        return data.decode(legacy).encode("utf-8")
    except UnicodeDecodeError as exc:
        if _truncated(exc, len(data)):  # every byte decodes but the last character's: GBK text cut off
            raise FeedError(feed.feed_id, name, f"truncated: the file ends inside a {legacy.upper()} character at byte {len(data)} "
                            f"(line {_line_of(data, len(data))}); the upload was cut off, deliver the whole file again") from None
        where = f"GB18030/GBK fails at byte {exc.start} (line {_line_of(data, exc.start)})"
        if utf8_error is not None:
            start = utf8_error.start + len(data) - len(body)
            where = f"UTF-8 fails at byte {start} (line {_line_of(data, start)}), " + where
        raise FeedError(feed.feed_id, name, f"not text in UTF-8 or GBK: {where}; save the file as UTF-8 or GBK and deliver it again") from None


def _find_header(feed: Feed, name: str, data: bytes) -> tuple[int, list[str], int]:
    """(line index of the header, its names, byte offset where the body starts)."""
    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    offsets, pos = [], 0
    for _ in range(HEADER_SEARCH_LINES):
        offsets.append(pos)
        nl = data.find(b"\n", pos)
        if nl < 0:
            offsets.append(len(data))
            break
        pos = nl + 1
        if pos >= len(data):
            offsets.append(pos)
            break
    else:
        offsets.append(pos)
    best, best_score = -1, 0
    for i in range(len(offsets) - 1):
        line = data[offsets[i] : offsets[i + 1]].decode("utf-8").rstrip("\r\n")
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            continue
        score = len(expected & {c.strip() for c in cells})
        if score > best_score:
            best, best_score = i, score
    if best < 0:
        first = data[: offsets[1] if len(offsets) > 1 else 80].decode("utf-8", "replace").strip()[:80]
        raise FeedError(feed.feed_id, name, f"no header row naming the feed's columns in the first {HEADER_SEARCH_LINES} lines "
                        f"(line 1 reads {first!r}); check the file is this feed's")
    line = data[offsets[best] : offsets[best + 1]].decode("utf-8").rstrip("\r\n")
    names = [c.strip() for c in next(csv.reader([line]))]
    return best, names, offsets[best + 1]


def _check_names(feed: Feed, name: str, names: list[str], line: int, *, where: str | None = None, label=str) -> list[str]:
    """The header's names, a blank one as ``_列<n>``; refused when a name repeats or there are too many.

    ``where`` names the header's place (default ``header line <line>``), ``label`` a column (a number, or a letter in Excel).
    """
    where = where or f"header line {line}"
    seen: dict[str, int] = {}
    for i, n in enumerate(names, start=1):
        if n and n in seen:
            raise FeedError(feed.feed_id, name, f"{where}: column {n!r} appears twice (columns {label(seen[n])} and {label(i)}); "
                            "rename or remove one and deliver the file again")
        seen.setdefault(n, i)
    if len(names) > feed.limits.max_columns:
        raise FeedError(feed.feed_id, name, f"{where}: {len(names)} columns, more than the feed's limit "
                        f"limits.max_columns={feed.limits.max_columns}")
    return [n or f"_列{i}" for i, n in enumerate(names, start=1)]


def _odd_quote_lines(body: bytes) -> np.ndarray:
    """0-based indices of the body's lines holding an odd number of quote characters
    (the parity of each line's quotes, one ``bitwise_xor.reduceat`` per chunk of whole lines)."""
    if b'"' not in body:
        return np.empty(0, dtype=np.int64)
    found, line_base = [], 0
    arr = np.frombuffer(body, dtype=np.uint8)
    start = 0
    while start < len(arr):
        end = min(len(arr), start + _CHUNK)
        if end < len(arr):  # cut after a newline, so lines are whole
            nl = body.rfind(b"\n", start, end)
            end = nl + 1 if nl >= start else len(arr)
        chunk = arr[start:end]
        newlines = np.flatnonzero(chunk == 10)
        starts = np.concatenate(([0], newlines + 1))
        if starts[-1] >= len(chunk):  # the chunk ends with a newline: no line starts there
            starts = starts[:-1]
        parity = np.bitwise_xor.reduceat((chunk == 34).view(np.uint8), starts)
        found.append(np.flatnonzero(parity) + line_base)
        line_base += len(newlines)
        start = end
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _set_apart(body: bytes, drop: np.ndarray) -> tuple[bytes, dict[int, str]]:
    """``body`` without the given 0-based lines, and the text of each line taken out (one scan for line starts)."""
    if not len(drop):
        return body, {}
    arr = np.frombuffer(body, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(arr == 10) + 1))
    keep, texts, pos = [], {}, 0
    for line in drop.tolist():
        begin = int(starts[line])
        end = int(starts[line + 1]) if line + 1 < len(starts) else len(body)
        texts[line] = body[begin:end].decode("utf-8", "replace").rstrip("\r\n")
        keep.append(body[pos:begin])
        pos = end
    keep.append(body[pos:])
    return b"".join(keep), texts


def _read_body(body: bytes, ncols: int, multiline: bool, threads: bool):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    invalid: list[tuple[int | None, str]] = []

    def handler(row):
        invalid.append((row.number, row.text))
        return "skip"

    names = [f"c{i}" for i in range(ncols)]
    if not body:  # a header and no rows: pyarrow refuses an empty input
        return pa.table({n: pa.array([], pa.large_string()) for n in names}), invalid
    table = pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(use_threads=threads, column_names=names, block_size=1 << 22),
        parse_options=pcsv.ParseOptions(newlines_in_values=multiline, ignore_empty_lines=False, invalid_row_handler=handler),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.large_string() for n in names}, null_values=[""],
                                            strings_can_be_null=True, quoted_strings_can_be_null=True),
    )
    return table, invalid


def _read_or_none(body: bytes, ncols: int, multiline: bool, threads: bool, checked: bool):
    """``_read_body``, or (None, []) when pyarrow cannot read it (a quote left open across its blocks)."""
    import pyarrow as pa

    try:
        return _read_body(body, ncols, multiline, threads)
    except pa.ArrowInvalid as exc:
        if not checked and ("UTF8" in str(exc) or "\ufffd" in str(exc)):
            raise _NotUtf8 from None  # bytes that are not UTF-8 (pyarrow may hit them as a broken row first)
        return None, []


def _blank_text(text: str) -> bool:
    return not text.replace(",", "").replace('"', "").strip()


def _is_note(cells: list) -> bool:
    """A row whose first value is a note (注：…, 填报人：…); checked only below the data."""
    present = [c.strip().strip('"').strip() for c in cells if c is not None and c.strip().strip('"').strip()]
    return bool(present) and NOTE.match(present[0]) is not None


class _NotUtf8(Exception):
    """The bytes read optimistically as UTF-8 are not: decode them properly (``to_utf8``) and read again."""


def parse_csv(feed: Feed, name: str, content: bytes) -> ParsedFile:
    """One CSV file -> its records, the physical line of each, the lines rejected as rows and those set aside.

    UTF-8 is read as it is (pyarrow checks every value; the header is decoded here);
    anything else goes through ``to_utf8``, which names the failing byte and line.
    """
    if getattr(feed.delivery, "encoding", "auto") in ("auto", "utf-8", "utf-8-sig") and b"\x00" not in content[:4]:
        try:
            return _parse_text(feed, name, content[3:] if content.startswith(codecs.BOM_UTF8) else content, checked=False)
        except _NotUtf8:
            pass
    return _parse_text(feed, name, to_utf8(feed, name, content), checked=True)


@dataclass
class _Piece:
    """A run of whole lines of a CSV file parsed on its own (``stream_csv``)."""

    index: int  # 0: the file's first piece, which holds its title and header lines
    last: bool  # the file's last piece: its trailer (notes, blanks) and final newline are checked
    line_base: int = 0  # physical lines of the file before this piece
    names: list[str] | None = None  # the header's names (every piece after the first)


def _parse_text(feed: Feed, name: str, data: bytes, checked: bool, piece: _Piece | None = None) -> ParsedFile:
    """``data`` (UTF-8) -> records; the whole file, or one ``piece`` of it (lines numbered in the file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # old Mac line ends: one rule for every line
    final_newline = data.endswith(b"\n")
    physical = data.count(b"\n") + (0 if final_newline or not data else 1)
    count = FileCount(name, physical=physical)
    if physical > feed.limits.max_rows + HEADER_SEARCH_LINES:
        raise FeedError(feed.feed_id, name, f"{physical} lines, more than the feed's limit limits.max_rows={feed.limits.max_rows}")
    if piece is not None and piece.index > 0:  # the header was read from the first piece
        names, base, body, body_lines = piece.names, piece.line_base + 1, data, physical
    else:
        if len(data) < 65536 and not data.strip():
            raise FeedError(feed.feed_id, name, "empty file: no header and no rows")
        try:
            header_line, raw_names, body_start = _find_header(feed, name, data)
        except UnicodeDecodeError:
            if checked:
                raise
            raise _NotUtf8 from None
        names = _check_names(feed, name, raw_names, header_line + 1)
        if piece is not None:
            piece.names = names  # for the pieces after this one
        count.aside("title", header_line)
        count.aside("header")
        base = header_line + 2  # physical line of the body's first line
        body = data[body_start:]
        body_lines = physical - header_line - 1
    trailer = piece is None or piece.last
    multiline = getattr(feed.delivery, "multiline_values", False)

    threads = len(body) > (8 << 20)
    # Without multi-line values every line with an odd number of quotes is set apart, whatever the
    # rest of the file holds (an open quote would swallow the following lines into one value).
    odd = np.empty(0, dtype=np.int64) if multiline else _odd_quote_lines(body)
    table, invalid = (None, []) if len(odd) else _read_or_none(body, len(names), multiline, threads, checked)
    # Without multi-line values every body line is one table row or one invalid row.
    if not multiline and table is not None and table.num_rows + len(invalid) != body_lines:
        table = None
    parsed_body, line_of = _set_apart(body, odd)  # line_of: removed line -> raw text
    if table is None or (invalid and any(n is None for n, _ in invalid)):  # single-threaded, pyarrow numbers the lines
        table, invalid = _read_or_none(parsed_body, len(names), multiline, False, checked)
        if table is None:  # text pyarrow cannot parse even line by line: say where, in one line
            raise FeedError(feed.feed_id, name, "unreadable CSV: a quoted value is never closed or a line cannot be split into "
                            "fields; check the file's quoting and deliver it again")

    # Physical line (0-based in the body) of each table row and each invalid row.
    kept = np.delete(np.arange(body_lines, dtype=np.int64), odd) if len(odd) else None
    bad2 = np.asarray(sorted(n - 1 for n, _ in invalid), dtype=np.int64)
    n2 = table.num_rows + len(invalid)
    if multiline:
        newlines = np.zeros(table.num_rows, dtype=np.int64)
        for col in table.columns:
            newlines += pc.fill_null(pc.count_substring(col, "\n"), 0).to_numpy(zero_copy_only=False)
        starts = np.arange(table.num_rows, dtype=np.int64) + np.concatenate(([0], np.cumsum(newlines)[:-1]))
        if len(invalid):
            raise FeedError(feed.feed_id, name, f"line {base + bad2[0]}: a record's field count differs from the header's "
                            f"({len(invalid)} such records); a file with multi-line values must be regular")
        table_lines = starts
        physical_rows = int(newlines.sum()) + table.num_rows
    else:
        mask = np.ones(n2, dtype=bool)
        mask[bad2] = False
        table_lines = np.flatnonzero(mask)
        physical_rows = n2
    if kept is not None:
        table_lines = kept[table_lines]
        bad_lines = kept[bad2]
    else:
        bad_lines = bad2
    invalid_lines = {int(line): text for line, (_, text) in zip(bad_lines.tolist(), sorted(invalid, key=lambda x: x[0]))}
    if physical_rows + len(odd) != body_lines:
        raise FeedError(feed.feed_id, name, f"rows do not reconcile: {body_lines} lines below the header, "
                        f"{physical_rows} read and {len(odd)} set apart; nothing was landed")

    # Blank table rows (every value missing or spaces) are set aside anywhere.
    blank = _blank_rows(table)
    # Trailer: from the last line up, blank and note lines are set aside until the first data line.
    status: dict[int, str] = {}  # removed or invalid body line -> "blank" | "note"
    trailer_rows = []  # table rows that are notes
    for line in range(body_lines - 1 if trailer else -1, -1, -1):  # only the file's last lines are a trailer
        if line in invalid_lines or line in line_of:
            text = invalid_lines.get(line, line_of.get(line, ""))
            if _blank_text(text):
                status[line] = "blank"
            elif _is_note(text.split(",")):
                status[line] = "note"
            else:
                break
        else:
            j = int(np.searchsorted(table_lines, line))
            if blank[j]:
                continue
            if _is_note([table.column(i)[j].as_py() for i in range(table.num_columns)]):
                trailer_rows.append(j)
            else:
                break
    rejects = []
    for line in sorted(set(line_of) | set(invalid_lines)):
        text = invalid_lines.get(line, line_of.get(line, ""))
        if line in status:
            count.aside(status[line])
        elif _blank_text(text):
            count.aside("blank")
        else:
            why = "unmatched quote character" if line in line_of else f"{_fields(text)} field(s), the header has {len(names)}"
            rejects.append(Reject(name, base + line, "row.shape", why, text[: feed.limits.max_field_chars]))
    if not final_newline and physical and body_lines and (body_lines - 1) in {r.row - base for r in rejects}:
        raise FeedError(feed.feed_id, name, f"truncated: the file ends inside line {(piece.line_base if piece else 0) + physical} (no final newline, "
                        "the last record is incomplete); the upload was cut off, deliver the whole file again")
    if not final_newline:
        count.notes.append("no final newline")

    drop = blank.copy()
    drop[trailer_rows] = True
    count.aside("blank", int(blank.sum()))
    count.aside("note", len(trailer_rows))
    if drop.any():
        table = table.filter(pa.array(~drop))
        table_lines = table_lines[~drop]
    _check_field_size(feed, name, table, names, base + table_lines)
    text = pd.StringDtype("pyarrow", na_value=np.nan)
    frame = table.rename_columns(names).to_pandas(types_mapper=lambda t: text if t in (pa.string(), pa.large_string()) else None)
    blank_named = [n for n in names if n.startswith("_列") and frame[n].isna().all()]
    if blank_named:  # a trailing delimiter on every line: an empty column without a name
        frame = frame.drop(columns=blank_named)
    return ParsedFile(frame, (base + table_lines).astype(np.int64), count, rejects)


def _fields(text: str) -> int:
    try:
        return len(next(csv.reader([text]), []))
    except csv.Error:
        return text.count(",") + 1


def _blank_rows(table) -> np.ndarray:
    """Rows whose every value is missing or only spaces."""
    import pyarrow.compute as pc

    n = table.num_rows
    if n == 0 or table.num_columns == 0:
        return np.zeros(n, dtype=bool)
    candidate = np.ones(n, dtype=bool)
    for col in table.columns:
        empty = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), "")).to_numpy(zero_copy_only=False)
        candidate &= np.asarray(empty, dtype=bool)
        if not candidate.any():
            break
    return candidate


def _check_field_size(feed: Feed, name: str, table, names: list[str], lines: np.ndarray) -> None:
    import pyarrow.compute as pc

    limit = feed.limits.max_field_chars
    for i, col in enumerate(table.columns):
        if (pc.max(pc.binary_length(col)).as_py() or 0) <= limit:  # bytes bound characters
            continue
        longest = pc.max(pc.utf8_length(col)).as_py()
        if longest is not None and longest > limit:
            j = int(np.argmax(pc.fill_null(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)))
            raise FeedError(feed.feed_id, name, f"line {int(lines[j])}: column {names[i]!r} holds {longest} characters, more than "
                            f"the feed's limit limits.max_field_chars={limit}")


class Unstreamable(Exception):
    """``stream_csv`` cannot read this file piece by piece (multi-line values, a file that is not
    UTF-8 or GB18030 throughout, pieces that disagree on columns): read it whole with ``parse_csv``."""


def _raw_pieces(path: Path, size: int) -> Iterator[tuple[bytes, bool]]:
    """(whole lines of about ``size`` bytes, whether it is the file's last piece). The first piece
    holds at least the lines the header is searched in.

    Each piece is read once, straight into its own buffer (``os.pread`` of the bytes between two
    line ends found beforehand: a small look-ahead read at the piece's end), so no byte is copied
    again to join a piece's lines, and the last piece is known without reading ahead.
    """
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        total = os.fstat(fd).st_size
        if total == 0:
            yield b"", True
            return
        pos = 0
        end = _line_end_after(fd, total, 0, HEADER_SEARCH_LINES + 1)  # the header search's lines, whole
        while pos < total:
            end = max(end, _line_end_after(fd, total, pos + size - 1, 1))
            yield _pread(fd, pos, end - pos), end >= total
            pos = end


def _line_end_after(fd: int, total: int, offset: int, lines: int) -> int:
    """The offset just after the ``lines``-th newline at or after ``offset`` (the file's end if there are fewer)."""
    window = 1 << 16
    while offset < total:
        block = os.pread(fd, window, offset)
        if not block:
            break
        start = 0
        while lines and (nl := block.find(b"\n", start)) >= 0:
            lines -= 1
            start = nl + 1
        if not lines:
            return offset + start
        offset += len(block)
        window = min(window * 4, 1 << 24)  # a very long line: look further at a time
    return total


def _pread(fd: int, offset: int, n: int) -> bytes:
    data = os.pread(fd, n, offset)
    if len(data) < n:  # a short read (never seen for a regular file): complete it
        parts = [data]
        while n > (got := sum(map(len, parts))):
            more = os.pread(fd, n - got, offset + got)
            if not more:
                raise OSError(f"{n - got} bytes missing at offset {offset + got}: the file shrank while it was read")
            parts.append(more)
        data = b"".join(parts)
    return data


def _utf8_state(path: Path) -> str:
    """"ok", "truncated" (every byte decodes but the file ends inside a character) or "invalid": the file as UTF-8."""
    def blocks():
        with open(path, "rb") as fh:
            while block := fh.read(_CHUNK):
                yield block

    error = _first_decode_error(blocks(), "utf-8")
    if error is None:
        return "ok"
    return "truncated" if _truncated(error, path.stat().st_size) else "invalid"


def _trailer_candidate(line: bytes) -> bool:
    """A line that could belong to a file's trailer (blank, or a note): never less than ``_parse_text`` sets aside there."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    return _blank_text(text) or NOTE.match(text.lstrip(' ,"\t\u3000')) is not None


def _split_trailer(data: bytes) -> tuple[bytes, bytes]:
    """``data`` (whole lines) = lines + the run of trailer candidates at its end."""
    end = len(data)
    while end:
        start = data.rfind(b"\n", 0, end - 1) + 1
        if not _trailer_candidate(data[start:end]):
            break
        end = start
    return data[:end], data[end:]


def stream_csv(feed: Feed, name: str, path: Path, piece_bytes: int = PIECE_BYTES) -> Iterator[ParsedFile]:
    """A CSV file parsed ``piece_bytes`` of whole lines at a time: one ``ParsedFile`` per piece, rows
    numbered in the file; together the same records, rejects and accounting as ``parse_csv`` of the
    whole file. Memory is bounded by the piece, not the file.

    Lines at a piece's end that could be the file's trailer (blank, notes) are carried into the next
    piece, so only the file's last piece decides its trailer, as a whole read would. Raises
    ``Unstreamable`` (before the first piece, or at the piece where it finds out: the caller discards
    what it has) when the file must be read whole: multi-line values, UTF-16, bytes that are not
    UTF-8 or GB18030 (``parse_csv`` then names the byte and line), pieces that disagree on columns.
    Other refusals are ``parse_csv``'s own ``FeedError``.
    """
    if getattr(feed.delivery, "multiline_values", False):
        raise Unstreamable("multi-line values")
    encoding = getattr(feed.delivery, "encoding", "auto")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        raise Unstreamable("UTF-16 or binary")
    if encoding not in ("auto", "utf-8", "utf-8-sig"):
        yield from _pieces(feed, name, path, piece_bytes, encoding, checked=True)
        return
    # Read as UTF-8 as it is (pyarrow checks every value, the header is decoded strictly); a file
    # that is not shows it in its first piece (its header is Chinese) and is read again as it is.
    pieces = _pieces(feed, name, path, piece_bytes, None, checked=False)
    try:
        first = next(pieces)
    except _NotUtf8:
        state = _utf8_state(path)
        if state == "invalid" and encoding == "auto":
            pieces = _pieces(feed, name, path, piece_bytes, "gb18030", checked=True)
        elif state == "ok":
            pieces = _pieces(feed, name, path, piece_bytes, None, checked=True)
        else:
            raise Unstreamable(f"UTF-8 {state}") from None
        first = next(pieces)
    yield first
    try:
        yield from pieces
    except _NotUtf8:
        raise Unstreamable("bytes that are not UTF-8 after the first piece") from None


def _pieces(feed: Feed, name: str, path: Path, piece_bytes: int, legacy: str | None, checked: bool) -> Iterator[ParsedFile]:
    """``stream_csv``'s pieces, the bytes decoded from ``legacy`` (None: UTF-8 as it is)."""
    names, columns, line_base, index, carry = None, None, 0, 0, b""
    for raw, last in _raw_pieces(path, piece_bytes):
        if legacy is not None:
            try:
                raw = raw.decode(legacy).encode("utf-8")
            except UnicodeDecodeError:
                raise Unstreamable(f"not {legacy}") from None
        elif index == 0 and not carry and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        raw = carry + raw
        carry = b""
        if not last:
            raw, carry = _split_trailer(raw)
            if not raw:
                continue
        piece = _Piece(index, last, line_base, names)
        try:
            parsed = _parse_text(feed, name, raw, checked=checked, piece=piece)
        except UnicodeDecodeError:
            raise Unstreamable("undecodable header") from None
        if index == 0:
            names, columns = piece.names, list(parsed.frame.columns)
        elif list(parsed.frame.columns) != columns:  # an unnamed column empty in one piece, not in another
            raise Unstreamable("pieces disagree on columns")
        line_base += parsed.count.physical
        index += 1
        yield parsed

