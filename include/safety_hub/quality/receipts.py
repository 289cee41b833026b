"""Report receipts (报送回执): which unit reported for which day in a delivery, and how many records.

Counted over every record of the delivery, valid or quarantined (a report with bad records is still a
report; the records' own fates are the quarantine's), from the typed columns: the feed's
``reporters.unit_column`` (a district code with legacy codes mapped) and the day its
``reporters.period_column`` names (``domain.reporting.reported_period``; the delivery's business
date when it names none). Rows refused at landing have no typed columns: they count with no unit.
``repeated_records`` are the records whose key an earlier record of the same unit and day in the
delivery already had (the same record reported again); the keys are kept as 64-bit hashes with a group
number, 12 bytes a record, compared once at the end, so a repeat across validation batches counts too.
Staged by ``quality/stream.py`` as ``report_receipt.parquet`` and committed with the batch's
quarantine (``pipeline.write_quality``); the warehouse build turns receipts into
``mart_reporting_status``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pandas as pd

from safety_hub.config.registry import Feed
from safety_hub.domain.reporting import reported_period

COLUMNS = ("feed_id", "business_date", "batch_id", "unit_code", "period_date", "report_batch", "records", "repeated_records")


class Receipts:
    """Per (unit, 报送批次): records, added batch by batch; the keys' hashes per (unit, reported day)."""

    def __init__(self, feed: Feed, day: dt.date):
        self.feed, self.day = feed, day
        self.counts: Counter = Counter()
        self._groups: dict[tuple, int] = {}  # (unit, period date) -> group number
        self._hashes: list[np.ndarray] = []  # per batch: key hash combined with the group number
        self._hash_groups: list[np.ndarray] = []  # per batch: the group number of each hash
        self._periods: dict = {}

    def _period(self, batch):
        if batch not in self._periods:
            self._periods[batch] = reported_period(batch, self.feed.reporters.period_pattern) or self.day
        return self._periods[batch]

    def add(self, typed: pd.DataFrame) -> None:
        rep = self.feed.reporters
        if rep is None or not len(typed):
            return
        n = len(typed)
        units = _text(typed[rep.unit_column]) if rep.unit_column in typed.columns else pd.Series([None] * n, dtype=object)
        batches = _text(typed[rep.period_column]) if rep.period_column in typed.columns else pd.Series([None] * n, dtype=object)
        frame = pd.DataFrame({"u": units.to_numpy(), "b": batches.to_numpy()})
        for (unit, batch), count in frame.value_counts(dropna=False).items():
            self.counts[(_none(unit), _none(batch))] += int(count)
        keys = typed[self.feed.key]
        present = keys.notna().all(axis=1).to_numpy()
        if not present.any():
            return
        # The group number of each row, looked up once per distinct (unit, 报送批次) pair, not per row.
        unit_codes, unit_values = pd.factorize(frame["u"], use_na_sentinel=False)
        batch_codes, batch_values = pd.factorize(frame["b"], use_na_sentinel=False)
        pair_codes, pairs = pd.factorize(unit_codes.astype(np.int64) * len(batch_values) + batch_codes)
        numbers = np.array([self._group(_none(unit_values[p // len(batch_values)]),
                                        self._period(_none(batch_values[p % len(batch_values)]))) for p in pairs], dtype=np.uint32)
        groups = numbers[pair_codes]
        hashed = pd.util.hash_pandas_object(keys.astype("string"), index=False).to_numpy(dtype=np.uint64)
        self._hashes.append((hashed ^ (groups.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))[present])
        self._hash_groups.append(groups[present])

    def _group(self, unit, period) -> int:
        return self._groups.setdefault((unit, period), len(self._groups))

    def add_unattributed(self, rows: int) -> None:
        if self.feed.reporters is not None and rows:
            self.counts[(None, None)] += rows

    def _repeats(self) -> Counter:
        """(unit, period date) -> records whose key appeared before in the same group.

        One sorted copy of the hashes finds the values that repeat (8 bytes a record beside the
        12 kept); only the records carrying those values are then ordered to attribute their groups,
        so no index of every record is built (at 10M records the whole-array argsort and its copies
        were ~300 MB more than this at the end of validation)."""
        if not self._hashes:
            return Counter()
        ordered = np.concatenate(self._hashes)
        ordered.sort()  # in place: one copy of the hashes, not two
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not len(repeated):
            return Counter()
        picked = [np.isin(h, repeated) for h in self._hashes]
        hashes = np.concatenate([h[m] for h, m in zip(self._hashes, picked)])
        groups = np.concatenate([g[m] for g, m in zip(self._hash_groups, picked)])
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        again = np.zeros(len(hashes), dtype=bool)
        again[1:] = sorted_hashes[1:] == sorted_hashes[:-1]
        by_number = {v: k for k, v in self._groups.items()}
        return Counter({by_number[int(g)]: int(c) for g, c in zip(*np.unique(groups[order][again], return_counts=True))})

    def frame(self, batch_id: str) -> pd.DataFrame:
        repeats = self._repeats()
        out = []
        for (unit, batch), n in sorted(self.counts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            period = self._period(batch)
            out.append({"feed_id": self.feed.feed_id, "business_date": self.day, "batch_id": batch_id, "unit_code": unit,
                        "period_date": period, "report_batch": batch, "records": n,
                        "repeated_records": repeats.pop((unit, period), 0)})  # a group's repeats on its first batch row
        frame = pd.DataFrame(out, columns=list(COLUMNS))
        return frame.astype({"records": "int64", "repeated_records": "int64"})


def _text(column: pd.Series) -> pd.Series:
    text = column.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _none(value):
    return None if value is None or (isinstance(value, float) and value != value) or value is pd.NA else str(value)
