"""A scratch PostgreSQL database for unit tests that need a real server (shared by their fixtures).

The server is 127.0.0.1:5432 (user postgres, trust auth) unless SAFETY_HUB_TEST_PG_ADMIN_URL says
otherwise. The database is created empty (UTF8) and dropped at the end; the test is skipped, with
the reason, when the server is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

ADMIN_URL = os.environ.get("SAFETY_HUB_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_database(prefix: str) -> Iterator[sa.Engine]:
    """An engine on a new database ``<prefix>_<pid>``, dropped afterwards (skips when PostgreSQL is unreachable)."""
    pytest.importorskip("psycopg2", reason="the warehouse's PostgreSQL paths (COPY) need psycopg2")
    name = f"{prefix}_{os.getpid()}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    except Exception as exc:  # unreachable server, no rights
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    engine = sa.create_engine(sa.make_url(ADMIN_URL).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def plan(conn: sa.Connection, sql: str, params: dict | None = None) -> str:
    """PostgreSQL's plan of ``sql`` (``EXPLAIN``, not run), as one text."""
    return "\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + sql), params or {}))
