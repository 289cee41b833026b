"""Report receipts: records per unit, day reported for and 报送批次; records repeating a key of the same
unit and day, across validation batches too; rows without a unit or key set aside as such."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pandas as pd

from safety_hub.config.registry import get_feed
from safety_hub.quality.receipts import Receipts

DAY = dt.date(2026, 10, 9)


def _typed(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["waybill_no", "district_code", "report_batch"])


def test_receipts_count_units_days_and_repeated_records_across_batches():
    r = Receipts(get_feed("tc_dg_waybill"), DAY)
    r.add(_typed([("YD1", "120101", "TC-YD-20261009"), ("YD2", "120101", "TC-YD-20261009"), ("YD1", "120102", "TC-YD-20261009"),
                  ("YD3", "120101", "TC-YD-20261008")]))
    r.add(_typed([("YD1", "120101", "TC-YD-20261009-R"), (None, "120101", "TC-YD-20261009"), (None, "120101", "TC-YD-20261009"),
                  ("YD9", None, None), ("YD3", "120101", "TC-YD-20261009")]))
    r.add_unattributed(2)  # rows refused at landing
    f = r.frame("run-1")
    text = lambda v: v if isinstance(v, str) else None  # noqa: E731  (missing as None, whatever pandas holds)
    got = {(text(u), str(p), text(b)): (n, rep) for u, p, b, n, rep in
           f[["unit_code", "period_date", "report_batch", "records", "repeated_records"]].itertuples(index=False)}
    assert got == {
        ("120101", "2026-10-09", "TC-YD-20261009"): (5, 1),  # YD1 again (in another batch, under -R): one repeat; keyless rows aside
        ("120101", "2026-10-09", "TC-YD-20261009-R"): (1, 0),  # a group's repeats are counted on its first row
        ("120102", "2026-10-09", "TC-YD-20261009"): (1, 0),  # the same key in another unit is no repeat
        ("120101", "2026-10-08", "TC-YD-20261008"): (1, 0),  # nor on another day (YD3 of 10-08 and of 10-09)
        (None, "2026-10-09", None): (3, 0),  # no unit, no batch (the delivery's day); the landing's refusals
    }
    assert f["records"].sum() == 11 and set(f["batch_id"]) == {"run-1"}


def _repeats_reference(receipts) -> Counter:
    """Every record's index sorted by hash (the whole-array reference the bounded ``_repeats`` must equal)."""
    hashes, groups = np.concatenate(receipts._hashes), np.concatenate(receipts._hash_groups)
    order = np.argsort(hashes, kind="stable")
    again = np.zeros(len(hashes), dtype=bool)
    again[1:] = hashes[order][1:] == hashes[order][:-1]
    by_number = {v: k for k, v in receipts._groups.items()}
    return Counter({by_number[int(g)]: int(c) for g, c in zip(*np.unique(groups[order][again], return_counts=True))})


def test_repeats_found_from_the_repeated_hashes_only_equal_the_whole_array_reference():
    rng = np.random.default_rng(20261203)
    for case in range(200):
        receipts = Receipts.__new__(Receipts)
        groups = int(rng.integers(1, 6))
        receipts._groups = {(f"12011{i}", i): i for i in range(groups)}
        receipts._hashes, receipts._hash_groups = [], []
        for _ in range(int(rng.integers(1, 5))):  # validation batches
            n = int(rng.integers(0, 50))
            receipts._hash_groups.append(rng.integers(0, groups, n).astype(np.uint32))
            receipts._hashes.append(rng.integers(0, int(rng.integers(1, 40)), n).astype(np.uint64))  # repeats, collisions too
        assert receipts._repeats() == _repeats_reference(receipts), case


def test_receipts_equal_a_row_by_row_count_on_random_batches():
    """The per-pair lookup of ``Receipts.add`` counts as one walk over the rows would: records per
    (unit, 报送批次), and per (unit, day reported for) the records whose key came earlier."""
    import random
    from collections import Counter

    from safety_hub.domain.reporting import reported_period

    feed = get_feed("tc_dg_waybill")
    rng = random.Random(7)
    units = ["120101", " 120102 ", "", None, "120116", float("nan")]
    batches = ["TC-YD-20261009", "TC-YD-20261008", "TC-YD-20261009-R", None, " ", "无批次"]
    r, records, seen, repeated = Receipts(feed, DAY), Counter(), set(), Counter()
    for _ in range(3):
        rows = [(rng.choice([None, *(f"YD{i}" for i in range(300))]), rng.choice(units), rng.choice(batches)) for _ in range(2_000)]
        r.add(_typed(rows))
        for key, unit, batch in rows:
            u = unit.strip() if isinstance(unit, str) and unit.strip() else None
            b = batch.strip() if isinstance(batch, str) and batch.strip() else None
            records[(u, b)] += 1
            period = reported_period(b, feed.reporters.period_pattern) or DAY
            if key is not None:
                repeated[(u, period)] += (u, period, key) in seen
                seen.add((u, period, key))
    f = r.frame("run-2")
    text = lambda v: v if isinstance(v, str) else None  # noqa: E731
    assert {(text(u), text(b)): n for u, b, n in f[["unit_code", "report_batch", "records"]].itertuples(index=False)} == records
    got = Counter()
    for u, p, rep in f[["unit_code", "period_date", "repeated_records"]].itertuples(index=False):
        got[(text(u), p)] += rep
    assert +got == +repeated and sum(repeated.values()) > 100
