"""uscc_valid_mask checks a long column once per distinct value: same answers as per row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from safety_hub.domain import uscc as domain
from safety_hub.domain.uscc import is_pilot_era_uscc, is_valid_uscc, make_uscc, uscc_pilot_era_mask, uscc_valid_mask

EXAMPLE = "91120116697415782C"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _values(n: int, distinct: int, seed: int = 7) -> list:
    rng = np.random.default_rng(seed)
    pool = [make_uscc("91", f"{120100 + i % 16:06d}", f"{i:08d}") for i in range(distinct)]
    pool += [EXAMPLE, EXAMPLE.lower(), _fullwidth(EXAMPLE), f" {EXAMPLE}\t", EXAMPLE[:17] + "D", "", " ", "\u3000", "bad",
             "91" + "350100" + "M000" + "1234AB", "35" + "020100" + "M000" + "1234AB", EXAMPLE[:9] + " " + EXAMPLE[9:]]
    picks = rng.integers(0, len(pool) + 1, n)
    return [None if p == len(pool) else pool[p] for p in picks]


@pytest.mark.parametrize("dtype", ["string", "str", object])
@pytest.mark.parametrize("n, distinct", [(5000, 40), (3000, 2000), (1025, 1)])
def test_distinct_path_matches_per_row(n, distinct, dtype):
    values = _values(n, distinct)
    index = np.arange(n) * 3 + 11  # GX hands a filtered column: a gappy index
    series = pd.Series(values, dtype=dtype, index=index)
    if dtype != object:
        series = series.dropna()
    got = uscc_valid_mask(series)
    assert got.dtype == bool and got.index.equals(series.index)
    assert got.tolist() == [is_valid_uscc(v) for v in series.tolist()]
    pilot = uscc_pilot_era_mask(series)
    assert pilot.dtype == bool and pilot.index.equals(series.index)
    assert pilot.tolist() == [is_pilot_era_uscc(v) for v in series.tolist()]


def test_distinct_and_row_paths_agree(monkeypatch):
    series = pd.Series(_values(4000, 300, seed=3), dtype="string")
    by_value, pilot_by_value = uscc_valid_mask(series), uscc_pilot_era_mask(series)
    monkeypatch.setattr(domain, "_USCC_DISTINCT_FROM", 10**9)  # every row checked on its own
    by_row, pilot_by_row = uscc_valid_mask(series), uscc_pilot_era_mask(series)
    pd.testing.assert_series_equal(by_value, by_row)
    pd.testing.assert_series_equal(pilot_by_value, pilot_by_row)
    assert by_value.any() and not by_value.all()
    assert pilot_by_value.any() and not pilot_by_value.all()


def test_the_two_uscc_rules_share_one_pass_only_within_a_validation(monkeypatch):
    series = pd.Series(_values(4000, 300, seed=5), dtype="string")
    other = pd.Series(_values(4000, 300, seed=6), dtype="string")  # same length, other buffers
    passes = []
    real = domain._uscc_arrays
    monkeypatch.setattr(domain, "_uscc_arrays", lambda arr: passes.append(len(arr)) or real(arr))
    with domain.uscc_masks_shared():
        valid, pilot = uscc_valid_mask(series), uscc_pilot_era_mask(series)
        assert len(passes) == 1  # the pilot-era rule reused the valid_uscc pass
        other_pilot = uscc_pilot_era_mask(other)
        assert len(passes) == 2
    assert valid.tolist() == [is_valid_uscc(v) for v in series.tolist()]
    assert pilot.tolist() == [is_pilot_era_uscc(v) for v in series.tolist()]
    assert other_pilot.tolist() == [is_pilot_era_uscc(v) for v in other.tolist()]
    uscc_valid_mask(series), uscc_pilot_era_mask(series)
    assert len(passes) == 4  # outside a validation nothing is kept
    assert domain._shared_masks is None
