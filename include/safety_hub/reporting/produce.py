"""Produce one week's reports into ``reports/<yyyy-Www>/``: the 一情况两清单 workbook,
the HTML report and ``figures.json`` (the headline figures, for comparing a
regenerated week with the archived one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from safety_hub.reporting import archive
from safety_hub.reporting.archive import ReportWeek


@dataclass(frozen=True)
class WeekReport:
    week: ReportWeek
    workbook: Path
    html: Path
    figures: Path


def produce_week(week: ReportWeek | str, engine: sa.Engine | None = None, ensure_marts: bool = True) -> WeekReport:
    """Compute ``week``'s figures as of its Sunday and write its three files (replacing that week's files only).

    With ``ensure_marts`` the risk marts of the week are built first when they are missing."""
    from safety_hub.reporting.figures import load_figures
    from safety_hub.reporting.marts import ensure_week_marts
    from safety_hub.reporting.weekly import render_weekly_report
    from safety_hub.reporting.workbook import workbook_bytes
    from safety_hub.warehouse.engine import get_engine

    week = ReportWeek.parse(week) if isinstance(week, str) else week
    engine = engine or get_engine()
    if ensure_marts:
        ensure_week_marts(engine, week.end)
    fig = load_figures(engine, week)
    if fig.data_date is None:
        raise RuntimeError(f"the warehouse holds no load up to {week.end} (week {week.label}): nothing to report")
    headline = json.dumps({**fig.headline(), "sources": fig.sources}, ensure_ascii=False, indent=1, sort_keys=True)
    return WeekReport(
        week=week,
        workbook=archive.write_atomic(archive.workbook_path(week), workbook_bytes(fig)),
        html=archive.write_atomic(archive.html_path(week), render_weekly_report(fig).encode("utf-8")),
        figures=archive.write_atomic(archive.figures_path(week), headline.encode("utf-8")),
    )
