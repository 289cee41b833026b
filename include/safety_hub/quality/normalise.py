"""Agency text -> typed warehouse columns, per the registry's column types.

Repairable defects are repaired here (full-width characters, legacy district
codes, date spellings, status spellings). Values that cannot be typed are kept
in ``_unparsed_<column>`` so a rule can quarantine them with the original text.

Text hygiene, one rule for every feed and every column typed from text (before
trimming and typing; ``domain.text.clean_text`` is the same rule for one value):

* control characters (Unicode category Cc: NUL and the other C0 characters, DEL,
  the C1 characters U+0080-U+009F) are removed;
* zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are removed;
* a run of tab, CR and LF inside a value becomes one space, unless the column is
  declared ``multiline: true`` in the registry (then they stay as delivered).

So a vertical tab cannot reach the Excel report, ``天津\u200b宏远`` is ``天津宏远``, and a
value of only such characters is blank. Quarantine keeps the delivered text: its
original values come from the landed records, not from the typed frame.

Keys: a ``str`` column of the feed's key is also made half-width (NFKC) and trimmed,
so ``ＹＨ２０２６…`` and ``YH2026…`` are one key (``code``, ``uscc`` and ``district``
columns are normalised by their type).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from safety_hub.config import settings
from safety_hub.domain.text import clean_text, normalise_org_name, to_halfwidth
from safety_hub.domain.places import map_district
from safety_hub.domain.uscc import normalise_uscc
from safety_hub.domain.dates import parse_date
from safety_hub.config.registry import Column, Feed

UNPARSED = "_unparsed_"
_TRUE = {"是", "Y", "YES", "TRUE", "1", "√", "T"}
_FALSE = {"否", "N", "NO", "FALSE", "0", "×", "F"}


# Text hygiene (module docstring): what it removes and what becomes a space (RE2 syntax, for
# pyarrow.compute), and any character it changes (Python syntax, for text not stored in Arrow).
# domain.clean_text is the same rule for one value.
_REMOVED = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}\x{200b}-\x{200d}\x{2060}\x{feff}]"
_LINE_BREAKS = r"[\t\n\r]+"
_UNCLEAN_PY = {False: "[\x00-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]",
               True: "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]"}


def _clean(text: pd.Series, multiline: bool = False) -> pd.Series:
    """``text`` (a ``string`` column) with ``domain.text.clean_text`` applied to each value.

    The common clean column costs one scan of its bytes (``_unclean_utf8``) and is
    returned as it is; only a column holding such a character is rewritten (Arrow kernels)."""
    arr = _arrow_text(text)
    if arr is None:
        if not text.str.contains(_UNCLEAN_PY[multiline], regex=True, na=False).any():
            return text
        return text.map(lambda v: clean_text(v, multiline), na_action="ignore").astype(text.dtype)
    if not any(_unclean_utf8(data, multiline) for data in _value_data(arr)):
        return text
    import pyarrow.compute as pc

    arr = pc.replace_substring_regex(arr, _REMOVED, "")
    if not multiline:
        arr = pc.replace_substring_regex(arr, _LINE_BREAKS, " ")
    return pd.Series(pd.array(arr, dtype=text.dtype), index=text.index, name=text.name)


def _value_data(arr):
    """The bytes of the values of each chunk of a (chunked) Arrow string array, as uint8 arrays."""
    import pyarrow as pa

    for chunk in (arr.chunks if hasattr(arr, "chunks") else [arr]):
        _, offsets_buf, data_buf = chunk.buffers()
        if len(chunk) and offsets_buf is not None and data_buf is not None:
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(offsets_buf, dtype=width)
            yield np.frombuffer(data_buf, dtype=np.uint8)[offsets[chunk.offset]:offsets[chunk.offset + len(chunk)]]


def _unclean_utf8(data: np.ndarray, multiline: bool) -> bool:
    """Whether UTF-8 bytes hold a character text hygiene changes (a few vectorised passes:
    several times faster than a regex over every value). Exact for valid UTF-8: bytes below
    0x80 are ASCII characters, and 0xC2, 0xE2, 0xEF only ever lead a character."""
    if not len(data):
        return False
    if data.min() < 0x20:  # C0 controls, tab, LF, CR (a reduction: no temporary array)
        low = data < 0x20
        if not multiline or (low & (data != 0x09) & (data != 0x0A) & (data != 0x0D)).any():
            return True
    if data.max() < 0x7F:  # ASCII without DEL: nothing more to find
        return False
    if (data == 0x7F).any():  # DEL
        return True
    lead = np.flatnonzero(data[:-1] == 0xC2)  # C1 controls U+0080-U+009F: C2 80 .. C2 9F
    if len(lead) and (data[lead + 1] < 0xA0).any():
        return True
    lead = np.flatnonzero(data[:-2] == 0xE2)  # U+200B-U+200D: E2 80 8B-8D; U+2060: E2 81 A0
    if len(lead):
        second, third = data[lead + 1], data[lead + 2]
        if (((second == 0x80) & (third >= 0x8B) & (third <= 0x8D)) | ((second == 0x81) & (third == 0xA0))).any():
            return True
    lead = np.flatnonzero(data[:-2] == 0xEF)  # U+FEFF: EF BB BF
    return bool(len(lead) and ((data[lead + 1] == 0xBB) & (data[lead + 2] == 0xBF)).any())


def _text(col: pd.Series, multiline: bool = False) -> pd.Series:
    text = _clean(col.astype("string"), multiline)
    out = text.str.strip()
    if _is_arrow_text(out):
        # out.mask(out == "") in one Arrow pass (pandas' mask goes through NumPy),
        # none at all when no value is blank (trimmed to "")
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = out.array.__arrow_array__()
        if _is_arrow_text(text) and _value_bytes(arr) == _value_bytes(source := text.array.__arrow_array__()):
            # Trimming removed nothing: keep the column's own buffers (no copy held in the typed frame)
            out, arr = text, source
        blank = pc.equal(arr, "")
        if not pc.any(blank).as_py():
            return out
        blanked = pc.if_else(blank, pa.scalar(None, arr.type), arr)
        return pd.Series(pd.array(blanked, dtype=out.dtype), index=out.index, name=out.name)
    return out.mask(out == "")


def _is_arrow_text(col: pd.Series) -> bool:
    """A pandas ``string`` column stored in Arrow."""
    return isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow"


def _value_bytes(arr) -> int:
    """Total bytes of the values of a (chunked) Arrow string array."""
    import pyarrow as pa

    chunks = arr.chunks if hasattr(arr, "chunks") else [arr]
    total = 0
    for chunk in chunks:
        if len(chunk):
            width = np.int64 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
            total += int(offsets[chunk.offset + len(chunk)]) - int(offsets[chunk.offset])
    return total


def _arrow_text(raw: pd.Series):
    """The pyarrow array behind a ``string`` column stored in Arrow, else None."""
    if _is_arrow_text(raw):
        import pyarrow as pa

        arr = raw.array.__arrow_array__()
        if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type):
            return arr
    return None


class _Distinct:
    """A text column as codes into its distinct values, for typing it value by value.

    Columns repeat a few spellings (dates, codes, names, enums) over many rows, so
    the scalar domain functions run once per distinct value and the answers are
    spread back over the rows (``codes``; -1 for a missing value).
    ``values``: each distinct value as ``_text`` gives it (trimmed; None when blank).
    """

    def __init__(self, raw: pd.Series):
        raw = raw.astype("string")
        self.index, self.name = raw.index, raw.name
        self._indices = None  # the codes as an Arrow array, nulls for missing (for Arrow takes)
        self._codes = None
        arr = _arrow_text(raw)
        if arr is not None:
            # pd.factorize's codes and uniques, straight from Arrow (no NumPy round trips)
            import pyarrow as pa
            import pyarrow.compute as pc

            encoded = pc.dictionary_encode(arr)
            if isinstance(encoded, pa.ChunkedArray):  # one dictionary for all chunks: join the indices
                encoded = encoded.combine_chunks()
            self._indices = encoded.indices
            uniques = pd.array(encoded.dictionary, dtype="string")
        else:
            codes, uniques = pd.factorize(raw, use_na_sentinel=True)
            self._codes = np.asarray(codes, dtype=np.intp)
        text = _text(pd.Series(pd.array(uniques, dtype="string")))
        missing = text.isna().to_numpy(dtype=bool)
        self.values: list[str | None] = [None if m else v for v, m in zip(text.to_numpy(dtype=object), missing)]

    @property
    def codes(self) -> np.ndarray:
        """Each row's position in ``values`` (NumPy), -1 for a missing value."""
        if self._codes is None:
            import pyarrow.compute as pc

            self._codes = pc.fill_null(self._indices, -1).to_numpy(zero_copy_only=False)
        return self._codes

    def __len__(self) -> int:
        return len(self._indices) if self._indices is not None else len(self._codes)

    def strings(self, per_value: list) -> pd.Series:
        """A string column: each row gets its distinct value's entry (None -> missing)."""
        import pyarrow as pa

        try:
            entries = pa.array(per_value, type=pa.large_string())
        except (pa.ArrowException, TypeError):  # not all text: as pandas converts it
            column = pd.array(per_value, dtype="string").take(self.codes, allow_fill=True)
        else:
            if entries.null_count == len(entries):  # every row missing
                column = pd.array(_all_missing(len(self)), dtype="string")
            else:
                indices = self._indices if self._indices is not None else pa.array(self.codes, mask=self.codes < 0)
                column = pd.array(entries.take(indices), dtype="string")
        return pd.Series(column, index=self.index, name=self.name)

    def mapped(self, fn) -> pd.Series:
        """``_text(raw).map(fn, na_action="ignore").astype("string")``."""
        return self.strings([None if v is None else fn(v) for v in self.values])

    def unparsed(self, failed: list[bool]) -> pd.Series:
        """The text of the rows whose (non-blank) value could not be typed, else missing."""
        return self.strings([v if v is not None and bad else None for v, bad in zip(self.values, failed)])


def _all_missing(n: int):
    """An all-missing text array of ``n`` rows (the ``_unparsed_*`` of a column that all parsed)."""
    import pyarrow as pa

    return pa.nulls(n, pa.large_string())


def _typed(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series | None]:
    """Return (typed values, unparsed originals or None when the type cannot fail)."""
    kind = column.type
    if kind == "str":
        return _text(raw, column.multiline), None
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
            parsed = _whole_numbers(parsed)
        return parsed, text.where(text.notna() & parsed.isna())
    raise ValueError(kind)  # pragma: no cover - registry schema forbids other types


_EXACT_FLOAT = 2**53  # from here on a float64 no longer holds every whole number exactly


def _whole_numbers(parsed: pd.Series) -> pd.Series:
    """An ``int`` column as ``Int64``: whole numbers stay (``3.0`` -> 3, as Excel writes counts);
    a fraction (``2.7``), an infinity or a number too large to be exact becomes missing, so
    its text goes to ``_unparsed_`` and the type rule quarantines the row (never rounded)."""
    if str(parsed.dtype) == "Int64":
        return parsed
    values = parsed.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < _EXACT_FLOAT)
    ints = np.where(whole, values, 0).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(ints, ~whole), index=parsed.index, name=parsed.name)


# Rows from which the columns are typed in parallel threads (one per core): most of the
# work is Arrow kernels (dictionary encoding, takes, trimming), which release the GIL.
_PARALLEL_ROWS = 50_000


# Column types by typical cost per row (datetimes parse every distinct value with pandas).
_SLOW_FIRST = {kind: rank for rank, kind in enumerate(("datetime", "date", "org_name", "uscc", "bool", "int", "decimal", "enum", "district", "code"))}


def normalise(feed: Feed, records: pd.DataFrame) -> pd.DataFrame:
    """Map agency columns to warehouse names and types; add ``_unparsed_*`` columns."""
    with TypedColumns(feed, records) as columns:
        return columns.frame()


_FALLIBLE = ("date", "datetime", "bool", "int", "decimal")  # types that keep their unparseable text


class TypedColumns:
    """``normalise(feed, records)``, column by column, each column usable as soon as it is typed.

    Typing starts when the object is made: for a large batch in worker threads (one per
    core, slowest kinds first), else at once. ``column(name)`` waits for that column
    only, so a caller can work with the first columns (validate them) while the others
    are typed; ``frame()`` is the frame ``normalise`` returns. Use as a context manager
    (or ``close()``): it shuts the workers down.
    """

    def __init__(self, feed: Feed, records: pd.DataFrame, *, workers: int | None = None):
        self.feed, self.index = feed, records.index
        self._raws = [(column, records[column.source] if column.source in records.columns else pd.Series(pd.NA, index=records.index, dtype="string"))
                      for column in feed.columns]
        self._where: dict[str, tuple[int, bool]] = {}  # output column -> (feed column position, is the _unparsed_ text)
        for i, column in enumerate(feed.columns):
            self._where[column.name] = (i, False)
            if column.type in _FALLIBLE:
                self._where[UNPARSED + column.name] = (i, True)
        self.names = [*self._where, *(d.name for d in feed.derived)]
        # The slowest kinds first, so that no long column starts last.
        self.order = sorted(range(len(self._raws)), key=lambda i: _SLOW_FIRST.get(self._raws[i][0].type, len(_SLOW_FIRST)))
        self._results: dict[int, tuple[pd.Series, pd.Series | None]] = {}
        self._futures: dict = {}
        self._pool = None
        self._frame: pd.DataFrame | None = None
        keys = set(feed.key)
        cores = settings.cores()
        parallel = cores > 1 and len(self._raws) > 1 and len(records) >= _PARALLEL_ROWS
        workers = min(workers or cores, len(self._raws))
        if parallel:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=workers)
            self._futures = {i: self._pool.submit(_type_column, *self._raws[i], self._raws[i][0].name in keys) for i in self.order}
        else:
            for i in range(len(self._raws)):
                self._results[i] = _type_column(*self._raws[i], self._raws[i][0].name in keys)

    def __enter__(self) -> TypedColumns:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def column_type(self, name: str) -> str | None:
        """The registry type a column is typed from (``str`` for ``_unparsed_*`` text), None for derived ones."""
        where = self._where.get(name)
        return None if where is None else ("str" if where[1] else self._raws[where[0]][0].type)

    def raw(self, name: str) -> pd.Series | None:
        """The agency column a typed column comes from (None for derived columns)."""
        where = self._where.get(name)
        return None if where is None else self._raws[where[0]][1]

    def rank(self, name: str) -> int:
        """When a column is typed, relative to the others (0: first)."""
        where = self._where.get(name)
        return len(self.order) if where is None else self.order.index(where[0])

    def _result(self, i: int) -> tuple[pd.Series, pd.Series | None]:
        if i not in self._results:
            typed, unparsed = self._futures[i].result()
            self._results[i] = (typed, unparsed)
        return self._results[i]

    def column(self, name: str) -> pd.Series:
        """One typed column (waits for it), as ``frame()[name]`` holds it."""
        if self._frame is not None or name not in self._where:
            return self.frame()[name]
        i, text = self._where[name]
        typed, unparsed = self._result(i)
        return (unparsed.astype("string") if text else typed).rename(name)

    def frame(self) -> pd.DataFrame:
        """The typed frame: every column, then the derived ones (waits for all)."""
        if self._frame is None:
            out = pd.DataFrame(index=self.index)
            for i, (column, _) in enumerate(self._raws):
                typed, unparsed = self._result(i)
                out[column.name] = typed
                if unparsed is not None:
                    out[UNPARSED + column.name] = unparsed.astype("string")
            for d in self.feed.derived:
                values = derive(d.function, [out[a] for a in d.args], out.index)
                if d.type == "date":  # the same dtype as typed date columns, so rules can compare them
                    values = pd.to_datetime(values, errors="coerce")
                elif d.type in ("int", "decimal"):
                    values = pd.to_numeric(values, errors="coerce")
                out[d.name] = values
            self._frame = out
        return self._frame


def _type_column(column: Column, raw: pd.Series, key: bool = False):
    typed, unparsed = _typed(column, raw)  # looked up when it runs (a caller may wrap _typed)
    if key and column.type == "str":
        typed = _halfwidth_key(typed)
    return typed, unparsed


def _halfwidth_key(text: pd.Series) -> pd.Series:
    """A ``str`` key column (hygienic, trimmed) made half-width and trimmed again, as ``code`` is
    without the upper-casing: ``ＹＨ２０２６…`` is ``YH2026…``, so one record gets one key.

    ASCII values are their own NFKC form: only the others (one Arrow scan finds them) are rewritten."""
    arr = _arrow_text(text)
    if arr is not None:
        import pyarrow.compute as pc

        if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
            return text
    elif text.dropna().map(str.isascii).all():
        return text
    return text.map(lambda v: to_halfwidth(v).strip() or None, na_action="ignore").astype(text.dtype)


def derive(function: str, args: list[pd.Series], index: pd.Index) -> pd.Series:
    """Apply ``safety_hub.domain.codes.<function>`` row by row (None where an argument is missing)."""
    from safety_hub.domain import codes

    fn = getattr(codes, function, None)
    if fn is None:
        raise ValueError(f"derived column function '{function}' is not defined in safety_hub.domain.codes")
    values = [None if any(pd.isna(v) for v in row) else fn(*row) for row in zip(*args)] if args else []
    return pd.Series(values, index=index, dtype="object")
