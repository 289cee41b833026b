"""Who may read what: a read-only analyst role on PostgreSQL.

Analysts see the ``core`` and ``marts`` layers (facts, conformed dimensions,
marts) without the columns marked personal in the feed registry; the ``audit``
layer (quarantine with original values, quality and load history) stays with
the data team. Raw data is in the landing zone, not the database, and staging
tables are per-load temporary tables, so neither can be granted.

Grants are column by column, never on a whole table: a column added later (a feed's new
personal column) is not readable until granted, and every schema change
(``engine.ensure_schema``) grants again for each analyst role of this warehouse, which
is how new non-personal columns and new tables reach analysts. A role is an analyst role
of this warehouse when grant-analyst created it (or adopted it: ``--adopt``), which it
marks with a comment on the role, and granted it CONNECT on this database.
"""

from __future__ import annotations

import sqlalchemy as sa

from safety_hub.warehouse.schema import is_personal, table_layer

ANALYST_LAYERS = ("core", "marts")
TAG = "safety_hub grant-analyst: read-only analyst role (core and marts, no personal columns)"
# Predefined roles whose members read or write any table or file: column grants would mean nothing.
_ALL_SEEING = ("pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")


def claim_analyst_role(conn: sa.Connection, role: str, adopt: bool) -> None:
    """Create and mark ``role``, or check that an existing one may be used."""
    row = conn.execute(sa.text(
        "SELECT rolsuper, rolbypassrls, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = :r"),
        {"r": role}).mappings().first()
    if row is None:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
        conn.execute(sa.text(f"COMMENT ON ROLE \"{role}\" IS '{TAG}'"))
        return
    if row["rolsuper"] or row["rolbypassrls"]:
        raise ValueError(f"role {role} refused: it is a superuser or bypasses row security, so no grant can limit what it reads")
    members_of = conn.execute(sa.text(
        "SELECT b.rolname FROM pg_roles b WHERE b.rolname = ANY(:all) AND pg_has_role(:r, b.oid, 'USAGE')"),
        {"r": role, "all": list(_ALL_SEEING)}).scalars().all()
    if members_of:
        raise ValueError(f"role {role} refused: it is a member of {', '.join(members_of)}, which reads beyond any column grant")
    if row["comment"] != TAG:
        if not adopt:
            raise ValueError(f"role {role} exists and was not created by grant-analyst: refused (its other rights would "
                             "become an analyst's); pass --adopt to take it over, or name a new role")
        conn.execute(sa.text(f"COMMENT ON ROLE \"{role}\" IS '{TAG}'"))


def is_analyst_role(engine_or_conn: sa.Engine | sa.Connection, role: str) -> bool:
    """Whether grant-analyst created (or adopted) ``role``."""
    sql = sa.text("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = :r")
    if isinstance(engine_or_conn, sa.Engine):
        with engine_or_conn.connect() as conn:
            return conn.execute(sql, {"r": role}).scalar() == TAG
    return engine_or_conn.execute(sql, {"r": role}).scalar() == TAG


def analyst_roles(conn: sa.Connection) -> list[str]:
    """The analyst roles of this warehouse: marked by grant-analyst and granted CONNECT on this database."""
    return conn.execute(sa.text(
        "SELECT r.rolname FROM pg_roles r "
        "JOIN pg_database d ON d.datname = current_database() "
        "CROSS JOIN LATERAL aclexplode(d.datacl) a "
        "WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT' "
        "AND shobj_description(r.oid, 'pg_authid') = :tag ORDER BY 1"), {"tag": TAG}).scalars().all()


def regrant_analysts(conn: sa.Connection, md: sa.MetaData) -> list[str]:
    """Grant again, column by column, for every analyst role of this warehouse (after a schema change)."""
    roles = analyst_roles(conn)
    for role in roles:
        apply_grants(conn, md, role)
    return roles


def apply_grants(conn: sa.Connection, md: sa.MetaData, role: str) -> dict[str, list[str]]:
    """Revoke everything ``role`` has on the warehouse's tables, then grant SELECT on the
    non-personal columns of every core and marts table."""
    summary: dict[str, list[str]] = {"full": [], "without_personal": [], "withheld": []}
    database = conn.execute(sa.text("SELECT current_database()")).scalar_one().replace('"', '""')
    conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))  # marks the role as this warehouse's
    conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
    conn.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
    for table in md.sorted_tables:
        # Column grants survive a table-level REVOKE ALL only if revoked explicitly.
        cols = ", ".join(f'"{c.name}"' for c in table.columns)
        conn.execute(sa.text(f'REVOKE SELECT ({cols}) ON "{table.name}" FROM "{role}"'))
        if table_layer(table) not in ANALYST_LAYERS:
            summary["withheld"].append(table.name)
            continue
        visible = [c.name for c in table.columns if not is_personal(c)]
        conn.execute(sa.text(f'GRANT SELECT ({", ".join(chr(34) + c + chr(34) for c in visible)}) ON "{table.name}" TO "{role}"'))
        summary["full" if len(visible) == len(table.columns) else "without_personal"].append(table.name)
    return summary
