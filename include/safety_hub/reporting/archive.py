"""ISO weeks and the report archive: ``reports/<yyyy-Www>/``.

A weekly report covers one ISO week (Monday to Sunday) and is computed as of
the week's data date (the latest business date loaded within it: the Sunday once
the week is complete), from what the warehouse had loaded up to that date. Its files live in the week's folder, so producing a past week
again replaces that week's files and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from safety_hub.config import settings

WEEK_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")
WORKBOOK_NAME = "一情况两清单_{label}.xlsx"
HTML_NAME = "安全生产周报_{label}.html"
FIGURES_NAME = "figures.json"


@dataclass(frozen=True, order=True)
class ReportWeek:
    """One ISO week, e.g. ``ReportWeek.parse("2026-W45")`` (2 to 8 November 2026)."""

    iso_year: int
    week: int

    def __post_init__(self) -> None:
        try:
            dt.date.fromisocalendar(self.iso_year, self.week, 1)
        except ValueError as exc:
            raise ValueError(f"{self.iso_year}-W{self.week:02d} is not an ISO week: {exc}") from None

    @classmethod
    def parse(cls, label: str) -> "ReportWeek":
        m = WEEK_LABEL.match(str(label).strip())
        if not m:
            raise ValueError(f"week {label!r}: expected yyyy-Www, e.g. 2026-W45")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def containing(cls, day: dt.date) -> "ReportWeek":
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def previous(cls, today: dt.date | None = None) -> "ReportWeek":
        """The last complete week before ``today`` (Beijing): what Monday's scheduled run reports."""
        today = today or settings.beijing_today()
        return cls.containing(today - dt.timedelta(days=today.isoweekday()))

    @property
    def label(self) -> str:
        return f"{self.iso_year}-W{self.week:02d}"

    @property
    def start(self) -> dt.date:
        """Monday."""
        return dt.date.fromisocalendar(self.iso_year, self.week, 1)

    @property
    def end(self) -> dt.date:
        """Sunday: the last day of the week (the 统计截止日 once the week is complete)."""
        return dt.date.fromisocalendar(self.iso_year, self.week, 7)

    def shift(self, weeks: int) -> "ReportWeek":
        return ReportWeek.containing(self.start + dt.timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


class NoWeekData(RuntimeError):
    """The warehouse holds no load for any business date of the week: there is nothing to report."""

    def __init__(self, week: ReportWeek):
        self.week = week
        super().__init__(f"week {week.label} ({week.start} .. {week.end}): the warehouse holds no load for any business date "
                         f"of that week; nothing reported (load the week's days first)")


def week_dir(week: ReportWeek) -> Path:
    """``reports/<yyyy-Www>/`` under the hub's home."""
    return settings.reports_dir() / week.label


def workbook_path(week: ReportWeek) -> Path:
    return week_dir(week) / WORKBOOK_NAME.format(label=week.label)


def html_path(week: ReportWeek) -> Path:
    return week_dir(week) / HTML_NAME.format(label=week.label)


def figures_path(week: ReportWeek) -> Path:
    return week_dir(week) / FIGURES_NAME
