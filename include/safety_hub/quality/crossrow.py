"""Rules that look across rows, decided over a whole delivery validated batch by batch.

Every expectation of the feed suites looks at one row at a time (a column's value, a
pair or list of a row's columns, under a row condition on that row), except
``expect_multicolumn_values_to_be_consistent_per_key`` (``doc_no.unique``,
``stretch.one_chief_pair``): a row fails when another row with the same key carries
other values, wherever that row is in the delivery.

When a delivery is validated in batches (``quality.stream``), a first pass over the
key rule's columns only (typed as the suite sees them) collects, per row, a 128-bit
hash of its key and one of its other values, keeping the distinct (key, values)
pairs; a key with more than one distinct pair is in conflict. While the batches are
validated (``delivery_scope``), the rule's metric marks a row unexpected when its key
is in conflict: the rows a single run over the whole delivery would mark. A key with a
missing part never fails (as ``groupby(dropna=True)`` leaves it out).

Pandas only (no GX import): the suite module's metric calls in here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd

# Two independent 64-bit hashes of the same values: one 128-bit hash (``pd.util.hash_pandas_object``'s key is 16 characters).
_HASH_KEYS = ("safety-hub-key-A", "safety-hub-key-B")
_MISSING = "\x00"  # a missing value among a row's other values (as the metric joins them)
_SEP = "\x1f"


def joined_values(column_list: pd.DataFrame, key_columns: int) -> pd.Series:
    """Each row's values besides its key, as one text: what the metric compares per key."""
    keys = list(column_list.columns[:key_columns])
    return column_list.drop(columns=keys).astype("string").fillna(_MISSING).agg(_SEP.join, axis=1)


def consistent_per_key_mask(column_list: pd.DataFrame, key_columns: int) -> pd.Series:
    """True where every row of the row's key (within ``column_list``) carries the same other values."""
    keys = list(column_list.columns[:key_columns])
    values = joined_values(column_list, key_columns)
    distinct = values.groupby([column_list[k] for k in keys], dropna=True).transform("nunique")
    return distinct.reindex(column_list.index).fillna(1).le(1)


def _key_frame(column_list: pd.DataFrame, key_columns: int) -> pd.DataFrame:
    """The key columns, floats with ``-0.0`` made ``0.0`` (equal keys hash equal)."""
    keys = column_list.iloc[:, :key_columns]
    return pd.DataFrame({i: (keys.iloc[:, i] + 0.0) if pd.api.types.is_float_dtype(keys.iloc[:, i]) else keys.iloc[:, i]
                         for i in range(key_columns)}, index=keys.index)


def _hashes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return tuple(pd.util.hash_pandas_object(frame, index=False, hash_key=k).to_numpy(dtype=np.uint64) for k in _HASH_KEYS)


def _keyed(column_list: pd.DataFrame, key_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows with a whole key, their key hash halves)."""
    keys = _key_frame(column_list, key_columns)
    whole = ~keys.isna().any(axis=1).to_numpy(dtype=bool)
    k1, k2 = _hashes(keys[whole]) if whole.any() else (np.empty(0, np.uint64), np.empty(0, np.uint64))
    return whole, k1, k2


class KeyConflicts:
    """The keys of one consistent-per-key rule that carry more than one set of values in a delivery.

    ``add`` each batch's typed columns (``column_list`` order), then ``finish``; ``passes``
    answers for any batch of the same delivery.
    """

    def __init__(self, columns: list[str], key_columns: int):
        self.columns, self.key_columns = list(columns), int(key_columns)
        self._pairs: pd.DataFrame | None = None  # distinct (k1, k2, v1, v2) seen so far
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0
        self._conflicts: set[tuple[int, int]] | None = None
        self._first: np.ndarray | None = None

    def add(self, column_list: pd.DataFrame) -> None:
        whole, k1, k2 = _keyed(column_list, self.key_columns)
        if not len(k1):
            return
        values = joined_values(column_list[whole], self.key_columns)
        v1, v2 = _hashes(values.to_frame())
        pairs = pd.DataFrame({"k1": k1, "k2": k2, "v1": v1, "v2": v2}).drop_duplicates(ignore_index=True)
        self._pending.append(pairs)
        self._pending_rows += len(pairs)
        if self._pending_rows >= max(len(self._pairs) if self._pairs is not None else 0, 100_000):
            self._consolidate()

    def _consolidate(self) -> None:
        parts = ([self._pairs] if self._pairs is not None else []) + self._pending
        if parts:
            self._pairs = pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)
        self._pending, self._pending_rows = [], 0

    def finish(self) -> KeyConflicts:
        self._consolidate()
        pairs = self._pairs
        if pairs is None or not len(pairs):
            self._conflicts = set()
        else:
            per_key = pairs.groupby(["k1", "k2"], sort=False).size()
            many = per_key[per_key > 1].index
            self._conflicts = {(int(a), int(b)) for a, b in many}
        self._pairs = None
        self._first = np.fromiter((a for a, _ in self._conflicts), dtype=np.uint64, count=len(self._conflicts))
        return self

    @property
    def conflicts(self) -> int:
        return len(self._conflicts or ())

    def passes(self, column_list: pd.DataFrame) -> pd.Series:
        """The rule's answer for a batch's rows: False where the row's key is in conflict in the delivery."""
        ok = np.ones(len(column_list), dtype=bool)
        if self._conflicts:
            whole, k1, k2 = _keyed(column_list, self.key_columns)
            positions = np.flatnonzero(whole)
            maybe = np.isin(k1, self._first)
            for pos, a, b in zip(positions[maybe], k1[maybe], k2[maybe]):
                if (int(a), int(b)) in self._conflicts:
                    ok[pos] = False
        return pd.Series(ok, index=column_list.index)


# While a delivery is validated batch by batch: (column list, key columns) -> its KeyConflicts.
_scope: dict[tuple[tuple[str, ...], int], KeyConflicts] | None = None


@contextlib.contextmanager
def delivery_scope(rules: list[KeyConflicts]) -> Iterator[None]:
    """Within the block, the consistent-per-key rules in ``rules`` answer for the whole delivery."""
    global _scope
    saved = _scope
    _scope = {(tuple(r.columns), r.key_columns): r for r in rules}
    try:
        yield
    finally:
        _scope = saved


def delivery_answer(column_list: pd.DataFrame, key_columns: int) -> pd.Series | None:
    """The whole delivery's answer for these rows, when a scope holds this rule; else None."""
    if not _scope:
        return None
    rule = _scope.get((tuple(str(c) for c in column_list.columns), int(key_columns)))
    return None if rule is None else rule.passes(column_list)
