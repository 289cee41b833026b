"""Freshness counts the hours of statutory working days: no feed goes stale over a weekend or a holiday,
and a make-up working day (调休上班) counts like any working day."""

from __future__ import annotations

import datetime as dt

import pytest

from safety_hub.config.settings import business_tz
from safety_hub.domain.workdays import covered, is_business_day, is_working_day_or_weekday, working_days_after, working_days_between
from safety_hub.ops.health import data_as_of, stale_deadline

CN = business_tz()


def at(y, m, d, h=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=CN)


def test_the_calendar_is_the_state_councils():
    assert not is_business_day(dt.date(2026, 2, 16))  # Spring Festival, a Monday
    assert is_business_day(dt.date(2026, 2, 14))  # make-up working day, a Saturday
    assert not is_business_day(dt.date(2026, 10, 1)) and not is_business_day(dt.date(2026, 11, 7))  # National Day; a Saturday
    assert is_business_day(dt.date(2026, 11, 6))


def test_a_weekday_feed_goes_stale_after_its_limit_in_working_hours():
    # data of Tuesday 11-03 complete at Wednesday 00:00; 36 working hours later: Thursday 12:00
    assert stale_deadline(data_as_of(dt.date(2026, 11, 3)), 36) == at(2026, 11, 5, 12).astimezone(dt.timezone.utc)


def test_a_weekend_adds_its_length():
    # Thursday 11-05's data complete Friday 00:00: Friday's 24 h, then Saturday and Sunday do not count
    assert stale_deadline(data_as_of(dt.date(2026, 11, 5)), 36) == at(2026, 11, 9, 12).astimezone(dt.timezone.utc)
    assert stale_deadline(data_as_of(dt.date(2026, 11, 5)), 36, "every_day") == at(2026, 11, 7, 12).astimezone(dt.timezone.utc)


def test_no_stale_alarm_over_the_spring_festival_and_the_make_up_saturday_counts():
    # Friday 2026-02-13's data complete Saturday 02-14 00:00, a make-up working day: it counts (24 h),
    # Sunday 02-15 to Monday 02-23 are the holiday, the next 12 h fall on Tuesday 02-24.
    assert stale_deadline(data_as_of(dt.date(2026, 2, 13)), 36) == at(2026, 2, 24, 12).astimezone(dt.timezone.utc)
    # counted every day, the same feed would have been stale on the holiday's first Sunday
    assert stale_deadline(data_as_of(dt.date(2026, 2, 13)), 36, "every_day") == at(2026, 2, 15, 12).astimezone(dt.timezone.utc)


def test_a_year_the_calendar_does_not_carry_counts_monday_to_friday_and_is_refused_where_exactness_matters():
    year = next(y for y in range(2026, 2100) if not covered(y))
    first = dt.date(year, 1, 1)
    assert is_working_day_or_weekday(first) == (first.weekday() < 5)
    with pytest.raises(ValueError, match=f"no statutory working-day calendar for {year}"):
        is_business_day(first)
    assert stale_deadline(dt.datetime(year, 1, 1, tzinfo=CN), 24) > dt.datetime(year, 1, 1, tzinfo=CN)


def test_working_day_counts_skip_the_national_day_holiday_and_count_its_make_up_saturday():
    """国庆 2026: 10-01 .. 10-07 off, Saturday 10-10 a make-up working day (the reports' due dates and 整改用时)."""
    D = dt.date
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 8)) == 1
    assert working_days_between(D(2026, 10, 9), D(2026, 10, 12)) == 2  # the make-up Saturday and Monday
    assert working_days_between(D(2026, 10, 12), D(2026, 10, 12)) == 0
    assert working_days_after(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert working_days_after(D(2026, 10, 9), 1) == D(2026, 10, 10)
    assert working_days_after(D(2026, 10, 9), 0) == D(2026, 10, 9)
