"""Unified social credit codes (GB 32100) and their GB 11714 organisation code: scalar checks,
and the vectorised check of whole columns (same answers). See ``shared/DOMAIN.md`` §1, C1."""

from __future__ import annotations

import contextlib
import re

from safety_hub.domain.text import to_halfwidth

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# Pilot-era codes (DOMAIN.md §1): issued in Fujian before the check rule. Positions 1-2 are
# the department/type pair, 3-4 are 35 (a Fujian region code in 3-8), 9 is M and 10-12 are
# 000. Their check character may fail: they are accepted as issued, and flagged (warning).
_PILOT_ERA = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{2}35\d{4}M000")


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
