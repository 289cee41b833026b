"""Report receipts (报送回执): which unit reported for which period in a delivery, and how many rows.

Counted over every record of the delivery, valid or quarantined (a report with bad rows is still a
report; the rows' own fates are the quarantine's), from the typed columns: the feed's
``reporters.unit_column`` (a district code with legacy codes mapped) and the period its
``reporters.period_column`` names (``domain.reporting.reported_period``; the delivery's business
date when it names none). Rows refused at landing have no typed columns: they count with no unit.
Staged by ``quality/stream.py`` as ``report_receipt.parquet`` and committed with the batch's
quarantine (``pipeline.write_quality``); the warehouse build turns receipts into
``mart_reporting_status``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd

from safety_hub.config.registry import Feed
from safety_hub.domain.reporting import reported_period

COLUMNS = ("feed_id", "business_date", "batch_id", "unit_code", "period_date", "report_batch", "records")


class Receipts:
    """Per (unit, period, 报送批次): rows, added batch by batch."""

    def __init__(self, feed: Feed, day: dt.date):
        self.feed, self.day = feed, day
        self.counts: Counter = Counter()

    def add(self, typed: pd.DataFrame) -> None:
        rep = self.feed.reporters
        if rep is None or not len(typed):
            return
        units = _text(typed[rep.unit_column]) if rep.unit_column in typed.columns else pd.Series([None] * len(typed))
        batches = _text(typed[rep.period_column]) if rep.period_column in typed.columns else pd.Series([None] * len(typed))
        grouped = pd.DataFrame({"u": units.to_numpy(), "b": batches.to_numpy()}).value_counts(dropna=False)
        for (unit, batch), n in grouped.items():
            self.counts[(_none(unit), _none(batch))] += int(n)

    def add_unattributed(self, rows: int) -> None:
        if self.feed.reporters is not None and rows:
            self.counts[(None, None)] += rows

    def frame(self, batch_id: str) -> pd.DataFrame:
        rep = self.feed.reporters
        out = []
        periods: dict = {}
        for (unit, batch), n in sorted(self.counts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            if batch not in periods:
                periods[batch] = reported_period(batch, rep.period_pattern) or self.day
            out.append({"feed_id": self.feed.feed_id, "business_date": self.day, "batch_id": batch_id, "unit_code": unit,
                        "period_date": periods[batch], "report_batch": batch, "records": n})
        frame = pd.DataFrame(out, columns=list(COLUMNS))
        return frame.astype({"records": "int64"})


def _text(column: pd.Series) -> pd.Series:
    text = column.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _none(value):
    return None if value is None or (isinstance(value, float) and value != value) or value is pd.NA else str(value)
