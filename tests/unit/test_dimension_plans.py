"""On PostgreSQL the enterprise dimensions are built without nested-loop joins (``build._hash_joins``), and the
build's scope tables carry statistics (``changes.temporary``).

Their CTEs end in window functions and filters PostgreSQL estimates at one row each; it then joins
the name spans to the district spans in a nested loop that runs the inner window query once per
outer row, and ``dim_enterprise_asof`` took minutes on a three-week city warehouse (bench-city).
The plan, not a time, is checked here: the statement's plan under ``_hash_joins`` has no nested
loop, and the setting is what it was afterwards.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from pg_scratch import plan, scratch_database

from safety_hub.warehouse.build import _hash_joins, dim_enterprise_asof_sql, dim_enterprise_sql
from safety_hub.warehouse.engine import ensure_schema


def _observations(conn: sa.Connection) -> None:
    rows = []
    for n in range(40):
        uscc = f"91120116MA{n:07d}A"
        for d in range(10):
            day = dt.date(2026, 11, 2) + dt.timedelta(days=d)
            name = f"天津某化工有限公司{n}" if d < 5 else f"天津某化工有限责任公司{n}"
            rows.append({"feed_id": "emb_hazard" if d % 2 else "hcc_hazard", "business_date": day, "uscc": uscc, "org_name": name,
                         "district_code": "120116" if d < 7 else "120101", "updated_at": dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)})
    conn.execute(sa.text("INSERT INTO enterprise_observation (feed_id, business_date, uscc, org_name, district_code, updated_at) "
                         "VALUES (:feed_id, :business_date, :uscc, :org_name, :district_code, :updated_at)"), rows)
    conn.execute(sa.text("ANALYZE enterprise_observation"))


def test_the_enterprise_dimensions_plan_without_nested_loops_on_postgres():
    with scratch_database("test_dim_plans") as engine:
        ensure_schema(engine)
        with engine.begin() as conn:
            _observations(conn)
            conn.execute(sa.text(dim_enterprise_sql()))
            plain = plan(conn, dim_enterprise_asof_sql())
            with _hash_joins(conn):
                assert conn.execute(sa.text("SELECT current_setting('enable_nestloop')")).scalar_one() == "off"
                for sql in (dim_enterprise_sql(), dim_enterprise_asof_sql()):
                    shown = plan(conn, sql)
                    assert "Nested Loop" not in shown, shown
                conn.execute(sa.text(dim_enterprise_asof_sql()))
            assert conn.execute(sa.text("SELECT current_setting('enable_nestloop')")).scalar_one() == "on"
            assert conn.execute(sa.text("SELECT COUNT(DISTINCT uscc) FROM dim_enterprise_asof")).scalar_one() == 40
        assert "Nested Loop" in plain, "the planner's own choice (what _hash_joins is for); if it no longer nests, _hash_joins may go"


def test_a_build_scope_table_has_statistics_on_postgres():
    from safety_hub.warehouse import changes

    with scratch_database("test_scope_stats") as engine:
        with engine.begin() as conn:
            with changes.temporary(conn, "SELECT g AS value FROM generate_series(1, 5000) g") as name:
                tuples = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name}).scalar_one()
                assert tuples == 5000, "analysed: the planner knows the scope's size (autovacuum never analyses a temporary table)"


def test_enterprise_match_scope_is_probed_by_hash_on_postgres():
    """``_refresh_matches`` picks the records to redo by two scope conditions joined by OR. As correlated
    EXISTS PostgreSQL ran both subqueries for every quarantined record (bench-city: enterprise_match
    0.2 -> 119 s a week over a quarter); as uncorrelated INs each is one hashed subplan."""
    from safety_hub.warehouse.build import in_partitions, in_records

    with scratch_database("test_match_scope") as engine:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO quarantine (feed_id, batch_id, business_date, raw_file, row_number, record_key, rule_id, rule_description, "
                "original_values, quarantined_at) "
                "SELECT 'emb_hazard', 'b' || (g % 50), DATE '2026-01-01' + (g % 50), 'f.csv', g, 'k' || g, 'uscc.valid_uscc', 'd', '{}', now() "
                "FROM generate_series(1, 20000) g"))
            conn.execute(sa.text("CREATE TEMP TABLE parts AS SELECT DISTINCT feed_id, CAST(business_date AS TEXT) AS business_date "
                                 "FROM quarantine WHERE business_date > DATE '2026-02-01'"))
            conn.execute(sa.text("CREATE TEMP TABLE named AS SELECT feed_id, batch_id, row_number FROM quarantine WHERE row_number % 7 = 0"))
            conn.execute(sa.text("ANALYZE quarantine; ANALYZE parts; ANALYZE named"))
            where = f"{in_partitions('parts', 'TEXT').format(t='q')} OR {in_records('named').format(t='q')}"
            shown = plan(conn, f"SELECT q.row_number FROM quarantine q WHERE {where}")
            picked = set(conn.execute(sa.text(f"SELECT q.row_number FROM quarantine q WHERE {where}")).scalars())
        probes = re.findall(r"(\w+ )?SubPlan \d+\)", shown)  # how the filter uses each subquery
        assert probes and all(p == "hashed " for p in probes), shown
        assert picked == {g for g in range(1, 20001) if g % 50 > 31 or g % 7 == 0}
