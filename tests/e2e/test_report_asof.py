"""Weekly reports as of the week's data date (issue 16), on the session's run and on a copy of it:

- the unfinished week 2026-W45 of the session's run (data through Wednesday 11-04, 非终版): its
  overdue count agrees between the district report, the weekly report and the workbook for 11-04,
  and is not the count against the future Sunday;
- the same week finished (a copy of the DuckDB warehouse that also loads Sunday 11-08, 终版),
  its figures recomputed from the simulator's truth as of the Sunday;
- every 红/橙 enterprise shows the components of its grade, in words that add up to its score;
- the lists use the enterprises' canonical names from dim_enterprise;
- a week without data: one line and exit 1 from the command, a failed DAG run without retry,
  no mart rows.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from conftest import DAYS, SIM_TOKEN, query
from safety_hub.reporting import archive
from safety_hub.reporting.archive import ReportWeek
from safety_hub.reporting.weekly import LIST_LIMIT
from safety_hub.reporting.workbook import HAZARD_COLUMNS, HEADER_ROW, RISK_COLUMNS, SHEET_HAZARDS, SHEET_RISK, SHEET_SITUATION
from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.spec import SPECS
from test_reports import assert_situation_hazards_equal_truth, kpis

pytestmark = pytest.mark.e2e
WEEK = ReportWeek.containing(DAYS[-1])  # 2026-W45
AS_OF = DAYS[-1]  # Wednesday 11-04: the unfinished week's data date
SUNDAY = WEEK.end
EMPTY_WEEK = WEEK.shift(-1)  # 2026-W44: nothing loaded


def files(home: Path, week: ReportWeek = WEEK) -> dict[str, Path]:
    folder = home / "reports" / week.label
    return {"workbook": folder / archive.WORKBOOK_NAME.format(label=week.label),
            "html": folder / archive.HTML_NAME.format(label=week.label), "figures": folder / archive.FIGURES_NAME}


def situation(workbook: Path) -> dict[str, tuple]:
    ws = load_workbook(workbook)[SHEET_SITUATION]
    return {r[2]: (r[4], r[5]) for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)}


def sheet(workbook: Path, name: str, columns) -> pd.DataFrame:
    rows = list(load_workbook(workbook)[name].iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    return pd.DataFrame(rows, columns=[c.header for c in columns])


def district_report_overdue(engine: sa.Engine, as_of: dt.date) -> int:
    """超期未改 of the district report (safety_hub.reporting.district) for ``as_of``: what its page shows."""
    from safety_hub.reporting.district import district_summary, render_district_report

    frame = district_summary(engine, as_of)
    assert len(frame) > 0, f"mart_district_hazard holds no rows for {as_of}"
    cards = kpis(render_district_report(frame, as_of, "test"))
    assert cards["超期未改"] == str(int(frame["overdue"].sum()))
    return int(cards["超期未改"])


def assert_overdue_agrees(home: Path, engine: sa.Engine, as_of: dt.date) -> int:
    f = files(home)
    from_workbook = situation(f["workbook"])["超期未整改"][1]
    from_html = int(kpis(f["html"].read_text(encoding="utf-8"))["超期未整改"])
    red = int((sheet(f["workbook"], SHEET_HAZARDS, HAZARD_COLUMNS)["进展"] == "红").sum())
    figures = json.loads(f["figures"].read_text(encoding="utf-8"))["hazards"]["overdue"]
    assert from_workbook == from_html == red == figures == district_report_overdue(engine, as_of) > 0
    return from_workbook


# --- the unfinished week of the session's run ------------------------------------------------

def test_overdue_agrees_between_district_report_weekly_report_and_workbook(run):
    overdue = assert_overdue_agrees(run.hub_home, run.engine(), AS_OF)
    against_sunday = query(run, """SELECT COUNT(*) AS n FROM hazard
                                   WHERE deadline < :sun AND NOT (is_closed AND closed_date <= :d)""", sun=SUNDAY, d=AS_OF).n[0]
    assert against_sunday > overdue, "hazards due between the data date and Sunday are not overdue yet"
    week = query(run, "SELECT SUM(overdue) AS n FROM mart_district_week WHERE week_end = :e", e=SUNDAY).n[0]
    assert week == overdue


def test_every_red_and_orange_enterprise_shows_the_components_of_its_grade(run):
    mart = query(run, "SELECT uscc, org_name, grade, score FROM mart_enterprise_risk WHERE as_of_date = :e AND grade_rank <= 2",
                 e=SUNDAY).set_index("uscc")
    assert len(mart) > 0, "the simulated week should grade some enterprises 红 or 橙"
    f = files(run.hub_home)
    rows = sheet(f["workbook"], SHEET_RISK, RISK_COLUMNS).set_index("统一社会信用代码")
    assert set(rows.index) == set(mart.index)
    page = f["html"].read_text(encoding="utf-8")
    for reasons in rows["评分构成"].head(LIST_LIMIT):  # the page lists the first LIST_LIMIT, the workbook all
        assert html.escape(reasons) in page
    for uscc, r in rows.iterrows():
        assert r["风险等级"] == mart.loc[uscc, "grade"] and r["单位名称"] == mart.loc[uscc, "org_name"]
        reasons = r["评分构成"]
        assert reasons and "未投保" not in reasons, uscc
        scored = sum(float(x) for x in re.findall(r"\+(\d+(?:\.\d+)?)", reasons))
        assert scored == pytest.approx(float(mart.loc[uscc, "score"])) == pytest.approx(float(r["风险分"])), (uscc, reasons)


def test_the_lists_use_canonical_enterprise_names(run):
    names = query(run, """SELECT uscc, org_name FROM dim_enterprise
                          WHERE valid_from <= :d AND (valid_to IS NULL OR valid_to > :d)""", d=AS_OF).set_index("uscc")["org_name"]
    f = files(run.hub_home)
    rows = sheet(f["workbook"], SHEET_HAZARDS, HAZARD_COLUMNS)
    known = rows[rows["统一社会信用代码"].isin(names.index)]
    assert len(known) > 0.9 * len(rows)
    assert (known["单位名称"] == known["统一社会信用代码"].map(names)).all()
    reported = query(run, "SELECT uscc, org_name FROM hazard")
    spelled = reported[reported["uscc"].isin(names.index) & (reported["org_name"] != reported["uscc"].map(names))]
    assert len(spelled) > 0, "some hazards are reported under another spelling: the check would be vacuous"
    supervised = query(run, "SELECT uscc, org_name FROM mart_supervised_hazard WHERE as_of_date = :e", e=SUNDAY)
    supervised = supervised[supervised["uscc"].isin(names.index)]
    assert len(supervised) > 0 and (supervised["org_name"] == supervised["uscc"].map(names)).all()


# --- the week finished: a copy that also loads its Sunday ------------------------------------

def copy_warehouse(source_run, target: Path) -> str:
    source = Path(source_run.warehouse_url.removeprefix("duckdb:///"))
    engine = source_run.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CHECKPOINT"))
    engine.dispose()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target / "warehouse.duckdb")
    return f"duckdb:///{target / 'warehouse.duckdb'}"


@pytest.fixture(scope="module")
def finished(duckdb_run, sim_server, tmp_path_factory):
    """A copy of the session's DuckDB warehouse that also loads Sunday 11-08, with W45 produced again."""
    from safety_hub.pipeline import run_feed
    from safety_hub.reporting.produce import produce_week
    from safety_hub_dev.simulator import write_day
    from safety_hub_dev.simulator.connections import simulator_connections
    from safety_hub.warehouse.engine import get_engine
    from safety_hub.warehouse.build import build_dimensions, build_marts

    home = tmp_path_factory.mktemp("finished-week")
    url = copy_warehouse(duckdb_run, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
        for name, value in simulator_connections(sim_server.url, SIM_TOKEN, home / "dropzone").items():
            mp.setenv(name, value)
        data = generate_day(SUNDAY)
        write_day(data, home / "dropzone")
        for feed_id in sorted(SPECS):
            run_feed(feed_id, SUNDAY)
        engine = get_engine(url)
        build_dimensions(engine)
        build_marts(engine)
        report = produce_week(WEEK, engine)
        yield {"home": home, "engine": engine, "report": report, "days": (*sorted(duckdb_run.truth), SUNDAY)}
        engine.dispose()


def test_a_finished_week_is_final_and_as_of_its_sunday(finished):
    figures = json.loads(finished["report"].figures.read_text(encoding="utf-8"))
    assert (figures["as_of"], figures["data_date"], figures["week_end"], figures["final"]) == (
        "2026-11-08", "2026-11-08", "2026-11-08", True)
    assert figures["label"] == finished["report"].label == "数据截至 2026-11-08（北京时间），终版"
    page = finished["report"].html.read_text(encoding="utf-8")
    assert '<p class="note" id="report-status"><b>数据截至 2026-11-08（北京时间），终版</b></p>' in page
    assert "统计截止日：2026-11-08（周日）" in page and 'class="warning"' not in page
    ws = load_workbook(finished["report"].workbook)[SHEET_SITUATION]
    assert "终版" in ws["A1"].value and "非终版" not in ws["A2"].value and "统计截止日：2026-11-08" in ws["A2"].value


def test_a_finished_week_equals_the_simulator_truth_as_of_its_sunday(finished):
    got = situation(finished["report"].workbook)
    assert_situation_hazards_equal_truth(got, finished["days"], SUNDAY)
    rows = sheet(finished["report"].workbook, SHEET_HAZARDS, HAZARD_COLUMNS)
    deadline, open_ = pd.to_datetime(rows["整改时限"]).dt.date, rows["销号日期"].isna()
    assert ((rows["进展"] == "红") == (open_ & (deadline < SUNDAY))).all()
    assert [None if pd.isna(v) else v for v in rows.loc[open_, "剩余天数"]] == [None if pd.isna(d) else (d - SUNDAY).days
                                                                              for d in deadline[open_]]
    assert rows.loc[~open_, "剩余天数"].isna().all()


def test_a_finished_week_agrees_with_the_district_report_of_its_sunday(finished):
    overdue = assert_overdue_agrees(finished["home"], finished["engine"], SUNDAY)
    with finished["engine"].connect() as conn:
        through = conn.execute(sa.text("SELECT DISTINCT data_through FROM mart_district_week WHERE week_end = :e"), {"e": SUNDAY}).all()
    assert through == [(SUNDAY,)] and overdue > 0


# --- a week without data ---------------------------------------------------------------------

def test_report_of_a_week_without_data_is_one_line_exit_1_and_no_mart_rows(duckdb_run, tmp_path, monkeypatch, capsys):
    from safety_hub.cli import main
    from safety_hub.warehouse.engine import get_engine

    url = copy_warehouse(duckdb_run, tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    engine = get_engine(url)
    with engine.begin() as conn:  # what an older report left: 16 empty rows for the week
        conn.execute(sa.text("""INSERT INTO mart_district_week SELECT :l, CAST(:s AS DATE), CAST(:e AS DATE), district_code,
                                district_name, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL
                                FROM dim_district"""), {"l": EMPTY_WEEK.label, "s": EMPTY_WEEK.start, "e": EMPTY_WEEK.end})
    engine.dispose()
    assert main(["report", "--week", EMPTY_WEEK.label]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and EMPTY_WEEK.label in err and "Traceback" not in err, err
    engine = get_engine(url)
    for table, column in (("mart_district_week", "week_end"), ("mart_enterprise_risk", "as_of_date"),
                          ("mart_supervised_hazard", "as_of_date")):
        with engine.connect() as conn:
            n = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} = :e"), {"e": EMPTY_WEEK.end}).scalar()
        assert n == 0, table
    engine.dispose()
    assert not (tmp_path / "reports" / EMPTY_WEEK.label).exists()


def test_the_weekly_dag_fails_at_once_without_retry_for_a_week_without_data(duckdb_run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from safety_hub_dev.localairflow import load_dags

    run = load_dags()["report_weekly"].test(run_conf={"week": EMPTY_WEEK.label})
    assert str(getattr(run.state, "value", run.state)) == "failed"
    with create_session() as session:
        tis = {ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.try_number)
               for ti in session.query(TaskInstance).filter_by(dag_id="report_weekly", run_id=run.run_id)}
    assert tis["ensure_week_marts"] == ("failed", 1), tis
    assert tis["write_reports"][0] == "upstream_failed", tis
    assert query(duckdb_run, "SELECT COUNT(*) AS n FROM mart_district_week WHERE week_end = :e", e=EMPTY_WEEK.end).n[0] == 0
    assert not (duckdb_run.hub_home / "reports" / EMPTY_WEEK.label).exists()
