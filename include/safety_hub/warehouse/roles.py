"""The PostgreSQL roles and databases of a deployment, least privilege first.

- ``airflow`` (``metadata_role``): owns Airflow's metadata database and nothing else.
- ``safety_hub_owner``: owns the warehouse database, its ``public`` schema and every table in it;
  the schema is created and evolved with this login (``python -m safety_hub warehouse migrate``).
- ``safety_hub_task``: the login of tasks and of the processes that read feed health: SELECT,
  INSERT, UPDATE, DELETE on the warehouse's tables and temporary tables (the per-load staging),
  no DDL on the warehouse and no CONNECT on Airflow's database (nor on any other: PUBLIC's
  CONNECT is revoked on both databases).

:func:`provision` runs as the server's superuser and is idempotent: compose's ``airflow-init``
runs it at every start (so a password changed in ``.env`` takes effect), the native stack
(``stack.py``) before it starts anything. It also takes over a warehouse made by an earlier
login: tables not owned by the owner are handed to it.

:func:`grant_analyst` (``python -m safety_hub warehouse grant-analyst``) creates or adopts a
read-only analyst role and gives it the column grants of ``access.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from safety_hub.warehouse.access import apply_grants, claim_analyst_role
from safety_hub.warehouse.engine import ensure_schema

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DML = "SELECT, INSERT, UPDATE, DELETE"


def _ident(name: str) -> str:
    if not ROLE.match(name):
        raise ValueError(f"{name!r}: a role or database name here is lower-case letters, digits and underscores")
    return f'"{name}"'


def _login_role(conn: sa.Connection, role: str, password: str) -> None:
    """Create ``role`` or bring it back to a plain login with ``password`` (never a superuser)."""
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    verb = "ALTER" if exists else "CREATE"
    # psycopg2 quotes the password client-side: DDL takes no server-side parameters.
    conn.exec_driver_sql(f"{verb} ROLE {_ident(role)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                         "NOBYPASSRLS PASSWORD %(password)s", {"password": password})


def _database(conn: sa.Connection, db: str, owner: str) -> None:
    if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first():
        conn.execute(sa.text(f"CREATE DATABASE {_ident(db)} OWNER {_ident(owner)} ENCODING 'UTF8' TEMPLATE template0"))
    else:
        conn.execute(sa.text(f"ALTER DATABASE {_ident(db)} OWNER TO {_ident(owner)}"))
    conn.execute(sa.text(f"REVOKE ALL ON DATABASE {_ident(db)} FROM PUBLIC"))


def provision(admin: sa.Engine, *, warehouse_db: str, owner: str, owner_password: str, task: str, task_password: str,
              metadata_db: str | None = None, metadata_role: str | None = None, metadata_password: str | None = None) -> None:
    """Create or fix the roles and databases (``admin``: the superuser, on any database of the server)."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        _login_role(conn, owner, owner_password)
        _login_role(conn, task, task_password)
        if metadata_db:
            if not (metadata_role and metadata_password):
                raise ValueError("metadata_db needs metadata_role and metadata_password")
            _login_role(conn, metadata_role, metadata_password)
            _database(conn, metadata_db, metadata_role)
        _database(conn, warehouse_db, owner)
        conn.execute(sa.text(f"GRANT CONNECT, TEMPORARY ON DATABASE {_ident(warehouse_db)} TO {_ident(task)}"))
    warehouse = sa.create_engine(admin.url.set(database=warehouse_db))
    try:
        with warehouse.begin() as conn:
            conn.execute(sa.text(f"ALTER SCHEMA public OWNER TO {_ident(owner)}"))
            conn.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {_ident(task)}"))
            for (table,) in conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :o"),
                                         {"o": owner}):
                conn.execute(sa.text(f'ALTER TABLE public."{table}" OWNER TO {_ident(owner)}'))
            conn.execute(sa.text(f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {_ident(task)}"))
            conn.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {_ident(task)}"))
            # Tables and sequences the owner creates later (a new feed's fact table) come with the same rights.
            conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES FOR ROLE {_ident(owner)} IN SCHEMA public GRANT {DML} ON TABLES TO {_ident(task)}"))
            conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES FOR ROLE {_ident(owner)} IN SCHEMA public "
                                 f"GRANT USAGE, SELECT ON SEQUENCES TO {_ident(task)}"))
    finally:
        warehouse.dispose()


def drop_roles(admin: sa.Engine, roles: Iterable[str]) -> None:
    """Drop login roles once their databases are gone (the native stack's and the tests' clean-up)."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for role in roles:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(role)}"))


def grant_analyst(engine: sa.Engine, role: str, adopt: bool = False) -> dict[str, list[str]]:
    """Create (if needed) ``role`` and grant it read access to core and marts only.

    An existing role is used only if grant-analyst created it, or ``adopt`` says to take it
    over (it is then marked as grant-analyst's); ``pg_*`` roles, superusers and roles that can
    read every table anyway are always refused. Idempotent: every grant is revoked first, so
    a table moved to ``audit`` or a column newly marked personal disappears from the role on
    the next run. Returns the tables granted in full, those granted without personal columns,
    and those withheld.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError(
            f"grant-analyst needs PostgreSQL (this warehouse is {engine.dialect.name}); "
            "DuckDB has no roles: give analysts a read-only connection, duckdb.connect(path, read_only=True)")
    if not ROLE.match(role):
        raise ValueError(f"role name {role!r}: use lower-case letters, digits and underscores, starting with a letter")
    if role.startswith("pg_") or role == "public":
        raise ValueError(f"role {role} refused: pg_* roles are PostgreSQL's own (and public is everyone); name a role of your own")
    md = ensure_schema(engine)
    with engine.begin() as conn:
        claim_analyst_role(conn, role, adopt)
        return apply_grants(conn, md, role)
