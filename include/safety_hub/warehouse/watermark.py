"""The build watermark: what committed loads still wait for a successful warehouse build.

A load records, in its own transaction beside ``load_audit``, the earliest business date it
touched (one row per feed and batch; a rerun of the batch replaces its row); a dimension rebuild
that changed what the marts read records the earliest date that change reaches. ``build_marts``
reads the rows at the start of its transaction, recomputes from the earliest of them and of its
own dates, and deletes exactly the rows it read in that same transaction: a build that fails
leaves them for the next one, and a load that commits while a build runs keeps its row (the
build may not have seen its facts). The watermark is ``MIN(dirty_since)``.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.warehouse.schema import BUILD_WATERMARK

DIMENSIONS = ("warehouse_build", "dimensions")  # the (feed_id, batch_id) of a dimension change


class Pending(NamedTuple):
    feed_id: str
    batch_id: str
    dirty_since: dt.date
    recorded_at: dt.datetime


def record(conn: sa.Connection, feed_id: str, batch_id: str, dirty_since: dt.date, keep_earlier: bool = False) -> None:
    """Record (feed, batch) as not yet built from ``dirty_since`` on, in ``conn``'s transaction;
    ``keep_earlier``: an earlier date already recorded for the same key stays."""
    key = {"f": feed_id, "b": batch_id}
    if keep_earlier:
        earlier = conn.execute(sa.text(f"SELECT dirty_since FROM {BUILD_WATERMARK} WHERE feed_id = :f AND batch_id = :b"), key).scalar()
        if earlier is not None:
            dirty_since = min(dirty_since, as_date(earlier))
    conn.execute(sa.text(f"DELETE FROM {BUILD_WATERMARK} WHERE feed_id = :f AND batch_id = :b"), key)
    conn.execute(sa.text(f"INSERT INTO {BUILD_WATERMARK} (feed_id, batch_id, dirty_since, recorded_at) VALUES (:f, :b, :d, :t)"),
                 {**key, "d": dirty_since, "t": dt.datetime.now(dt.timezone.utc)})


def pending(conn: sa.Connection) -> list[Pending]:
    """Every row not yet taken by a successful build."""
    rows = conn.execute(sa.text(f"SELECT feed_id, batch_id, dirty_since, recorded_at FROM {BUILD_WATERMARK}")).all()
    return [Pending(f, b, as_date(d), t) for f, b, d, t in rows]


def dirty_since(rows: list[Pending]) -> dt.date | None:
    """The watermark: the earliest date a pending row needs recomputed (None: nothing pending)."""
    return min((r.dirty_since for r in rows), default=None)


def clear(conn: sa.Connection, rows: list[Pending]) -> None:
    """Delete the rows a build read (a row recorded again since, with a new time, stays)."""
    for r in rows:
        conn.execute(sa.text(f"DELETE FROM {BUILD_WATERMARK} WHERE feed_id = :f AND batch_id = :b AND recorded_at = :t"),
                     {"f": r.feed_id, "b": r.batch_id, "t": r.recorded_at})
