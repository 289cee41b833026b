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
    if url.startswith("duckdb:///"):
        from pathlib import Path

        Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, pool_pre_ping=not url.startswith("duckdb"))


def dialect(conn: sa.Connection | sa.Engine) -> str:
    return conn.dialect.name


def ensure_schema(engine: sa.Engine) -> sa.MetaData:
    """Create missing tables and (re)seed the district dimension; safe to call every run."""
    md = build_metadata()
    with engine.begin() as conn:
        md.create_all(conn, checkfirst=True)
        districts = md.tables["dim_district"]
        legacy = md.tables["dim_district_legacy"]
        conn.execute(districts.delete())
        conn.execute(districts.insert(), [{"district_code": c, "district_name": n} for c, n in DISTRICTS.items()])
        conn.execute(legacy.delete())
        conn.execute(legacy.insert(), [{"legacy_code": o, "district_code": n} for o, n in LEGACY_DISTRICTS.items()])
    return md
