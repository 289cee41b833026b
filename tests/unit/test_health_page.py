"""The Feed health page's data and HTML, on a small DuckDB warehouse: the figures are
``feed_health``'s, a stale row is marked, names are escaped, and reading creates nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from safety_hub.health import RECENT_RUNS, feed_health, read_engine
from safety_hub.health_page import health_payload, render_page

NOW = dt.datetime(2026, 11, 4, 6, 0, tzinfo=dt.timezone.utc)


def audit_row(feed_id: str, day: dt.date, loaded_at: dt.datetime, loaded: int, quarantined: int) -> dict:
    return dict(feed_id=feed_id, batch_id=f"b-{feed_id}-{day}", business_date=day, raw_file="f", raw_sha256="x",
                rows_extracted=loaded + quarantined, rows_valid=loaded, rows_quarantined=quarantined, rows_duplicate=0,
                rows_stale=0, rows_loaded=loaded, status="loaded", volume_note=None, loaded_at=loaded_at)


def small_warehouse(tmp_path) -> str:
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    engine = get_engine(url)
    md = ensure_schema(engine)
    rows = [audit_row("emb_hazard", dt.date(2026, 11, d), NOW - dt.timedelta(hours=24 * (4 - d) + 2), 100 + d, d) for d in (1, 2, 3)]
    rows += [audit_row("hcc_project", dt.date(2026, 11, d), NOW - dt.timedelta(hours=24 * (8 - d)), 50 + d, 0) for d in range(1, 8)]
    with engine.begin() as conn:
        conn.execute(md.tables["load_audit"].insert(), rows)
        conn.execute(md.tables["validation_result"].insert(), [
            dict(feed_id="emb_hazard", batch_id="b3", business_date=dt.date(2026, 11, 3), rule_id=f"r{i}", severity="error",
                 expectation=f"e{i}", success=i < 3, element_count=100, unexpected_count=0 if i < 3 else 3,
                 unexpected_percent=0.0 if i < 3 else 3.0, validated_at=NOW) for i in range(4)])
    engine.dispose()
    return url


def test_payload_carries_feed_health_and_links(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    payload = health_payload(read_engine(url), now=NOW)
    expected = {h.feed_id: h for h in feed_health(read_engine(url), now=NOW)}
    feeds = {f["feed_id"]: f for f in payload["feeds"]}
    assert set(feeds) == set(expected)
    hazard = feeds["emb_hazard"]
    assert hazard["last_business_date"] == expected["emb_hazard"].last_business_date == dt.date(2026, 11, 3)
    assert hazard["rows_loaded_last"] == 103 and hazard["rows_quarantined_last"] == 3 and hazard["pass_rate_last"] == 0.75
    assert [r["rows_loaded"] for r in hazard["recent_runs"]] == [103, 102, 101] and not hazard["stale"]
    assert hazard["hours_since_load"] == 26.0 and hazard["dag_id"] == "ingest_emb_hazard" and hazard["title"] == "隐患台账"
    assert len(feeds["hcc_project"]["recent_runs"]) == RECENT_RUNS
    assert feeds["hcc_project"]["stale"] is False, "its newest load is a day old"
    assert feeds["tc_dg_vehicle"]["stale"] and feeds["tc_dg_vehicle"]["last_loaded_at"] is None
    assert payload["stale"] == sorted(f for f, h in expected.items() if h.stale)
    assert hazard["data_docs"] is None, "no Data Docs site in this home"


def test_page_marks_stale_rows_and_escapes(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    (tmp_path / "reports" / "data_docs" / "expectations").mkdir(parents=True)
    (tmp_path / "reports" / "data_docs" / "index.html").write_text("<html></html>")
    (tmp_path / "reports" / "data_docs" / "expectations" / "emb_hazard_suite.html").write_text("<html></html>")
    payload = health_payload(read_engine(url), now=NOW)
    payload["feeds"][0]["title"] = "<script>alert(1)</script>"
    page = render_page(payload, airflow_base="/airflow/")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert '<tr class="fresh" data-feed="emb_hazard" data-stale="false">' in page
    assert '<tr class="stale" data-feed="tc_dg_vehicle" data-stale="true">' in page
    assert 'href="/airflow/dags/ingest_emb_hazard"' in page
    assert 'href="/feed-health/data-docs/expectations/emb_hazard_suite.html"' in page
    assert 'href="/feed-health/data-docs/index.html"' in page, "feeds without a suite page link the site's index"
    assert "<script" not in page, "server-rendered, no script"


def test_reading_health_creates_nothing(tmp_path):
    from safety_hub.warehouse.engine import get_engine

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE keep_me (a INTEGER)"))
    engine.dispose()
    rows = feed_health(read_engine(url), now=NOW)
    assert rows and all(h.stale and h.last_loaded_at is None and h.recent_runs == [] for h in rows)
    with read_engine(url).connect() as conn:
        assert [r[0] for r in conn.execute(sa.text("SELECT table_name FROM information_schema.tables"))] == ["keep_me"]
