"""Several processes creating the warehouse schema on a new PostgreSQL database at once (the first
day on a fresh warehouse, with tasks on several Celery workers) must all succeed: without the
advisory lock two CREATE TABLEs of one name race and one fails on pg_type's unique index."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from pg_scratch import scratch_database

WORKERS = 6
CODE = """
import sys
from safety_hub.warehouse.engine import ensure_schema, get_engine
ensure_schema(get_engine(sys.argv[1]))
"""


def test_concurrent_schema_creation_on_a_new_postgres_warehouse():
    with scratch_database("test_schema_race") as engine:
        url = engine.url.render_as_string(hide_password=False)
        procs = [subprocess.Popen([sys.executable, "-c", CODE, url], stderr=subprocess.PIPE, text=True) for _ in range(WORKERS)]
        errors = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        assert [rc for rc, _ in errors] == [0] * WORKERS, [err[-1500:] for rc, err in errors if rc]
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            districts = conn.execute(sa.text("SELECT COUNT(*) FROM dim_district")).scalar()
        assert {"fact_hazard", "quarantine", "load_audit", "dim_district"} <= tables
        assert districts == 16, "the districts are seeded once, not once per process"
