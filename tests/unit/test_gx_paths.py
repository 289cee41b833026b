"""The two ways the engine drives GX decide the same: ``plain`` (one ``batch.validate`` of the whole
suite over the whole typed frame) and ``fast`` (the expectations in groups, small frames).

Held equal: the typed frame, the quarantined rows with their rules (in order), the flagged rows
with theirs, rule counts, ``validation_result`` rows, every expectation's GX result and the
quarantine and flag rows themselves, on a generated hazard batch with the simulator's defects
and more injected here, and on every feed of a simulated day. The simulator's week, landed and
streamed, is compared the same way in ``tests/e2e/test_validate_stream_week.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from gx_reference import comparable  # noqa: E402

from safety_hub.quality.engine import PATH_ENV, Engine, Options  # noqa: E402
from safety_hub.config.registry import get_feed, load_registry  # noqa: E402

DAY = dt.date(2026, 11, 5)


def _decisions(feed, records: pd.DataFrame, check) -> dict:
    from safety_hub.quality.expectations import rule_descriptions
    from safety_hub.quality.validate import quarantine_frame

    kw = dict(batch_id="b", business_date=DAY, raw_file="raw", key=feed.key, descriptions=rule_descriptions(feed))
    rows = {name: quarantine_frame(check, records, warnings=warnings, **kw).drop(columns=["quarantined_at"])
            for name, warnings in (("quarantine", False), ("quality_flag", True))}
    return {"failures": check.failures, "failure_order": list(check.failures), "flags": check.flags, "rule_counts": check.rule_counts,
            "rule_results": check.rule_results, "gx": [comparable(r) for r in check.gx_result.results],
            "statistics": check.gx_result.statistics, "success": check.gx_result.success, **rows}


def _assert_same(feed, records: pd.DataFrame, day: dt.date = DAY):
    from safety_hub.quality.validate import check_batch

    plain = check_batch(feed, records, day, engine=Engine(Options(path="plain")))
    fast = check_batch(feed, records, day, engine=Engine(Options(path="fast")))
    pd.testing.assert_frame_equal(fast.typed, plain.typed, check_exact=True)
    got, want = _decisions(feed, records, fast), _decisions(feed, records, plain)
    for name in ("quarantine", "quality_flag"):
        pd.testing.assert_frame_equal(got.pop(name), want.pop(name), check_exact=True, obj=name)
    assert got == want
    return plain


def test_a_generated_batch_with_injected_defects_decides_the_same():
    from hazard_data import FEED_ID, hazard_table

    feed = get_feed(FEED_ID)
    table, _ = hazard_table(60_000)
    records = table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow"))
    source = {c.name: c.source for c in feed.columns}
    records.loc[::997, source["uscc"]] = "12350100M00012345X"  # pilot-era code: a warning rule flags it
    records.loc[5::1301, source["found_date"]] = "2099-01-01"  # found in the future
    records.loc[7::1499, source["found_date"]] = "9999-12-31"  # out of datetime64[ns]: GX's per-value path
    records.loc[11::1777, source["grade"]] = "不存在的等级"  # outside the enum
    records.loc[13::2003, source["hazard_id"]] = pd.NA  # key missing
    plain = _assert_same(feed, records)
    assert len(plain.failures) > 5_000 and len(plain.flags) > 50, "defects of both severities are in the batch"
    assert {"found_date.not_future", "grade.in_set", "uscc.pilot_era"} <= {r for r, n in plain.rule_counts.items() if n}


@functools.lru_cache(maxsize=1)
def _day():
    from safety_hub_dev.simulator.generate import generate_day

    return generate_day(DAY)


@pytest.mark.parametrize("feed_id", sorted(load_registry()))
def test_every_feed_of_a_simulated_day_decides_the_same(feed_id):
    from safety_hub.ingest.landing import apply_aliases

    feed = get_feed(feed_id)
    records = pd.DataFrame.from_records(_day().records[feed_id])
    records = apply_aliases(feed, records).astype("string").replace({"": pd.NA}) if len(records) else records
    if not len(records):
        pytest.skip(f"{feed_id} delivers nothing on {DAY}")
    _assert_same(feed, records)


def test_the_switch_is_read_when_an_engine_is_made(monkeypatch):
    monkeypatch.delenv(PATH_ENV, raising=False)
    assert Engine().options.path == "fast"
    monkeypatch.setenv(PATH_ENV, "plain")
    assert Engine().options.path == "plain"
    monkeypatch.setenv(PATH_ENV, "PLAIN ")
    assert Engine().options == Options(path="plain", overlap=True)
    monkeypatch.setenv("SAFETY_HUB_GX_OVERLAP", "0")
    assert Engine().options == Options(path="plain", overlap=False)
    monkeypatch.setenv(PATH_ENV, "quick")
    with pytest.raises(ValueError, match="SAFETY_HUB_GX_PATH"):
        Engine()


def test_check_batch_without_an_engine_follows_the_environment(monkeypatch):
    """``check_batch`` makes its engine from the environment at call time: the plain path keeps the data fingerprint
    of its one batch in the result's meta, the fast path (one frame per group) leaves it out."""
    from safety_hub.quality.validate import check_batch

    feed = get_feed("emb_hazard")
    records = pd.DataFrame.from_records(_day().records["emb_hazard"]).astype("string").replace({"": pd.NA})
    monkeypatch.setenv(PATH_ENV, "plain")
    plain = check_batch(feed, records, DAY)
    monkeypatch.setenv(PATH_ENV, "fast")
    fast = check_batch(feed, records, DAY)
    assert "pandas_data_fingerprint" in plain.gx_result.meta["batch_markers"]
    assert "pandas_data_fingerprint" not in fast.gx_result.meta["batch_markers"]
    assert fast.failures == plain.failures and np.any(list(plain.rule_counts.values()))



def test_the_fast_path_has_gx_hash_no_frame(monkeypatch):
    """GX fingerprints (hashes every row of) each frame it loads for a batch marker the fast path drops: the fast
    path turns that off while it runs, and only then (the plain path, and GX after the run, hash as before)."""
    from great_expectations.execution_engine import pandas_execution_engine as gx_pandas

    from safety_hub.quality.validate import check_batch

    hashed = []
    original = gx_pandas.hash_pandas_dataframe
    monkeypatch.setattr(gx_pandas, "hash_pandas_dataframe", lambda df: hashed.append(len(df)) or original(df))
    threshold = gx_pandas.HASH_THRESHOLD
    feed = get_feed("emb_hazard")
    records = pd.DataFrame.from_records(_day().records["emb_hazard"]).astype("string").replace({"": pd.NA})
    fast = check_batch(feed, records, DAY, engine=Engine(Options(path="fast")))
    assert hashed == [] and gx_pandas.HASH_THRESHOLD == threshold > 0
    plain = check_batch(feed, records, DAY, engine=Engine(Options(path="plain")))
    assert hashed and set(hashed) == {len(records)}, "the plain path fingerprints its whole frame"
    assert fast.failures == plain.failures and fast.rule_results == plain.rule_results


def test_an_engine_keeps_each_suite_of_its_own():
    """An engine keeps its group suites for the next batches, by what the suite holds: the same engine over
    two business dates (``not_future`` bound to each) decides each with its own date."""
    from safety_hub.quality.validate import check_batch

    feed = get_feed("emb_hazard")
    records = pd.DataFrame.from_records(_day().records["emb_hazard"]).astype("string").replace({"": pd.NA})
    records.loc[0, "fxrq"] = (DAY + dt.timedelta(days=1)).isoformat()  # found the day after DAY
    engine = Engine(Options(path="fast"))
    later = DAY + dt.timedelta(days=2)
    results = [check_batch(feed, records, day, engine=engine) for day in (DAY, later, DAY)]
    assert "found_date.not_future" in results[0].failures[0] and "found_date.not_future" not in results[1].failures.get(0, [])
    assert results[2].failures == results[0].failures and results[2].rule_results == results[0].rule_results
    fresh = check_batch(feed, records, later, engine=Engine(Options(path="fast")))
    assert results[1].failures == fresh.failures and results[1].rule_results == fresh.rule_results

def test_rules_sharing_an_id_decide_the_same():
    """A registry rule may reuse an id (another rule's, or one the column types imply): each result
    still goes back to its own expectation."""
    from safety_hub.config.registry import Rule

    feed = get_feed("emb_hazard")
    extra = [Rule(id="grade.required", expectation="expect_column_values_to_not_be_null", kwargs={"column": "measures"}),
             Rule(id="twice", expectation="expect_column_values_to_not_be_null", kwargs={"column": "owner"}),
             Rule(id="twice", expectation="expect_column_values_to_not_be_null", kwargs={"column": "deadline"}, severity="warning")]
    feed = feed.model_copy(update={"validation": feed.validation.model_copy(update={"rules": [*feed.validation.rules, *extra]})})
    records = pd.DataFrame.from_records(_day().records["emb_hazard"]).astype("string").replace({"": pd.NA})
    plain = _assert_same(feed, records)
    assert [e.meta["rule_id"] for e in plain.suite.expectations].count("twice") == 2
