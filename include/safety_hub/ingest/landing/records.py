"""JSON deliveries: REST API pages and database extracts (JSON lines), every record accounted for."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.accounting import FileCount, ParsedFile, Reject
from safety_hub.config.registry import Feed


def _frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


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
    parsed, announced, ordinal = [], None, 0
    for name, content in files:
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
        frame, numbers = _frame(good), np.asarray(rows, dtype=np.int64)
        _check_limits(feed, name, frame, numbers, "record")
        parsed.append(ParsedFile(frame, numbers, count, rejects))
    if announced is not None and announced != ordinal:
        raise FeedError(feed.feed_id, f"{len(files)} page(s)", f"the API announced {announced} records and its pages hold {ordinal}; "
                        "incomplete delivery (records changed while paging?), run the extract again")
    return parsed


def parse_jsonl(feed: Feed, name: str, content: bytes) -> ParsedFile:
    """One JSON object per line (a database extract); a last line cut off is a truncated file."""
    lines = content.split(b"\n")
    final_newline = content.endswith(b"\n")
    if final_newline or not content:
        lines = lines[:-1]
    count = FileCount(name, physical=len(lines))
    good, rows, rejects = [], [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            count.aside("blank")
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            if n == len(lines) and not final_newline:
                raise FeedError(feed.feed_id, name, f"truncated: line {n} (the last, no final newline) is not complete JSON; "
                                "the extract was cut off, run it again") from None
            rejects.append(Reject(name, n, "row.shape", f"not JSON: {str(exc)[:80]}", line.decode("utf-8", "replace")[:2000]))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(name, n, "row.not_object", f"a {type(record).__name__}, not an object", line.decode("utf-8", "replace")[:2000]))
            continue
        good.append(record)
        rows.append(n)
    frame, numbers = _frame(good), np.asarray(rows, dtype=np.int64)
    _check_limits(feed, name, frame, numbers, "line")
    return ParsedFile(frame, numbers, count, rejects)
