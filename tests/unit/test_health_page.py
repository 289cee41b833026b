"""The Feed health page's data and HTML, on a small DuckDB warehouse: the figures are
``feed_health``'s, freshness goes by the latest business date loaded (a recent replay of an old
day is still stale), a failed last run is 失败 whatever the freshness, a stale or failed row is
marked, names are escaped, and reading creates nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from safety_hub.ops.health import RECENT_RUNS, LastRun, feed_health, read_engine
from safety_hub.ops.health_page import health_payload, render_page

NOW = dt.datetime(2026, 11, 4, 6, 0, tzinfo=dt.timezone.utc)  # 14:00 Beijing on 11-04
NO_RUNS: dict = {}  # Airflow's records read, no run recorded (the runs are given, not read, in these tests)


def audit_row(feed_id: str, day: dt.date, loaded_at: dt.datetime, loaded: int, quarantined: int) -> dict:
    return dict(feed_id=feed_id, batch_id=f"b-{feed_id}-{day}", business_date=day, raw_file="f", raw_sha256="x",
                rows_extracted=loaded + quarantined, rows_valid=loaded, rows_quarantined=quarantined, rows_duplicate=0,
                rows_stale=0, rows_loaded=loaded, status="loaded", volume_note=None, loaded_at=loaded_at)


def quarantine_row(day: dt.date, row: int, key: str, rule: str) -> dict:
    return dict(feed_id="emb_hazard", batch_id=f"b-emb_hazard-{day}", business_date=day, raw_file="f", row_number=row,
                record_key=key, rule_id=rule, rule_description=rule, original_values="{}", quarantined_at=NOW)


def small_warehouse(tmp_path) -> str:
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    engine = get_engine(url)
    md = ensure_schema(engine)
    rows = [audit_row("emb_hazard", dt.date(2026, 11, d), NOW - dt.timedelta(hours=24 * (4 - d) + 2), 100 + d, d) for d in (1, 2, 3)]
    # hcc_project: business dates 10-26..11-01, the newest one replayed an hour ago
    rows += [audit_row("hcc_project", dt.date(2026, 10, 25) + dt.timedelta(days=d), NOW - dt.timedelta(hours=24 * (8 - d)), 50 + d, 0)
             for d in range(1, 7)]
    rows += [audit_row("hcc_project", dt.date(2026, 11, 1), NOW - dt.timedelta(hours=1), 57, 0)]
    with engine.begin() as conn:
        conn.execute(md.tables["load_audit"].insert(), rows)
        conn.execute(md.tables["quarantine"].insert(), [
            quarantine_row(dt.date(2026, 11, 3), 5, "K1", "r3"), quarantine_row(dt.date(2026, 11, 3), 5, "K1", "r2"),  # one row, two rules
            quarantine_row(dt.date(2026, 11, 3), 9, "K2", "r3"),
            quarantine_row(dt.date(2026, 11, 3), 12, "K2", "r3"),  # the same record in a second row
            quarantine_row(dt.date(2026, 11, 2), 4, "K9", "r3")])
        conn.execute(md.tables["validation_result"].insert(), [
            dict(feed_id="emb_hazard", batch_id="b3", business_date=dt.date(2026, 11, 3), rule_id=f"r{i}", severity="error",
                 expectation=f"e{i}", success=i < 3, element_count=100, unexpected_count=0 if i < 3 else 3,
                 unexpected_percent=0.0 if i < 3 else 3.0, validated_at=NOW) for i in range(4)])
    engine.dispose()
    return url


def failed_run(feed_id: str) -> LastRun:
    return LastRun(f"ingest_{feed_id}", "scheduled__2026-11-03T17:00:00+00:00", "failed", "scheduled", dt.date(2026, 11, 3),
                   NOW - dt.timedelta(minutes=30), NOW - dt.timedelta(minutes=20),
                   "extract: FeedError: feed emb_hazard: page 1: HTTP 503 <Service Unavailable>", ["extract"])


def test_payload_carries_feed_health_and_links(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    payload = health_payload(read_engine(url), now=NOW, runs=NO_RUNS)
    expected = {h.feed_id: h for h in feed_health(read_engine(url), now=NOW, runs=NO_RUNS)}
    feeds = {f["feed_id"]: f for f in payload["feeds"]}
    assert set(feeds) == set(expected)
    hazard = feeds["emb_hazard"]
    assert hazard["last_business_date"] == expected["emb_hazard"].last_business_date == dt.date(2026, 11, 3)
    assert hazard["data_as_of"] == dt.datetime(2026, 11, 3, 16, 0, tzinfo=dt.timezone.utc), "the end of 11-03 in Beijing"
    assert hazard["rows_loaded_last"] == 103 and hazard["rule_pass_rate"] == 0.75 and hazard["row_load_rate"] == 103 / 106
    assert hazard["quarantine_last"] == {"rows": 3, "records": 2, "failures": 4}
    assert [r["rows_loaded"] for r in hazard["recent_runs"]] == [103, 102, 101] and not hazard["stale"]
    assert [r["rows_quarantined"] for r in hazard["recent_runs"]] == [3, 1, 0], "隔离行数 per business date"
    assert hazard["status"] == "ok" and hazard["status_text"] == "正常 ok" and hazard["last_run"] is None
    assert hazard["hours_since_data"] == 14.0 and hazard["dag_id"] == "ingest_emb_hazard" and hazard["title"] == "隐患台账"
    assert len(feeds["hcc_project"]["recent_runs"]) == RECENT_RUNS
    project = feeds["hcc_project"]
    assert project["last_loaded_at"] == NOW - dt.timedelta(hours=1), "replayed an hour ago"
    assert project["last_business_date"] == dt.date(2026, 11, 1) and project["stale"] and project["status"] == "stale", \
        "a replay of an old business date does not make the feed fresh"
    assert feeds["tc_dg_vehicle"]["stale"] and feeds["tc_dg_vehicle"]["last_loaded_at"] is None
    assert payload["stale"] == sorted(f for f, h in expected.items() if h.stale) and payload["failed"] == []
    assert hazard["data_docs"] is None, "no Data Docs site in this home"


def test_a_failed_last_run_is_never_ok_and_shows_its_error(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    payload = health_payload(read_engine(url), now=NOW, runs={"ingest_emb_hazard": failed_run("emb_hazard")})
    hazard = next(f for f in payload["feeds"] if f["feed_id"] == "emb_hazard")
    assert not hazard["stale"], "its data are fresh"
    assert hazard["status"] == "failed" and hazard["status_text"] == "失败 FAILED" and payload["failed"] == ["emb_hazard"]
    page = render_page(payload)
    row = page[page.index('data-feed="emb_hazard"'):]
    row = row[: row.index("</tr>")]
    assert 'data-status="failed"' in row and "失败 FAILED" in row and "正常" not in row
    assert "extract: FeedError: feed emb_hazard: page 1: HTTP 503 &lt;Service Unavailable&gt;" in row, "the error, escaped"
    assert "2026-11-04 13:40" in row, "the run's end in Beijing time"
    assert '<tr class="failed" data-feed="emb_hazard"' in page
    assert "全部数据源" not in page and "1 个数据源最近运行失败 failed: emb_hazard" in page


def test_unreadable_run_records_are_said_not_taken_as_ok(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    payload = health_payload(read_engine(url), now=NOW, runs=None, runs_error="OperationalError: no such table: dag_run")
    assert payload["runs_error"] and all(not f["runs_known"] for f in payload["feeds"])
    page = render_page(payload)
    assert "Airflow 运行记录不可读" in page and "全部数据源" not in page


def test_page_marks_stale_rows_and_escapes(tmp_path, monkeypatch):
    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    (tmp_path / "reports" / "data_docs" / "expectations").mkdir(parents=True)
    (tmp_path / "reports" / "data_docs" / "index.html").write_text("<html></html>")
    (tmp_path / "reports" / "data_docs" / "expectations" / "emb_hazard_suite.html").write_text("<html></html>")
    payload = health_payload(read_engine(url), now=NOW, runs=NO_RUNS)
    payload["feeds"][0]["title"] = "<script>alert(1)</script>"
    page = render_page(payload, airflow_base="/airflow/")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert '<tr class="fresh" data-feed="emb_hazard" data-status="ok" data-stale="false">' in page
    assert '<tr class="stale" data-feed="tc_dg_vehicle" data-status="stale" data-stale="true">' in page
    assert "生成时间 2026-11-04 14:00" in page and "北京时间" in page
    assert 'href="/airflow/dags/ingest_emb_hazard"' in page
    assert 'href="/feed-health/data-docs/expectations/emb_hazard_suite.html"' in page
    assert 'href="/feed-health/data-docs/index.html"' in page, "feeds without a suite page link the site's index"
    assert "<script" not in page, "server-rendered, no script"


def test_catalogue_page_lists_every_item_escaped_with_its_rates_and_date(tmp_path, monkeypatch):
    from safety_hub.ops.health_page import catalogue_payload, render_catalogue

    url = small_warehouse(tmp_path)
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))  # no raw zone: nothing measured, said so
    payload = catalogue_payload(read_engine(url), now=NOW)
    assert payload["as_of"] is None and all(i["fill_latest"] is None for i in payload["items"])
    assert "无已落地数据" in render_catalogue(payload)
    payload["items"][0].update(label="<script>alert(1)</script>", fill_latest=0.5, valid_latest=1.0, as_of="2026-11-04")
    payload["as_of"] = "2026-11-04"
    page = render_catalogue(payload)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert page.count('<tr data-feed="') == payload["total"] > 200
    assert '<td class="num low" data-field="fill_latest">50.0%</td>' in page and '<td class="num" data-field="valid_latest">100.0%</td>' in page
    assert '数据截至 <b data-field="as_of">2026-11-04</b>' in page


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
