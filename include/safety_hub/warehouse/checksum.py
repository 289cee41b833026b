"""Order-independent content checksums of warehouse tables (for idempotence checks).

Run-specific columns (batch ids, load and quarantine timestamps, raw paths) are
left out, so two warehouses built from the same data in any order compare equal.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

RUN_SPECIFIC = {"batch_id", "loaded_at", "raw_file", "quarantined_at", "validated_at"}


def table_checksum(conn: sa.Connection, table: sa.Table) -> tuple[int, str]:
    """(row count, sha256 over the sorted rows of the content columns)."""
    cols = [c for c in table.columns if c.name not in RUN_SPECIFIC]
    rows = sorted(tuple("" if v is None else str(v) for v in r) for r in conn.execute(sa.select(*cols)))
    digest = hashlib.sha256()
    for row in rows:
        digest.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return len(rows), digest.hexdigest()


def warehouse_checksums(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Checksums of every core and mart table (facts, dimensions, hazards), plus the quarantine."""
    from safety_hub.warehouse.engine import ensure_schema
    from safety_hub.warehouse.schema import table_layer

    md = ensure_schema(engine)
    with engine.connect() as conn:
        return {
            name: table_checksum(conn, table)
            for name, table in sorted(md.tables.items())
            if table_layer(table) in ("core", "marts") or name in ("quarantine", "snapshot_deletion")
        }
