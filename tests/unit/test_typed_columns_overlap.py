"""Typing in worker threads, validating while typing: the same frame and the same results.

* ``TypedColumns`` (threads for a large batch) gives ``normalise``'s frame, column by column;
* ``check_batch`` validating each group of expectations as soon as its columns are typed
  decides exactly what it decides when it types every column first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json

import pandas as pd
import pytest

from safety_hub.quality import normalise as norm
from safety_hub.quality import validate as val
from safety_hub.quality.engine import Engine, Options
from safety_hub.config.registry import get_feed


@functools.lru_cache(maxsize=None)
def _records(feed_id: str, rows: int) -> pd.DataFrame:
    from safety_hub_dev.simulator.generate import generate_day

    base = pd.DataFrame.from_records(generate_day(dt.date(2026, 11, 3)).records[feed_id]).astype("string").replace({"": pd.NA})
    out = pd.concat([base] * (-(-rows // len(base))), ignore_index=True).iloc[:rows]
    return out.reset_index(drop=True)


@pytest.mark.parametrize("feed_id", ["emb_hazard", "tc_dg_waybill", "agri_fishing_vessel"])
def test_threads_type_the_same_frame(monkeypatch, feed_id):
    feed, records = get_feed(feed_id), _records(feed_id, 6000)
    monkeypatch.setattr(norm, "_PARALLEL_ROWS", 10**9)
    one_thread = norm.normalise(feed, records)
    monkeypatch.setattr(norm, "_PARALLEL_ROWS", 1)
    monkeypatch.setattr(norm.settings, "cores", lambda: 3)
    with norm.TypedColumns(feed, records) as columns:
        assert columns._pool is not None
        for name in reversed(columns.names):  # any order, before the frame exists
            pd.testing.assert_series_equal(columns.column(name), one_thread[name], check_exact=True)
        threaded = columns.frame()
    pd.testing.assert_frame_equal(threaded, one_thread, check_exact=True)
    assert list(threaded.dtypes) == list(one_thread.dtypes)


def _comparable(check) -> tuple:
    from great_expectations.util import convert_to_json_serializable

    results = [json.dumps(convert_to_json_serializable(r.to_json_dict()), sort_keys=True, ensure_ascii=False, default=str)
               for r in check.gx_result.results]
    return results, check.gx_result.statistics, check.failures, list(check.failures), check.flags, check.rule_counts, check.rule_results


@pytest.mark.parametrize("feed_id", ["emb_hazard", "tc_dg_waybill", "emb_enforcement", "agri_fishing_vessel"])
def test_validating_while_typing_decides_the_same(monkeypatch, feed_id):
    feed, records, day = get_feed(feed_id), _records(feed_id, 6000), dt.date(2026, 11, 3)
    monkeypatch.setattr(norm, "_PARALLEL_ROWS", 1)  # threads even for this small batch
    first_type_all = val.check_batch(feed, records, day, engine=Engine(Options(overlap=False)))
    overlapped = val.check_batch(feed, records, day, engine=Engine(Options(overlap=True)))
    pd.testing.assert_frame_equal(overlapped.typed, first_type_all.typed, check_exact=True)
    assert _comparable(overlapped) == _comparable(first_type_all)


def test_a_failing_column_stops_the_workers(monkeypatch):
    feed, records = get_feed("emb_hazard"), _records("emb_hazard", 3000)
    monkeypatch.setattr(norm, "_PARALLEL_ROWS", 1)
    real = norm._typed

    def broken(column, raw):
        if column.name == "grade":
            raise RuntimeError("boom")
        return real(column, raw)

    monkeypatch.setattr(norm, "_typed", broken)
    with pytest.raises(RuntimeError, match="boom"):
        val.check_batch(feed, records, dt.date(2026, 11, 3))
