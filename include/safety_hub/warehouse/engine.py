"""Engine creation and schema set-up for the configured warehouse URL."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from safety_hub import settings
from safety_hub.domain import DISTRICTS, LEGACY_DISTRICTS
from safety_hub.warehouse.schema import build_metadata


def get_engine(url: str | None = None) -> sa.Engine:
    """The engine for ``url`` (default: the configured warehouse), one per URL per process."""
    return _engine(url or settings.warehouse_url())


@functools.lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    if url.startswith("duckdb"):
        if url.startswith("duckdb:///"):
            from pathlib import Path

            Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
        # Bounded memory, and no insertion order to keep: loads order rows by their own position
        # column where it matters (dedupe), so DuckDB may insert in parallel and spill less.
        config = {"memory_limit": settings.duckdb_memory_limit(), "preserve_insertion_order": False}
        return sa.create_engine(url, connect_args={"config": config})
    return sa.create_engine(url, pool_pre_ping=True)


def dialect(conn: sa.Connection | sa.Engine) -> str:
    return conn.dialect.name


_ensured: set[tuple[str, int]] = set()


SCHEMA_LOCK_KEY = 0x5AFE_7AB1E  # pg_advisory_xact_lock key of ensure_schema (any constant of our own)


def ensure_schema(engine: sa.Engine) -> sa.MetaData:
    """Create missing tables, add columns new in the model, (re)seed the districts.

    Done once per engine and model per process; safe to call at every stage.
    """
    md = build_metadata()
    signature = (engine.url.render_as_string(hide_password=False), hash(tuple((t.name, tuple(t.columns.keys())) for t in md.sorted_tables)))
    if signature in _ensured:
        return md
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Tasks on several workers start on a new warehouse at once: two CREATE TABLEs of the
            # same name race ("duplicate key ... pg_type_typname_nsp_index"). One at a time; the
            # next sees the tables (checkfirst) once the first commits.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        md.create_all(conn, checkfirst=True)
        _add_missing_columns(conn, md)
        districts = md.tables["dim_district"]
        legacy = md.tables["dim_district_legacy"]
        conn.execute(districts.delete())
        conn.execute(districts.insert(), [{"district_code": c, "district_name": n} for c, n in DISTRICTS.items()])
        conn.execute(legacy.delete())
        conn.execute(legacy.insert(), [{"legacy_code": o, "district_code": n} for o, n in LEGACY_DISTRICTS.items()])
    _ensured.add(signature)
    return md


def _add_missing_columns(conn: sa.Connection, md: sa.MetaData) -> None:
    """Additive schema evolution: a column added to a feed or the model appears as NULLs."""
    schema_filter = "table_schema = current_schema()" if conn.dialect.name == "postgresql" else "table_schema = 'main'"
    existing: dict[str, set[str]] = {}
    for table, column in conn.execute(sa.text(f"SELECT table_name, column_name FROM information_schema.columns WHERE {schema_filter}")):
        existing.setdefault(table, set()).add(column)
    for table in md.sorted_tables:
        for column in table.columns:
            if table.name in existing and column.name not in existing[table.name]:
                ddl = column.type.compile(dialect=conn.dialect)
                default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""
                conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {ddl}{default}'))
