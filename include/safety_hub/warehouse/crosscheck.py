"""Cross-feed rules (``include/feeds/_cross_rules.yaml``), checked by the warehouse build.

Each rule's SELECT finds offending rows across feeds (insured headcount below the
registry's employees, ...) or across a feed's batches (安责险 cover gaps and overlaps,
a document number used by two cases); they are written to ``quality_flag`` under the
rule id, replacing the rule's previous flags, inside the build's transaction. An incremental
build re-checks a rule with a ``scope`` only for the records of its feed whose scope value the
loads since the last build changed (``warehouse/changes.py``), replacing only their flags.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import sqlalchemy as sa

from safety_hub.config.registry import CrossRule, load_cross_rules, load_registry
from safety_hub.warehouse import changes
from safety_hub.warehouse.bulk import bulk_insert

_LINEAGE = ("record_key", "batch_id", "business_date", "raw_file")


def run_cross_rules(conn: sa.Connection, md: sa.MetaData, incremental: bool = False) -> dict[str, int]:
    """Rule id -> rows flagged (``incremental``: rows flagged among the records re-checked)."""
    flags = md.tables["quality_flag"]
    counts = {}
    for rule in load_cross_rules():
        if incremental and rule.scope is not None:
            with changes.temporary(conn, _records_in_scope(conn, rule)) as records:
                keys = f"(SELECT record_key FROM {records})"
                conn.execute(sa.text(f"DELETE FROM quality_flag WHERE rule_id = :rule AND record_key IN {keys}"), {"rule": rule.id})
                text = sa.Text().compile(dialect=conn.dialect)
                rows = conn.execute(sa.text(f"SELECT * FROM ({rule.sql.strip().rstrip(';')}) r WHERE CAST(r.record_key AS {text}) IN {keys}")
                                    ).mappings().all()
        else:
            conn.execute(flags.delete().where(flags.c.rule_id == rule.id))
            rows = conn.execute(sa.text(rule.sql)).mappings().all()
        missing = [c for c in _LINEAGE if rows and c not in rows[0]]
        if missing:
            raise ValueError(f"cross rule {rule.id}: its SELECT must return {list(_LINEAGE)}; missing {missing}")
        frame = found_in_warehouse(rows, rule_id=rule.id, feed_id=lambda r, feed=rule.feed: feed,
                                   describe=lambda r, text=rule.description: text, hidden=_LINEAGE)
        counts[rule.id] = bulk_insert(conn, flags, frame) if len(frame) else 0
    return counts


def _records_in_scope(conn: sa.Connection, rule: CrossRule) -> str:
    """SELECT of the keys (``record_key``, as text) of the rule's feed's rows whose scope value a load
    since the last build changed: their answer may have changed (a missing scope value counts as a value)."""
    feed = load_registry()[rule.feed]
    column, text = rule.scope.tables[feed.target_table], sa.Text().compile(dialect=conn.dialect)
    logged = changes.keys_sql(changes.MARTS, changes.rule_scope(rule.id))
    return (f'SELECT DISTINCT CAST(t."{feed.key[0]}" AS {text}) AS record_key FROM "{feed.target_table}" t '
            f'WHERE CAST(t."{column}" AS {text}) IN ({logged} AND value IS NOT NULL) '
            f'OR (t."{column}" IS NULL AND EXISTS ({logged} AND value IS NULL))')


def found_in_warehouse(rows, *, rule_id: str, feed_id, describe, hidden=()) -> pd.DataFrame:
    """``quarantine``/``quality_flag`` rows for records a rule found in the warehouse (not in one raw row).

    ``rows`` are mappings with ``record_key``, ``batch_id``, ``business_date`` and ``raw_file``;
    its values less ``hidden`` are kept as the record's values. ``row_number`` is 0.
    """
    now = dt.datetime.now(dt.timezone.utc)
    return pd.DataFrame([{
        "feed_id": feed_id(r), "batch_id": r["batch_id"], "business_date": r["business_date"], "raw_file": r["raw_file"],
        "row_number": 0, "record_key": str(r["record_key"]), "rule_id": rule_id, "rule_description": describe(r),
        "original_values": json.dumps({k: (None if v is None else str(v)) for k, v in r.items() if k not in hidden}, ensure_ascii=False),
        "quarantined_at": now,
    } for r in rows])
