"""Issue 15, finding 7: re-running a loaded file-drop run (clearing it in the UI runs it again with
the same batch id) turned its ``loaded`` audit row into ``skipped_duplicate_file``, so feed health
called a loaded feed stale. Audit history is append-only: the skip is a row of its own, the load's
row stays as written, and feed health still sees the load."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from safety_hub.domain.errors import DuplicateDelivery
from safety_hub.pipeline import run_feed

pytestmark = pytest.mark.e2e
FEED = "hcc_project"
DAY = dt.date(2026, 11, 25)


@pytest.fixture
def drop(hub, tmp_path, monkeypatch):
    """A drop folder of this test's own holding the day's delivery."""
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.config.registry import get_feed
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import csv_bytes

    folder = tmp_path / "drop"
    folder.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_HCC_DROP", json.dumps({"conn_type": "fs", "extra": {"path": str(folder)}}))
    path = drop_path(get_feed(FEED), DAY)
    assert path.parent == folder
    path.write_bytes(csv_bytes(generate_day(DAY).records[FEED], "gbk"))
    return folder


def test_a_rerun_appends_its_skip_and_the_load_stays(drop):
    import sqlalchemy as sa

    from safety_hub.ops.health import data_as_of, feed_health
    from safety_hub.warehouse.engine import get_engine

    run_feed(FEED, DAY, batch_id="scheduled__1")
    engine = get_engine()
    query = sa.text("SELECT batch_id, status, rows_loaded, loaded_at FROM load_audit WHERE feed_id = :f ORDER BY loaded_at")
    with engine.connect() as conn:
        [loaded] = conn.execute(query, {"f": FEED}).all()
    with pytest.raises(DuplicateDelivery):
        run_feed(FEED, DAY, batch_id="scheduled__1")  # the archived file, extracted again
    with engine.connect() as conn:
        rows = conn.execute(query, {"f": FEED}).all()
    assert [(r.batch_id, r.status) for r in rows] == [("scheduled__1", "loaded"), ("scheduled__1", "skipped_duplicate_file")]
    assert tuple(rows[0]) == tuple(loaded), "the load's audit row is never rewritten"
    [health] = [h for h in feed_health(engine, now=data_as_of(DAY) + dt.timedelta(hours=3)) if h.feed_id == FEED]
    assert health.last_business_date == DAY and not health.stale, "feed health still sees the load"
