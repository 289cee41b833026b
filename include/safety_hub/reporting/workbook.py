"""The 一情况两清单 workbook of one week (Excel, openpyxl).

Five sheets, each a title row, a note row (统计截止日, 数据截至 … 终版/非终版, 数据来源) and a
table with Chinese headers, a frozen header row, an autofilter and column widths
fitted to the content (CJK characters count double), set up to print: A4 landscape, fit
to one page wide, the header row repeated on every page, the print area the table:

- 一情况: the situation figures, this week and cumulative as of the week's data date, the campaign's
  other figures (``campaign.py``: 督导检查, ...) after the hazards, enforcement and measures;
- 问题隐患清单: every hazard open at some point of the week, with 剩余天数 and 进展 红/黄/绿;
- 制度措施清单: the rules and measures list with its status and 进展 on that date;
- 红橙风险企业: every 红/橙 enterprise with its score and the components that made its grade;
- 报送情况: the reports due in the week as of its data date (应报/已报/按时/迟报/漏报/重复报送,
  报送率, 及时率) by feed, by department, by district and per feed and district.

Every cell is written through ``cells.neutralise`` (no formula injection);
numbers and dates stay typed, with number formats.
"""

from __future__ import annotations

import datetime as dt
import io
from copy import copy
import unicodedata
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from safety_hub.reporting.campaign import situation_lines as campaign_lines
from safety_hub.reporting.cells import neutralise
from safety_hub.reporting.figures import WeeklyFigures

SHEET_SITUATION, SHEET_HAZARDS, SHEET_MEASURES, SHEET_RISK = "一情况", "问题隐患清单", "制度措施清单", "红橙风险企业"
SHEET_REPORTING = "报送情况"
TITLE = "天津市安全生产一情况两清单"
HEADER_ROW = 3  # row 1: title, row 2: note, row 3: headers, data from row 4
FORMATS = {"int": "#,##0", "pct": "0.0%", "wan": "#,##0.00", "date": "yyyy-mm-dd", "number": "0.00"}
FLAG_FILLS = {"红": ("FFC0392B", "FFFFFFFF"), "黄": ("FFF1C40F", "FF222222"), "绿": ("FF27AE60", "FFFFFFFF")}
MIN_WIDTH, MAX_WIDTH, WRAP_WIDTH = 6, 60, 40


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    kind: Literal["text", "int", "pct", "wan", "date", "number", "flag"] = "text"
    wrap: bool = False  # long free text: wrapped at WRAP_WIDTH


SITUATION_COLUMNS = [
    Column("序号", "seq", "int"), Column("类别", "category"), Column("指标", "indicator"), Column("单位", "unit"),
    Column("本周", "week", "number"), Column("累计", "total", "number"), Column("说明", "note", wrap=True),
]
HAZARD_COLUMNS = [
    Column("序号", "seq", "int"), Column("所在区", "district_name"), Column("单位名称", "org_name"),
    Column("统一社会信用代码", "uscc"), Column("问题（隐患描述）", "description", wrap=True), Column("隐患等级", "grade"),
    Column("挂牌督办", "listed"), Column("整改措施", "measures", wrap=True), Column("责任人", "owner"),
    Column("发现日期", "found_date", "date"), Column("整改时限", "deadline", "date"), Column("剩余天数", "days_left", "int"),
    Column("整改状态", "status"), Column("进展", "progress", "flag"), Column("销号日期", "closed_date", "date"),
    Column("数据来源", "sources", wrap=True),
]
MEASURE_COLUMNS = [
    Column("序号", "seq", "int"), Column("措施编号", "measure_id"), Column("名称", "title", wrap=True),
    Column("类型", "measure_type"), Column("牵头单位", "org_name"), Column("所在区", "district_name"), Column("文号", "doc_no"),
    Column("立项日期", "registered_date", "date"), Column("计划完成日期", "planned_date", "date"),
    Column("实际完成日期", "completed_date", "date"), Column("状态", "status"), Column("进展", "progress", "flag"),
]


RISK_COLUMNS = [
    Column("序号", "seq", "int"), Column("风险等级", "grade"), Column("单位名称", "org_name"), Column("统一社会信用代码", "uscc"),
    Column("所在区", "district_name"), Column("行业领域", "sector"), Column("风险分", "score", "number"),
    Column("评分构成", "reasons", wrap=True),
]
REPORTING_COLUMNS = [
    Column("序号", "seq", "int"), Column("统计口径", "scope"), Column("数据源", "feed_id"), Column("部门", "agency_name"),
    Column("报送单位（区）", "unit_name"), Column("应报", "expected", "int"), Column("已报", "reported", "int"),
    Column("按时", "on_time", "int"), Column("迟报", "late", "int"), Column("漏报", "missed", "int"),
    Column("重复报送", "repeated", "int"), Column("报送率", "report_rate", "pct"), Column("及时率", "timely_rate", "pct"),
]
GRADE_FILLS = {"红": ("FFC0392B", "FFFFFFFF"), "橙": ("FFE67E22", "FFFFFFFF")}


def display_width(value: object) -> int:
    """Characters as a spreadsheet shows them: East Asian wide and full-width characters count 2."""
    if value is None:
        return 0
    if isinstance(value, (dt.date, dt.datetime)):
        return 10
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in str(value))


def _situation_rows(fig: WeeklyFigures) -> list[dict]:
    h, e = fig.hazards, fig.enforcement
    m = fig.measure_list
    completed = int(m["completed_by_asof"].sum()) if len(m) else 0
    overdue_measures = int((m["progress"] == "红").sum()) if len(m) else 0
    rows = [
        ("隐患排查治理", "排查隐患", "条", h["found_week"], h["found_total"], "本周：发现日期在本周；累计：截至统计截止日（跨部门、重复报送已去重）"),
        ("隐患排查治理", "整改销号", "条", h["closed_week"], h["closed_total"], "验收销号；本周：销号日期在本周"),
        ("隐患排查治理", "动态整改率", "%", None, fig.rectification_rate, "截至统计截止日已销号 ÷ 排查隐患"),
        ("隐患排查治理", "按期整改率", "%", None, fig.on_time_rate, "期限内销号 ÷ 整改期限已到的隐患"),
        ("隐患排查治理", "超期未整改", "条", None, h["overdue"], "整改期限早于统计截止日且未销号（逾期）"),
        ("隐患排查治理", "重大隐患", "条", h["major_week"], h["major_total"], ""),
        ("隐患排查治理", "其中：已销号重大隐患", "条", None, h["major_closed_total"], ""),
        ("隐患排查治理", "挂牌督办隐患", "条", h["listed_week"], h["listed_total"], ""),
        ("隐患排查治理", "其中：未销号挂牌督办隐患", "条", None, h["listed_open"], ""),
        ("执法检查", "执法检查企业", "家", e["inspected_week"], e["inspected_total"], "执法处罚记录中的被检查企业（按检查日期，统一社会信用代码去重）"),
        ("执法检查", "行政处罚", "起", e["penalties_week"], e["penalties_total"], "罚款、警告、停产整顿、吊销、关闭取缔；按决定日期"),
        ("执法检查", "罚款金额", "万元", e["fine_wan_week"], e["fine_wan_total"], "含停产整顿并处罚款"),
        ("执法检查", "责令停产整顿", "家次", e["suspensions_week"], e["suspensions_total"], ""),
        ("执法检查", "吊销证照", "家次", e["revocations_week"], e["revocations_total"], ""),
        ("执法检查", "关闭取缔", "家次", e["closures_week"], e["closures_total"], ""),
        ("执法检查", "联合惩戒", "家次", e["joint_punishments_week"], e["joint_punishments_total"], ""),
        ("执法检查", "约谈", "次", e["warning_talks_week"], e["warning_talks_total"], "警示约谈，非行政处罚"),
        ("制度措施", "制度措施", "项", None, len(m), "截至统计截止日已立项的清单措施"),
        ("制度措施", "其中：已完成", "项", None, completed, "实际完成日期不晚于统计截止日"),
        ("制度措施", "其中：逾期未完成", "项", None, overdue_measures, "已过计划完成日期仍未完成（进展为红）"),
    ]
    rows += campaign_lines(fig.campaign)
    kinds = {"%": "pct", "万元": "wan"}
    return [{"seq": i, "category": c, "indicator": ind, "unit": u, "week": w, "total": t, "note": note,
             "_kind": kinds.get(u, "int")} for i, (c, ind, u, w, t, note) in enumerate(rows, start=1)]


def _hazard_rows(fig: WeeklyFigures) -> list[dict]:
    rows = []
    for i, r in enumerate(fig.hazard_list.to_dict("records"), start=1):
        rows.append({**r, "seq": i, "listed": "是" if r.get("listed_supervision") else "否",
                     "sources": (r.get("sources") or "").replace(",", "、")})
    return rows


def _measure_rows(fig: WeeklyFigures) -> list[dict]:
    return [{**r, "seq": i} for i, r in enumerate(fig.measure_list.to_dict("records"), start=1)]


def _risk_rows(fig: WeeklyFigures) -> list[dict]:
    return [{**r, "seq": i, "_kind": "number"} for i, r in enumerate(fig.risk_list.to_dict("records"), start=1)]


def _reporting_rows(fig: WeeklyFigures) -> list[dict]:
    rows = []
    for i, r in enumerate(fig.reporting.to_dict("records"), start=1):
        rows.append({**r, "seq": i, **{k: "全部" if r.get(k) is None or pd.isna(r.get(k)) else r[k]
                                      for k in ("feed_id", "agency_name", "unit_name")}})
    return rows


def _note(fig: WeeklyFigures) -> str:
    incomplete = "" if fig.complete else "（本周数据尚不完整，周日数据入库后重新生成为终版）"
    return (f"统计周：{fig.week.label}（{fig.week.start:%Y-%m-%d} 至 {fig.week.end:%Y-%m-%d}）；统计截止日：{fig.as_of:%Y-%m-%d}；"
            f"{fig.label}{incomplete}；数据来源：{'、'.join(fig.sources) or '无'}")


def _body_style(wb, number_format: str | None, flag: tuple[str, str] | None, wrap: bool) -> str:
    """The name of the workbook's cell style for a body cell (registered on first use): a thin border,
    the number format, a flag's fill and bold font centred, or wrapped text at the top.

    A named style is registered once and assigned by name; setting a border, fill, font and alignment
    on every cell makes openpyxl hash and look up each style object per cell (about 7 s for the
    100,000 cells of a quarter's hazard list)."""
    from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
    from openpyxl.styles.fonts import DEFAULT_FONT

    name = f"safety-hub {number_format or 'General'} {'/'.join(flag) if flag else '-'} {'wrap' if wrap else '-'}"
    if name not in wb.named_styles:
        thin = Side(style="thin", color="FFBBBBBB")
        style = NamedStyle(name=name, font=copy(DEFAULT_FONT), border=Border(left=thin, right=thin, top=thin, bottom=thin))
        if number_format:
            style.number_format = number_format
        if flag:
            style.fill = PatternFill("solid", fgColor=flag[0])
            style.font = Font(bold=True, color=flag[1])
            style.alignment = Alignment(horizontal="center")
        elif wrap:
            style.alignment = Alignment(wrap_text=True, vertical="top")
        wb.add_named_style(style)
    return name


def write_sheet(ws, title: str, note: str, columns: list[Column], rows: list[dict]) -> None:
    """Title, note, a styled header row (frozen, filtered) and the rows, every value neutralised."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    last_col = get_column_letter(len(columns))
    thin = Side(style="thin", color="FFBBBBBB")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.cell(row=1, column=1, value=neutralise(title)).font = Font(bold=True, size=14)
    ws.merge_cells(f"A1:{last_col}1")
    ws.cell(row=2, column=1, value=neutralise(note)).font = Font(size=9, color="FF666666")
    ws.merge_cells(f"A2:{last_col}2")
    widths = [display_width(c.header) for c in columns]
    for j, col in enumerate(columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=j, value=col.header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFDDE4EE")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    styles: dict[tuple, str] = {}
    for i, row in enumerate(rows, start=HEADER_ROW + 1):
        for j, col in enumerate(columns, start=1):
            value = neutralise(row.get(col.key))
            cell = ws.cell(row=i, column=j, value=value)
            kind = row.get("_kind", col.kind) if col.kind == "number" else col.kind
            number_format = FORMATS[kind] if kind in FORMATS and isinstance(value, (int, float, dt.date)) else None
            fills = FLAG_FILLS if col.kind == "flag" else GRADE_FILLS if col.key == "grade" and columns is RISK_COLUMNS else {}
            flag = fills[value] if isinstance(value, str) and value in fills else None
            key = (number_format, flag, col.wrap)
            if key not in styles:
                styles[key] = _body_style(ws.parent, *key)
            cell.style = styles[key]
            shown = f"{value:.1%}" if kind == "pct" and isinstance(value, float) else value
            widths[j - 1] = max(widths[j - 1], display_width(shown))
    for j, col in enumerate(columns, start=1):
        cap = WRAP_WIDTH if col.wrap else MAX_WIDTH
        ws.column_dimensions[get_column_letter(j)].width = min(cap, max(MIN_WIDTH, widths[j - 1] + 2))
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    last_row = HEADER_ROW + max(len(rows), 1)
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last_col}{last_row}"
    print_setup(ws, f"A1:{last_col}{last_row}")


def print_setup(ws, area: str) -> None:
    """A4 landscape, fit to one page wide (as many pages tall as needed), the header row repeated
    on every page, the print area the table itself (no blank page beyond it), page numbers."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.print_area = area
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def build_workbook(fig: WeeklyFigures):
    """The five sheets for ``fig``'s week as an openpyxl Workbook."""
    from openpyxl import Workbook

    wb = Workbook()
    note = _note(fig)
    period = f"（{fig.week.label}，截至{fig.as_of:%Y年%m月%d日}，{fig.status}）"
    situation = wb.active
    situation.title = SHEET_SITUATION
    columns = [c if c.key != "total" else Column(f"累计（截至{fig.as_of:%m月%d日}）", "total", "number") for c in SITUATION_COLUMNS]
    write_sheet(situation, f"{TITLE}：一情况{period}", note, columns, _situation_rows(fig))
    write_sheet(wb.create_sheet(SHEET_HAZARDS), f"{TITLE}：问题隐患清单{period}", note, HAZARD_COLUMNS, _hazard_rows(fig))
    write_sheet(wb.create_sheet(SHEET_MEASURES), f"{TITLE}：制度措施清单{period}", note, MEASURE_COLUMNS, _measure_rows(fig))
    write_sheet(wb.create_sheet(SHEET_RISK), f"红色、橙色风险企业及评分构成{period}", note, RISK_COLUMNS, _risk_rows(fig))
    reporting_note = (note + "；报送情况：报送时限在本周内的报送周期（法定工作日历），按截止日统计；"
                      "报送率 = 已报 ÷ 应报，及时率 = 按时 ÷ 应报；重复报送：同一所报日期的数据再次交付，或同一记录在一次交付中重复出现")
    write_sheet(wb.create_sheet(SHEET_REPORTING), f"{TITLE}：报送情况{period}", reporting_note, REPORTING_COLUMNS, _reporting_rows(fig))
    wb.properties.title = f"{TITLE} {fig.week.label}"
    wb.properties.creator = "safety-hub"
    return wb


def workbook_bytes(fig: WeeklyFigures) -> bytes:
    out = io.BytesIO()
    build_workbook(fig).save(out)
    return out.getvalue()
