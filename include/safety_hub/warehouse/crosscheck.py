"""Cross-feed rules (``include/feeds/_cross_rules.yaml``), checked by the warehouse build.

Each rule's SELECT finds offending rows across feeds (insured headcount below the
registry's employees, ...); they are written to ``quality_flag`` under the rule id,
replacing the rule's previous flags, inside the build's transaction.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import sqlalchemy as sa

from safety_hub.registry import load_cross_rules
from safety_hub.warehouse.bulk import bulk_insert

_LINEAGE = ("record_key", "batch_id", "business_date", "raw_file")


def run_cross_rules(conn: sa.Connection, md: sa.MetaData) -> dict[str, int]:
    """Rule id -> rows flagged."""
    flags = md.tables["quality_flag"]
    now = dt.datetime.now(dt.timezone.utc)
    counts = {}
    for rule in load_cross_rules():
        conn.execute(flags.delete().where(flags.c.rule_id == rule.id))
        rows = conn.execute(sa.text(rule.sql)).mappings().all()
        missing = [c for c in _LINEAGE if rows and c not in rows[0]]
        if missing:
            raise ValueError(f"cross rule {rule.id}: its SELECT must return {list(_LINEAGE)}; missing {missing}")
        frame = pd.DataFrame([{
            "feed_id": rule.feed, "batch_id": r["batch_id"], "business_date": r["business_date"], "raw_file": r["raw_file"],
            "row_number": 0,  # found across feeds in the warehouse, not in one raw row
            "record_key": str(r["record_key"]), "rule_id": rule.id, "rule_description": rule.description,
            "original_values": json.dumps({k: (None if v is None else str(v)) for k, v in r.items() if k not in _LINEAGE}, ensure_ascii=False),
            "quarantined_at": now,
        } for r in rows])
        counts[rule.id] = bulk_insert(conn, flags, frame) if len(frame) else 0
    return counts
