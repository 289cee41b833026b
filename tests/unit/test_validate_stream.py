"""Validation batch by batch (``quality.stream``) decides as one run over the whole delivery.

The reference is what ``run_validate`` staged before it streamed (``validate_reference``:
the whole ``records.parquet`` in memory, one ``check_batch``). Held equal: the staged valid
rows, quarantine and flag rows (every column but the time stamp, in order, physical row
numbers included), ``validation_result`` rows, rule counts and the GX result kept for Data
Docs (counts, percentages, success, partial lists and value counts of the whole delivery).

* a generated hazard ledger of 300,000 rows with the simulator's defects, physical rows
  with gaps and rows refused at landing, in batches of 70,000 (five batches);
* a penalty ledger whose document numbers are shared across batches (``doc_no.unique``
  looks across rows: answered for the whole delivery from a first pass);
* the threshold, taken on the delivery's totals.

The simulator's week, landed through the real extract and land, is in
``tests/e2e/test_validate_stream_week.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from validate_reference import assert_same_stage, comparable_summary, read_stage, whole_file_stage  # noqa: E402

from safety_hub.registry import get_feed  # noqa: E402

DAY = dt.date(2026, 11, 5)


def _land(part: Path, frame: pd.DataFrame, rows: np.ndarray, rejects: list | None = None) -> Path:
    """A landed partition as ``landing.land_records`` leaves it: records (text, physical rows) and rejects."""
    from safety_hub.landing import RECORDS, REJECTS, ROW
    from safety_hub.landing.accounting import rejects_frame

    part.mkdir(parents=True, exist_ok=True)
    frame.assign(**{ROW: rows}).to_parquet(part / RECORDS, index=False)
    rejects_frame(rejects or []).to_parquet(part / REJECTS, index=False)
    return part


def _compare(feed, part: Path, tmp: Path, batch_rows: int, *, min_batches: int):
    from safety_hub.quality.stream import validate_delivery

    want = whole_file_stage(feed, part, DAY, "b1", tmp / "whole")
    got = validate_delivery(feed, part, DAY, batch_id="b1", stage=tmp / "streamed", batch_rows=batch_rows)
    assert got.batches >= min_batches
    assert_same_stage(read_stage(tmp / "streamed"), read_stage(tmp / "whole"), feed)
    assert (got.rows, got.quarantined, got.valid, got.flagged) == (want.rows, want.quarantined, want.valid, len(want.flags))
    assert got.rule_counts == want.rule_counts
    assert got.rule_results == want.rule_results
    assert comparable_summary(got.gx_result) == comparable_summary(want.gx_result)
    assert got.gx_result.statistics == want.gx_result.statistics and got.gx_result.success == want.gx_result.success
    return got, want


def test_large_hazard_ledger_in_batches(tmp_path):
    from hazard_data import FEED_ID, hazard_table

    from safety_hub.landing.accounting import Reject

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    table, _ = hazard_table(300_000)
    frame = table.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow"))
    frame.loc[::997, "tyshxydm"] = "12350100M00012345X"  # a pilot-era code: loaded, flagged (warning rule)
    rows = np.arange(len(frame), dtype=np.int64) + 2  # the header is row 1
    rows[1000:] += 3  # a title and blank lines set aside in between
    rejects = [Reject(f"{FEED_ID}.csv", 1002, "row.shape", "字段数 3，表头 19", "a,b,c"),
               Reject(f"{FEED_ID}.csv", 400_000, "row.shape", "引号未闭合", '"x,y')]
    part = _land(tmp_path / "raw", frame, rows, rejects)
    got, want = _compare(get_feed(FEED_ID), part, tmp_path, 70_000, min_batches=5)
    assert want.quarantined > 10_000 and len(want.flags) > 250, "the simulator's defects are in the file, and flagged codes"
    staged = read_stage(tmp_path / "streamed")["quarantine"]
    assert {1002, 400_000} <= set(staged["row_number"]) <= set(rows) | {1002, 400_000}, "physical rows, as landed"
    assert staged["row_number"].max() == 400_000 and (staged["row_number"] > 280_000).any(), "rows of the last batch"


@functools.lru_cache(maxsize=1)
def _day():
    from safety_hub_dev.simulator.generate import generate_day

    return generate_day(DAY)


def _penalties(n_tiles: int = 4) -> pd.DataFrame:
    """The day's clean penalty cases, tiled with new case ids and document numbers; then a few numbers shared across tiles."""
    from safety_hub.landing import apply_aliases

    feed = get_feed("emb_enforcement")
    data = _day()
    truth = data.truth["feeds"]["emb_enforcement"]
    clean = set(truth["valid_keys"]) - {d["key"] for d in truth["defects"]}
    base = pd.DataFrame.from_records(json.loads(json.dumps(data.records["emb_enforcement"], ensure_ascii=False)))
    base = apply_aliases(feed, base).astype("string")
    doc, key = (next(c.source for c in feed.columns if c.name == name) for name in ("doc_no", "record_id"))
    base = base[base[key].isin(clean)].drop_duplicates(subset=[key]).reset_index(drop=True)
    tiles = []
    for i in range(n_tiles):
        t = base.copy()
        t[key] = t[key] + f"-{i}"
        t[doc] = t[doc].str.replace("号", f"{i}号", regex=False)
        tiles.append(t)
    frame = pd.concat(tiles, ignore_index=True)
    frame.loc[len(frame) - 1, doc] = frame.loc[0, doc]  # another case under the first case's number: both rows fail
    frame.loc[len(base) * 2, :] = frame.loc[1]  # the second case reported again, identical, two tiles later: passes
    return frame


def test_rule_across_rows_decided_over_the_delivery(tmp_path):
    feed = get_feed("emb_enforcement")
    frame = _penalties()
    part = _land(tmp_path / "raw", frame, np.arange(len(frame), dtype=np.int64) + 2)
    batch = len(frame) // 4 + 3
    got, want = _compare(feed, part, tmp_path, batch, min_batches=4)
    assert {i for i, rules in want.failures.items() if "doc_no.unique" in rules} == {0, len(frame) - 1}, "the reference"
    staged = read_stage(tmp_path / "streamed")["quarantine"]
    assert set(staged.loc[staged["rule_id"] == "doc_no.unique", "row_number"]) == {2, len(frame) + 1}, "the first and last batch"
    assert got.rule_counts["doc_no.unique"] == 2


def test_batch_split_alone_would_miss_rows_across_batches(tmp_path):
    """Without the first pass, each batch would see only its own rows: the test above would fail."""
    from safety_hub.quality import stream

    feed = get_feed("emb_enforcement")
    frame = _penalties()
    part = _land(tmp_path / "raw", frame, np.arange(len(frame), dtype=np.int64) + 2)
    batch = len(frame) // 4 + 3
    whole = stream.validate_delivery(feed, part, DAY, batch_id="b", stage=tmp_path / "a", batch_rows=batch)
    original = stream.key_pass
    stream.key_pass = lambda *a, **k: []
    try:
        split = stream.validate_delivery(feed, part, DAY, batch_id="b", stage=tmp_path / "b", batch_rows=batch)
    finally:
        stream.key_pass = original
    assert split.rule_counts["doc_no.unique"] < whole.rule_counts["doc_no.unique"]


def test_plan_keeps_rules_across_rows_whole():
    from great_expectations import ExpectationSuite
    import great_expectations.expectations as gxe

    from safety_hub.quality.expectations import build_suite
    from safety_hub.quality.stream import plan

    p = plan(build_suite(get_feed("emb_enforcement"), DAY))
    assert p.key_rules == [(["doc_no_norm", "record_id"], 1)] and p.whole == []
    assert plan(build_suite(get_feed("tc_rail_segment_chief"), DAY)).key_rules == [
        (["line", "mileage_from", "mileage_to", "segment_id", "local_chief", "rail_chief"], 3)]
    suite = ExpectationSuite(name="s", expectations=[gxe.ExpectColumnValuesToBeUnique(column="a", meta={"rule_id": "a.unique"}),
                                                     gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"rule_id": "rows"}),
                                                     gxe.ExpectColumnValuesToNotBeNull(column="a", meta={"rule_id": "a.required"})])
    assert plan(suite).whole == ["a.unique", "rows"]


def _land_for_run(tmp_path, monkeypatch, frame):
    from safety_hub.landing import SIDECAR, partition_dir

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    part = _land(partition_dir("emb_enforcement", DAY), frame, np.arange(len(frame), dtype=np.int64) + 2)
    (part / SIDECAR).write_text(json.dumps({"files": [], "accounting": {"physical": len(frame) + 1, "set_aside": {"header": 1}}}), encoding="utf-8")
    return part


def test_threshold_on_the_delivery_totals(tmp_path, monkeypatch):
    """Over the threshold on the whole delivery: the quarantine committed, the same message as one whole run."""
    import sqlalchemy as sa

    from safety_hub.errors import FeedQualityError
    from safety_hub.pipeline import run_validate
    from safety_hub.warehouse.engine import get_engine

    feed = get_feed("emb_enforcement")
    frame = _penalties(2)
    district = next(c.source for c in feed.columns if c.type == "district")
    frame.loc[len(frame) // 2:, district] = "999999"  # the second half: an unknown district
    part = _land_for_run(tmp_path, monkeypatch, frame)
    want = whole_file_stage(feed, part, DAY, "b1", tmp_path / "whole")
    assert want.invalid_share > feed.validation.max_invalid_share
    counts = {k: v for k, v in want.rule_counts.items() if v}
    message = (f"feed {feed.feed_id} {DAY}: {want.quarantined}/{want.rows} rows invalid ({want.invalid_share:.1%} > threshold "
               f"{feed.validation.max_invalid_share:.0%}); nothing loaded, rejected rows are in the quarantine table; rules: {counts}")
    with pytest.raises(FeedQualityError) as err:
        run_validate(feed.feed_id, DAY, "b1", batch_rows=len(frame) // 5)
    assert str(err.value) == message
    with get_engine().connect() as conn:
        committed = conn.execute(sa.text("SELECT COUNT(*) FROM quarantine WHERE feed_id = :f"), {"f": feed.feed_id}).scalar_one()
    assert committed == len(read_stage(tmp_path / "whole")["quarantine"]) > 0


def test_one_batch_over_the_threshold_is_not_the_delivery(tmp_path, monkeypatch):
    """The last batch alone is over the threshold, the delivery is not: it validates and stages for load."""
    from safety_hub.pipeline import run_validate, staging_partition

    feed = get_feed("emb_enforcement")
    frame = _penalties(4)
    district = next(c.source for c in feed.columns if c.type == "district")
    bad = int(len(frame) * feed.validation.max_invalid_share * 0.8)
    frame.loc[len(frame) - bad:, district] = "999999"
    _land_for_run(tmp_path, monkeypatch, frame)
    summary = run_validate(feed.feed_id, DAY, "b1", batch_rows=bad)
    assert summary["quarantined"] >= bad and summary["invalid_share"] <= feed.validation.max_invalid_share
    assert summary["rule_counts"]["district_code.known_district"] == bad
    assert len(pd.read_parquet(staging_partition(feed.feed_id, DAY) / "valid.parquet")) == summary["valid"] == len(frame) - summary["quarantined"]
