"""Write one simulated day the way each agency delivers it.

File drops (CSV in the agency's encoding, Excel workbooks as offices make them)
appear atomically in ``<out>/<folder>/``; database rows are upserted into the
agency's SQLite file; API datasets are served by ``server`` (``write_api_pages``
writes what it would return). The truth manifest goes to ``<out>/truth/<date>.json``.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from safety_hub_dev.simulator.generate import DayData
from safety_hub_dev.simulator.spec import SPECS, Api, CsvDrop, SqliteTable, XlsxDrop

# Kept for callers that name the HCC project drop directly.
HCC_FILE = SPECS["hcc_project"].delivery.filename


def _atomic_write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(content)
    tmp.replace(path)  # a file appears complete or not at all
    return path


def csv_bytes(rows: list[dict], encoding: str) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows: list[dict], title: str) -> bytes:
    """Title row, a merged two-level header (序号 spans both), data, then note rows."""
    from openpyxl import Workbook

    fields = list(rows[0])
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    width = len(fields) + 1
    ws.cell(row=1, column=1, value=title)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(row=2, column=1, value="序号")
    ws.merge_cells(start_row=2, start_column=1, end_row=3, end_column=1)
    half = max(1, len(fields) // 2)
    ws.cell(row=2, column=2, value="基本信息")
    ws.merge_cells(start_row=2, start_column=2, end_row=2, end_column=1 + half)
    ws.cell(row=2, column=2 + half, value="详细信息")
    if width > 2 + half:
        ws.merge_cells(start_row=2, start_column=2 + half, end_row=2, end_column=width)
    for i, name in enumerate(fields, start=2):
        ws.cell(row=3, column=i, value=name)
    for n, row in enumerate(rows, start=1):
        ws.cell(row=3 + n, column=1, value=n)
        for i, name in enumerate(fields, start=2):
            ws.cell(row=3 + n, column=i, value=row[name])
    last = 3 + len(rows)
    ws.cell(row=last + 2, column=1, value="注：1. 本表由各区填报，日期格式为年-月-日。")
    ws.cell(row=last + 3, column=1, value="填报单位（盖章）：            填报人：            审核人：")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write_sqlite(rows: list[dict], path: Path, table: str, updated: str, day_iso: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} TEXT' for c in cols)})")
        # Re-simulating a day replaces that day's rows, like the agency re-exporting it.
        db.execute(f"DELETE FROM {table} WHERE substr({updated}, 1, 10) = ?", (day_iso,))
        db.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [tuple(r[c] for c in cols) for r in rows],
        )
    return path


def write_truth(data: DayData, out_dir: Path) -> Path:
    path = Path(out_dir) / "truth" / f"{data.day.isoformat()}.json"
    return _atomic_write(path, json.dumps(data.truth, ensure_ascii=False, indent=1).encode("utf-8"))


def write_day(data: DayData, out_dir: Path) -> dict[str, Path]:
    """Write every file and database delivery and the truth manifest for one day."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for feed_id, spec in SPECS.items():
        rows, d = data.records.get(feed_id), spec.delivery  # a day generated for some feeds only lacks the others
        if not rows or isinstance(d, Api):
            continue
        if isinstance(d, CsvDrop):
            written[feed_id] = _atomic_write(out_dir / d.folder / d.filename.format(date=data.day), csv_bytes(rows, d.encoding))
        elif isinstance(d, XlsxDrop):
            written[feed_id] = _atomic_write(out_dir / d.folder / d.filename.format(date=data.day), xlsx_bytes(rows, d.title))
        elif isinstance(d, SqliteTable):
            written[feed_id] = write_sqlite(rows, out_dir / d.folder / d.db, d.table, spec.updated, data.day.isoformat())
    written["truth"] = write_truth(data, out_dir)
    return written


def api_page(records: list[dict], page: int, page_size: int) -> dict:
    pages = max(1, -(-len(records) // page_size))
    chunk = records[(page - 1) * page_size : page * page_size]
    return {"code": 0, "data": {"records": chunk, "page": page, "page_size": page_size, "total": len(records), "pages": pages}}


def write_api_pages(data: DayData, out_dir: Path, page_size: int = 200) -> dict[str, Path]:
    """Each API dataset's pages for one day as files (what the server returns)."""
    folders = {}
    for feed_id, spec in SPECS.items():
        if not isinstance(spec.delivery, Api):
            continue
        rows = data.records[feed_id]
        folder = Path(out_dir) / "api" / spec.delivery.endpoint / f"{data.day:%Y%m%d}"
        pages = max(1, -(-len(rows) // page_size))
        for page in range(1, pages + 1):
            _atomic_write(folder / f"page-{page:04d}.json", json.dumps(api_page(rows, page, page_size), ensure_ascii=False).encode("utf-8"))
        folders[feed_id] = folder
    return folders
