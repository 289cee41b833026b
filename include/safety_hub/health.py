"""Feed health from the warehouse's own records: last load, freshness, volumes, quality.

Used by ``python -m safety_hub health``, the Feed health page of the Airflow UI
(``health_page.py``, plugin ``plugins/feed_health.py``) and the ``feed_health_check``
DAG's stale-feed alerts (``alerts.py``). Reading health never writes the warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from safety_hub.registry import load_registry

RECENT_RUNS = 5  # loads per feed shown as "the last runs"


@dataclass
class LoadRun:
    """One successful load of a feed (a ``load_audit`` row)."""

    business_date: dt.date
    loaded_at: dt.datetime
    rows_loaded: int
    rows_quarantined: int


@dataclass
class FeedHealth:
    feed_id: str
    last_business_date: dt.date | None
    last_loaded_at: dt.datetime | None
    fresh_within_hours: float
    stale: bool
    rows_loaded_last: int | None
    rows_quarantined_last: int | None
    pass_rate_last: float | None  # share of expectations that passed in the last validated run
    volume_note: str | None
    recent_runs: list[LoadRun] = field(default_factory=list)  # newest first, at most RECENT_RUNS

    @property
    def stale_since(self) -> dt.datetime | None:
        """When the feed went (or goes) stale: last load + its freshness limit (None: never loaded)."""
        return self.last_loaded_at + dt.timedelta(hours=self.fresh_within_hours) if self.last_loaded_at else None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def feed_health(engine: sa.Engine, now: dt.datetime | None = None) -> list[FeedHealth]:
    """Health of every registered feed as of ``now`` (default: the current time)."""
    from safety_hub.warehouse.schema import build_metadata

    now = now or dt.datetime.now(dt.timezone.utc)
    md = build_metadata()  # the model only: a health read creates nothing, so it may use a read-only connection
    audit, vr = md.tables["load_audit"], md.tables["validation_result"]
    out = []
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        has_audit, has_results = inspector.has_table("load_audit"), inspector.has_table("validation_result")
        for feed in load_registry().values():
            runs = []
            if has_audit:
                runs = conn.execute(
                    sa.select(audit.c.business_date, audit.c.loaded_at, audit.c.rows_loaded, audit.c.rows_quarantined, audit.c.volume_note)
                    .where(audit.c.feed_id == feed.feed_id, audit.c.status == "loaded")
                    .order_by(audit.c.loaded_at.desc()).limit(RECENT_RUNS)
                ).all()
            pass_rate = None
            batch = None
            if has_results:
                batch = conn.execute(
                    sa.select(vr.c.batch_id).where(vr.c.feed_id == feed.feed_id).order_by(vr.c.validated_at.desc()).limit(1)
                ).scalar()
            if batch is not None:
                ok, total = conn.execute(
                    sa.select(sa.func.sum(sa.case((vr.c.success, 1), else_=0)), sa.func.count())
                    .where(vr.c.feed_id == feed.feed_id, vr.c.batch_id == batch)
                ).one()
                pass_rate = (ok or 0) / total if total else None
            last = runs[0] if runs else None
            loaded_at = _utc(last[1]) if last else None
            limit = feed.validation.fresh_within_hours
            stale = loaded_at is None or now - loaded_at > dt.timedelta(hours=limit)
            out.append(FeedHealth(
                feed.feed_id, last[0] if last else None, loaded_at, limit, stale,
                last[2] if last else None, last[3] if last else None, pass_rate, last[4] if last else None,
                [LoadRun(r[0], _utc(r[1]), r[2], r[3]) for r in runs],
            ))
    return out


def read_engine(url: str | None = None) -> sa.Engine:
    """An engine for reading health from a long-lived process (the API server).

    A DuckDB file admits one writing process: a pooled connection held by the API
    server would lock the pipeline's tasks out, so DuckDB is opened read-only per
    request, for the length of one read (it fails fast while a task holds the file,
    and a task opening the file during that read fails likewise: local DuckDB only).
    Other databases (PostgreSQL in production) pool.
    """
    from safety_hub import settings
    from safety_hub.warehouse.engine import get_engine

    url = url or settings.warehouse_url()
    if not url.startswith("duckdb"):
        return get_engine(url)
    return sa.create_engine(url, poolclass=sa.pool.NullPool,
                            connect_args={"read_only": True, "config": {"memory_limit": settings.duckdb_memory_limit()}})
