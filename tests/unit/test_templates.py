"""Every HTML page is rendered from a template that escapes: a value holding markup, in any
field that comes from an agency, the registry, Airflow or the warehouse, reaches the Feed health
page, the district report, the weekly report and the alert e-mail as text, in element and in
attribute context alike; only Plotly's own chart markup is inserted as it is."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from safety_hub.reporting.archive import ReportWeek
from safety_hub.reporting.figures import WeeklyFigures

NOW = dt.datetime(2026, 11, 4, 6, 0, tzinfo=dt.timezone.utc)


def hostile(field: str) -> str:
    """Markup breaking out of an attribute and opening a script, tagged with the field's name."""
    return f'"><script>alert({field})</script>'


def escaped(field: str) -> str:
    return f"&#34;&gt;&lt;script&gt;alert({field})&lt;/script&gt;"


def assert_all_escaped(page: str, fields: list[str]) -> None:
    assert "<script>alert(" not in page, "a value reached the page as markup"
    missing = [f for f in fields if escaped(f) not in page]  # the quote escaped too: no way out of an attribute
    assert not missing, f"fields not on the page (so not shown escaped): {missing}"


# --- the Feed health page ---------------------------------------------------------------------

def health_feed(n: int) -> dict:
    h = lambda name: hostile(f"{name}{n}")  # noqa: E731
    run = {"state": h("run_state"), "business_date": h("run_business_date"), "started_at": NOW - dt.timedelta(hours=1),
           "ended_at": NOW, "error": h("run_error")}
    return {
        "feed_id": h("feed_id"), "title": h("title"), "agency": h("agency"), "status": h("status"), "status_text": h("status_text"),
        "stale": True, "last_run": run, "last_business_date": h("last_business_date"), "data_as_of": NOW, "hours_since_data": 14.0,
        "fresh_within_hours": 36.0, "last_loaded_at": NOW, "volume_note": h("volume_note"),
        "recent_runs": [{"business_date": h("recent_business_date"), "rows_loaded": 10, "rows_quarantined": 1}],
        "quarantine_last": {"rows": 1, "records": 1, "failures": 2}, "rule_pass_rate": 0.5, "row_load_rate": 0.9,
        "dag_id": h("dag_id"), "data_docs": h("data_docs"),
    }


def test_the_feed_health_page_escapes_every_field():
    from safety_hub.ops.health_page import render_page, render_unavailable

    feeds = [health_feed(0), {**health_feed(1), "last_run": None, "data_docs": None, "status": "ok"}]
    payload = {"generated_at": NOW, "runs_error": hostile("runs_error"), "feeds": feeds,
               "failed": [hostile("failed")], "stale": [hostile("stale")]}
    page = render_page(payload, airflow_base=hostile("airflow_base"))
    fields = [f"{name}0" for name in ("feed_id", "title", "agency", "status", "status_text", "run_state", "run_business_date",
                                      "run_error", "last_business_date", "volume_note", "recent_business_date", "dag_id", "data_docs")]
    assert_all_escaped(page, fields + ["feed_id1", "title1", "runs_error", "failed", "stale", "airflow_base"])
    assert "<script" not in page, "the page has no script at all"
    assert_all_escaped(render_unavailable(hostile("error")), ["error"])


# --- the district report ----------------------------------------------------------------------

def test_the_district_report_escapes_every_field():
    from safety_hub.reporting.district import render_district_report

    frame = pd.DataFrame([dict(district_code="120101", district_name=hostile("district_name"), found=10, closed=5, overdue=2,
                               listed=1, major=1)])
    frame["rate"] = frame["closed"] / frame["found"]
    page = render_district_report(frame, dt.date(2026, 11, 4), hostile("sources"))
    assert_all_escaped(page, ["district_name", "sources"])
    assert page.count("Plotly.newPlot") == 1, "the chart, inserted as Plotly wrote it"
    chart = page[page.index('<div id="chart">'):page.index("<h2>分区明细</h2>")]
    assert "alert(district_name)" in chart and "<script>alert" not in chart, "Plotly's own JSON escaping holds the label"


# --- the weekly report ------------------------------------------------------------------------

def weekly_figures() -> WeeklyFigures:
    h = hostile
    hazards = [{"district_code": h("hazard_district_code"), "district_name": h("hazard_district"), "org_name": h("hazard_org"), "description": h("hazard_description"),
                "is_major": True, "listed_supervision": True, "found_date": dt.date(2026, 10, 20), "deadline": dt.date(2026, 11, 5),
                "days_left": -3, "status": h("hazard_status"), "progress": "红"}]
    supervised = [{"district_name": h("sup_district"), "org_name": h("sup_org"), "description": h("sup_description"),
                   "grade": h("sup_grade"), "deadline": dt.date(2026, 11, 20), "days_left": 12, "status": h("sup_status"),
                   "closed_date": None, "progress": h("sup_progress")}]
    risk_list = [{"grade": h("risk_grade"), "org_name": h("risk_org"), "district_name": h("risk_district"), "sector": h("risk_sector"),
                  "score": 72.5, "reasons": h("risk_reasons")}]
    districts = [{"district_code": "120101", "district_name": h("district_name"), "hazards_found": 3, "hazards_closed": 1,
                  "hazards_open": 2, "overdue": 1, "major_hazards": 1, "supervised": 1, "dynamic_rate": 0.5,
                  "enforcement_actions": 2, "penalty_amount_wan": 1.5}]
    counts = dict.fromkeys(("found_week", "found_total", "closed_week", "closed_total", "major_week", "major_total", "listed_total",
                            "listed_open", "overdue", "major_overdue", "due", "closed_on_time"), 1)
    enforcement = dict.fromkeys(("penalties_week", "suspensions_week", "closures_week", "revocations_week", "joint_punishments_week",
                                 "warning_talks_week"), 1) | {"fine_wan_week": 1.0}
    return WeeklyFigures(
        week=ReportWeek.parse("2026-W45"), data_date=dt.date(2026, 11, 4), sources=[h("source")], hazards=counts,
        enforcement=enforcement, hazard_list=pd.DataFrame(hazards), measure_list=pd.DataFrame(), districts=pd.DataFrame(districts),
        supervised=pd.DataFrame(supervised), risk_list=pd.DataFrame(risk_list),
        trend=pd.DataFrame([{"week_label": h("week_label"), "hazards_found": 3, "hazards_closed": 1, "overdue": 1, "dynamic_rate": 0.5}]),
        risk=pd.DataFrame([{"grade": "红", "enterprises": 1}]),
        risk_by_district=pd.DataFrame([{"district_code": "120101", "district_name": h("risk_chart_district"), "grade": "红", "enterprises": 1}]),
    )


def test_the_weekly_report_escapes_every_field():
    from safety_hub.reporting.weekly import render_weekly_report

    page = render_weekly_report(weekly_figures(), generated=hostile("generated"))
    assert_all_escaped(page, ["hazard_district", "hazard_org", "hazard_description", "hazard_status", "sup_district", "sup_org",
                              "sup_description", "sup_grade", "sup_status", "risk_org", "risk_district", "risk_sector",
                              "risk_reasons", "district_name", "source", "generated"])
    assert "alert(sup_progress)" not in page and "alert(risk_grade)" not in page, "a flag or grade not of its list is not drawn"
    assert page.count("Plotly.newPlot") == 3 and page.count("* plotly.js v") == 1, "three charts, the library inlined once"
    for label in ("week_label", "risk_chart_district"):  # chart labels: inside Plotly's JSON, escaped by Plotly
        assert f"alert({label})" in page


def test_flags_and_grades_are_drawn_from_their_values():
    from safety_hub.reporting.weekly import render_weekly_report

    fig = weekly_figures()
    fig.supervised.loc[0, "progress"] = "黄"
    fig.risk_list.loc[0, "grade"] = "橙"
    page = render_weekly_report(fig)
    assert '<span class="flag flag-黄">黄</span>' in page and '<span class="flag flag-红">红</span>' in page
    assert '<span class="flag" style="background: #e67e22">橙</span>' in page


# --- the alert e-mail -------------------------------------------------------------------------

def test_the_alert_email_escapes_the_message():
    from safety_hub.reporting.rendering import render

    body = render("alert_email.html", text=hostile("error"))
    assert_all_escaped(body, ["error"])


def test_no_page_is_assembled_in_python_strings():
    """The modules that make pages hold no HTML tag outside docstrings and comments: it is all in templates."""
    from pathlib import Path

    import safety_hub

    package = Path(safety_hub.__file__).parent
    modules = [p for p in package.rglob("*.py") if p.stem in {"health_page", "report", "html", "weekly", "alerts", "district"}]
    assert len(modules) >= 5, modules
    tag = re.compile(r"""["'][^"'\n]*<(html|body|div|p|span|table|tr|td|th|b|small|a|pre|h1|h2|style|script)[\s>]""")
    for module in modules:
        code = "\n".join(line for line in module.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
        code = re.sub(r'""".*?"""', "", code, flags=re.S)
        assert not tag.search(code), f"{module}: HTML assembled in code: {tag.search(code).group(0)!r}"
