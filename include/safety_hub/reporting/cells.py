"""Cell values a spreadsheet will not execute.

Text from the agencies (unit names, hazard descriptions, measures) goes into
workbooks that people open in Excel or WPS. Text that starts with ``=``, ``+``,
``-`` or ``@`` (or with a tab or carriage return, which some spreadsheet
programs strip before reading the rest as a formula) would be read as a
formula: CSV/formula injection (OWASP). Such text is prefixed with a single
quote, as OWASP advises, so it stays text even when the cell is edited or the
sheet is saved as CSV. Numbers, dates and booleans are values, not text, and
pass unchanged.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"


def neutralise(value):
    """The value to write in a cell: formula-like text guarded, everything else unchanged.

    ``None`` and NaN become ``None`` (an empty cell); ``Decimal`` becomes ``float``
    so the cell stays a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, dt.date, dt.datetime)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return neutralise(value.item())
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return GUARD + text
    return text
