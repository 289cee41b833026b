"""Agency text -> typed warehouse columns, per the registry's column types.

Repairable defects are repaired here (full-width characters, legacy district
codes, date spellings, status spellings). Values that cannot be typed are kept
in ``_unparsed_<column>`` so a rule can quarantine them with the original text.
"""

from __future__ import annotations

import pandas as pd

from safety_hub.domain import map_district, normalise_org_name, normalise_uscc, parse_date, to_halfwidth
from safety_hub.registry import Column, Feed

UNPARSED = "_unparsed_"
_TRUE = {"是", "Y", "YES", "TRUE", "1", "√", "T"}
_FALSE = {"否", "N", "NO", "FALSE", "0", "×", "F"}


def _text(col: pd.Series) -> pd.Series:
    out = col.astype("string").str.strip()
    return out.mask(out == "")


def _typed(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series | None]:
    """Return (typed values, unparsed originals or None when the type cannot fail)."""
    text = _text(raw)
    kind = column.type
    if kind == "str":
        return text, None
    if kind == "uscc":
        return text.map(normalise_uscc, na_action="ignore").astype("string"), None
    if kind == "org_name":
        return text.map(normalise_org_name, na_action="ignore").astype("string"), None
    if kind == "district":
        # Unknown codes keep their text so the district rule reports them.
        mapped = text.map(lambda v: map_district(v) or v, na_action="ignore")
        return mapped.astype("string"), None
    if kind == "enum":
        lookup = {to_halfwidth(s).strip(): canon for canon, spellings in column.values.items() for s in [canon, *spellings]}
        return text.map(lambda v: lookup.get(to_halfwidth(v).strip(), v), na_action="ignore").astype("string"), None
    if kind == "date":
        parsed = pd.to_datetime(text.map(parse_date, na_action="ignore"), errors="coerce")
    elif kind == "datetime":
        parsed = pd.to_datetime(text.map(to_halfwidth, na_action="ignore"), errors="coerce", utc=True, format="ISO8601")
    elif kind in ("int", "decimal"):
        parsed = pd.to_numeric(text.map(to_halfwidth, na_action="ignore").str.replace(",", ""), errors="coerce")
        if kind == "int":
            parsed = parsed.astype("Int64") if parsed.dropna().mod(1).eq(0).all() else parsed
    elif kind == "bool":
        upper = text.map(lambda v: to_halfwidth(v).strip().upper(), na_action="ignore")
        parsed = pd.Series(pd.NA, index=text.index, dtype="boolean")
        parsed[upper.isin(_TRUE)] = True
        parsed[upper.isin(_FALSE)] = False
    else:  # pragma: no cover - registry schema forbids other types
        raise ValueError(kind)
    unparsed = text.where(text.notna() & parsed.isna())
    return parsed, unparsed


def normalise(feed: Feed, records: pd.DataFrame) -> pd.DataFrame:
    """Map agency columns to warehouse names and types; add ``_unparsed_*`` columns."""
    out = pd.DataFrame(index=records.index)
    for column in feed.columns:
        raw = records[column.source] if column.source in records.columns else pd.Series(pd.NA, index=records.index, dtype="string")
        typed, unparsed = _typed(column, raw)
        out[column.name] = typed
        if unparsed is not None:
            out[UNPARSED + column.name] = unparsed.astype("string")
    for d in feed.derived:
        out[d.name] = derive(d.function, [out[a] for a in d.args], out.index)
    return out


def derive(function: str, args: list[pd.Series], index: pd.Index) -> pd.Series:
    """Apply ``safety_hub.domain.<function>`` row by row (None where an argument is missing)."""
    from safety_hub import domain

    fn = getattr(domain, function, None)
    if fn is None:
        raise ValueError(f"derived column function '{function}' is not defined in safety_hub.domain")
    values = [None if any(pd.isna(v) for v in row) else fn(*row) for row in zip(*args)] if args else []
    return pd.Series(values, index=index, dtype="object")
