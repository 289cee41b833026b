"""A task's fixed cost: each stage imports only what it needs (issue 20).

Each check runs in a fresh interpreter, as Airflow runs a task, and reads ``sys.modules``
after the imports: extract and land never import Great Expectations, nor do load or the
build; importing ``safety_hub.pipeline`` alone loads no pandas, SQLAlchemy or warehouse; and
``ensure_schema`` on a warehouse already at the head revision does not import Alembic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HEAVY = ("great_expectations", "pandas", "numpy", "pyarrow", "sqlalchemy", "duckdb", "alembic", "openpyxl", "requests")


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The HEAVY packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_each_stage_imports_only_what_it_needs():
    code = textwrap.dedent("""
        import json, sys
        seen = {}
        def step(name, *modules):
            import importlib
            for m in modules:
                importlib.import_module(m)
            seen[name] = sorted(m for m in %r if m in sys.modules)
        step("pipeline", "safety_hub.pipeline")
        step("extract", "safety_hub.ingest.extract", "safety_hub.ingest.kinds", "safety_hub.ingest.raw")
        step("land", "safety_hub.ingest.landing")
        step("load", "safety_hub.warehouse.engine", "safety_hub.warehouse.load", "safety_hub.warehouse.bulk")
        step("build", "safety_hub.warehouse.build")
        print(json.dumps(seen))
    """ % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # The pipeline module and the extract stage: the registry and the raw zone, none of the data libraries.
    assert seen["pipeline"] == [], seen
    assert seen["extract"] == [], seen
    # Land parses (pandas, pyarrow); load and the build write the warehouse (SQLAlchemy): none validates.
    assert "pandas" in seen["land"] and "great_expectations" not in seen["land"], seen
    assert "sqlalchemy" in seen["load"] and "great_expectations" not in seen["load"], seen
    assert "great_expectations" not in seen["build"], seen
    # Alembic only when a migration may run (see the next test), never at import.
    assert "alembic" not in seen["build"], seen


def test_ensure_schema_of_a_current_warehouse_does_not_import_alembic(tmp_path):
    env = {"SAFETY_HUB_HOME": str(tmp_path), "SAFETY_HUB_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'wh.duckdb'}"}
    code = textwrap.dedent("""
        from safety_hub.warehouse.engine import ensure_schema, get_engine
        md = ensure_schema(get_engine())
        assert "load_audit" in md.tables
    """)
    # A new warehouse is created and stamped at head: Alembic does that.
    assert "alembic" in loaded_after(code, env)
    # The next task finds it at head: one read of the revision, no Alembic.
    assert "alembic" not in loaded_after(code, env)


def test_script_head_is_alembics_head():
    from safety_hub.warehouse import versioning
    from safety_hub.warehouse.engine import script_head

    assert script_head() is not None
    assert script_head() == versioning.head()
