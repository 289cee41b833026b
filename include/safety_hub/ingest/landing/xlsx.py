"""Excel workbooks read deliberately and boundedly, every sheet row accounted for.

The sheet is ``delivery.sheet`` or, unset, the only *visible* sheet whose first 30
rows name the feed's columns (a hidden sheet, often a stale copy, is never read;
two candidates are refused as ambiguous). The sheet's XML is streamed once
(openpyxl's read-only cell parser under our own ``iterparse`` loop): only cells
that exist in the XML are visited and kept, sparse, so the used range comes from
the data, never from the declared dimension, and a stray value in XFD1048576 costs
one cell. The same pass collects the merged ranges (``<mergeCells>``, at the end of
the XML) and the formula cells saved without a calculated value (``<f>`` with no
``<v>``, or an empty one that is not a cached empty string). Merged ranges are filled
with their top-left value inside the used range only (the header search window, then
the header's columns), after their count and total area are checked against the
feed's limits. Limits (``feed.limits``) bound rows, cells, merged ranges and
field size, and the unpacked size of the workbook; exceeding one is a one-line
refusal. XML is parsed with defusedxml (no entities, no DTD).

Rows: blank anywhere -> set aside ``blank``; above the header -> ``title``; the header
(a merged multi-level header: every row it spans) -> ``header``; below the last data
row, note rows (注：…, 填报人：…) -> ``note``; a row with a value right of the header's
last named column -> rejected ``row.shape``; a row with a formula without a value ->
rejected ``cell.formula_uncached``; every other row is parsed. Blank-named columns
with values are kept as ``_列<n>``, without values dropped; 序号 (a running number) is
dropped.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.accounting import FileCount, ParsedFile, Reject
from safety_hub.ingest.landing.delimited import HEADER_SEARCH_LINES, _check_names, _is_note
from safety_hub.config.registry import Feed

HEADER_SEARCH_ROWS = HEADER_SEARCH_LINES
EXCEL_MAX_COLUMNS = 16_384  # XFD: a row holding more cells is not a workbook Excel wrote
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls (and other OLE files)


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


def _col(c: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(c) if 1 <= c <= 18_278 else f"column {c}"


@dataclass
class _Sheet:
    """One sheet's content, sparse: only cells holding a value (or a formula without one)."""

    title: str
    cells: dict[int, dict[int, str]] = field(default_factory=dict)  # row -> column -> text
    uncached: dict[int, dict[int, str]] = field(default_factory=dict)  # row -> column -> "=formula"
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (min_row, min_col, max_row, max_col)
    last_row: int = 0  # the last row holding a value: the used range, from the data
    last_col: int = 0


@functools.cache
def _parser_class():
    """openpyxl's read-only cell parser, also noting formulas saved without a calculated value."""
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, VALUE_TAG, WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS

    text_tag = f"{{{SHEET_MAIN_NS}}}t"

    class Parser(WorkSheetParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.uncached: dict[tuple[int, int], str] = {}

        def plain_inline(self, element):
            """A cell holding only ``<is><t>text</t></is>`` (what streaming writers such as POI's and openpyxl's
            write for text), as openpyxl reads it but without building its rich-text objects; None for any other cell."""
            if len(element) != 1 or element[0].tag != INLINE_STRING or len(element[0]) != 1 or element[0][0].tag != text_tag:
                return None
            coordinate = element.get("r")
            if coordinate:
                row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            return {"row": row, "column": column, "value": element[0][0].text or "", "data_type": "s", "style_id": int(element.get("s", 0))}

        def parse_cell(self, element):
            if element.get("t") == "inlineStr" and (cell := self.plain_inline(element)) is not None:
                return cell
            cell = super().parse_cell(element)
            if cell["value"] is None:
                formula = element.find(FORMULA_TAG)
                if formula is not None:
                    v = element.find(VALUE_TAG)
                    # No <v>, or an empty one on a non-string cell (an empty <v/> on a t="str" cell is a cached "").
                    if v is None or (not v.text and element.get("t") != "str"):
                        self.uncached[(cell["row"], cell["column"])] = "=" + (formula.text or "")
            return cell

    return Parser


def _unreadable(feed: Feed, name: str, exc: BaseException) -> FeedError:
    text = str(exc).strip()
    return FeedError(feed.feed_id, name, f"unreadable or truncated Excel workbook ({exc.__class__.__name__}"
                     f"{': ' + text[:120] if text else ''}); save it again as .xlsx and deliver it again")


def _xml_refusal(feed: Feed, name: str, exc: BaseException) -> FeedError | None:
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # pragma: no cover - defusedxml is in the lock
        return None
    for _ in range(8):  # openpyxl wraps what it failed to read in a ValueError: look down the chain
        if exc is None or isinstance(exc, DefusedXmlException):
            break
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, DefusedXmlException):
        return FeedError(feed.feed_id, name, f"the workbook's XML declares a DTD or entities ({exc.__class__.__name__}), refused "
                         "as a possible XML bomb; save it again with Excel as .xlsx and deliver it again")
    return None


class _NoDtd:
    """A sheet's XML stream, read through: refuses a DTD or an entity declaration before the parser sees it.

    In a sheet's XML, ``<!`` starts only a comment or CDATA, and a DTD (where entities are declared)
    can only come before the root element: finding ``<!DOCTYPE``/``<!ENTITY`` anywhere is refusing
    what defusedxml refuses, with the C parser doing the parsing.
    """

    MARKS = (b"<!DOCTYPE", b"<!ENTITY")

    def __init__(self, src, feed: Feed, name: str):
        self.src, self.feed, self.name, self.tail = src, feed, name, b""

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        seen = self.tail + data
        if any(mark in seen for mark in self.MARKS):
            raise FeedError(self.feed.feed_id, self.name, "the workbook's XML declares a DTD or entities, refused as a possible XML bomb; "
                            "save it again with Excel as .xlsx and deliver it again")
        self.tail = seen[-8:]
        return data


def _open(feed: Feed, name: str, content: bytes):
    """The workbook, read-only with cached values (``data_only``); refused when it is not a complete .xlsx or unpacks too large."""
    from openpyxl import load_workbook

    if content[:8] == _OLE_MAGIC:
        raise FeedError(feed.feed_id, name, "an Excel 97-2003 (.xls) or other OLE file, not an .xlsx workbook; "
                        "save it as .xlsx (Excel workbook) and deliver it again")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except Exception as exc:  # zipfile.BadZipFile (truncated: no central directory), ValueError...
        raise _unreadable(feed, name, exc) from None
    limit = feed.limits.max_file_mb * (1 << 20)
    if unpacked > limit:  # a zip bomb: the declared sizes bound what zipfile will inflate
        raise FeedError(feed.feed_id, name, f"the workbook unpacks to {unpacked / (1 << 20):.0f} MB, more than the feed's limit "
                        f"limits.max_file_mb={feed.limits.max_file_mb:g}")
    from unittest import mock

    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    try:
        # A read-only sheet looks for its declared dimension when the workbook is opened: in a sheet
        # without one (openpyxl and other tools write none) that is a whole parse of the sheet with
        # defusedxml's Python parser, for a size this module never uses (the used range comes from the data).
        with mock.patch.object(ReadOnlyWorksheet, "_get_size", lambda self: None):
            return load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # BadZipFile, KeyError (missing part), InvalidFileException, XML errors...
        raise (_xml_refusal(feed, name, exc) or _unreadable(feed, name, exc)) from None


def _read_sheet(feed: Feed, name: str, wb, ws, stop_after: int | None = None) -> _Sheet:
    """Stream one sheet's XML (up to row ``stop_after`` when given); refused over the feed's limits or when unreadable."""
    try:
        return _stream_sheet(feed, name, wb, ws, stop_after)
    except FeedError:
        raise
    except Exception as exc:  # zlib.error, BadZipFile (bad CRC), ParseError (cut XML), ValueError (bad coordinate)...
        raise (_xml_refusal(feed, name, exc) or _unreadable(feed, name, exc)) from None


def _stream_sheet(feed: Feed, name: str, wb, ws, stop_after: int | None) -> _Sheet:
    from openpyxl.utils import range_boundaries
    from openpyxl.worksheet._reader import CELL_TAG, ROW_TAG
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from xml.etree.ElementTree import iterparse  # the C parser; no DTD reaches it (_NoDtd)

    merge_cell_tag = f"{{{SHEET_MAIN_NS}}}mergeCell"
    limits = feed.limits
    max_row = limits.max_rows + HEADER_SEARCH_ROWS
    sheet = _Sheet(ws.title)
    where = f"sheet {ws.title!r}"
    # The same private parts openpyxl's ReadOnlyWorksheet passes to this parser (openpyxl is pinned in the lock).
    with wb._archive.open(ws._worksheet_path) as src:
        parser = _parser_class()(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        parents: list = []  # the open elements, root first
        row_at, row_cells, cells_seen, n_merged, area = None, 0, 0, 0, 0
        for event, el in iterparse(_NoDtd(src, feed, name), events=("start", "end")):
            tag = el.tag
            if event == "start":
                parents.append(el)
                if tag == ROW_TAG:
                    row_at, row_cells = el.get("r", "?"), 0
                elif tag == CELL_TAG and row_at is not None:
                    row_cells += 1
                    cells_seen += 1
                    if row_cells > EXCEL_MAX_COLUMNS:
                        raise FeedError(feed.feed_id, name, f"{where} row {row_at}: more than {EXCEL_MAX_COLUMNS} cells in one "
                                        "row, not a valid workbook; save it again with Excel and deliver it again")
                    if cells_seen > limits.max_sheet_cells:
                        raise FeedError(feed.feed_id, name, f"{where}: more than {limits.max_sheet_cells} cells, over the "
                                        f"feed's limit limits.max_sheet_cells={limits.max_sheet_cells}")
                continue
            parents.pop()
            if tag == ROW_TAG:
                row_at = None
                r, row = parser.parse_row(el)
                parser.row_dimensions.clear()  # row heights etc.: not wanted, and one dict a row otherwise
                if stop_after is not None and r > stop_after:
                    break
                _keep_row(feed, name, sheet, parser, row, max_row)
            elif tag == merge_cell_tag:
                n_merged += 1
                if n_merged > limits.max_merged_ranges:
                    raise FeedError(feed.feed_id, name, f"{where}: more than {limits.max_merged_ranges} merged ranges, over the "
                                    f"feed's limit limits.max_merged_ranges={limits.max_merged_ranges}; unmerge them and deliver again")
                ref = el.get("ref") or ""
                min_col, min_row, max_col, max_row_ = range_boundaries(ref)
                size = (max_row_ - min_row + 1) * (max_col - min_col + 1)
                area += size
                if area > limits.max_sheet_cells:
                    raise FeedError(feed.feed_id, name, f"{where}: merged range {ref} covers {size} cells; merged cells over the "
                                    f"feed's limit limits.max_sheet_cells={limits.max_sheet_cells}; unmerge it and deliver again")
                sheet.merged.append((min_row, min_col, max_row_, max_col))
            # Keep nothing already read: a finished row or merged range leaves its parent, a finished section is emptied.
            if tag in (ROW_TAG, merge_cell_tag) and parents:
                parents[-1].clear()
            elif len(parents) == 1:
                el.clear()
    return sheet


def _keep_row(feed: Feed, name: str, sheet: _Sheet, parser, row: list[dict], max_row: int) -> None:
    """Keep a row's non-empty cells (text) and its formulas without a value; refuse a value past the row limit or too long."""
    limits = feed.limits
    uncached = parser.uncached
    for cell in row:
        r, c = cell["row"], cell["column"]
        text = _cell_text(cell["value"])
        formula = uncached.pop((r, c), None) if text is None and uncached else None
        if text is None and formula is None:
            continue
        if r > max_row:
            raise FeedError(feed.feed_id, name, f"sheet {sheet.title!r} cell {_col(c)}{r}: a value in row {r}, more than the feed's "
                            f"limit limits.max_rows={limits.max_rows} (+{HEADER_SEARCH_ROWS}); remove it or split the file")
        if text is not None:
            if len(text) > limits.max_field_chars:
                raise FeedError(feed.feed_id, name, f"sheet {sheet.title!r} cell {_col(c)}{r}: {len(text)} characters, more than "
                                f"the feed's limit limits.max_field_chars={limits.max_field_chars}")
            sheet.cells.setdefault(r, {})[c] = text
        else:
            sheet.uncached.setdefault(r, {})[c] = formula
        sheet.last_row = max(sheet.last_row, r)
        sheet.last_col = max(sheet.last_col, c)


def _choose_sheet(feed: Feed, name: str, wb, count: FileCount):
    """``delivery.sheet``, else the only visible sheet whose header names the feed's columns."""
    wanted = getattr(feed.delivery, "sheet", None)
    names = wb.sheetnames
    if wanted:
        if wanted not in names:
            raise FeedError(feed.feed_id, name, f"no sheet named {wanted!r} (delivery.sheet); the workbook has {names[:10]}: "
                            f"deliver the data on sheet {wanted!r}")
        ws = wb[wanted]
        if ws not in wb.worksheets:
            raise FeedError(feed.feed_id, name, f"sheet {wanted!r} (delivery.sheet) is a chart, not a worksheet; deliver the data on it")
        if ws.sheet_state != "visible":
            raise FeedError(feed.feed_id, name, f"sheet {wanted!r} (delivery.sheet) is {ws.sheet_state}; unhide it (or deliver "
                            "the data on a visible sheet) and deliver the file again")
        return ws
    visible = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
    hidden = [ws.title for ws in wb.worksheets if ws.sheet_state != "visible"]
    if hidden:
        count.notes.append(f"hidden sheet(s) not read: {hidden}")
    if not visible:
        raise FeedError(feed.feed_id, name, f"no visible worksheet (hidden: {hidden[:10]}); unhide the sheet holding the data")
    if len(visible) == 1:
        return visible[0]
    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    required = [{c.source, *c.aliases} for c in feed.columns if c.required]
    named = {}
    for ws in visible:
        sheet = _read_sheet(feed, name, wb, ws, stop_after=HEADER_SEARCH_ROWS)
        named[ws.title] = expected & {v for row in sheet.cells.values() for v in row.values()}
    full = [ws for ws in visible if named[ws.title] and all(alts & named[ws.title] for alts in required)]
    some = full or [ws for ws in visible if named[ws.title]]
    if len(some) == 1:
        return some[0]
    if not some:
        raise FeedError(feed.feed_id, name, f"no visible sheet names the feed's columns in its first {HEADER_SEARCH_ROWS} rows "
                        f"(visible: {[ws.title for ws in visible][:10]}); check the file is this feed's")
    raise FeedError(feed.feed_id, name, f"ambiguous: visible sheets {[ws.title for ws in some][:5]} all have the feed's header; "
                    "remove or hide all but the data sheet (or set delivery.sheet in the feed) and deliver again")


def _fill(cells: dict[int, dict[int, str]], merged, rows: range, max_col: int) -> None:
    """Give each merged range's cells its top-left value, within ``rows`` and up to ``max_col`` (the used range only)."""
    for r0, c0, r1, c1 in merged:
        value = cells.get(r0, {}).get(c0)
        if value is None:
            continue
        hi = min(c1, max_col)
        if hi < c0:
            continue
        for r in range(max(r0, rows.start), min(r1 + 1, rows.stop)):
            row = cells.setdefault(r, {})
            for c in range(c0, hi + 1):
                row[c] = value


def _header(feed: Feed, name: str, sheet: _Sheet) -> tuple[int, int, int, dict[int, dict[int, str]]]:
    """(first header row, last header row, the row holding the names, the first rows with merged cells filled)."""
    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    window = range(1, min(HEADER_SEARCH_ROWS, sheet.last_row) + 1)
    top_rows = {r: dict(sheet.cells.get(r, {})) for r in window}
    _fill(top_rows, sheet.merged, window, sheet.last_col)
    scores = {r: len(expected & set(cells.values())) for r, cells in top_rows.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        first = next((v for r in window for v in top_rows[r].values()), "")
        raise FeedError(feed.feed_id, name, f"sheet {sheet.title!r}: no header row naming the feed's columns in the first "
                        f"{HEADER_SEARCH_ROWS} rows (first value {first[:60]!r}); check the file is this feed's")
    h = min(r for r, s in scores.items() if s == best)
    top = bottom = h
    for r0, _, r1, _ in sheet.merged:  # a merged multi-level header: every row its merged cells span
        if r0 <= h <= r1 and r1 <= window.stop - 1:
            top, bottom = min(top, r0), max(bottom, r1)
    leaf = max(range(top, bottom + 1), key=lambda r: (scores[r], r))
    return top, bottom, leaf, top_rows


def _raw(sheet: _Sheet, r: int, limit: int) -> str:
    cells = {**sheet.uncached.get(r, {}), **sheet.cells.get(r, {})}
    return json.dumps({f"{_col(c)}{r}": cells[c] for c in sorted(cells)}, ensure_ascii=False)[:limit]


def _where(r: int, cols: list[int]) -> str:
    return f"{_col(cols[0])}{r}" + (f" (and {len(cols) - 1} more)" if len(cols) > 1 else "")


def parse_xlsx(feed: Feed, name: str, content: bytes) -> ParsedFile:
    """One workbook -> the chosen sheet's data rows with the sheet row of each; every row of its used range accounted for."""
    wb = _open(feed, name, content)
    count = FileCount(name)
    try:
        ws = _choose_sheet(feed, name, wb, count)
        sheet = _read_sheet(feed, name, wb, ws)
    finally:
        wb.close()
    count.notes.append(f"sheet {sheet.title!r}")
    if sheet.last_row == 0:
        raise FeedError(feed.feed_id, name, f"sheet {sheet.title!r} is empty: no header and no rows")
    count.physical = sheet.last_row
    top, bottom, leaf, top_rows = _header(feed, name, sheet)
    header_cells = top_rows[leaf]
    width = max(header_cells)
    names = _check_names(feed, name, [header_cells.get(c, "") for c in range(1, width + 1)], leaf,
                         where=f"sheet {sheet.title!r} header row {leaf}", label=_col)
    _fill(sheet.cells, sheet.merged, range(bottom + 1, sheet.last_row + 1), width)

    def content_of(r: int) -> bool:
        return bool(sheet.cells.get(r) or sheet.uncached.get(r))

    for r in range(1, top):
        count.aside("title" if top_rows[r] or sheet.uncached.get(r) else "blank")
    count.aside("header", bottom - top + 1)

    body = [r for r in sorted(set(sheet.cells) | set(sheet.uncached)) if r > bottom and content_of(r)]
    count.aside("blank", sheet.last_row - bottom - len(body))
    rejects: list[Reject] = []
    limit = feed.limits.max_field_chars

    def reject(r: int) -> bool:
        """Reject a row with a value right of the header, or a formula without a value; False when it is clean."""
        outside = sorted(c for c in (*sheet.cells.get(r, {}), *sheet.uncached.get(r, {})) if c > width)
        values_outside = [c for c in outside if c in sheet.cells.get(r, {})]
        if values_outside:
            rejects.append(Reject(name, r, "row.shape", f"value outside the header's columns (A-{_col(width)}) at "
                                  f"{_where(r, values_outside)}", _raw(sheet, r, limit)))
            return True
        formulas = sorted(sheet.uncached.get(r, {}))
        if formulas:
            first = sheet.uncached[r][formulas[0]]
            rejects.append(Reject(name, r, "cell.formula_uncached", f"{_where(r, formulas)}: formula {first[:80]} saved without a "
                                  "calculated value; recalculate in Excel, save and deliver again", _raw(sheet, r, limit)))
            return True
        return False

    # Below the last data row: note rows set aside; rows with nothing under the header rejected; the first data row ends it.
    end = len(body)
    while end > 0:
        r = body[end - 1]
        inside = [c for c in sheet.cells.get(r, {}) if c <= width]
        if inside:
            cells = sheet.cells[r]
            if not _is_note([cells[c] for c in sorted(cells)]):
                break
            count.aside("note")
        else:
            reject(r)
        end -= 1
    data, numbers = [], []
    for r in body[:end]:
        if reject(r):
            continue
        cells = sheet.cells[r]
        data.append([cells.get(c) for c in range(1, width + 1)])
        numbers.append(r)
    rejects.sort(key=lambda x: x.row)

    expected = {n for c in feed.columns for n in (c.source, *c.aliases)}
    frame = pd.DataFrame(data, columns=names, dtype="string")
    drop = [n for n in names if (n == "序号" and n not in expected) or (n.startswith("_列") and n not in expected and frame[n].isna().all())]
    frame = frame.drop(columns=drop)
    return ParsedFile(frame, np.asarray(numbers, dtype=np.int64), count, rejects)
