"""Agency text -> typed warehouse columns, per the registry's column types.

Repairable defects are repaired here (full-width characters, legacy district
codes, date spellings, status spellings). Values that cannot be typed are kept
in ``_unparsed_<column>`` so a rule can quarantine them with the original text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from safety_hub.domain import map_district, normalise_org_name, normalise_uscc, parse_date, to_halfwidth
from safety_hub.registry import Column, Feed

UNPARSED = "_unparsed_"
_TRUE = {"是", "Y", "YES", "TRUE", "1", "√", "T"}
_FALSE = {"否", "N", "NO", "FALSE", "0", "×", "F"}


def _text(col: pd.Series) -> pd.Series:
    out = col.astype("string").str.strip()
    if isinstance(out.dtype, pd.StringDtype) and out.dtype.storage == "pyarrow":
        # out.mask(out == "") in one Arrow pass (pandas' mask goes through NumPy)
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = out.array.__arrow_array__()
        blanked = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        return pd.Series(pd.array(blanked, dtype=out.dtype), index=out.index, name=out.name)
    return out.mask(out == "")


class _Distinct:
    """A text column as codes into its distinct values, for typing it value by value.

    Columns repeat a few spellings (dates, codes, names, enums) over many rows, so
    the scalar domain functions run once per distinct value and the answers are
    spread back over the rows (``codes``; -1 for a missing value).
    ``values``: each distinct value as ``_text`` gives it (trimmed; None when blank).
    """

    def __init__(self, raw: pd.Series):
        raw = raw.astype("string")
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        self.codes = np.asarray(codes, dtype=np.intp)
        self.index, self.name = raw.index, raw.name
        text = _text(pd.Series(pd.array(uniques, dtype="string")))
        missing = text.isna().to_numpy(dtype=bool)
        self.values: list[str | None] = [None if m else v for v, m in zip(text.to_numpy(dtype=object), missing)]

    def strings(self, per_value: list) -> pd.Series:
        """A string column: each row gets its distinct value's entry (None -> missing)."""
        import pyarrow as pa

        try:
            entries = pa.array(per_value, type=pa.large_string())
        except (pa.ArrowException, TypeError):  # not all text: as pandas converts it
            column = pd.array(per_value, dtype="string").take(self.codes, allow_fill=True)
        else:
            column = pd.array(entries.take(pa.array(self.codes, mask=self.codes < 0)), dtype="string")
        return pd.Series(column, index=self.index, name=self.name)

    def mapped(self, fn) -> pd.Series:
        """``_text(raw).map(fn, na_action="ignore").astype("string")``."""
        return self.strings([None if v is None else fn(v) for v in self.values])

    def unparsed(self, failed: list[bool]) -> pd.Series:
        """The text of the rows whose (non-blank) value could not be typed, else missing."""
        return self.strings([v if v is not None and bad else None for v, bad in zip(self.values, failed)])


def _typed(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series | None]:
    """Return (typed values, unparsed originals or None when the type cannot fail)."""
    kind = column.type
    if kind == "str":
        return _text(raw), None
    d = _Distinct(raw)
    if kind == "code":  # 津Ａ12345 -> 津A12345: one spelling per identifier
        return d.mapped(lambda v: to_halfwidth(v).strip().upper()), None
    if kind == "uscc":
        return d.mapped(normalise_uscc), None
    if kind == "org_name":
        return d.mapped(normalise_org_name), None
    if kind == "district":
        # Unknown codes keep their text so the district rule reports them.
        return d.mapped(lambda v: map_district(v) or v), None
    if kind == "enum":
        lookup = {to_halfwidth(s).strip(): canon for canon, spellings in column.values.items() for s in [canon, *spellings]}
        return d.mapped(lambda v: lookup.get(to_halfwidth(v).strip(), v)), None
    if kind == "date":
        # As pd.to_datetime(text.map(parse_date, na_action="ignore"), errors="coerce"): datetime64[s].
        dates = [None if v is None else parse_date(v) for v in d.values]
        lookup = np.array([np.datetime64("NaT") if x is None else np.datetime64(x, "D") for x in dates] + [np.datetime64("NaT")], dtype="datetime64[D]")
        parsed = pd.Series(lookup.astype("datetime64[s]")[d.codes], index=d.index, name=d.name)  # code -1 (missing): the trailing NaT
        return parsed, d.unparsed([x is None for x in dates])
    if kind == "datetime":
        halfwidth = pd.Series([None if v is None else to_halfwidth(v) for v in d.values], dtype="string")
        stamps = pd.to_datetime(halfwidth, errors="coerce", utc=True, format="ISO8601")
        parsed = pd.Series(stamps.array.take(d.codes, allow_fill=True), index=d.index, name=d.name)
        return parsed, d.unparsed(stamps.isna().tolist())
    if kind == "bool":
        upper = [None if v is None else to_halfwidth(v).strip().upper() for v in d.values]
        # Per distinct value: 1 true, 0 false, -1 neither; a trailing -1 for missing rows (code -1).
        state = np.array([1 if u in _TRUE else 0 if u in _FALSE else -1 for u in upper] + [-1], dtype=np.int8)
        parsed = pd.Series(pd.array(state[d.codes] == 1, dtype="boolean"), index=d.index)
        parsed[state[d.codes] == -1] = pd.NA
        return parsed, d.unparsed([s == -1 for s in state[:-1]])
    if kind in ("int", "decimal"):
        text = d.strings(d.values)
        parsed = pd.to_numeric(d.mapped(to_halfwidth).str.replace(",", ""), errors="coerce")
        if kind == "int":
            parsed = parsed.astype("Int64") if parsed.dropna().mod(1).eq(0).all() else parsed
        return parsed, text.where(text.notna() & parsed.isna())
    raise ValueError(kind)  # pragma: no cover - registry schema forbids other types


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
        values = derive(d.function, [out[a] for a in d.args], out.index)
        if d.type == "date":  # the same dtype as typed date columns, so rules can compare them
            values = pd.to_datetime(values, errors="coerce")
        elif d.type in ("int", "decimal"):
            values = pd.to_numeric(values, errors="coerce")
        out[d.name] = values
    return out


def derive(function: str, args: list[pd.Series], index: pd.Index) -> pd.Series:
    """Apply ``safety_hub.domain.<function>`` row by row (None where an argument is missing)."""
    from safety_hub import domain

    fn = getattr(domain, function, None)
    if fn is None:
        raise ValueError(f"derived column function '{function}' is not defined in safety_hub.domain")
    values = [None if any(pd.isna(v) for v in row) else fn(*row) for row in zip(*args)] if args else []
    return pd.Series(values, index=index, dtype="object")
