"""One definition of the quarantine counts (``warehouse.quarantine``): 隔离行数 (rows set apart,
each once), 隔离记录数 (distinct records by key), 规则违反次数 (row x rule), on a small warehouse
holding every kind of quarantine row: several rules on one row, one record in two rows and on two
days, rows refused at landing (no key), versions quarantined by the build (row number 0)."""

from __future__ import annotations

import datetime as dt

import pytest

from safety_hub.warehouse.quarantine import QuarantineCounts, counts_for, quarantine_counts

D1, D2 = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
NOW = dt.datetime(2026, 11, 4, tzinfo=dt.timezone.utc)


def q(day, row, key, rule, feed="emb_hazard", raw_file="part") -> dict:
    return dict(feed_id=feed, batch_id=f"b-{feed}-{day}", business_date=day, raw_file=raw_file, row_number=row,
                record_key=key, rule_id=rule, rule_description=rule, original_values="{}", quarantined_at=NOW)


@pytest.fixture
def engine(tmp_path):
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["quarantine"].insert(), [
            q(D1, 3, "A", "uscc.valid_uscc"), q(D1, 3, "A", "grade.required"), q(D1, 3, "A", "found_date<=deadline"),
            q(D1, 7, "B", "uscc.valid_uscc"),
            q(D1, 8, "B", "uscc.valid_uscc"),  # B again, in another row
            q(D1, 11, "", "row.shape", raw_file="part/page-1.json"), q(D1, 12, None, "row.shape", raw_file="part/page-1.json"),
            q(D2, 4, "A", "uscc.valid_uscc"),  # A again, another day
            q(D2, 0, "C", "status.no_regression"), q(D2, 0, "D", "status.no_regression"),  # the build's, no physical row
            q(D2, 5, "A", "x", feed="hcc_project"),
        ])
    yield engine
    engine.dispose()


def test_counts_per_day_and_over_days(engine):
    with engine.connect() as conn:
        by_day = quarantine_counts(conn, feed_id="emb_hazard", by=("business_date",))
        assert by_day == {(D1,): QuarantineCounts(rows=5, records=4, failures=7),
                          (D2,): QuarantineCounts(rows=3, records=3, failures=3)}
        assert counts_for(conn, "emb_hazard") == QuarantineCounts(rows=8, records=6, failures=10), "A is one record over both days"
        assert counts_for(conn, "emb_hazard", D1) == by_day[(D1,)]
        assert counts_for(conn, "tc_dg_vehicle") == QuarantineCounts()
        by_feed = quarantine_counts(conn, by=("feed_id",))
        assert by_feed[("hcc_project",)] == QuarantineCounts(1, 1, 1), "a key is a record of its own feed"
        assert quarantine_counts(conn, by=()) == {(): QuarantineCounts(rows=9, records=7, failures=11)}
        for c in by_day.values():
            assert c.failures >= c.rows >= c.records
    assert QuarantineCounts(5, 4, 8).text() == "隔离行数 5 · 隔离记录数 4 · 规则违反次数 8"


def test_an_empty_warehouse_counts_nothing(tmp_path):
    from safety_hub.warehouse.engine import get_engine

    engine = get_engine(f"duckdb:///{tmp_path / 'empty.duckdb'}")
    with engine.connect() as conn:
        assert quarantine_counts(conn) == {} and counts_for(conn, "emb_hazard") == QuarantineCounts()
    with pytest.raises(ValueError):
        with engine.connect() as conn:
            quarantine_counts(conn, by=("rule_id",))
