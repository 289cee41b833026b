"""Reporting periods and their deadlines (报送周期与时限) on the statutory working-day calendar.

A feed's expected reporters (``config/registry.Reporters``) report once per period: a working
day, an ISO week (Monday to Sunday) or a calendar month. A period is expected only when it holds
a working day (a week of National Day holidays is no week of missing reports; a make-up Saturday
is a working day of its week). Its report is due on the ``due_working_days``-th working day after
the period's last working day (0: that day). Pure functions; the calendar is ``workdays``: a year the
calendar package does not carry yet counts Monday to Friday (``is_working_day_or_weekday``), so the
mart keeps building on 1 January before the State Council's arrangements are packaged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from safety_hub.domain.workdays import is_working_day_or_weekday, working_days_after

FREQUENCY_NAMES = {"working_day": "每工作日", "week": "每周", "month": "每月"}


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    due: dt.date  # the business date of the last delivery that is on time


def period_start(day: dt.date, frequency: str) -> dt.date:
    """The first day of the period ``day`` falls in."""
    if frequency == "working_day":
        return day
    if frequency == "week":
        return day - dt.timedelta(days=day.weekday())
    if frequency == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown reporting frequency {frequency!r}")


def _period_end(start: dt.date, frequency: str) -> dt.date:
    if frequency == "working_day":
        return start
    if frequency == "week":
        return start + dt.timedelta(days=6)
    following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def period_of(day: dt.date, frequency: str, due_working_days: int) -> Period | None:
    """The period ``day`` falls in, or None when that period holds no working day (nothing to report)."""
    start = period_start(day, frequency)
    end = _period_end(start, frequency)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1) if is_working_day_or_weekday(start + dt.timedelta(days=i))]
    if not days:
        return None
    return Period(start, end, working_days_after(days[-1], due_working_days))


def periods_between(first: dt.date, last: dt.date, frequency: str, due_working_days: int) -> list[Period]:
    """Every expected period that starts on or before ``last`` and ends on or after ``first``, in order."""
    out: list[Period] = []
    day = period_start(first, frequency)
    while day <= last:
        period = period_of(day, frequency, due_working_days)
        if period is not None:
            out.append(period)
        day = _period_end(day, frequency) + dt.timedelta(days=1)
    return out


def reported_period(batch: object, pattern: str) -> dt.date | None:
    """The date a 报送批次 names (the first group of ``pattern``, ``yyyymmdd``), or None."""
    if batch is None or not isinstance(batch, str):
        return None
    match = re.search(pattern, batch)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
