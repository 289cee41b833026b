"""Domain codes and normalisation: USCC (GB 32100), Tianjin districts, dates.

Every function here is pure and vectorisation-friendly (works on scalars; the
validation layer maps them over columns). See ``shared/DOMAIN.md`` §1, §2, C1-C4.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import unicodedata

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# Pilot-era codes (DOMAIN.md §1): issued in Fujian before the check rule. Positions 1-2 are
# the department/type pair, 3-4 are 35 (a Fujian region code in 3-8), 9 is M and 10-12 are
# 000. Their check character may fail: they are accepted as issued, and flagged (warning).
_PILOT_ERA = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{2}35\d{4}M000")


# Text hygiene (one rule for every feed; safety_hub.quality.normalise applies it to every column
# typed from text): control characters (Unicode Cc: C0, DEL, C1; NUL included) and zero-width
# characters (U+200B-U+200D, U+2060, U+FEFF) are removed; a run of tab, CR and LF becomes one
# space unless the column is multiline, where they stay.
_REMOVED_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_LINE_BREAKS = re.compile("[\t\n\r]+")


def clean_text(text: str, multiline: bool = False) -> str:
    """``text`` under the text hygiene rule (see above): no control or zero-width characters;
    tab/CR/LF runs become one space unless ``multiline``. Does not trim."""
    text = _REMOVED_CHARS.sub("", text)
    return text if multiline else _LINE_BREAKS.sub(" ", text)


def to_halfwidth(text: str) -> str:
    """Full-width ASCII (Ａ１（) and the ideographic space become half-width."""
    return unicodedata.normalize("NFKC", text) if text else text


def normalise_uscc(value: object) -> str | None:
    """C1: full-width to half-width, trim, upper-case. None for blanks."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = to_halfwidth(str(value)).strip().upper().replace(" ", "")
    return text or None


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character (position 18) for the first 17 positions."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character (position 17) for the 8-character body."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, _ORG_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _uscc_well_formed(value: object) -> str | None:
    """The normalised code if it has 18 positions of the charset with digits in 3-8, else None."""
    code = normalise_uscc(value)
    if code is None or len(code) != 18:
        return None
    if any(c not in _USCC_VALUE for c in code) or not code[2:8].isdigit():
        return None
    return code


def is_valid_uscc(value: object) -> bool:
    """Hard rule of DOMAIN.md §1: length, charset, digits in 3-8, check char.

    A pilot-era code (``is_pilot_era_uscc``) passes whatever its check character:
    it was legally issued before the rule (a warning rule flags it). A GB 11714
    (position 17) mismatch or an unknown department/type pair is only a warning
    and does not fail this check.
    """
    code = _uscc_well_formed(value)
    if code is None:
        return False
    if _PILOT_ERA.match(code):
        return True
    return uscc_check_char(code[:17]) == code[17]


def is_pilot_era_uscc(value: object) -> bool:
    """A well-formed code of the Fujian pilot era (``..35....M000......``, DOMAIN.md §1).

    Such a code is valid whether or not its check character matches; the
    ``<column>.pilot_era`` warning rule flags every one, so the rows load and the
    data team can see which codes passed without the check character's guarantee.
    """
    code = _uscc_well_formed(value)
    return code is not None and _PILOT_ERA.match(code) is not None


def make_uscc(dept_type: str, region: str, body8: str) -> str:
    """Build a valid USCC from department/type, a 6-digit region and an 8-char body."""
    org = body8 + org_code_check_char(body8)
    first17 = dept_type + region + org
    return first17 + uscc_check_char(first17)


DISTRICTS: dict[str, str] = {
    "120101": "和平区",
    "120102": "河东区",
    "120103": "河西区",
    "120104": "南开区",
    "120105": "河北区",
    "120106": "红桥区",
    "120110": "东丽区",
    "120111": "西青区",
    "120112": "津南区",
    "120113": "北辰区",
    "120114": "武清区",
    "120115": "宝坻区",
    "120116": "滨海新区",
    "120117": "宁河区",
    "120118": "静海区",
    "120119": "蓟州区",
}
LEGACY_DISTRICTS: dict[str, str] = {
    "120107": "120116",  # 塘沽区
    "120108": "120116",  # 汉沽区
    "120109": "120116",  # 大港区
    "120221": "120117",  # 宁河县
    "120222": "120114",  # 武清县
    "120223": "120118",  # 静海县
    "120224": "120115",  # 宝坻县
    "120225": "120119",  # 蓟县
}
# Free-text names agencies write instead of codes (C2), incl. non-GB/T 2260 areas.
_DISTRICT_NAMES: dict[str, str] = {
    **{name: code for code, name in DISTRICTS.items()},
    **{name.removesuffix("区"): code for code, name in DISTRICTS.items() if name != "滨海新区"},
    "滨海": "120116",
    "塘沽": "120116",
    "塘沽区": "120116",
    "汉沽": "120116",
    "汉沽区": "120116",
    "大港": "120116",
    "大港区": "120116",
    "保税区": "120116",
    "东疆": "120116",
    "东疆保税港区": "120116",
    "宁河县": "120117",
    "武清县": "120114",
    "静海县": "120118",
    "宝坻县": "120115",
    "蓟县": "120119",
}


def map_district(value: object) -> str | None:
    """C2: a current code, a legacy code or a free-text name -> current code, else None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = to_halfwidth(str(value)).strip()
    if text.endswith(".0"):  # codes read as numbers from spreadsheets
        text = text[:-2]
    if text in DISTRICTS:
        return text
    if text in LEGACY_DISTRICTS:
        return LEGACY_DISTRICTS[text]
    return _DISTRICT_NAMES.get(text.removeprefix("天津市"))


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


def normalise_org_name(name: object) -> str | None:
    """Half-width brackets and trimming, so name variants compare equal (C3); no control or
    zero-width characters (``clean_text``: ``天津\u200b宏远`` is ``天津宏远``)."""
    if name is None or (isinstance(name, float) and name != name):
        return None
    text = to_halfwidth(clean_text(str(name))).strip()
    return text or None


# --- Accident grades (DOMAIN.md §4, 国务院令第493号 Article 3) -----------------------------

# Lower bound of each grade on each criterion ("以上" includes the bound, "以下"
# excludes it), highest grade first; direct loss in 万元 (1亿 = 10000万元).
_ACCIDENT_GRADES: tuple[tuple[str, int, int, float], ...] = (
    ("特别重大", 30, 100, 10000),
    ("重大", 10, 50, 5000),
    ("较大", 3, 10, 1000),
)


def accident_grade(deaths: object, serious_injuries: object, direct_loss_wan: object) -> str:
    """The 493号令 grade of an accident: 特别重大, 重大, 较大 or 一般.

    Thresholds are lower bounds that include themselves (30 deaths is 特别重大,
    29 is 重大); the highest grade reached on any one criterion applies, so
    0 deaths with a loss of 5000万元 is 重大. ``direct_loss_wan`` is in 万元.
    """
    deaths_n, injuries_n, loss = float(deaths), float(serious_injuries), float(direct_loss_wan)
    for grade, min_deaths, min_injuries, min_loss in _ACCIDENT_GRADES:
        if deaths_n >= min_deaths or injuries_n >= min_injuries or loss >= min_loss:
            return grade
    return "一般"


# --- Railway mileage (DOMAIN.md data dictionary 9: K123+456) ------------------------------

_RAILWAY_KM = re.compile(r"^[A-Z]{0,3}K(\d{1,4})\+(\d{1,3}(?:\.\d+)?)$")


def railway_km(text: object) -> float | None:
    """Railway mileage ``K123+456`` (km + metres) as decimal km: 123.456.

    Accepts full-width text, spaces, lower case and design-mileage prefixes
    (``DK``, ``AK``...); the metre part is below 1000. None when unparseable.
    """
    if text is None or (isinstance(text, float) and text != text):
        return None
    raw = to_halfwidth(str(text)).strip().upper().replace(" ", "")
    m = _RAILWAY_KM.match(raw)
    if not m:
        return None
    metres = float(m[2])
    if metres >= 1000:
        return None
    return round(int(m[1]) + metres / 1000, 4)


# --- Vectorised USCC check (same answers as is_valid_uscc, for whole columns) -------------

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:  # annotations only: numpy/pandas/pyarrow are imported when the mask is used
    import numpy as np
    import pandas as pd

# What ``str.strip()`` removes among ASCII characters (``str.isspace``).
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
# Byte -> position in USCC_CHARSET (255 outside it), for bytes.translate.
_USCC_BYTE_VALUE = bytes(_USCC_VALUE.get(chr(b), 255) for b in range(256))


def _uscc_fixed18(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, pilot era) over an (n, 18) uint8 array of normalised ASCII codes."""
    import numpy as np

    values = np.frombuffer(codes.tobytes().translate(_USCC_BYTE_VALUE), dtype=np.uint8).reshape(codes.shape)
    ok = (values != 255).all(axis=1) & (values[:, 2:8] < 10).all(axis=1)  # charset; digits in 3-8
    # Pilot-era ^..35\d{4}M000 (charset and digits in 3-8 already required by ``ok``).
    pilot = ok & (codes[:, 2] == ord("3")) & (codes[:, 3] == ord("5")) & (codes[:, 8] == ord("M")) & (codes[:, 9:12] == ord("0")).all(axis=1)
    # Weighted sum of positions 1-17 (at most 17 * 30 * 30: exact in float64, so BLAS can do it).
    total = (values[:, :17].astype(np.float64) @ np.array(USCC_WEIGHTS, dtype=np.float64)).astype(np.int64)
    check = (31 - total % 31) % 31
    return ok & (pilot | (check == values[:, 17])), pilot


def uscc_valid_mask(series: pd.Series) -> pd.Series:
    """``series.map(is_valid_uscc)`` without the per-value Python call, for whole columns.

    Returns a boolean Series on the input's index; blanks and nulls are False.
    ASCII values (after trimming, upper-casing and removing spaces as
    ``normalise_uscc`` does; NFKC leaves ASCII unchanged) are checked with numpy
    over an (n, 18) byte array. Non-ASCII values (full-width forms and anything
    exotic) and columns that are not text go through ``is_valid_uscc`` itself,
    so the answers are the same by construction. A long column with repeated values
    (codes recur over a batch, one per enterprise) is checked once per distinct value.
    """
    return _uscc_mask(series, 0)


def uscc_pilot_era_mask(series: pd.Series) -> pd.Series:
    """``series.map(is_pilot_era_uscc)`` for whole columns, as ``uscc_valid_mask`` does it."""
    return _uscc_mask(series, 1)


def _uscc_mask(series: pd.Series, which: int) -> pd.Series:
    """``uscc_valid_mask`` (``which`` 0) or ``uscc_pilot_era_mask`` (1)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(series)
    if n == 0:
        return pd.Series(np.zeros(0, dtype=bool), index=series.index, dtype=bool)
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        arr = None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        scalar = (is_valid_uscc, is_pilot_era_uscc)[which]
        return pd.Series(series.map(scalar).to_numpy(dtype=bool), index=series.index, dtype=bool)
    return pd.Series(_uscc_column_masks(arr)[which], index=series.index, dtype=bool)


# While ``uscc_masks_shared`` runs: [the last column's (Arrow array, (valid, pilot era) masks)].
_shared_masks: list | None = None


@contextlib.contextmanager
def uscc_masks_shared():
    """Within the block, the masks computed for one USCC rule of a column serve the other.

    A suite checks each uscc column twice in a row (``<column>.valid_uscc``, then
    ``<column>.pilot_era``), on the same Arrow buffers; both masks come from one pass,
    so the second rule reuses them. Kept only for the block (the last column's array
    is held meanwhile, so its buffers' addresses cannot be reused).
    """
    global _shared_masks
    outer, _shared_masks = _shared_masks, [None]
    try:
        yield
    finally:
        _shared_masks = outer


def _uscc_column_masks(arr) -> tuple[np.ndarray, np.ndarray]:
    """(valid, pilot era) of each value of a pyarrow string array, as numpy booleans (null: False)."""
    import numpy as np
    import pyarrow.compute as pc

    shared = _shared_masks
    last = shared[0] if shared is not None else None
    if last is not None and _same_array(last[0], arr):
        return last[1]
    n = len(arr)
    masks = None
    if n > _USCC_DISTINCT_FROM:
        # A column repeats its codes (one per enterprise, over many rows): check each
        # distinct value once and spread the answers over the rows (nulls: False).
        encoded = pc.dictionary_encode(arr)
        if len(encoded.dictionary) <= n // 2:
            codes = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
            masks = tuple(np.append(per_value, False)[codes] for per_value in _uscc_arrays(encoded.dictionary))
    if masks is None:
        masks = _uscc_arrays(arr)
    if shared is not None:
        shared[0] = (arr, masks)
    return masks


def _same_array(a, b) -> bool:
    """The same values of the same (immutable) Arrow buffers: ``a`` is held, so its addresses are not reused."""
    if a is b:
        return True
    if a.type != b.type or len(a) != len(b) or a.offset != b.offset:
        return False
    return [None if x is None else (x.address, x.size) for x in a.buffers()] == [None if x is None else (x.address, x.size) for x in b.buffers()]


_USCC_DISTINCT_FROM = 1024  # rows from which distinct values are checked once each


def _uscc_arrays(arr) -> tuple[np.ndarray, np.ndarray]:
    """(``is_valid_uscc``, ``is_pilot_era_uscc``) of each value of a pyarrow string array (null: False)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    valid, pilot = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n == 0:
        return valid, pilot
    ascii_rows = pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~ascii_rows & arr.is_valid().to_numpy(zero_copy_only=False))
    if len(other):  # full-width and other non-ASCII text: the scalar rules (rare after normalise)
        texts = arr.take(pa.array(other)).to_pylist()
        valid[other] = [is_valid_uscc(t) for t in texts]
        pilot[other] = [is_pilot_era_uscc(t) for t in texts]

    ascii_idx = np.flatnonzero(ascii_rows)
    if len(ascii_idx) == 0:
        return valid, pilot
    text = arr.take(pa.array(ascii_idx)) if len(ascii_idx) < n else arr
    text = pc.ascii_trim(text, characters=_ASCII_WHITESPACE)
    text = pc.replace_substring(pc.ascii_upper(text), " ", "")
    length = pc.binary_length(text).to_numpy(zero_copy_only=False)
    sel = np.flatnonzero(length == 18)
    if len(sel) == 0:
        return valid, pilot
    fixed = text.take(pa.array(sel))
    offsets_type = np.int64 if pa.types.is_large_string(fixed.type) else np.int32
    _, offsets_buf, data_buf = fixed.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offsets_type)[fixed.offset : fixed.offset + len(fixed) + 1]
    codes = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(len(fixed), 18)
    valid[ascii_idx[sel]], pilot[ascii_idx[sel]] = _uscc_fixed18(codes)
    return valid, pilot


# Code formats used as derived-column functions live in safety_hub.codes.
from safety_hub.codes import normalise_doc_no, permit_date  # noqa: E402,F401


# --- Industries (GB/T 4754-2017) and their work-safety sectors (DOMAIN.md §5) --------------
# Longest prefix wins: C2672 (fireworks) inside C26 (chemicals), F5265 (fuel retail) inside F.
_SECTOR_PREFIXES: dict[str, str] = {
    **{p: "危化" for p in ("C25", "C26", "F5265", "F5266", "G5941", "G5942", "G5949")},
    **{f"B{n:02d}": "非煤矿山" for n in range(7, 11)},
    "C31": "金属冶炼", "C32": "金属冶炼",
    "C2672": "烟花爆竹",
    **{f"C{n}": "工贸" for n in (*range(13, 25), 30, *range(33, 41))}, "F": "工贸",
    **{f"E{n}": "建筑" for n in range(47, 51)},
    "G5435": "危货运输",
    **{f"D{n}": "燃气" for n in (4511, 4512, 4513)},
    "A0421": "渔业", "A0422": "渔业",
    "G53": "铁路",
}
# Every sector ``industry_sector`` can return, in first-listed order.
INDUSTRY_SECTORS: tuple[str, ...] = tuple(dict.fromkeys(_SECTOR_PREFIXES.values()))


def industry_sector(code: object) -> str | None:
    """The supervision sector of a GB/T 4754 code (``C2614`` -> 危化), or None."""
    if code is None or (isinstance(code, float) and code != code):
        return None
    text = to_halfwidth(str(code)).strip().upper()
    for n in range(len(text), 0, -1):
        if text[:n] in _SECTOR_PREFIXES:
            return _SECTOR_PREFIXES[text[:n]]
    return None


# --- Enterprise names for comparison (DOMAIN.md C3) ----------------------------------------
# The same rules run in SQL over the warehouse (transform.canonical_name_sql), so keep them as
# plain replacements and prefixes: every engine can apply REPLACE and a prefix test.
ORG_NAME_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (" ", ""),  # after half-width conversion the ideographic space is a plain space
    ("[", "("), ("]", ")"), ("〔", "("), ("〕", ")"), ("【", "("), ("】", ")"),
    ("有限责任公司", "有限公司"),
)
ORG_NAME_PREFIXES: tuple[tuple[str, str], ...] = (("天津市", "天津"), ("(天津)", "天津"))


def canonical_org_name(name: object) -> str | None:
    """The name as compared across agencies and days, not as displayed.

    Half-width, no spaces, round brackets, 有限责任公司 → 有限公司 and a leading
    天津市 / （天津） → 天津: ``（天津）宏远化工有限责任公司`` and ``天津宏远化工有限公司``
    are one name; a rename (another name) is not. None for blanks.
    """
    text = normalise_org_name(name)
    if text is None:
        return None
    for old, new in ORG_NAME_REPLACEMENTS:
        text = text.replace(old, new)
    for prefix, new in ORG_NAME_PREFIXES:
        if text.startswith(prefix):
            text = new + text[len(prefix):]
            break
    return text or None
