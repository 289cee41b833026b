"""Excel deliveries read deliberately: hostile workbooks built here with openpyxl.

Every case checks the exact accounting (physical rows = parsed + rejected + set
aside, with the numbers) and the parsed frame, or the one-line refusal.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from safety_hub.errors import FeedError
from safety_hub.landing import accounting
from safety_hub.landing.xlsx import parse_xlsx
from safety_hub.registry import Limits, load_registry
from safety_hub_dev.simulator.deliver import xlsx_bytes

FEED = load_registry()["emb_ent_registry"]
HEADER = ["序号", "统一社会信用代码", "企业名称", "所在区", "行业代码", "监管类别", "从业人员数", "更新时间"]
NAMES = HEADER[1:]  # 序号 is dropped


def feed(sheet: str | None = None, **limits):
    out = FEED.model_copy(update={"limits": Limits(**limits)} if limits else {})
    if sheet is not None:
        out = out.model_copy(update={"delivery": FEED.delivery.model_copy(update={"sheet": sheet})})
    return out


def record(i: int) -> list:
    return [f"91120101MA0{i:07d}", f"企业{i}", "120101", "C2614", "危险化学品", 10 + i, "2026-11-02 08:00:00"]


def write(ws, n: int, *, start: int = 1, title: bool = True) -> int:
    """A title row, the header, then ``n`` records numbered from ``start``; returns the next free row."""
    if title:
        ws.append(["重点企业名录"])
    ws.append(HEADER)
    for i in range(start, start + n):
        ws.append([i, *record(i)])
    return ws.max_row + 1


def save(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def patch_sheet(content: bytes, fn, part: str = "xl/worksheets/sheet1.xml") -> bytes:
    """The workbook with one part's XML rewritten (what openpyxl would not write)."""
    src, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, fn(data) if info.filename == part else data)
    return out.getvalue()


def parse(content: bytes, f=None) -> accounting.ParsedFile:
    f = f or FEED
    return accounting.check(f.feed_id, parse_xlsx(f, "名录.xlsx", content))


def expected(ids, names=NAMES) -> pd.DataFrame:
    rows = [[str(v) for v in record(i)] for i in ids]
    return pd.DataFrame([r[: len(names)] for r in rows], columns=names, dtype="string")


def assert_count(p, physical, parsed, rejected, **set_aside):
    c = p.count
    assert (c.physical, c.parsed, c.rejected, c.set_aside) == (physical, parsed, rejected, set_aside)
    assert c.reconciles()


def refused(content: bytes, f=None) -> str:
    with pytest.raises(FeedError) as err:
        parse(content, f)
    text = str(err.value)
    assert "\n" not in text and len(text) <= 300 and "名录.xlsx" in text
    return text


def test_simulator_workbook_title_two_level_header_notes():
    rows = [dict(zip(NAMES, map(str, record(i)))) for i in range(1, 6)]
    p = parse(xlsx_bytes(rows, "重点企业名录"))
    # 1 title, 2 header rows (序号 merged over both), 5 records, 1 blank, 2 notes.
    assert_count(p, 11, 5, 0, title=1, header=2, blank=1, note=2)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 6)))
    assert p.rows.tolist() == [4, 5, 6, 7, 8]


def test_blank_rows_inside_the_data_do_not_end_the_read():
    wb = Workbook()
    ws = wb.active
    write(ws, 3)
    ws.append([])  # openpyxl writes no row: a gap of one
    ws.cell(row=7, column=1, value="  ")  # only spaces: blank too
    for i in range(4, 9):
        ws.append([i, *record(i)])
    ws.cell(row=ws.max_row + 2, column=1, value="注：1. 本表由各区填报。")
    ws.cell(row=ws.max_row + 1, column=1, value="填报人：张三    审核人：李四")
    p = parse(save(wb))
    # rows: 1 title, 2 header, 3-5 data, 6-7 blank, 8-12 data, 13 blank, 14-15 notes
    assert_count(p, 15, 8, 0, title=1, header=1, blank=3, note=2)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 9)))
    assert p.rows.tolist() == [3, 4, 5, 8, 9, 10, 11, 12]


def test_a_note_between_data_rows_is_a_row_not_a_note():
    wb = Workbook()
    ws = wb.active
    write(ws, 2)
    ws.append([None, "注：以下为新增企业"])
    ws.append([3, *record(3)])
    p = parse(save(wb))
    assert_count(p, 6, 4, 0, title=1, header=1)
    want = pd.concat([expected([1, 2]), pd.DataFrame([["注：以下为新增企业"]], columns=NAMES[:1], dtype="string"), expected([3])],
                     ignore_index=True)
    pd.testing.assert_frame_equal(p.frame, want)  # a row (validation quarantines it), not silently set aside
    assert p.rows.tolist() == [3, 4, 5, 6]


def test_hidden_first_sheet_is_never_read():
    wb = Workbook()
    old = wb.active
    old.title = "旧版"
    write(old, 9, start=100)
    old.sheet_state = "hidden"
    write(wb.create_sheet("名录"), 4)
    content = save(wb)
    p = parse(content)
    assert_count(p, 6, 4, 0, title=1, header=1)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 5)))
    assert "sheet '名录'" in p.count.notes and any("旧版" in n for n in p.count.notes)
    assert "sheet '旧版' (delivery.sheet) is hidden" in refused(content, feed(sheet="旧版"))
    assert "no sheet named '汇总'" in refused(content, feed(sheet="汇总"))


def test_two_visible_candidate_sheets_are_ambiguous_unless_configured():
    wb = Workbook()
    write(wb.active, 2)
    wb.active.title = "A"
    write(wb.create_sheet("B"), 3)
    content = save(wb)
    text = refused(content)
    assert "ambiguous" in text and "'A'" in text and "'B'" in text and "delivery.sheet" in text
    p = parse(content, feed(sheet="B"))
    assert_count(p, 5, 3, 0, title=1, header=1)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 4)))


def test_a_summary_sheet_naming_one_column_does_not_compete_with_the_data_sheet():
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    summary.append(["所在区", "企业数"])
    summary.append(["120101", 3])
    write(wb.create_sheet("名录"), 3)
    p = parse(save(wb))
    assert_count(p, 5, 3, 0, title=1, header=1)
    assert "sheet '名录'" in p.count.notes


def _stray_far_cell_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    write(ws, 5)
    ws["XFD1048576"] = "x"
    return save(wb)


def test_stray_far_cell_is_one_rejected_row_not_minutes_and_gigabytes(tmp_path):
    """XFD1048576 in a tiny workbook: < 10 s under a 1 GiB address-space limit, the stray row rejected."""
    path = tmp_path / "stray.xlsx"
    path.write_bytes(_stray_far_cell_workbook())
    child = textwrap.dedent(f"""
        import json, resource, sys, time
        from safety_hub.landing import accounting
        from safety_hub.landing.xlsx import parse_xlsx
        from safety_hub.registry import load_registry
        feed = load_registry()["emb_ent_registry"]
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        t = time.perf_counter()
        p = accounting.check(feed.feed_id, parse_xlsx(feed, "stray.xlsx", open({str(path)!r}, "rb").read()))
        c = p.count
        print(json.dumps(dict(seconds=time.perf_counter() - t, physical=c.physical, parsed=c.parsed, rejected=c.rejected,
                              set_aside=c.set_aside, rows=p.rows.tolist(), rejects=[(r.row, r.rule, r.detail, r.raw) for r in p.rejects])))
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["seconds"] < 10
    assert (out["physical"], out["parsed"], out["rejected"]) == (1_048_576, 5, 1)
    assert out["set_aside"] == {"title": 1, "header": 1, "blank": 1_048_576 - 7 - 1}
    assert out["rows"] == [3, 4, 5, 6, 7]
    assert out["rejects"] == [[1_048_576, "row.shape", "value outside the header's columns (A-H) at XFD1048576", '{"XFD1048576": "x"}']]


def test_stray_far_cell_in_process_frame():
    t = time.perf_counter()
    p = parse(_stray_far_cell_workbook())
    assert time.perf_counter() - t < 10
    assert_count(p, 1_048_576, 5, 1, title=1, header=1, blank=1_048_568)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 6)))


def test_value_right_of_the_header_rejects_its_row():
    wb = Workbook()
    ws = wb.active
    write(ws, 4)
    ws["J4"] = "备注：已停产"
    ws["K5"] = 1
    ws["L5"] = 2
    p = parse(save(wb))
    assert_count(p, 6, 2, 2, title=1, header=1)
    assert [(r.row, r.rule, r.detail) for r in p.rejects] == [
        (4, "row.shape", "value outside the header's columns (A-H) at J4"),
        (5, "row.shape", "value outside the header's columns (A-H) at K5 (and 1 more)"),
    ]
    assert json.loads(p.rejects[0].raw)["J4"] == "备注：已停产" and json.loads(p.rejects[0].raw)["B4"] == "91120101MA00000002"
    pd.testing.assert_frame_equal(p.frame, expected([1, 4]))


def test_merged_range_over_the_whole_sheet_is_refused_quickly():
    content = patch_sheet(save(_wb(3)), lambda x: x.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>'))
    t = time.perf_counter()
    text = refused(content)
    assert time.perf_counter() - t < 10
    assert "merged range A1:XFD1048576 covers 17179869184 cells" in text and "limits.max_sheet_cells" in text


def _wb(n: int) -> Workbook:
    wb = Workbook()
    write(wb.active, n)
    return wb


def test_merged_ranges_filled_within_the_used_range():
    """A title merged over the whole row, and 所在区 merged down three records: filled, never materialised."""
    wb = _wb(4)
    ws = wb.active
    for r in (4, 5):
        ws.cell(row=r, column=4, value=None)
    content = patch_sheet(save(wb), lambda x: x.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="2"><mergeCell ref="A1:XFD1"/><mergeCell ref="D3:D5"/></mergeCells>'))
    t = time.perf_counter()
    p = parse(content)
    assert time.perf_counter() - t < 10
    assert_count(p, 6, 4, 0, title=1, header=1)
    pd.testing.assert_frame_equal(p.frame, expected(range(1, 5)))


def test_merged_range_limit():
    rows = [dict(zip(NAMES, map(str, record(i)))) for i in range(1, 3)]
    text = refused(xlsx_bytes(rows, "名录"), feed(max_merged_ranges=2))
    assert "more than 2 merged ranges" in text and "limits.max_merged_ranges=2" in text


def test_formula_without_cached_value_rejects_its_row():
    wb = _wb(4)
    wb.active["E5"] = "=1+1"  # openpyxl saves the formula with an empty <v/>: no calculated value
    p = parse(save(wb))
    assert_count(p, 6, 3, 1, title=1, header=1)
    (r,) = p.rejects
    assert (r.row, r.rule) == (5, "cell.formula_uncached") and r.detail.startswith("E5: formula =1+1 saved without a calculated value")
    assert json.loads(r.raw)["E5"] == "=1+1"
    pd.testing.assert_frame_equal(p.frame, expected([1, 2, 4]))


def test_formula_with_cached_value_is_its_value():
    wb = _wb(2)
    wb.active["G3"] = "=5+6"
    wb.active["H4"] = '=IF(1,"","x")'
    content = patch_sheet(save(wb), lambda x: x.replace(b"<f>5+6</f><v />", b"<f>5+6</f><v>11</v>")
                          .replace(b'<c r="H4"><f>IF(1,"","x")</f><v />', b'<c r="H4" t="str"><f>IF(1,"","x")</f><v></v>'))
    p = parse(content)
    assert_count(p, 4, 2, 0, title=1, header=1)
    want = expected([1, 2])
    want.loc[0, "从业人员数"] = "11"
    want.loc[1, "更新时间"] = pd.NA  # a cached empty string
    pd.testing.assert_frame_equal(p.frame, want)


def test_duplicate_header_name_is_refused_in_one_line():
    wb = _wb(2)
    wb.active["I2"] = "企业名称"
    text = refused(save(wb))
    assert "sheet 'Sheet' header row 2: column '企业名称' appears twice (columns C and I)" in text


def test_blank_header_cells():
    """A blank-named column with values is kept as _列<n>; one without values is dropped."""
    wb = Workbook()
    ws = wb.active
    ws.append([*HEADER[:3], None, *HEADER[3:], None, "备注"])
    for i in (1, 2):
        ws.append([i, *record(i)[:2], "补录" if i == 2 else None, *record(i)[2:], None, None])
    p = parse(save(wb))
    assert_count(p, 3, 2, 0, header=1)
    want = expected([1, 2])
    want.insert(2, "_列4", pd.array([pd.NA, "补录"], dtype="string"))
    want["备注"] = pd.array([pd.NA, pd.NA], dtype="string")
    pd.testing.assert_frame_equal(p.frame, want)


def test_truncated_workbook_is_refused():
    content = save(_wb(50))
    text = refused(content[: len(content) // 2])
    assert "unreadable or truncated Excel workbook" in text and "deliver it again" in text


def test_xls_and_garbage_are_refused():
    assert ".xls" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert "unreadable or truncated Excel workbook" in refused(b"not a workbook")


def test_xml_entities_are_refused():
    content = patch_sheet(save(_wb(2)), lambda x: x.replace(b"<worksheet", b'<!DOCTYPE w [<!ENTITY a "aaaa">]><worksheet', 1))
    assert "DTD or entities" in refused(content)


def test_limits_rows_cells_field_size():
    content = save(_wb(40))
    assert "limits.max_rows=5" in refused(content, feed(max_rows=5))
    assert "limits.max_sheet_cells=100" in refused(content, feed(max_sheet_cells=100))
    text = refused(content, feed(max_field_chars=12))
    assert "cell B3: 18 characters" in text and "limits.max_field_chars=12" in text
    assert "limits.max_columns=4" in refused(content, feed(max_columns=4))


def test_empty_and_headerless_sheets_are_refused():
    assert "is empty" in refused(save(Workbook()))
    wb = Workbook()
    wb.active.append(["甲", "乙"])
    assert "no header row naming the feed's columns" in refused(save(wb))


def test_rows_are_int64_physical_rows():
    p = parse(save(_wb(3)))
    assert p.rows.dtype == np.int64 and p.rows.tolist() == [3, 4, 5]
