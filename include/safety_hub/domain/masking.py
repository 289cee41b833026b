"""Masking of personal values outside the warehouse's restricted columns.

A column marked ``personal: true`` in the feed registry (a named person, a phone,
a certificate or ID number) is readable in the warehouse only by the data team
(``warehouse/access.py`` withholds it from analysts). Everywhere else a value of such a
column is shown masked: the Great Expectations results behind Data Docs
(``quality/docs.py``) and the quarantine CLI (``python -m safety_hub quarantine``,
``--unmask`` to see them).

``mask_value``: a number (phone, ID or certificate number: mostly digits) keeps its last
four characters, anything else (a name, an address) its first character; the rest is
``＊＊`` of fixed length, so the mask tells nothing of the value's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

MASK = "＊"  # full width, so a mask is never mistaken for an agency's own "*" masking


def mask_value(value):
    """``value`` masked: ``张三丰`` -> ``张＊＊``, ``13812345678`` -> ``＊＊＊＊5678``; None stays None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    text = str(value).strip()
    if not text:
        return text
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 7 and digits * 2 >= len(text):  # a phone, ID or certificate number
        return MASK * 4 + text[-4:] if len(text) >= 9 else MASK * 4
    return text[0] + MASK * 2


def personal_columns(feed) -> set[str]:
    """The warehouse names of a feed's personal columns."""
    return {c.name for c in feed.columns if c.personal}


def personal_fields(feed) -> set[str]:
    """Every name a personal value of ``feed`` can be keyed by: warehouse name, agency header, aliases."""
    return {name for c in feed.columns if c.personal for name in (c.name, c.source, *c.aliases)}


def mask_fields(values: dict, personal: Iterable[str]) -> dict:
    """``values`` (field -> value) with the fields named in ``personal`` masked (names compared trimmed)."""
    wanted = {p.strip() for p in personal}
    return {k: (mask_value(v) if str(k).strip() in wanted else v) for k, v in values.items()}
