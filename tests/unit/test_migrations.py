"""The warehouse schema under Alembic: a warehouse built fresh and one migrated from an older
revision end with the same schema, on DuckDB and on PostgreSQL.

The older warehouse is the baseline (revision 0001) as a warehouse made before Alembic has it:
built at head, taken down to the baseline (``dim_enterprise`` keyed by USCC only, one row per
enterprise), its ``alembic_version`` dropped. ``python -m safety_hub warehouse migrate`` must
stamp it, run the migrations and the additive step. PostgreSQL's schema is read with SQLAlchemy's
inspector; DuckDB's from its own catalog (``duckdb_columns()``, ``duckdb_constraints()``,
``duckdb_indexes()``): duckdb-engine 0.17 cannot reflect columns, keys or indexes under
SQLAlchemy 2.1 (it queries ``pg_collation`` and ``regclass``, which DuckDB lacks).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pg_scratch import scratch_database
from safety_hub.warehouse import versioning
from safety_hub.warehouse.engine import ensure_schema, get_engine
from safety_hub.warehouse.schema import VERSION_TABLE


def schema_of(engine: sa.Engine) -> dict:
    """Every table's columns (type, nullability, default, comment), primary key and indexes."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            inspector = sa.inspect(conn)
            out = {}
            for table in inspector.get_table_names():
                out[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"], c.get("comment"))
                                for c in inspector.get_columns(table)],
                    "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                    "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)),
                    "comment": inspector.get_table_comment(table)["text"],
                }
            return out
        out = {}
        for table, column, data_type, nullable, default, comment in conn.execute(sa.text(
                "SELECT table_name, column_name, data_type, is_nullable, column_default, comment FROM duckdb_columns() "
                "WHERE schema_name = 'main' ORDER BY table_name, column_index")):
            out.setdefault(table, {"columns": [], "pk": [], "indexes": []})["columns"].append((column, data_type, nullable, default, comment))
        for table, kind, columns in conn.execute(sa.text(
                "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'main'")):
            if kind == "PRIMARY KEY":
                out[table]["pk"] = list(columns)
        for table, name, unique, sql in conn.execute(sa.text(
                "SELECT table_name, index_name, is_unique, sql FROM duckdb_indexes() WHERE schema_name = 'main'")):
            out[table]["indexes"].append((name, unique, sql))
        for table, comment in conn.execute(sa.text("SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main'")):
            out[table]["comment"] = comment
        return out


@contextmanager
def _warehouses(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if backend == "duckdb":
        yield f"duckdb:///{tmp_path / 'fresh.duckdb'}", f"duckdb:///{tmp_path / 'older.duckdb'}"
        return
    with scratch_database("test_migrate_fresh") as fresh, scratch_database("test_migrate_older") as older:
        yield (fresh.url.render_as_string(hide_password=False), older.url.render_as_string(hide_password=False))


def _release(url: str) -> None:
    get_engine(url).dispose()  # DuckDB: the file's writer lock goes with the last connection


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_migrated_warehouse_has_the_schema_of_a_fresh_one(backend, tmp_path):
    with _warehouses(backend, tmp_path) as (fresh_url, older_url):
        fresh = get_engine(fresh_url)
        ensure_schema(fresh)
        with fresh.connect() as conn:
            assert versioning.current(conn) == versioning.head() != versioning.BASELINE

        older = get_engine(older_url)
        ensure_schema(older)
        with older.begin() as conn:
            versioning.downgrade(conn, versioning.BASELINE)
            conn.execute(sa.text(
                "INSERT INTO dim_enterprise (uscc, org_name, district_code, name_variants, source_feeds, first_seen, last_seen) "
                "VALUES ('91120116MA05JXXX1A', '天津某化工有限公司', '120116', 1, 'emb_ent_registry', DATE '2026-11-02', DATE '2026-11-02')"))
            conn.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))  # made before Alembic: no revision at all
        baseline = schema_of(older)
        assert baseline["dim_enterprise"]["pk"] == ["uscc"] and "version" not in [c[0] for c in baseline["dim_enterprise"]["columns"]]
        assert VERSION_TABLE not in baseline
        _release(older_url)

        env = {**os.environ, "SAFETY_HUB_WAREHOUSE_URL": older_url}
        done = subprocess.run([sys.executable, "-m", "safety_hub", "warehouse", "migrate"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"revision {versioning.head()}" in done.stdout

        with older.connect() as conn:
            assert versioning.current(conn) == versioning.head()
            assert conn.execute(sa.text("SELECT COUNT(*) FROM dim_enterprise")).scalar_one() == 0, "rebuilt from the facts by the next build"
        migrated, built = schema_of(older), schema_of(fresh)
        assert migrated["dim_enterprise"]["pk"] == ["uscc", "version"]
        assert migrated == built
        _release(older_url)
        _release(fresh_url)


def test_a_current_warehouse_migrates_to_nothing(tmp_path):
    """``warehouse migrate`` on a warehouse at head: no revision runs, the schema is unchanged."""
    url = f"duckdb:///{tmp_path / 'current.duckdb'}"
    ensure_schema(get_engine(url))
    before = schema_of(get_engine(url))
    _release(url)
    env = {**os.environ, "SAFETY_HUB_WAREHOUSE_URL": url}
    done = subprocess.run([sys.executable, "-m", "safety_hub", "warehouse", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Running upgrade" not in done.stderr
    assert schema_of(get_engine(url)) == before
    _release(url)


def test_alembic_ops_on_duckdb(tmp_path):
    """What a migration may do on DuckDB through ``versioning.DuckDBImpl``, and the one thing it must do differently."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(f"duckdb:///{tmp_path / 'ops.duckdb'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (k VARCHAR PRIMARY KEY, n INTEGER NOT NULL, old_name INTEGER)"))
        conn.execute(sa.text("CREATE INDEX ix_t_n ON t (n)"))
        conn.execute(sa.text("INSERT INTO t VALUES ('a', 1, 2)"))
    with pytest.raises(sa.exc.DatabaseError, match="depend"), engine.begin() as conn:  # DuckDB: no rename on a table with an index
        Operations(MigrationContext.configure(conn)).alter_column("t", "old_name", new_column_name="new_name")
    with engine.begin() as conn:  # so: the table created anew under the new shape, rows copied, indexes made again
        op = Operations(MigrationContext.configure(conn))
        as_it_is = sa.Table("t", sa.MetaData(), sa.Column("k", sa.String, primary_key=True), sa.Column("n", sa.Integer, nullable=False),
                            sa.Column("old_name", sa.Integer), sa.Index("ix_t_n", "n"))
        with op.batch_alter_table("t", recreate="always", copy_from=as_it_is) as batch:
            batch.alter_column("old_name", new_column_name="new_name", type_=sa.Text)
            batch.alter_column("n", type_=sa.BigInteger, nullable=True)
        op.alter_column("t", "new_name", comment="说明", existing_type=sa.Text)
        assert conn.execute(sa.text("SELECT index_name FROM duckdb_indexes() WHERE table_name = 't'")).scalars().all() == ["ix_t_n"]
        rows = conn.execute(sa.text(
            "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() WHERE table_name = 't' ORDER BY column_index")).all()
        assert [tuple(r) for r in rows] == [("k", "VARCHAR", False, None), ("n", "BIGINT", True, None), ("new_name", "VARCHAR", True, "说明")]
        assert conn.execute(sa.text("SELECT n, new_name FROM t")).one() == (1, "2")
    engine.dispose()
