"""The campaign's other figures (reporting/campaign.py) in the weekly reports the report_weekly DAG
wrote in the session's run (week 2026-W45 as of its data date 11-04, 非终版): the 一情况 sheet's
lines held to the simulator's own records (the latest version of each record the warehouse
loaded, recomputed as of that date), and the weekly HTML's section showing the same figures in
headless Chromium."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from browser import chromium, record_console, screenshot_path
from conftest import DAYS
from safety_hub.config.registry import get_feed
from safety_hub.domain.dates import parse_date
from safety_hub.domain.text import to_halfwidth
from safety_hub.reporting.archive import ReportWeek
from safety_hub.reporting.campaign import SECTIONS
from safety_hub.reporting.workbook import HEADER_ROW, SHEET_SITUATION
from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.spec import SPECS
from test_reports import week_files

pytestmark = pytest.mark.e2e
WEEK = ReportWeek.containing(DAYS[-1])
START, AS_OF = WEEK.start, DAYS[-1]


def campaign_lines(run) -> dict[tuple[str, str], tuple]:
    """(类别, 指标) -> (本周, 累计) of the campaign's lines in the workbook's 一情况 sheet."""
    categories = {s.category for s in SECTIONS}
    ws = load_workbook(week_files(run)["workbook"])[SHEET_SITUATION]
    return {(r[1], r[2]): (r[4], r[5]) for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True) if r[1] in categories}


def latest_valid(run, feed_id: str) -> list[dict]:
    """The simulator's records of ``feed_id`` the warehouse holds: per key, the latest version that loaded."""
    spec = SPECS[feed_id]
    records = {}
    for day in sorted(run.truth):
        valid = set(run.truth[day]["feeds"][feed_id]["valid_keys"])
        for rec in generate_day(day).records[feed_id]:
            key = to_halfwidth(str(rec[spec.key])).strip()
            if key in valid:
                records[key] = rec
    return list(records.values())


def _canonical(feed_id: str, column: str) -> dict[str, str]:
    return {s: canonical for canonical, spellings in get_feed(feed_id).column(column).values.items() for s in spellings}


def truth_supervision(run) -> dict[str, tuple]:
    """指标 -> (本周, 累计) of 督导检查 from the simulator's records, as of the data date."""
    status_of = _canonical("emb_supervision", "status")
    rows = []
    for rec in latest_valid(run, "emb_supervision"):
        inspected = parse_date(rec["督导日期"])
        if inspected > AS_OF:
            continue
        started, done = (parse_date(rec[f]) if rec[f] else None for f in ("开始整改日期", "整改完成日期"))
        rows.append({"week": inspected >= START, "found": int(rec["发现问题数"]), "supervised": rec["督办问题编号"] is not None,
                     "deadline": parse_date(rec["整改期限"]) if rec["整改期限"] else None,
                     "done": done is not None and done <= AS_OF, "started": started is not None and started <= AS_OF,
                     "status": status_of[rec["整改状态"]] if rec["整改状态"] else None})
    sup = [r for r in rows if r["supervised"]]
    assert all((r["status"] == "已整改") == r["done"] for r in sup if r["status"]), "the latest versions are dated up to the data date"
    week = [r for r in rows if r["week"]]
    return {
        "督导检查次数": (len(week), len(rows)),
        "督导发现问题": (sum(r["found"] for r in week), sum(r["found"] for r in rows)),
        "督导督办重点问题": (sum(r["supervised"] for r in week), len(sup)),
        "其中：已整改": (None, sum(r["done"] for r in sup)),
        "其中：整改中": (None, sum(r["started"] and not r["done"] for r in sup)),
        "其中：未整改": (None, sum(not r["started"] and not r["done"] for r in sup)),
        "其中：超期未整改": (None, sum(not r["done"] and r["deadline"] is not None and r["deadline"] < AS_OF for r in sup)),
    }


def test_situation_supervision_figures_equal_the_simulator_truth(run):
    got = {name: value for (category, name), value in campaign_lines(run).items() if category == "督导检查"}
    expected = truth_supervision(run)
    assert got == expected
    total = expected["督导检查次数"]
    assert total[1] > total[0] > 0, "inspections this week and before it (the updates of earlier inspections)"
    assert all(expected[k][1] > 0 for k in ("其中：已整改", "其中：整改中", "其中：未整改")), "every status occurs"


def test_the_html_shows_the_campaign_figures_of_the_workbook_in_chromium(run, record_property):
    lines = campaign_lines(run)
    console, page_errors = [], []
    shot = screenshot_path(f"weekly_campaign_{WEEK.label}_{run.backend}.png")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        record_console(page, console, page_errors)
        page.goto(week_files(run)["html"].as_uri(), wait_until="load")
        section = page.locator("#campaign")
        section.scroll_into_view_if_needed()
        heading = page.evaluate("() => document.querySelector('#campaign').previousElementSibling.textContent")
        shown = page.evaluate("""() => Array.from(document.querySelectorAll('#campaign tbody tr'))
            .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))""")
        visible = section.is_visible()
        section.screenshot(path=str(shot))
    record_property("screenshot", str(shot))
    assert not page_errors and not console, (page_errors, console)
    assert visible and "截至 2026-11-04" in heading
    got = {(r[0], r[1]): (r[3], r[4]) for r in shown}
    assert got == {k: ("—" if w is None else str(w), str(t)) for k, (w, t) in lines.items()}
    assert {c for c, _ in got} == {s.category for s in SECTIONS}, "every campaign section is in the page"
    assert shot.exists() and shot.stat().st_size > 1_000


def truth_outreach(run) -> dict[str, tuple]:
    """指标 -> (本周, 累计) of 安全宣讲 and 安全教育培训 from the simulator's records, as of the data date."""
    type_of = _canonical("emb_outreach", "activity_type")
    rows = [{"week": parse_date(r["结束日期"]) >= START, "type": type_of[r["活动类型"]], "sessions": int(r["场次"]),
             "covered": int(r["覆盖企业（家次）"]), "trained": int(r["培训人次"] or 0)}
            for r in latest_valid(run, "emb_outreach") if parse_date(r["结束日期"]) <= AS_OF]

    def pair(kind: str, value) -> tuple:
        of = [r for r in rows if r["type"] == kind]
        return (sum(value(r) for r in of if r["week"]), sum(value(r) for r in of))

    return {
        "安全宣讲次数": pair("安全宣讲", lambda r: 1), "安全宣讲场次": pair("安全宣讲", lambda r: r["sessions"]),
        "宣讲覆盖企业": pair("安全宣讲", lambda r: r["covered"]),
        "安全教育培训次数": pair("安全教育培训", lambda r: 1), "安全教育培训场次": pair("安全教育培训", lambda r: r["sessions"]),
        "培训覆盖企业": pair("安全教育培训", lambda r: r["covered"]), "培训人次": pair("安全教育培训", lambda r: r["trained"]),
    }


def test_situation_outreach_figures_equal_the_simulator_truth(run):
    got = {name: value for (category, name), value in campaign_lines(run).items() if category == "安全宣讲及培训"}
    expected = truth_outreach(run)
    assert got == expected
    assert expected["安全宣讲次数"][0] > 0 and expected["培训人次"][0] > expected["安全教育培训次数"][0] > 0


def truth_chem(run) -> dict[str, tuple]:
    """指标 -> (本周, 累计) of 危险化学品企业排查评估 from the simulator's records, as of the data date."""
    from safety_hub.domain.uscc import normalise_uscc

    class_of = _canonical("emb_chem_assessment", "classification")
    rows = sorted(({"uscc": normalise_uscc(r["统一社会信用代码"]), "date": parse_date(r["评估日期"]), "id": r["评估编号"],
                    "batch": class_of[r["评估结论"]], "plan": bool(r["一企一策措施"])}
                   for r in latest_valid(run, "emb_chem_assessment") if parse_date(r["评估日期"]) <= AS_OF),
                  key=lambda r: (r["date"], r["id"]))
    latest = {r["uscc"]: r for r in rows}
    first = {}
    for r in rows:
        first.setdefault(r["uscc"], r["date"])
    count = lambda batch: sum(r["batch"] == batch for r in latest.values())  # noqa: E731
    return {
        "排查评估": (sum(r["date"] >= START for r in rows), len(rows)),
        "排查评估企业": (sum(d >= START for d in first.values()), len(latest)),
        "其中：关闭退出": (None, count("关闭退出")), "其中：停业整改": (None, count("停业整改")),
        "其中：限期整改": (None, count("限期整改")), "其中：评估达标": (None, count("评估达标")),
        "一企一策": (None, sum(r["plan"] and r["batch"] != "评估达标" for r in latest.values())),
    }


def test_situation_chem_assessment_figures_equal_the_simulator_truth(run):
    got = {name: value for (category, name), value in campaign_lines(run).items() if category == "危险化学品企业排查评估"}
    expected = truth_chem(run)
    assert got == expected
    assert all(expected[k][1] > 0 for k in ("其中：停业整改", "其中：限期整改", "一企一策"))


def truth_risk_tasks(run) -> dict[str, tuple]:
    """指标 -> (本周, 累计) of the regional risk tasks from the plan, as the latest valid version of each gave it
    (its 完成日期 as delivered: an optional item the list may leave empty)."""
    from safety_hub.reporting.progress import measure_progress, warn_days
    from safety_hub_dev.simulator.datasets.emb_campaign import RISK_YEAR, risk_task_plan

    spec = SPECS["emb_risk_task"]
    last_valid: dict[str, tuple[dt.date, dt.date | None]] = {}  # key -> (the day of its latest valid version, its 完成日期)
    for day in sorted(run.truth):
        valid = set(run.truth[day]["feeds"]["emb_risk_task"]["valid_keys"])
        for rec in generate_day(day).records["emb_risk_task"]:
            key = to_halfwidth(str(rec[spec.key])).strip()
            if key in valid:
                last_valid[key] = (day, parse_date(rec["完成日期"]) if rec["完成日期"] else None)
    plan = {f"FXFF-{RISK_YEAR}-{t['seq']:03d}": t for t in risk_task_plan()}
    tasks = [{**plan[k], "done": done, "is_done": done is not None and done <= day} for k, (day, done) in last_valid.items()]
    flags = [measure_progress(t["is_done"], t["deadline"], AS_OF, warn_days()) for t in tasks]
    return {
        "风险区域": (None, len({t["area"] for t in tasks})), "防范措施任务": (None, len(tasks)),
        "其中：已完成任务": (sum(t["is_done"] and t["done"] >= START for t in tasks), sum(t["is_done"] for t in tasks)),
        "进展：红": (None, flags.count("红")), "进展：黄": (None, flags.count("黄")), "进展：绿": (None, flags.count("绿")),
    }


def test_situation_risk_task_figures_equal_the_plan(run):
    got = {name: value for (category, name), value in campaign_lines(run).items() if category == "安全风险分析及防范措施"}
    expected = truth_risk_tasks(run)
    assert got == expected
    assert expected["防范措施任务"][1] > 30 and expected["进展：红"][1] > 0 and expected["其中：已完成任务"][1] > 0
