"""On PostgreSQL every table holding feeds' business-date partitions is indexed on (feed_id, business_date)
(``schema._partition_indexes``), and a load's partition statements use that index.

A load replaces and reads one partition at a time: the fact table's, its version table's, the enterprise
observations', the quarantine's. Scanning the whole table for each made a load cost more with every day
of history (bench-city on PostgreSQL: a week's load grew from 15 to 41 s in five weeks). The class is
checked over the whole model, and the plan of a partition delete on a table with history.
DuckDB keeps no such index: it skips row groups by min/max, and an ART index is held in memory.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from pg_scratch import plan, scratch_database

from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.schema import PARTITION

LEADING_COLUMNS = """
    SELECT t.relname, array_agg(a.attname ORDER BY k.n) AS cols
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()
    CROSS JOIN LATERAL unnest(x.indkey[0:1]) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    GROUP BY t.relname, x.indexrelid
"""


def _partitioned(md: sa.MetaData) -> set[str]:
    return {t.name for t in md.tables.values() if set(PARTITION) <= set(t.columns.keys())}


def test_every_partitioned_table_has_a_partition_index_on_postgres():
    with scratch_database("test_partition_indexes") as engine:
        md = ensure_schema(engine)
        with engine.connect() as conn:
            leads = {(r.relname, tuple(r.cols)) for r in conn.execute(sa.text(LEADING_COLUMNS))}
        tables = _partitioned(md)
        assert {"fact_hazard", "fact_enforcement_version", "enterprise_observation", "quarantine", "snapshot_member"} <= tables
        missing = sorted(t for t in tables if (t, PARTITION) not in leads)
        assert not missing, f"tables with feeds' partitions but no (feed_id, business_date) index: {missing}"


def test_a_partition_delete_reads_its_partition_only_on_postgres():
    with scratch_database("test_partition_plan") as engine:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO enterprise_observation (feed_id, business_date, uscc, org_name, district_code, updated_at) "
                "SELECT CASE WHEN g % 3 = 0 THEN 'emb_hazard' ELSE 'hcc_hazard' END, DATE '2026-01-01' + (g % 90), "
                "'91120116MA' || lpad((g % 5000)::text, 7, '0') || 'A', '天津某公司', '120116', now() "
                "FROM generate_series(1, 60000) g"))
            conn.execute(sa.text("ANALYZE enterprise_observation"))
            shown = plan(conn, "DELETE FROM enterprise_observation WHERE feed_id = :feed_id AND business_date = :day",
                         {"feed_id": "emb_hazard", "day": dt.date(2026, 2, 1)})
        assert "ix_enterprise_observation_partition" in shown and "Seq Scan" not in shown, shown


def test_duckdb_keeps_no_partition_index(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    ensure_schema(engine)
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT index_name FROM duckdb_indexes()")).scalars().all()
    assert not [n for n in names if n.endswith("_partition")], names
