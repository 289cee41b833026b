"""Regulatory code formats beyond the USCC (DOMAIN.md §6-7): vehicle plates,
construction permit numbers, UN numbers and penalty document numbers; accident grades and
railway mileage. The derived-column functions of the feed YAMLs (``derived: function:``) are
looked up here (``normalise_doc_no``, ``permit_date``, ``accident_grade``, ``railway_km``).

Each check has a scalar form (``is_valid_*``, for one value and for tests) and
runs over whole columns through :func:`column_mask`, which calls the scalar
check once per distinct value: agency columns repeat the same codes, so this
is vectorised in practice without a second implementation to keep in step.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import TYPE_CHECKING, Callable

from safety_hub.domain.text import to_halfwidth

if TYPE_CHECKING:
    import pandas as pd


def _half(value: object) -> str:
    """NFKC (full-width letters, digits and brackets to half-width), trimmed."""
    return unicodedata.normalize("NFKC", str(value)).strip()


# --- Vehicle plates (GA 36-2018) -------------------------------------------------------
# 津 + issuing-office letter A-R without I and O; the serial uses digits and letters
# without I and O. New-energy plates have 6 serial characters: D/F (or A-K, 2021
# extension) first on small vehicles, last on large ones. Trailers end in 挂.
_OFFICE = "[A-HJ-NP-R]"
_SERIAL = "[A-HJ-NP-Z0-9]"
_PLATE = re.compile(rf"^津{_OFFICE}{_SERIAL}{{5}}$")
_NEV_PLATE = re.compile(rf"^津{_OFFICE}(?:[A-HJK]{_SERIAL}\d{{4}}|\d{{5}}[A-HJK])$")
_TRAILER_PLATE = re.compile(rf"^津{_OFFICE}{_SERIAL}{{4}}挂$")


def is_valid_plate(value: object) -> bool:
    """A Tianjin motor vehicle plate (ordinary or new-energy), after full-width conversion."""
    text = _half(value).upper()
    return bool(_PLATE.match(text) or _NEV_PLATE.match(text))


def is_valid_trailer_plate(value: object) -> bool:
    """A Tianjin trailer plate: 津, office letter, four serial characters, 挂."""
    return bool(_TRAILER_PLATE.match(_half(value).upper()))


# --- 施工许可证号 (construction permit) -------------------------------------------------
# 18 digits: 6-digit region (Tianjin: 12....) + issue date YYYYMMDD + 2-digit same-day
# sequence + 2-digit specialty code. DOMAIN.md calls the layout a soft rule, so the
# specialty range is checked only when asked for.
_PERMIT = re.compile(r"^(12\d{4})(\d{8})(\d{2})(\d{2})$")


def permit_date(value: object) -> dt.date | None:
    """The issue date embedded in a permit number, or None when there is none."""
    m = _PERMIT.match(_half(value))
    if not m:
        return None
    try:
        return dt.datetime.strptime(m[2], "%Y%m%d").date()
    except ValueError:
        return None


def is_valid_permit_no(value: object, strict_specialty: bool = False) -> bool:
    """Tianjin region prefix, a real embedded date, and (if strict) specialty 01-19."""
    m = _PERMIT.match(_half(value))
    if not m or permit_date(value) is None or m[3] == "00":
        return False
    return not strict_specialty or 1 <= int(m[4]) <= 19


# --- UN numbers ----------------------------------------------------------------------------
def is_valid_un_number(value: object) -> bool:
    """Exactly four digits (no 'UN' prefix: DOMAIN.md) in the assigned range 0004-3599."""
    text = _half(value)
    return len(text) == 4 and text.isascii() and text.isdigit() and 4 <= int(text) <= 3599


# Class (GB 6944 / JT/T 617, main class only) of the substances the agencies ship most.
# A number not listed here cannot be checked against its class and passes.
UN_CLASS: dict[str, str] = {
    "1005": "2", "1017": "2", "1072": "2", "1073": "2", "1075": "2", "1066": "2", "1971": "2", "1977": "2", "1978": "2",
    "1090": "3", "1114": "3", "1170": "3", "1202": "3", "1203": "3", "1230": "3", "1263": "3", "1993": "3",
    "1350": "4", "1428": "4",
    "1942": "5", "2014": "5",
    "1593": "6",
    "1789": "8", "1823": "8", "1824": "8", "1830": "8", "2031": "8",
    "3082": "9", "3077": "9",
}
_CLASS_DIGIT = re.compile(r"(\d)")


def un_number_matches_class(un_no: object, dg_class: object) -> bool:
    """The declared 危险货物类别 agrees with the class of a known UN number.

    ``dg_class`` may be the warehouse enum (``第3类``) or a bare/decimal class (``2.1``).
    Unknown numbers and unreadable classes pass: other rules report those.
    """
    expected = UN_CLASS.get(_half(un_no).upper().removeprefix("UN").strip())
    m = _CLASS_DIGIT.search(_half(dg_class))
    return expected is None or m is None or m[1] == expected


# --- 处罚决定书文号 (penalty decision document numbers) -----------------------------------------
# Real example: (津保)应急罚[2023]k-39号. Brackets vary between [] 〔〕 ［］ and () （）.
_OPEN_BRACKETS = str.maketrans({"[": "〔", "［": "〔", "【": "〔", "]": "〕", "］": "〕", "】": "〕", "（": "(", "）": ")"})
_DOC_NO = re.compile(r"^(?:\(津[\u4e00-\u9fa5]{0,2}\)|津[\u4e00-\u9fa5]{0,2})应急[\u4e00-\u9fa5]{1,2}〔(\d{4})〕[A-Za-z0-9-]+号$")


def normalise_doc_no(value: object) -> str | None:
    """One spelling per document number: half-width parentheses, 〔〕 for the year, no spaces."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().translate(_OPEN_BRACKETS)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).translate(_OPEN_BRACKETS))
    return text or None


def is_valid_penalty_doc_no(value: object) -> bool:
    """津-prefixed 应急 decision number with a bracketed plausible year and a serial ending in 号."""
    text = normalise_doc_no(value)
    m = _DOC_NO.match(text or "")
    return bool(m) and 2000 <= int(m[1]) <= 2100


# --- Whole columns -------------------------------------------------------------------------
def column_mask(series: pd.Series, check: Callable[[object], bool]) -> pd.Series:
    """``series.map(check)`` as booleans, calling ``check`` once per distinct value."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    verdict = [bool(check(u)) for u in uniques]
    import numpy as np

    table = np.array(verdict + [False], dtype=bool)  # code -1 (NA) -> last slot
    return pd.Series(table[codes], index=series.index, dtype=bool)


def pair_mask(a: pd.Series, b: pd.Series, check: Callable[[object, object], bool]) -> pd.Series:
    """``check(a_i, b_i)`` per row, once per distinct (a, b) pair."""
    import pandas as pd

    pairs = pd.MultiIndex.from_arrays([a.astype("string"), b.astype("string")])
    codes, uniques = pd.factorize(pairs)
    import numpy as np

    table = np.array([bool(check(x, y)) for x, y in uniques] + [False], dtype=bool)
    return pd.Series(table[codes], index=a.index, dtype=bool)


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
