"""The Chinese statutory working-day calendar (国务院办公厅 holiday arrangements): weekends and
statutory holidays are not working days, make-up working days (调休上班, a Saturday or Sunday) are.
Agencies deliver on working days (the simulator's calendar), and feed freshness counts working
days only (``ops/health.py``: no stale alarm over a holiday).

From the maintained ``chinese-calendar`` package, which carries each year once the State Council
has announced it. ``is_business_day`` refuses a date of a year it does not carry yet (no guessing
of holidays); ``is_working_day_or_weekday`` answers Monday to Friday there and says so (``covered``).
"""

from __future__ import annotations

import datetime as dt
import functools


@functools.lru_cache(maxsize=4096)
def is_business_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day: Monday to Friday unless a statutory holiday, or a make-up working day."""
    import chinese_calendar

    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError as exc:  # a year the package does not carry yet
        raise ValueError(f"{day}: no statutory working-day calendar for {day.year} ({exc}); "
                         "upgrade chinese-calendar (make lock) once the State Council has announced the year") from exc


@functools.lru_cache(maxsize=64)
def covered(year: int) -> bool:
    """Whether the calendar carries ``year``'s holiday arrangements."""
    import chinese_calendar

    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day_or_weekday(day: dt.date) -> bool:
    """``is_business_day`` where the calendar carries the year, else Monday to Friday (``covered`` tells which)."""
    return is_business_day(day) if covered(day.year) else day.weekday() < 5


def holiday_name(day: dt.date) -> str | None:
    """The statutory holiday ``day`` belongs to (a holiday or its make-up working day), else None."""
    import chinese_calendar

    return chinese_calendar.get_holiday_detail(day)[1]


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """The working days from ``start`` to ``end`` inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1) if is_business_day(start + dt.timedelta(days=i))]


def previous_business_day(day: dt.date) -> dt.date:
    """The last working day before ``day``."""
    day -= dt.timedelta(days=1)
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def first_business_day_on_or_after(day: dt.date) -> dt.date:
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (``day`` itself for 0; ``is_working_day_or_weekday``)."""
    while n > 0:
        day += dt.timedelta(days=1)
        if is_working_day_or_weekday(day):
            n -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 on the same day; ``is_working_day_or_weekday``)."""
    return sum(1 for i in range(1, (end - start).days + 1) if is_working_day_or_weekday(start + dt.timedelta(days=i)))
