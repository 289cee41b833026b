"""Who may read what: a read-only analyst role on PostgreSQL.

Analysts see the ``core`` and ``marts`` layers (facts, conformed dimensions,
marts) without the columns marked personal in the feed registry; the ``audit``
layer (quarantine with original values, quality and load history) stays with
the data team. Raw data is in the landing zone, not the database, and staging
tables are per-load temporary tables, so neither can be granted.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.schema import is_personal, table_layer

ANALYST_LAYERS = ("core", "marts")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_analyst(engine: sa.Engine, role: str) -> dict[str, list[str]]:
    """Create (if needed) ``role`` and grant it read access to core and marts only.

    Idempotent: every grant is revoked first, so a table moved to ``audit`` or a
    column newly marked personal disappears from the role on the next run.
    Returns the tables granted in full, those granted without personal columns,
    and those withheld.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError(
            f"grant-analyst needs PostgreSQL (this warehouse is {engine.dialect.name}); "
            "DuckDB has no roles: give analysts a read-only connection, duckdb.connect(path, read_only=True)")
    if not _ROLE.match(role):
        raise ValueError(f"role name {role!r}: use lower-case letters, digits and underscores, starting with a letter")
    md = ensure_schema(engine)
    summary: dict[str, list[str]] = {"full": [], "without_personal": [], "withheld": []}
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"))
        conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        for table in md.sorted_tables:
            # Column grants survive a table-level REVOKE ALL only if revoked explicitly.
            cols = ", ".join(f'"{c.name}"' for c in table.columns)
            conn.execute(sa.text(f'REVOKE SELECT ({cols}) ON "{table.name}" FROM {role}'))
            if table_layer(table) not in ANALYST_LAYERS:
                summary["withheld"].append(table.name)
                continue
            visible = [c.name for c in table.columns if not is_personal(c)]
            if len(visible) == len(table.columns):
                conn.execute(sa.text(f'GRANT SELECT ON "{table.name}" TO {role}'))
                summary["full"].append(table.name)
            else:
                conn.execute(sa.text(f'GRANT SELECT ({", ".join(chr(34) + c + chr(34) for c in visible)}) ON "{table.name}" TO {role}'))
                summary["without_personal"].append(table.name)
    return summary
