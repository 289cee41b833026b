"""Feed health from the warehouse's own records: last load, freshness, volumes, quality.

Used by ``python -m safety_hub health`` (and meant for the Airflow UI page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from safety_hub.registry import load_registry


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


def feed_health(engine: sa.Engine, now: dt.datetime | None = None) -> list[FeedHealth]:
    from safety_hub.warehouse.engine import ensure_schema

    now = now or dt.datetime.now(dt.timezone.utc)
    md = ensure_schema(engine)
    audit, vr = md.tables["load_audit"], md.tables["validation_result"]
    out = []
    with engine.connect() as conn:
        for feed in load_registry().values():
            last = conn.execute(
                sa.select(audit.c.business_date, audit.c.loaded_at, audit.c.rows_loaded, audit.c.rows_quarantined, audit.c.volume_note)
                .where(audit.c.feed_id == feed.feed_id, audit.c.status == "loaded")
                .order_by(audit.c.loaded_at.desc()).limit(1)
            ).first()
            batch = conn.execute(
                sa.select(vr.c.batch_id).where(vr.c.feed_id == feed.feed_id).order_by(vr.c.validated_at.desc()).limit(1)
            ).scalar()
            pass_rate = None
            if batch is not None:
                ok, total = conn.execute(
                    sa.select(sa.func.sum(sa.case((vr.c.success, 1), else_=0)), sa.func.count())
                    .where(vr.c.feed_id == feed.feed_id, vr.c.batch_id == batch)
                ).one()
                pass_rate = (ok or 0) / total if total else None
            loaded_at = last[1] if last else None
            if loaded_at is not None and loaded_at.tzinfo is None:
                loaded_at = loaded_at.replace(tzinfo=dt.timezone.utc)
            limit = feed.validation.fresh_within_hours
            stale = loaded_at is None or now - loaded_at > dt.timedelta(hours=limit)
            out.append(FeedHealth(feed.feed_id, last[0] if last else None, loaded_at, limit, stale,
                                  last[2] if last else None, last[3] if last else None, pass_rate, last[4] if last else None))
    return out
