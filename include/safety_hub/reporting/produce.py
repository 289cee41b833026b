"""Produce one week's reports into ``reports/<yyyy-Www>/``: the 一情况两清单 workbook,
the HTML report and ``figures.json`` (the headline figures, for comparing a
regenerated week with the archived one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from safety_hub.config.files import write_atomic
from safety_hub.reporting import archive
from safety_hub.reporting.archive import ReportWeek


@dataclass(frozen=True)
class WeekReport:
    week: ReportWeek
    workbook: Path
    html: Path
    figures: Path
    label: str  # 数据截至 <date>（北京时间），终版 / 非终版


def week_data_date(week: ReportWeek, engine: sa.Engine):
    """The week's data date, or ``NoWeekData`` when the warehouse holds no load for any day of it
    (then the week's stale empty mart partitions, left by an older build, are deleted)."""
    from safety_hub.warehouse.risk import drop_week_if_empty
    from safety_hub.warehouse.risk import week_data_date as data_date
    from safety_hub.warehouse.engine import ensure_schema

    ensure_schema(engine)
    with engine.connect() as conn:
        day = data_date(conn, week.end)
    if day is None:
        drop_week_if_empty(engine, week.end)
        raise archive.NoWeekData(week)
    return day


def produce_week(week: ReportWeek | str, engine: sa.Engine | None = None, ensure_marts: bool = True) -> WeekReport:
    """Compute ``week``'s figures as of its data date and write its three files (replacing that week's files only).

    A week without any load raises ``NoWeekData`` before anything is written (no mart rows, no
    files). With ``ensure_marts`` the risk marts of the week are built first when they are missing
    or stale."""
    from safety_hub.reporting.figures import load_figures
    from safety_hub.reporting.marts import ensure_week_marts
    from safety_hub.reporting.weekly import render_weekly_report
    from safety_hub.reporting.workbook import workbook_bytes
    from safety_hub.warehouse.engine import get_engine

    week = ReportWeek.parse(week) if isinstance(week, str) else week
    engine = engine or get_engine()
    week_data_date(week, engine)
    if ensure_marts:
        ensure_week_marts(engine, week.end)
    fig = load_figures(engine, week)
    headline = json.dumps({**fig.headline(), "sources": fig.sources}, ensure_ascii=False, indent=1, sort_keys=True)
    return WeekReport(
        week=week,
        workbook=write_atomic(archive.workbook_path(week), workbook_bytes(fig)),
        html=write_atomic(archive.html_path(week), render_weekly_report(fig).encode("utf-8")),
        figures=write_atomic(archive.figures_path(week), headline.encode("utf-8")),
        label=fig.label,
    )
