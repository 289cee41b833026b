"""bench-city's flatness verdict compares batches at equal volume (bench/bench_city.py, ``equal_volume_flatness``).

The city span's weeks differ in volume (a two-day week, the Spring Festival, the seasonal dip); a
batch's cost is mostly per delivery. The verdict must not call a pipeline that does not grow with
history "not flat" because its last weeks were smaller, and must see a growth that is there.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_city import equal_volume_flatness  # noqa: E402


def _batches(growth_per_million: float, seed: int = 7) -> list[dict]:
    rnd, out, seen = random.Random(seed), [], 0
    for i in range(13):
        deliveries = rnd.choice([36, 67, 81, 83, 103])
        rows = deliveries * rnd.randint(400, 750)
        if i >= 9:  # the smaller last weeks of a quarter: per-record cost rises without any growth
            rows //= 2
        cpu = 2.5 + 0.6 * deliveries + 0.05 * rows / 1000 + growth_per_million * seen / 1e6
        out.append({"rows": rows, "deliveries": deliveries, "cpu": cpu * (1 + rnd.uniform(-0.01, 0.01)), "cost": cpu})
        seen += rows
    return out


def test_a_cost_that_does_not_grow_is_flat_whatever_the_batches_volume():
    batches = _batches(0.0)
    per_1k = lambda rs: sum(r["cpu"] for r in rs) / sum(r["rows"] for r in rs)  # noqa: E731
    assert per_1k(batches[-4:]) / per_1k(batches[:4]) > 1.3, "the naive per-record ratio would call it not flat"
    assert equal_volume_flatness(batches, 4)["ratio"] == pytest.approx(1.0, abs=0.03)


def test_a_cost_that_grows_with_history_is_seen():
    batches = _batches(80.0)  # +80 s per million records loaded before the batch
    got = equal_volume_flatness(batches, 4)
    assert got["ratio"] > 1.3
    assert got["coef"][3] * 1e6 == pytest.approx(80.0, rel=0.15)
