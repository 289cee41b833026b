"""The weekly reports the report_weekly DAG wrote in the session's run (week 2026-W45, whose
Monday to Wednesday are the simulated days: an unfinished week, reported as of its data date
Wednesday 11-04, 非终版), held against SQL over the warehouse, the risk marts and the
simulator's own records, all as of that date; a past week produced again after later data arrived
gives the same figures; the HTML renders in headless Chromium with its charts and no errors."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from browser import chromium, record_console, screenshot_path
from conftest import DAYS, SIM_TOKEN, query
from safety_hub.domain.uscc import normalise_uscc
from safety_hub.domain.dates import parse_date
from safety_hub.domain.text import to_halfwidth
from safety_hub.config.registry import get_feed
from safety_hub.reporting import archive
from safety_hub.reporting.archive import ReportWeek
from safety_hub.reporting.cells import FORMULA_TRIGGERS
from safety_hub.reporting.workbook import HAZARD_COLUMNS, HEADER_ROW, MEASURE_COLUMNS, SHEET_HAZARDS, SHEET_MEASURES, SHEET_SITUATION
from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.spec import SPECS
from test_hazards import expected_hazards

pytestmark = pytest.mark.e2e
WEEK = ReportWeek.containing(DAYS[-1])
START, END = WEEK.start, WEEK.end
AS_OF = DAYS[-1]  # the week's data date: every figure is as of it (overdue = deadline before it, open)


# --- what the DAG wrote ----------------------------------------------------------------------

def week_files(run) -> dict[str, Path]:
    folder = run.hub_home / "reports" / WEEK.label
    return {"dir": folder, "workbook": folder / archive.WORKBOOK_NAME.format(label=WEEK.label),
            "html": folder / archive.HTML_NAME.format(label=WEEK.label), "figures": folder / archive.FIGURES_NAME}


def situation(run) -> dict[str, tuple]:
    """指标 -> (本周, 累计) from the workbook's 一情况 sheet."""
    ws = load_workbook(week_files(run)["workbook"])[SHEET_SITUATION]
    return {r[2]: (r[4], r[5]) for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)}


def sheet_rows(run, sheet: str, columns) -> pd.DataFrame:
    ws = load_workbook(week_files(run)["workbook"])[sheet]
    rows = list(ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    return pd.DataFrame(rows, columns=[c.header for c in columns])


def kpis(page: str) -> dict[str, str]:
    """Headline card label -> value text, from the HTML."""
    return dict(re.findall(r'<div class="kpi">([^<]+)<b>([^<]+)</b>', page))


def test_the_weekly_dag_archived_both_reports_under_the_week(run):
    assert run.states.get("report_weekly") == "success", run.states
    files = week_files(run)
    assert files["dir"].name == "2026-W45"
    for name in ("workbook", "html", "figures"):
        assert files[name].exists() and files[name].stat().st_size > 0, name
    figures = json.loads(files["figures"].read_text(encoding="utf-8"))
    assert (figures["week"], figures["week_end"], figures["as_of"], figures["data_date"]) == (
        "2026-W45", "2026-11-08", "2026-11-04", "2026-11-04")
    assert (figures["final"], figures["label"]) == (False, "数据截至 2026-11-04（北京时间），非终版")


# --- the situation sheet against SQL and the simulator ---------------------------------------

def sql_hazard_figures(run) -> dict:
    """The same figures straight from ``hazard`` (the run loaded nothing after the data date, so
    the latest state is the state on that date)."""
    h = query(run, """
        SELECT found_date, deadline, is_closed, closed_date, is_major, listed_supervision FROM hazard WHERE found_date <= :e""", e=AS_OF)
    closed = h["is_closed"].astype(bool) & (pd.to_datetime(h["closed_date"]).dt.date <= AS_OF)
    found = pd.to_datetime(h["found_date"]).dt.date
    closed_date = pd.to_datetime(h["closed_date"]).dt.date
    due = pd.to_datetime(h["deadline"]).dt.date < AS_OF
    major, listed = h["is_major"].fillna(False).astype(bool), h["listed_supervision"].fillna(False).astype(bool)
    return {
        "排查隐患": (int((found >= START).sum()), len(h)),
        "整改销号": (int((closed & (closed_date >= START)).sum()), int(closed.sum())),
        "超期未整改": (None, int((due & ~closed).sum())),
        "重大隐患": (int((major & (found >= START)).sum()), int(major.sum())),
        "其中：已销号重大隐患": (None, int((major & closed).sum())),
        "挂牌督办隐患": (int((listed & (found >= START)).sum()), int(listed.sum())),
        "其中：未销号挂牌督办隐患": (None, int((listed & ~closed).sum())),
        "_rate": closed.sum() / len(h),
        "_on_time": (due & closed & (closed_date <= pd.to_datetime(h["deadline"]).dt.date)).sum() / due.sum(),
    }


def test_situation_hazard_figures_equal_sql_over_the_warehouse(run):
    got, expected = situation(run), sql_hazard_figures(run)
    for name, value in expected.items():
        if not name.startswith("_"):
            assert got[name] == value, name
    assert got["动态整改率"][1] == pytest.approx(expected["_rate"])
    assert got["按期整改率"][1] == pytest.approx(expected["_on_time"])
    assert got["排查隐患"][0] > 0 and got["整改销号"][0] > 0 and got["超期未整改"][1] > 0, "figures that can be wrong"


def test_situation_hazard_figures_equal_the_simulator_truth(run):
    got = situation(run)
    assert_situation_hazards_equal_truth(got, tuple(sorted(run.truth)), AS_OF)


def assert_situation_hazards_equal_truth(got: dict, days: tuple, as_of: dt.date) -> None:
    """The situation sheet's hazard figures against the simulator's ledgers of ``days``, recomputed as of ``as_of``."""
    hazards = [h for h in expected_hazards(days).values() if h["found"] <= as_of]
    closed = [h for h in hazards if h["rank"] == 3 and h["closed"] is not None and h["closed"] <= as_of]
    due = [h for h in hazards if h["deadline"] is not None and h["deadline"] < as_of]
    assert due and len(closed) < len(hazards), "figures that can be wrong"
    assert got["排查隐患"] == (sum(h["found"] >= START for h in hazards), len(hazards))
    assert got["整改销号"] == (sum(h["closed"] >= START for h in closed), len(closed))
    assert got["超期未整改"][1] == sum(1 for h in due if h not in closed)
    assert got["动态整改率"][1] == pytest.approx(len(closed) / len(hazards))
    on_time = sum(1 for h in due if h in closed and h["closed"] <= h["deadline"])
    assert got["按期整改率"][1] == pytest.approx(on_time / len(due))


def truth_enforcement(run) -> list[dict]:
    """The simulator's valid enforcement records, latest version per key, typed as the warehouse holds them."""
    spec, feed = SPECS["emb_enforcement"], get_feed("emb_enforcement")
    spelling = {s: canonical for canonical, spellings in feed.column("action_type").values.items() for s in spellings}
    records = {}
    for day in sorted(run.truth):
        valid = set(run.truth[day]["feeds"]["emb_enforcement"]["valid_keys"])
        for rec in generate_day(day).records["emb_enforcement"]:
            key = to_halfwidth(str(rec[spec.key])).strip()
            if key in valid:
                records[key] = {"uscc": normalise_uscc(rec["CF_XDR_SHXYM"]), "action": spelling[rec["CSLX"].strip()],
                                "fine": float(rec["CF_NR_FK"] or 0), "decided": parse_date(rec["CF_JDRQ"]),
                                "inspected": parse_date(rec["JCRQ"])}
    return list(records.values())


ACTIONS = {"责令停产整顿": "停产整顿", "吊销证照": "吊销", "关闭取缔": "关闭取缔", "联合惩戒": "联合惩戒", "约谈": "约谈"}
PENALTIES = {"罚款", "警告", "停产整顿", "吊销", "关闭取缔"}


def test_situation_enforcement_figures_equal_the_simulator_truth(run):
    records = [r for r in truth_enforcement(run) if r["decided"] <= AS_OF]
    week = [r for r in records if r["decided"] >= START]
    got = situation(run)
    assert got["行政处罚"] == (sum(r["action"] in PENALTIES for r in week), sum(r["action"] in PENALTIES for r in records))
    assert got["罚款金额"][0] == pytest.approx(sum(r["fine"] for r in week))
    assert got["罚款金额"][1] == pytest.approx(sum(r["fine"] for r in records))
    for label, action in ACTIONS.items():
        assert got[label] == (sum(r["action"] == action for r in week), sum(r["action"] == action for r in records)), label
    inspected = {r["uscc"] for r in records if r["inspected"] <= AS_OF}
    assert got["执法检查企业"] == (len({r["uscc"] for r in records if START <= r["inspected"] <= AS_OF}), len(inspected))
    assert got["行政处罚"][1] > got["行政处罚"][0] > 0 and got["罚款金额"][1] > 0


def test_situation_enforcement_figures_equal_sql_and_the_district_mart(run):
    e = query(run, "SELECT action_type, COALESCE(fine_wan, 0) AS fine, decision_date FROM fact_enforcement WHERE decision_date <= :e", e=END)
    week = e[pd.to_datetime(e["decision_date"]).dt.date >= START]
    got = situation(run)
    assert got["罚款金额"][1] == pytest.approx(float(e["fine"].astype(float).sum()))
    for label, action in ACTIONS.items():
        assert got[label] == (int((week["action_type"] == action).sum()), int((e["action_type"] == action).sum())), label
    mart = query(run, """
        SELECT SUM(hazards_found) AS found, SUM(hazards_closed) AS closed, SUM(overdue) AS overdue, SUM(found_total) AS found_total,
               SUM(enforcement_actions) AS actions, SUM(penalty_amount_wan) AS fines, SUM(suspensions) AS suspensions,
               SUM(interviews) AS interviews, SUM(supervised) AS supervised
        FROM mart_district_week WHERE week_end = :e""", e=END).iloc[0]
    assert (got["排查隐患"][0], got["整改销号"][0], got["超期未整改"][1], got["排查隐患"][1]) == (
        int(mart["found"]), int(mart["closed"]), int(mart["overdue"]), int(mart["found_total"]))
    assert got["其中：未销号挂牌督办隐患"][1] == int(mart["supervised"])
    assert got["罚款金额"][0] == pytest.approx(float(mart["fines"]))
    assert (got["责令停产整顿"][0], got["约谈"][0]) == (int(mart["suspensions"]), int(mart["interviews"]))
    assert int(mart["actions"]) == len(week)


# --- the two lists ----------------------------------------------------------------------------

def test_hazard_list_holds_every_hazard_open_during_the_week(run):
    rows = sheet_rows(run, SHEET_HAZARDS, HAZARD_COLUMNS)
    sql = query(run, """
        SELECT uscc, found_date, deadline, is_closed, closed_date, listed_supervision FROM hazard
        WHERE found_date <= :e AND NOT (is_closed AND closed_date < :s)""", e=AS_OF, s=START)
    assert len(rows) == len(sql) > 0
    key = lambda u, f: (u, pd.Timestamp(f).date())  # noqa: E731
    assert sorted(key(u, f) for u, f in zip(rows["统一社会信用代码"], rows["发现日期"])) == sorted(
        key(u, f) for u, f in zip(sql["uscc"], sql["found_date"]))
    truth = [h for h in expected_hazards(tuple(sorted(run.truth))).values()
             if h["found"] <= AS_OF and not (h["rank"] == 3 and h["closed"] is not None and h["closed"] < START)]
    assert len(rows) == len(truth)
    deadline = pd.to_datetime(rows["整改时限"]).dt.date
    open_ = rows["销号日期"].isna()
    assert ((rows["进展"] == "红") == (open_ & (deadline < AS_OF))).all(), "红 = open past its deadline (the data date)"
    assert (rows.loc[~open_, "进展"] == "绿").all(), "绿 = closed"
    assert rows.loc[~open_, "剩余天数"].isna().all() and (~open_).any(), "剩余天数 is blank for closed hazards"
    days_left = [None if pd.isna(d) else (d - AS_OF).days for d in deadline[open_]]  # no deadline (optional for a minor hazard): blank
    assert [None if pd.isna(v) else v for v in rows.loc[open_, "剩余天数"]] == days_left, "剩余天数 counts from the data date"
    assert ((rows.loc[open_, "剩余天数"] < 0) == (rows.loc[open_, "进展"] == "红")).all()
    assert (rows["进展"] == "红").sum() == situation(run)["超期未整改"][1]
    assert list(rows["序号"]) == list(range(1, len(rows) + 1))
    assert rows["所在区"].notna().all() and rows["问题（隐患描述）"].notna().all() and rows["整改措施"].notna().any()


def test_listed_hazards_carry_the_supervised_marts_progress_flags(run):
    """The listed hazards of the list are the mart's (less those closed before the week) with the same flags."""
    rows = sheet_rows(run, SHEET_HAZARDS, HAZARD_COLUMNS)
    listed = rows[rows["挂牌督办"] == "是"]
    mart = query(run, """
        SELECT uscc, found_date, progress FROM mart_supervised_hazard
        WHERE as_of_date = :e AND NOT (is_closed AND closed_date < :s)""", e=END, s=START)
    assert len(listed) > 0
    assert sorted(zip(listed["统一社会信用代码"], pd.to_datetime(listed["发现日期"]).dt.date, listed["进展"])) == sorted(
        zip(mart["uscc"], pd.to_datetime(mart["found_date"]).dt.date, mart["progress"]))


def truth_measures(run) -> dict[str, dict]:
    """measure id -> the plan, with whether it was completed in the latest valid version the warehouse got."""
    from safety_hub_dev.simulator.datasets.emb_measure import YEAR, measure_plan

    last_valid: dict[str, dt.date] = {}
    for day in sorted(run.truth):
        for key in run.truth[day]["feeds"]["emb_policy_measure"]["valid_keys"]:
            last_valid[key] = day
    plan = {f"ZDCS-{YEAR}-{m['seq']:03d}": m for m in measure_plan()}
    return {k: {**plan[k], "done": plan[k]["completed"] is not None and plan[k]["completed"] <= day} for k, day in last_valid.items()}


def test_measure_list_equals_the_plan_and_sql(run):
    rows = sheet_rows(run, SHEET_MEASURES, MEASURE_COLUMNS)
    truth = truth_measures(run)
    assert set(rows["措施编号"]) == set(truth) and len(rows) == len(truth) > 20
    sql = query(run, "SELECT measure_id, measure_type, planned_date, completed_date FROM fact_policy_measure").set_index("measure_id")
    for r in rows.itertuples(index=False):
        t = truth[r[1]]
        assert r[3] == t["kind"] == sql.loc[r[1], "measure_type"]
        assert pd.Timestamp(r[8]).date() == t["planned"]
        assert r[10] == ("已完成" if t["done"] else "推进中")
        assert pd.notna(r[9]) == t["done"] and (not t["done"] or pd.Timestamp(r[9]).date() == t["completed"])
        assert r[11] == ("绿" if t["done"] else "红" if t["planned"] < AS_OF else "黄" if (t["planned"] - AS_OF).days < 7 else "绿")
    done = int((rows["状态"] == "已完成").sum())
    assert 0 < done < len(rows), "some measures done, some not"
    assert situation(run)["其中：已完成"][1] == done and situation(run)["制度措施"][1] == len(rows)


def test_no_cell_of_the_workbook_is_a_formula(run):
    book = load_workbook(week_files(run)["workbook"])
    for ws in book.worksheets:
        assert ws.freeze_panes == f"A{HEADER_ROW + 1}" and ws.auto_filter.ref
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f" and not (isinstance(c.value, str) and c.value.startswith(FORMULA_TRIGGERS)), c.coordinate


# --- the HTML report --------------------------------------------------------------------------

def test_html_states_data_date_and_sources_and_matches_the_workbook(run):
    page = week_files(run)["html"].read_text(encoding="utf-8")
    got = situation(run)
    cards = kpis(page)
    assert cards["本周排查隐患"] == str(got["排查隐患"][0]) and cards["本周整改销号"] == str(got["整改销号"][0])
    assert cards["超期未整改"] == str(got["超期未整改"][1]) and cards["重大隐患"] == str(got["重大隐患"][1])
    assert cards["动态整改率"] == f"{got['动态整改率'][1]:.1%}" and cards["本周行政处罚"] == str(got["行政处罚"][0])
    assert "统计截止日：2026-11-04" in page and "数据截至：2026-11-04（北京时间）" in page and "非终版" in page
    assert "数据截至 2026-11-04（北京时间），非终版" in page
    for source in ("隐患台账（emb_hazard）", "执法处罚（emb_enforcement）", "制度措施清单（emb_policy_measure）"):
        assert source in page
    assert page.count("Plotly.newPlot") == 3 and page.count("* plotly.js v") == 1, "three charts, the library inlined once"
    assert not re.search(r"<script[^>]*\ssrc=", page), "no external script: the library is inlined, the page opens offline"


# --- reproducibility: the past week produced again after more data arrived -------------------

LATER = WEEK.end + dt.timedelta(days=1)  # Monday of the next week


def test_a_past_week_produced_again_later_gives_the_same_figures(duckdb_run, sim_server, tmp_path, monkeypatch, capsys):
    """Copy the warehouse, load the next Monday (late closures dated inside the week, hazards found
    inside the week but first reported later), rebuild, produce 2026-W45 again: same figures."""
    import sqlalchemy as sa

    from safety_hub.cli import main
    from safety_hub.pipeline import run_feed
    from safety_hub.reporting.produce import produce_week
    from safety_hub_dev.simulator import write_day
    from safety_hub_dev.simulator.connections import simulator_connections
    from safety_hub.warehouse.engine import get_engine
    from safety_hub.warehouse.build import build_dimensions, build_marts

    archived = json.loads(week_files(duckdb_run)["figures"].read_text(encoding="utf-8"))
    source = Path(duckdb_run.warehouse_url.removeprefix("duckdb:///"))
    engine = duckdb_run.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CHECKPOINT"))
    engine.dispose()
    shutil.copy(source, tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    for name, value in simulator_connections(sim_server.url, SIM_TOKEN, tmp_path / "dropzone").items():
        monkeypatch.setenv(name, value)
    write_day(generate_day(LATER), tmp_path / "dropzone")
    for feed_id in sorted(SPECS):
        run_feed(feed_id, LATER)
    engine = get_engine()
    build_dimensions(engine)
    build_marts(engine)

    with engine.connect() as conn:  # the later day does change the week's figures for a naive "latest state" reading
        naive_closed = conn.execute(sa.text("SELECT COUNT(*) FROM hazard WHERE is_closed AND closed_date BETWEEN :s AND :e"),
                                    {"s": START, "e": END}).scalar()
        naive_found = conn.execute(sa.text("SELECT COUNT(*) FROM hazard WHERE found_date BETWEEN :s AND :e"), {"s": START, "e": END}).scalar()
        # and brings campaign versions of the week's inspections: progress, or reports rejected then and corrected now
        late_inspections = conn.execute(sa.text("SELECT COUNT(*) FROM fact_supervision_version WHERE business_date = :later "
                                                "AND inspect_date <= :e"), {"later": LATER, "e": END}).scalar()
    assert (naive_closed, naive_found) != (archived["hazards"]["closed_week"], archived["hazards"]["found_week"])
    assert late_inspections > 0

    assert main(["report", "--week", WEEK.label]) == 0  # what an operator runs for a past week
    printed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    assert Path(printed["workbook"]) == tmp_path / "reports" / "2026-W45" / archive.WORKBOOK_NAME.format(label=WEEK.label)
    assert Path(printed["html report"]).exists() and Path(printed["workbook"]).exists()
    again = json.loads((tmp_path / "reports" / "2026-W45" / "figures.json").read_text(encoding="utf-8"))
    assert again == archived, "every figure of the past week, the campaign's included (read from the version tables as of its date)"
    later_week = produce_week(ReportWeek.containing(LATER))  # and the new week sees the new day
    assert json.loads(later_week.figures.read_text(encoding="utf-8"))["data_date"] == LATER.isoformat()


# --- headless Chromium -------------------------------------------------------------------------

def test_the_html_renders_its_charts_in_chromium_without_errors(run, record_property):
    html_file = week_files(run)["html"]
    console, page_errors = [], []
    shot = screenshot_path(f"weekly_{WEEK.label}_{run.backend}.png")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        record_console(page, console, page_errors)
        page.goto(html_file.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=30_000)
        charts = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => [d.id, {
            traces: d.querySelectorAll('g.trace').length, svgs: d.querySelectorAll('svg.main-svg').length,
            data: d.data.map(t => ({type: t.type, name: t.name || null, x: Array.from(t.x || t.labels || []), y: Array.from(t.y || t.values || [])}))}]))""")
        title = page.title()
        districts_drawn = page.evaluate("""() => Array.from(document.querySelectorAll('#district-map path.district')).map(p => {
            const box = p.getBBox(); return {code: p.dataset.code, count: Number(p.dataset.count), w: box.width, h: box.height,
            fill: getComputedStyle(p).fill}; })""")
        page.screenshot(path=str(shot), full_page=True)
    record_property("screenshot", str(shot))
    print(f"screenshot: {shot}")
    assert not page_errors and not console, (page_errors, console)
    assert set(charts) == {"trend-chart", "district-chart", "risk-chart"}
    for chart_id, chart in charts.items():
        assert chart["svgs"] >= 1 and chart["traces"] == len(chart["data"]) >= 2, chart_id
    assert "2026-W45" in title
    assert WEEK.label in charts["trend-chart"]["data"][0]["x"]
    districts = query(run, "SELECT district_name, hazards_found FROM mart_district_week WHERE week_end = :e ORDER BY district_code", e=END)
    found = charts["district-chart"]["data"][0]
    assert found["x"] == list(districts["district_name"]) and found["y"] == [int(v) for v in districts["hazards_found"]]
    risk = query(run, "SELECT grade, COUNT(*) AS n FROM mart_enterprise_risk WHERE as_of_date = :e GROUP BY grade", e=END)
    pie = next(t for t in charts["risk-chart"]["data"] if t["type"] == "pie")
    assert dict(zip([label[0] for label in pie["x"]], pie["y"])) == {g: int(dict(zip(risk["grade"], risk["n"])).get(g, 0)) for g in "红橙黄蓝"}
    assert sum(pie["y"]) > 0
    # The district map: every district drawn with an area, its count that of the page's list of overdue major hazards.
    assert len(districts_drawn) == 16 and all(d["w"] > 0 and d["h"] > 0 for d in districts_drawn)
    listed = int(re.search(r"六、超期重大隐患（共 (\d+) 条", page_html := html_file.read_text(encoding="utf-8")).group(1))
    unplaced = re.search(r"其中 (\d+) 条所在区不明", page_html)
    assert sum(d["count"] for d in districts_drawn) + (int(unplaced.group(1)) if unplaced else 0) == listed
    assert len({d["fill"] for d in districts_drawn}) >= (2 if listed else 1)
    assert shot.exists() and shot.stat().st_size > 10_000
