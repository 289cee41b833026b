"""Issue 15, findings 2 and 15. Finding 2: one control character in the warehouse stopped the weekly reports (the
workbook failed with ``IllegalCharacterError``; the HTML and ``figures.json`` were never written).

Ingestion removes such characters (text hygiene), so this test writes them into a copy of the
session's warehouse directly, in every text column the reports quote, and runs the ``report``
command as a user does: the workbook, the HTML report and ``figures.json`` are all written, the
workbook opens, no cell is a formula and the page carries no markup from the data.

Finding 15: a workbook may be exported to CSV, where a spreadsheet reads ``＝1+1``, `` =1+1`` or
``\u200b=1+1`` as a formula: every text cell that starts with a formula trigger (ASCII or full
width) after any run of spaces, zero-width or BOM characters is written with a leading quote."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from safety_hub.cli import main

pytestmark = pytest.mark.e2e
WEEK = "2026-W45"  # the session's simulated days, 11-02 .. 11-04

# Every class of code point a warehouse string can hold: C0 and C1 controls, DEL, spaces, zero-width,
# bidi controls, private use, noncharacters, combining marks, CJK, astral (emoji, CJK extension B),
# formula triggers (ASCII and full width) and markup.
EVERY_CLASS = ("".join(map(chr, range(0x00, 0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xa0)))
               + "\u00a0\u2028\u2029\u200b\u200e\u202e\u2066\ufeff\ue000\ufdd0\ufffe\uffff\u0301天津\U0001f525\U00020000")
VARIANTS = ["=" + EVERY_CLASS, "＝1+1" + EVERY_CLASS, "\u200b@SUM(1)" + EVERY_CLASS[::-1], "<script>alert(1)</script>" + EVERY_CLASS,
            " =1+1", "\u3000＋SUM(A1)", "\ufeff\u200b－2", "\t@SUM(1)", "＠1", "-天津"]
TRIGGERS = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
INVISIBLE = " \t\r\n\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff"
# The descriptive text columns the reports quote (names, descriptions, measures, people); keys and codes stay.
TEXT_COLUMNS = {"org_name", "description", "title", "measures", "rectification_measures", "owner", "responsible_person",
                "doc_no", "project_name", "hazard_desc", "measure_type"}


@pytest.fixture
def hostile_warehouse(duckdb_run, tmp_path, monkeypatch) -> int:
    """A copy of the session's DuckDB warehouse with every reported text value replaced by hostile text."""
    import duckdb

    src = Path(duckdb_run.warehouse_url.removeprefix("duckdb:///"))
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(src, copy)
    if src.with_name(src.name + ".wal").exists():  # what the last writer has not checkpointed yet
        shutil.copy(src.with_name(src.name + ".wal"), copy.with_name(copy.name + ".wal"))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{copy}")
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "home"))
    con = duckdb.connect(str(copy))
    changed = 0
    try:
        cols = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                           "WHERE data_type = 'VARCHAR' AND table_schema NOT IN ('information_schema', 'pg_catalog')").fetchall()
        for schema, table, column in cols:
            if column not in TEXT_COLUMNS:
                continue
            kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                               [schema, table]).fetchone()
            if kind is None or kind[0] != "BASE TABLE":
                continue
            n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL').fetchone()[0]
            con.execute(f'UPDATE "{schema}"."{table}" SET "{column}" = CASE hash(rowid) % {len(VARIANTS)} '
                        + " ".join(f"WHEN {i} THEN ?" for i in range(len(VARIANTS))) + f' END WHERE "{column}" IS NOT NULL', VARIANTS)
            changed += n
    finally:
        con.close()
    return changed


def _report(tmp_path) -> Path:
    assert main(["report", "--week", WEEK]) == 0
    return tmp_path / "home" / "reports" / WEEK


def test_both_reports_are_written_from_any_string(hostile_warehouse, tmp_path, capsys):
    from openpyxl import load_workbook

    assert hostile_warehouse > 100, "the copy holds hostile text in the columns the reports quote"
    folder = _report(tmp_path)
    out = capsys.readouterr().out
    figures = folder / "figures.json"
    written = {p.name for p in folder.iterdir()}
    assert figures.exists(), written
    json.loads(figures.read_text(encoding="utf-8"))
    html_pages = [p for p in folder.iterdir() if p.suffix == ".html"]
    books = [p for p in folder.iterdir() if p.suffix == ".xlsx"]
    assert html_pages and books, f"both reports written: {written} ({out})"
    page = html_pages[0].read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "天津" in page, "the hostile text is shown escaped"

    book = load_workbook(io.BytesIO(books[0].read_bytes()))
    quoted = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert cell.data_type != "f" and not cell.value.startswith(TRIGGERS), (sheet.title, cell.coordinate)
                    quoted += "天津" in cell.value
    assert quoted > 0, "the hostile text reached the workbook (cleaned), not dropped"


def test_no_cell_reads_as_a_formula_once_exported_to_csv(hostile_warehouse, tmp_path):
    from openpyxl import load_workbook

    [book] = [p for p in _report(tmp_path).iterdir() if p.suffix == ".xlsx"]
    guarded = 0
    for sheet in load_workbook(book).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                text = cell.value
                if isinstance(text, str) and text.removeprefix("'").lstrip(INVISIBLE).startswith(TRIGGERS):
                    assert text.startswith("'"), (sheet.title, cell.coordinate, text[:20])
                    guarded += 1
    assert guarded > 10, "the hostile text reached the workbook, each formula-like value guarded"
