"""Cell values a spreadsheet will not execute.

Text from the agencies (unit names, hazard descriptions, measures) goes into
workbooks that people open in Excel or WPS. Text that starts with ``=``, ``+``,
``-`` or ``@`` (or with a tab or carriage return, which some spreadsheet
programs strip before reading the rest as a formula) would be read as a
formula: CSV/formula injection (OWASP). So would their full-width forms
(＝＋－＠) once the sheet is exported to CSV and opened again, and any of them
behind leading spaces or zero-width characters. Such text is prefixed with a
single quote, as OWASP advises, so it stays text even when the cell is edited or
the sheet is saved as CSV. Numbers, dates and booleans are values, not text, and
pass unchanged.

A cell must also be writable whatever the warehouse holds: control characters
that the XLSX format cannot store (openpyxl raises ``IllegalCharacterError``) are
removed, and text is cut to Excel's 32,767 characters per cell.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
GUARD = "'"
# What may precede a trigger and still let a spreadsheet read a formula.
_LEADING = " \u3000\u200b\u200c\u200d\u2060\ufeff"
# What XML 1.0 cannot hold (C0 controls but tab, LF and CR; surrogates; U+FFFE, U+FFFF), and DEL and the C1 controls.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MAX_CELL_CHARS = 32_767


def clean_text(text: str) -> str:
    """``text`` as a workbook cell can hold it: unwritable control characters removed, cut to Excel's cell limit."""
    text = _UNWRITABLE.sub("", text)
    return text if len(text) <= MAX_CELL_CHARS - 1 else text[: MAX_CELL_CHARS - 1]


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
    text = clean_text(str(value))
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip(_LEADING).startswith(FORMULA_TRIGGERS):
        return GUARD + text
    return text
