"""Hazards across agencies: every version kept, regressions quarantined, one row per hazard.

Feeds with a ``lifecycle`` section in the registry (hazard ledgers) add each
loaded version of each record to ``hazard_version``, inside the load's
transaction and replacing the batch's business-date partition, so any load
order gives the same history (an old version arriving after a newer one is
history too). The warehouse build then:

1. marks status regressions: a version whose status is behind the furthest
   status an earlier version of the same record reached (by update time),
   unless the move is an allowed ``reopen`` (a failed acceptance);
2. writes each regression to ``quarantine`` as ``status.no_regression``, with
   both statuses in the reason;
3. rebuilds ``hazard``: one row per identity (uscc | normalised description |
   found_date), so a resubmission under a new number, or the same hazard from two
   agencies, is one hazard with its list of sources.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import sqlalchemy as sa

from safety_hub.domain import to_halfwidth
from safety_hub.registry import Feed, load_registry
from safety_hub.warehouse.bulk import bulk_insert

REGRESSION_RULE = "status.no_regression"
_SPACE = re.compile(r"[\s\u3000]+")
_VERSION_COLUMNS = ("feed_id", "record_key", "updated_at", "business_date", "batch_id", "raw_file")


def normalise_description(text: object) -> str:
    """Half-width, no whitespace: how two clerks' spellings of one description compare."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return _SPACE.sub("", to_halfwidth(str(text)))


def identity_key(uscc: object, description: object, found_date: object) -> str:
    found = pd.Timestamp(found_date).date().isoformat() if found_date is not None and not pd.isna(found_date) else ""
    return f"{uscc or ''}|{normalise_description(description)}|{found}"


def version_frame(feed: Feed, rows: pd.DataFrame) -> pd.DataFrame:
    """Loaded rows (typed feed columns + lineage) as ``hazard_version`` rows."""
    lc = feed.lifecycle
    out = pd.DataFrame(index=rows.index)
    for conformed, column in lc.columns.items():
        out[conformed] = rows[column]
    rank = {s: i for i, s in enumerate(lc.statuses)}
    out["status_rank"] = out["status"].map(rank).astype("Int64")
    out["is_closed"] = out["status"].eq(lc.closed).astype("boolean")
    out["is_major"] = out["grade"].eq(lc.major).astype("boolean") if "grade" in out else pd.NA
    out["record_key"] = rows[feed.key].astype("string").agg("|".join, axis=1) if len(feed.key) > 1 else rows[feed.key[0]].astype("string")
    out["identity_key"] = [identity_key(u, d, f) for u, d, f in zip(out["uscc"], out["description"], out["found_date"])]
    for c in ("feed_id", "updated_at", "business_date", "batch_id", "raw_file", "loaded_at"):
        out[c] = rows[c]
    out["is_regression"] = False
    return out


def record_versions(conn: sa.Connection, md: sa.MetaData, feed: Feed, rows: pd.DataFrame, day: dt.date) -> int:
    """Replace the feed's versions for ``day`` with ``rows`` (inside the load's transaction)."""
    table = md.tables["hazard_version"]
    conn.execute(table.delete().where(table.c.feed_id == feed.feed_id, table.c.business_date == day))
    return bulk_insert(conn, table, version_frame(feed, rows)) if len(rows) else 0


def _regression_case(feeds: list[Feed]) -> str:
    """SQL: is this version behind the furthest earlier status (``prev_max``) and not an allowed reopen?"""
    allowed = []
    for f in feeds:
        rank = {s: i for i, s in enumerate(f.lifecycle.statuses)}
        allowed += [f"(feed_id = '{f.feed_id}' AND prev_max = {rank[a]} AND status_rank = {rank[b]})" for a, b in f.lifecycle.reopen]
    reopen = " OR ".join(allowed) or "FALSE"
    return f"CASE WHEN prev_max IS NOT NULL AND status_rank < prev_max AND NOT ({reopen}) THEN TRUE ELSE FALSE END"


def refresh(conn: sa.Connection, md: sa.MetaData, as_of: dt.date | None) -> dict[str, int]:
    """Mark regressions, quarantine them, rebuild ``hazard`` as of ``as_of`` (inside one transaction)."""
    from safety_hub.warehouse.transform import sql_file

    feeds = [f for f in load_registry().values() if f.lifecycle is not None]
    versions = _versions_with_prev_max(feeds)
    conn.execute(sa.text(f"""
        UPDATE hazard_version SET is_regression = r.flag
        FROM ({versions}) r
        WHERE hazard_version.feed_id = r.feed_id AND hazard_version.record_key = r.record_key
          AND hazard_version.updated_at = r.updated_at AND hazard_version.business_date = r.business_date
    """))
    quarantined = _quarantine_regressions(conn, md, feeds, versions)
    hazard = md.tables["hazard"]
    conn.execute(hazard.delete())
    if as_of is not None:
        conn.execute(sa.text(sql_file("hazard.sql").format(hazard_asof=sql_file("hazard_asof.sql"))), {"as_of": as_of})
    hazards = conn.execute(sa.select(sa.func.count()).select_from(hazard)).scalar_one()
    return {"regressions": quarantined, "hazards": hazards}


def _versions_with_prev_max(feeds: list[Feed]) -> str:
    """SQL: each version's key, the furthest earlier status (``prev_max``) and its regression ``flag``."""
    return f"""
        SELECT feed_id, record_key, updated_at, business_date, prev_max, {_regression_case(feeds)} AS flag
        FROM (
            SELECT feed_id, record_key, updated_at, business_date, status_rank,
                   MAX(status_rank) OVER (PARTITION BY feed_id, record_key ORDER BY updated_at, business_date
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max
            FROM hazard_version
        ) w"""


def _quarantine_regressions(conn: sa.Connection, md: sa.MetaData, feeds: list[Feed], versions: str) -> int:
    """Rewrite the ``status.no_regression`` rows of ``quarantine`` from the marked versions."""
    from safety_hub.warehouse.crosscheck import found_in_warehouse

    quarantine = md.tables["quarantine"]
    conn.execute(quarantine.delete().where(quarantine.c.rule_id == REGRESSION_RULE))
    rows = conn.execute(sa.text(f"""
        SELECT v.*, r.prev_max FROM hazard_version v
        JOIN ({versions}) r ON r.feed_id = v.feed_id AND r.record_key = v.record_key
                           AND r.updated_at = v.updated_at AND r.business_date = v.business_date
        WHERE v.is_regression
    """)).mappings().all()
    statuses = {f.feed_id: f.lifecycle.statuses for f in feeds}
    frame = found_in_warehouse(
        rows, rule_id=REGRESSION_RULE, feed_id=lambda r: r["feed_id"],
        describe=lambda r: f"整改状态不得倒退：{statuses[r['feed_id']][r['prev_max']]} → {r['status']}",
        hidden=("prev_max", "is_regression", "loaded_at", "batch_id", "raw_file"))
    return bulk_insert(conn, quarantine, frame) if len(frame) else 0
