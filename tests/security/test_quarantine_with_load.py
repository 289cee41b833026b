"""Finding 11: a batch's quarantine and its load commit together, or not at all.

The warehouse refuses the batch after validation (its fact table recreated with a CHECK
that rejects the day): the load fails, and the batch's quarantine, quality flags, rule
results and audit row are absent too. Once the table accepts rows again, the same staged
batch loads with its quarantine. A batch over the feed's threshold loads nothing and its
rejected rows stay visible. The CLI backfill reports a day the warehouse refuses in one
line and goes on to the next days.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from pg_scratch import scratch_database

FEED = "hcc_project"
DAY = dt.date(2026, 11, 2)
QUALITY = ("quarantine", "quality_flag", "validation_result")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    return tmp_path


def _validated(day: dt.date = DAY, batch_id: str = "b1") -> dict:
    """Land the day's 在建项目 file and validate it; the summary (with some rows quarantined)."""
    from deliveries import csv_bytes

    from safety_hub.ingest.delivery import Extract, RawFile
    from safety_hub.ingest.landing import land_raw
    from safety_hub.pipeline import run_land, run_validate
    from safety_hub_dev.simulator import generate_day

    land_raw(Extract(FEED, day, "test", [RawFile(f"在建项目_{day:%Y%m%d}.csv", csv_bytes(generate_day(day).records[FEED]))]))
    run_land(FEED, day)
    summary = run_validate(FEED, day, batch_id)
    assert summary["quarantined"] > 0 and summary["valid"] > 0, summary
    return summary


def _fact_table(engine: sa.Engine, refuse: str | None) -> None:
    """Recreate the feed's fact table (empty); with ``refuse`` a CHECK that rejects the rows it names."""
    from safety_hub.config.registry import get_feed
    from safety_hub.warehouse.engine import ensure_schema

    table = ensure_schema(engine).tables[get_feed(FEED).target_table]
    copy = table.to_metadata(sa.MetaData())
    if refuse:
        copy.append_constraint(sa.CheckConstraint(f"NOT ({refuse})", name="ck_test_refuse_batch"))
    with engine.begin() as conn:
        table.drop(conn)
        copy.create(conn)


def _counts(engine: sa.Engine, day: dt.date = DAY) -> dict[str, int]:
    from safety_hub.config.registry import get_feed

    tables = (*QUALITY, "load_audit", get_feed(FEED).target_table)
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t} WHERE feed_id = :f AND business_date = :d"), {"f": FEED, "d": day}).scalar_one()
                for t in tables}


def _load_fails_then_succeeds(engine: sa.Engine) -> None:
    from safety_hub.pipeline import run_load
    from safety_hub.config.registry import get_feed

    summary = _validated()
    _fact_table(engine, refuse="TRUE")
    with pytest.raises(sa.exc.DBAPIError):
        run_load(FEED, DAY, "b1")
    assert _counts(engine) == dict.fromkeys((*QUALITY, "load_audit", get_feed(FEED).target_table), 0), \
        "the batch's quarantine rolled back with its load"

    _fact_table(engine, refuse=None)
    result = run_load(FEED, DAY, "b1")  # the same staged batch, once the warehouse accepts it
    counts = _counts(engine)
    assert counts[get_feed(FEED).target_table] == result["loaded"] > 0
    assert counts["load_audit"] == 1 and counts["validation_result"] > 0
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT COUNT(DISTINCT row_number) FROM quarantine WHERE feed_id = :f AND business_date = :d"),
                            {"f": FEED, "d": DAY}).scalar_one()
    assert rows == summary["quarantined"], "the quarantine committed with the facts"


def test_a_refused_load_leaves_no_quarantine_on_duckdb(home, monkeypatch):
    from safety_hub.warehouse.engine import get_engine

    url = f"duckdb:///{home / 'warehouse.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    try:
        _load_fails_then_succeeds(get_engine(url))
    finally:
        get_engine(url).dispose()


@pytest.mark.postgres
def test_a_refused_load_leaves_no_quarantine_on_postgres(home, monkeypatch):
    from safety_hub.warehouse.engine import get_engine

    with scratch_database("safety_hub_quarantine_tx") as scratch:
        url = scratch.url.render_as_string(hide_password=False)
        monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
        try:
            _load_fails_then_succeeds(get_engine(url))
        finally:
            get_engine(url).dispose()


def test_a_batch_over_the_threshold_keeps_its_quarantine_and_loads_nothing(home, monkeypatch):
    from deliveries import csv_bytes

    from safety_hub.domain.errors import FeedQualityError
    from safety_hub.ingest.delivery import Extract, RawFile
    from safety_hub.ingest.landing import land_raw
    from safety_hub.pipeline import run_land, run_validate
    from safety_hub_dev.simulator import generate_day
    from safety_hub.warehouse.engine import get_engine

    url = f"duckdb:///{home / 'warehouse.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    rows = generate_day(DAY).records[FEED]
    for row in rows[: len(rows) // 2]:
        row["所在区"] = "999999"  # half the batch in an unknown district
    land_raw(Extract(FEED, DAY, "test", [RawFile("在建项目_20261102.csv", csv_bytes(rows))]))
    run_land(FEED, DAY)
    with pytest.raises(FeedQualityError, match="nothing loaded"):
        run_validate(FEED, DAY, "over")
    counts = _counts(get_engine(url))
    get_engine(url).dispose()
    assert counts["quarantine"] >= len(rows) // 2 and counts["validation_result"] > 0, "rejected rows stay visible"
    assert counts["load_audit"] == 0 and counts["fact_construction_project"] == 0


def test_backfill_reports_a_refused_day_in_one_line_and_goes_on(home, monkeypatch, capsys):
    from deliveries import csv_bytes

    from safety_hub import cli
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.config.registry import get_feed
    from safety_hub_dev.simulator import generate_day
    from safety_hub.warehouse.engine import get_engine

    url = f"duckdb:///{home / 'warehouse.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    (home / "drop").mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_HCC_DROP", json.dumps({"conn_type": "fs", "extra": {"path": str(home / "drop")}}))
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for day in days:
        drop_path(get_feed(FEED), day).write_bytes(csv_bytes(generate_day(day).records[FEED]))
    bad = days[1]
    _fact_table(get_engine(url), refuse=f"business_date = DATE '{bad.isoformat()}'")  # the warehouse refuses one day's rows
    get_engine(url).dispose()

    code = cli.main(["backfill", "--feed", FEED, "--start", days[0].isoformat(), "--end", days[-1].isoformat()])
    out, err = capsys.readouterr()
    assert code == 1
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and str(bad) in failed[0] and len(failed[0]) < 400, err
    assert "Traceback" not in err
    for day in (days[0], days[2]):
        assert any(line.startswith(FEED) and str(day) in line and "loaded" in line for line in out.splitlines()), out
    engine = get_engine(url)
    try:
        good, refused = _counts(engine, days[2]), _counts(engine, bad)
    finally:
        engine.dispose()
    assert good["fact_construction_project"] > 0 and good["quarantine"] > 0
    assert refused == dict.fromkeys(refused, 0), "the refused day left nothing, its quarantine included"
