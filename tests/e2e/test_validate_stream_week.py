"""The simulator's deliveries, landed through the real extract and land, validated batch by batch,
decide as one whole-file run: the same staged valid rows, quarantine and flag rows (every column),
``validation_result`` rows, rule counts and GX result totals, for every day of the feeds that
together exercise every validation feature of the registry (``feed_cover.covering_feeds``: a
feed whose expectations, argument shapes, column types and delivery are all another feed's adds
no case).

Each delivery is cut into two batches of unequal size (60/40), so rows that share a key in
``doc_no.unique`` or ``stretch.one_chief_pair`` fall on both sides of a cut. The whole-file
reference is what ``run_validate`` staged before it streamed (``tests/validate_reference.py``).
"""

from __future__ import annotations


import pytest

from conftest import DAYS
from feed_cover import covering_feeds
from validate_reference import assert_same_stage, comparable_summary, read_stage, whole_file_stage

from safety_hub.config.registry import load_registry

pytestmark = pytest.mark.e2e
FEEDS = list(covering_feeds())


@pytest.fixture(scope="module")
def landed(simulator, tmp_path_factory):
    """The covering feeds' deliveries of DAYS extracted and landed into a separate data dir (restored afterwards)."""
    from safety_hub.pipeline import run_extract, run_land

    home = tmp_path_factory.mktemp("hub-vstream")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
        for day in DAYS:
            for feed_id in FEEDS:
                run_extract(feed_id, day, f"vstream__{feed_id}__{day}", force=True)
                run_land(feed_id, day)
        yield home


# The rules that look across rows, and their feeds: the week must have rows they catch.
ACROSS_ROWS = {"emb_enforcement": "doc_no.unique", "tc_rail_segment_chief": "stretch.one_chief_pair"}


@pytest.mark.parametrize("feed_id", FEEDS)
def test_streamed_validation_equals_the_whole_file(landed, feed_id, tmp_path):
    import pyarrow.parquet as pq

    from safety_hub.ingest.landing import RECORDS, partition_dir
    from safety_hub.quality.stream import validate_delivery

    feed = load_registry()[feed_id]
    week: dict[str, int] = {}
    for day in DAYS:
        part = partition_dir(feed_id, day)
        records = pq.ParquetFile(part / RECORDS).metadata.num_rows
        assert records > 10, "a real delivery"
        batch = -(-records * 3 // 5)
        got = validate_delivery(feed, part, day, batch_id="week", stage=tmp_path / f"{day}-streamed", batch_rows=batch)
        want = whole_file_stage(feed, part, day, "week", tmp_path / f"{day}-whole")
        assert got.batches == 2
        assert_same_stage(read_stage(tmp_path / f"{day}-streamed"), read_stage(tmp_path / f"{day}-whole"), feed)
        assert (got.rows, got.valid, got.quarantined, got.flagged) == (want.rows, want.valid, want.quarantined, len(want.flags))
        assert got.rule_counts == want.rule_counts
        assert got.rule_results == want.rule_results
        assert comparable_summary(got.gx_result) == comparable_summary(want.gx_result)
        for rule, n in got.rule_counts.items():
            week[rule] = week.get(rule, 0) + n
    assert sum(week.values()) > 0, "the simulator's defects were caught"
    if feed_id in ACROSS_ROWS:
        assert week.get(ACROSS_ROWS[feed_id], 0) > 0, "the rule across rows caught rows"


@pytest.mark.parametrize("feed_id", FEEDS)
def test_plain_and_fast_gx_paths_stage_the_same(landed, feed_id, tmp_path, monkeypatch):
    """``SAFETY_HUB_GX_PATH=plain`` (one ``batch.validate`` of the whole suite per batch) and the fast path
    (``quality.engine``'s groups) stage the same valid rows, quarantine and flag rows, rule results and totals."""
    import pyarrow.parquet as pq

    from safety_hub.ingest.landing import RECORDS, partition_dir
    from safety_hub.quality.engine import PATH_ENV
    from safety_hub.quality.stream import validate_delivery

    feed = load_registry()[feed_id]
    caught = 0
    for day in DAYS:
        part = partition_dir(feed_id, day)
        batch = -(-pq.ParquetFile(part / RECORDS).metadata.num_rows * 3 // 5)
        checks = {}
        for path in ("plain", "fast"):
            monkeypatch.setenv(PATH_ENV, path)
            checks[path] = validate_delivery(feed, part, day, batch_id="week", stage=tmp_path / f"{day}-{path}", batch_rows=batch)
        plain, fast = checks["plain"], checks["fast"]
        assert_same_stage(read_stage(tmp_path / f"{day}-fast"), read_stage(tmp_path / f"{day}-plain"), feed)
        assert (fast.rows, fast.valid, fast.quarantined, fast.flagged) == (plain.rows, plain.valid, plain.quarantined, plain.flagged)
        assert fast.rule_counts == plain.rule_counts and fast.rule_results == plain.rule_results
        assert comparable_summary(fast.gx_result) == comparable_summary(plain.gx_result)
        caught += sum(plain.rule_counts.values())
    assert caught > 0, "the simulator's defects were caught"
