"""Excel workbooks as offices make them: title rows, merged multi-level headers, note rows."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd

from safety_hub.errors import FeedError
from safety_hub.landing.accounting import FileCount, ParsedFile
from safety_hub.registry import Feed


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


def parse_xlsx(feed: Feed, name: str, content: bytes) -> ParsedFile:
    """One workbook -> its data rows, with the sheet row of each.

    Merged cells are filled, the header is the row naming most of the feed's
    columns, data runs until the first empty row, and a 序号 column is dropped.
    """
    from openpyxl import load_workbook

    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    try:
        wb = load_workbook(io.BytesIO(content), data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise FeedError(feed.feed_id, name, f"unreadable Excel workbook: {exc.__class__.__name__}: {exc}") from None
    ws = wb.worksheets[0]
    for merged in list(ws.merged_cells.ranges):
        value = ws.cell(merged.min_row, merged.min_col).value
        ws.unmerge_cells(str(merged))
        for row in ws.iter_rows(min_row=merged.min_row, max_row=merged.max_row, min_col=merged.min_col, max_col=merged.max_col):
            for cell in row:
                cell.value = value
    rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    count = FileCount(name, physical=len(rows))
    scores = [len(expected & {v for v in r if v}) for r in rows[:30]]
    if not scores or max(scores) == 0:
        raise FeedError(feed.feed_id, name, "no header row naming the feed's columns in the first 30 rows")
    h = scores.index(max(scores))
    count.aside("title", h)
    count.aside("header")
    header = [v or f"_blank_{i}" for i, v in enumerate(rows[h])]
    data, numbers = [], []
    for n, r in enumerate(rows[h + 1 :], start=h + 2):
        if all(v is None for v in r):
            count.aside("note", len(rows) - n + 1)  # notes follow the first empty row
            break
        data.append(r)
        numbers.append(n)
    frame = pd.DataFrame(data, columns=header, dtype="string")
    frame = frame.drop(columns=[c for c in frame.columns if c == "序号" or c.startswith("_blank_")])
    return ParsedFile(frame, np.asarray(numbers, dtype=np.int64), count)
