"""Dates as agencies write them (DOMAIN.md C4): ISO, dotted, Chinese, compact and Excel serials."""

from __future__ import annotations

import datetime as dt
import re

from safety_hub.domain.text import to_halfwidth

# An optional time of day after an ISO or slash date (``2021-03-05 10:30``, ``2021-03-05T08:00:00.5+08:00``,
# as spreadsheets and databases write date-times): hour, minute, second, then a fraction and a zone.
_TIME_OF_DAY = r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
# Each pattern matches the whole value: trailing text (``2026-10-05xyz``) is no date.
_DATE_PATTERNS = (
    re.compile(rf"(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME_OF_DAY}"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(rf"(\d{{4}})/(\d{{1,2}})/(\d{{1,2}}){_TIME_OF_DAY}"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_EXCEL_SERIAL = re.compile(r"\d{5}(\.0)?")  # Excel serial day number, matched whole (fullmatch)
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_PLACEHOLDER_DATE = dt.date(1900, 1, 1)


def parse_date(value: object) -> dt.date | None:
    """C4: ISO, ``2021.3.5``, ``2021年3月5日``, ``20210305`` and Excel serials.

    The whole value (trimmed) must be a date: ``2026-10-05xyz`` is not one. An
    ISO or slash date may carry a valid time of day (``2021-03-05 10:30``,
    ``2021-03-05T08:00:00+08:00``): the date as written is kept. Returns None for
    blanks, unparseable text and the 1900-01-01 placeholder; future dates are a
    validation rule, not a parse failure.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = to_halfwidth(str(value)).strip()
    if not text:
        return None
    parsed: dt.date | None = None
    if _EXCEL_SERIAL.fullmatch(text):  # Excel serial day number
        parsed = _EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
    else:
        for pattern in _DATE_PATTERNS:
            m = pattern.fullmatch(text)
            if m:
                try:
                    parsed = dt.date(int(m[1]), int(m[2]), int(m[3]))
                    if pattern.groups > 3 and m[4] is not None:  # a time of day: it must be one
                        dt.time(int(m[4]), int(m[5]), int(m[6] or 0))
                except ValueError:
                    return None
                break
    if parsed is None or parsed == _PLACEHOLDER_DATE:
        return None
    return parsed


def as_date(value) -> dt.date | None:
    """A date the warehouse returned as the driver gives it (``date``, ``datetime``, ``Timestamp`` or
    ISO text) as a ``date``; ``None`` stays ``None``. Not for agency input (``parse_date`` is)."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    return dt.date.fromisoformat(str(value)[:10])
