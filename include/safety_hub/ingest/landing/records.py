"""JSON deliveries: REST API pages and database extracts (JSON lines), every record accounted for.

A record's values become text one by one (``_text``: a string as it is, a number or a boolean as
Python writes it, null as missing), never through a column's inferred type, so a record lands as
the same text whichever records it is read with: whole (``parse_jsonl``) or a piece of the file at
a time (``stream_jsonl``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.accounting import FileCount, ParsedFile, Reject
from safety_hub.ingest.landing.delimited import PIECE_BYTES, Unstreamable, _raw_pieces
from safety_hub.config.registry import Feed


def _text(value) -> str | None:
    """A JSON value as text: null (and NaN) missing, a string as it is, anything else as ``str`` writes it."""
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def _frame(records: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """Records -> one text column per field, in the order the fields first appear (or ``columns``)."""
    if not records and columns is None:
        return pd.DataFrame()
    import pyarrow as pa

    if columns is None:
        columns = _fields(records)
    try:  # every value text or null (a database extract's TEXT columns): converted by Arrow in one pass
        batch = pa.RecordBatch.from_pylist(records, schema=pa.schema([(k, pa.large_string()) for k in columns]))
        data = {k: pd.array(batch.column(i), dtype="string") for i, k in enumerate(columns)}
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers, booleans, objects: each value's own text
        data = {k: _text_column([r.get(k) for r in records]) for k in columns}
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))


def _fields(records: list[dict]) -> list[str]:
    """The records' fields, in the order they first appear."""
    return list(dict.fromkeys(chain.from_iterable(records)))


_PLAIN = frozenset({str, type(None)})


def _text_column(values: list) -> pd.api.extensions.ExtensionArray:
    """A field's values as a ``string`` column (built through Arrow: no per-value check by pandas)."""
    import pyarrow as pa

    if not _PLAIN.issuperset(map(type, values)):
        values = [_text(v) for v in values]
    return pd.array(pa.array(values, type=pa.large_string()), dtype="string")


def _check_limits(feed: Feed, name: str, frame: pd.DataFrame, rows: np.ndarray, unit: str) -> None:
    """The feed's column and field-size limits, as the CSV reader applies them (one line, no value quoted)."""
    if len(frame.columns) > feed.limits.max_columns:
        raise FeedError(feed.feed_id, name, f"records with {len(frame.columns)} fields, more than the feed's limit "
                        f"limits.max_columns={feed.limits.max_columns}")
    limit = feed.limits.max_field_chars
    for column in frame.columns:
        lengths = frame[column].astype("string").str.len()
        longest = lengths.max()
        if longest is not pd.NA and longest == longest and longest > limit:
            at = int(rows[int(np.argmax(lengths.fillna(0).to_numpy()))])
            raise FeedError(feed.feed_id, name, f"{unit} {at}: field {str(column)[:60]!r} holds {int(longest)} characters, more than "
                            f"the feed's limit limits.max_field_chars={limit}")


def parse_pages(feed: Feed, files: list[tuple[str, bytes]]) -> list[ParsedFile]:
    """API pages ``{"data": {"records": [...], "total": N}}``; the pages together must hold the announced total."""
    return list(iter_pages(feed, files))


def iter_pages(feed: Feed, files: Iterable[tuple[str, bytes]]) -> Iterator[ParsedFile]:
    """``parse_pages``, one page at a time (``files`` may read each page as it is asked for): records
    numbered across the pages; the announced total is checked once the last page is read."""
    announced, ordinal, pages = None, 0, 0
    for name, content in files:
        pages += 1
        try:
            data = json.loads(content)["data"]
            records = data["records"]
            if not isinstance(records, list):
                raise TypeError("records is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError(feed.feed_id, name, f"not a ledger page ({exc.__class__.__name__}: {str(exc)[:120]}); "
                            "the page was cut off or the API changed") from None
        if announced is None and isinstance(data.get("total"), int):
            announced = data["total"]
        count = FileCount(name, physical=len(records))
        rows, good, rejects = [], [], []
        for record in records:
            ordinal += 1
            if isinstance(record, dict):
                good.append(record)
                rows.append(ordinal)
            else:
                rejects.append(Reject(name, ordinal, "row.not_object", f"a {type(record).__name__}, not an object",
                                      json.dumps(record, ensure_ascii=False)[:2000]))
        del data, records
        frame, numbers = _frame(good), np.asarray(rows, dtype=np.int64)
        _check_limits(feed, name, frame, numbers, "record")
        yield ParsedFile(frame, numbers, count, rejects)
    if announced is not None and announced != ordinal:
        raise FeedError(feed.feed_id, f"{pages} page(s)", f"the API announced {announced} records and its pages hold {ordinal}; "
                        "incomplete delivery (records changed while paging?), run the extract again")


def _read_lines(feed: Feed, name: str, data: bytes, first: int, last_piece: bool, count: FileCount):
    """Whole lines of JSON (line ``first`` on) -> (records, their lines, rejects); blank lines set aside in ``count``.

    ``last_piece``: ``data`` ends the file, so a last line without a final newline that is not complete
    JSON is a truncated file (refused), not a rejected row.
    """
    final_newline = data.endswith(b"\n")
    lines = data.split(b"\n")
    if final_newline or not data:
        lines = lines[:-1]
    count.physical += len(lines)
    good, rows, rejects = [], [], []
    loads = json.loads
    for n, line in enumerate(lines, start=first):
        if not line.strip():
            count.aside("blank")
            continue
        try:
            record = loads(line)
        except ValueError as exc:
            if last_piece and n == first + len(lines) - 1 and not final_newline:
                raise FeedError(feed.feed_id, name, f"truncated: line {n} (the last, no final newline) is not complete JSON; "
                                "the extract was cut off, run it again") from None
            rejects.append(Reject(name, n, "row.shape", f"not JSON: {str(exc)[:80]}", line.decode("utf-8", "replace")[:2000]))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(name, n, "row.not_object", f"a {type(record).__name__}, not an object", line.decode("utf-8", "replace")[:2000]))
            continue
        good.append(record)
        rows.append(n)
    return good, np.asarray(rows, dtype=np.int64), rejects


def parse_jsonl(feed: Feed, name: str, content: bytes) -> ParsedFile:
    """One JSON object per line (a database extract); a last line cut off is a truncated file."""
    count = FileCount(name)
    good, rows, rejects = _read_lines(feed, name, content, 1, True, count)
    frame = _frame(good)
    _check_limits(feed, name, frame, rows, "line")
    return ParsedFile(frame, rows, count, rejects)


def stream_jsonl(feed: Feed, name: str, path: Path, piece_bytes: int = PIECE_BYTES) -> Iterator[ParsedFile]:
    """A JSON-lines file read ``piece_bytes`` of whole lines at a time: one ``ParsedFile`` per piece,
    lines numbered in the file; together the same records, rejects and accounting as ``parse_jsonl``
    of the whole file, in memory bounded by the piece.

    Every piece has the columns of the first record's piece (a field missing from a piece's records
    is missing in them); raises ``Unstreamable`` when a later record has a field no record before
    it had (the columns of a whole read would differ: read it whole), or when the file holds no record
    at all. A piece without records is counted with the next one that has some (or the last).
    """
    columns: list[str] | None = None
    carried, line = FileCount(name), 1
    carried_rejects: list[Reject] = []
    for data, last in _raw_pieces(path, piece_bytes):
        count = FileCount(name)
        good, rows, rejects = _read_lines(feed, name, data, line, last, count)
        line += count.physical
        carried.physical += count.physical
        for reason, n in count.set_aside.items():
            carried.aside(reason, n)
        carried_rejects.extend(rejects)
        if columns is None:
            if not good:
                if last:
                    raise Unstreamable("no record in the file")
                continue
            columns = _fields(good)
            known = set(columns)
        elif not known.issuperset(set().union(*good)):
            raise Unstreamable("a record has a field no record before it had")
        frame = _frame(good, columns)
        _check_limits(feed, name, frame, rows, "line")
        yield ParsedFile(frame, rows, carried, carried_rejects)
        carried, carried_rejects = FileCount(name), []
