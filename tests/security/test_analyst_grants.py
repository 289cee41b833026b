"""Findings 8 and 13: the analyst role (``python -m safety_hub warehouse grant-analyst ROLE``).

8. Analysts could read personal columns added after ``grant-analyst`` ran: a table without
   personal columns was granted whole, so a personal column added later came with it. Grants
   are column-level, and every schema change grants again for every role grant-analyst made.
13. ``grant-analyst`` reused any existing role, built-in ones included (``pg_read_server_files``).
   It refuses a role it did not create unless told to adopt it, and always refuses ``pg_*``,
   superuser roles and roles that read every table anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from pg_scratch import scratch_database
from registry_copy import copy_registry, edit_feed, site_contact_feed, write_feed

PID = os.getpid()


@pytest.fixture()
def warehouse():
    from safety_hub.warehouse import engine as warehouse_engine

    warehouse_engine._ensured.clear()  # a database of the same name (same pid) was ensured by an earlier test
    created: list[str] = []
    with scratch_database("sh_analyst") as engine:
        warehouse_engine.ensure_schema(engine)
        try:
            yield engine, created
        finally:
            with engine.connect() as conn:
                for role in created:
                    if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                        conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
                        conn.execute(sa.text(f'DROP ROLE "{role}"'))
                conn.commit()


def _role(created: list[str], name: str) -> str:
    role = f"{name}_{PID}"
    created.append(role)
    return role


def _as_role(engine: sa.Engine, role: str, sql: str):
    with engine.connect() as conn:
        conn.execute(sa.text(f'SET ROLE "{role}"'))
        try:
            return conn.execute(sa.text(sql)).fetchall()
        finally:
            conn.rollback()


def _denied(engine, role, sql):
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _as_role(engine, role, sql)


# --- 13: only roles grant-analyst created ----------------------------------------------------------


@pytest.mark.parametrize("role", ["pg_read_server_files", "pg_read_all_data", "pg_write_server_files", "pg_monitor", "pg_nothing_yet"])
def test_builtin_roles_are_refused_even_when_adopting(warehouse, role):
    from safety_hub.warehouse.roles import grant_analyst

    engine, _ = warehouse
    for adopt in (False, True):
        with pytest.raises(ValueError, match="pg_"):
            grant_analyst(engine, role, adopt=adopt)
    with engine.connect() as conn:
        granted = conn.execute(sa.text("SELECT COUNT(*) FROM information_schema.role_table_grants WHERE grantee = :r"), {"r": role}).scalar_one()
    assert granted == 0


def test_an_existing_role_is_refused_unless_adopted(warehouse):
    from safety_hub.warehouse.roles import grant_analyst
    from safety_hub.warehouse.access import is_analyst_role

    engine, created = warehouse
    role = _role(created, "sh_existing")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
    with pytest.raises(ValueError, match="--adopt"):
        grant_analyst(engine, role)
    assert not is_analyst_role(engine, role)
    grant_analyst(engine, role, adopt=True)
    assert is_analyst_role(engine, role)
    grant_analyst(engine, role)  # adopted once, it is grant-analyst's from now on


def test_a_created_role_is_marked_and_reused(warehouse):
    from safety_hub.warehouse.roles import grant_analyst
    from safety_hub.warehouse.access import is_analyst_role

    engine, created = warehouse
    role = _role(created, "sh_new_analyst")
    grant_analyst(engine, role)
    assert is_analyst_role(engine, role)
    grant_analyst(engine, role)


@pytest.mark.parametrize("attribute", ["SUPERUSER", "IN ROLE pg_read_all_data", "IN ROLE pg_read_server_files", "BYPASSRLS"])
def test_powerful_roles_are_refused_even_when_adopting(warehouse, attribute):
    from safety_hub.warehouse.roles import grant_analyst

    engine, created = warehouse
    role = _role(created, "sh_powerful")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN {attribute}'))
    with pytest.raises(ValueError, match="refused"):
        grant_analyst(engine, role, adopt=True)


def test_cli_adopts_only_when_told(warehouse, monkeypatch, capsys):
    from safety_hub.cli import main

    engine, created = warehouse
    role = _role(created, "sh_cli")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["warehouse", "grant-analyst", role]) == 2
    err = capsys.readouterr().err
    assert "--adopt" in err and len(err.strip().splitlines()) == 1
    assert main(["warehouse", "grant-analyst", role, "--adopt"]) == 0


# --- 8: personal columns added later stay hidden -----------------------------------------------


def _feeds_with_changes(target: Path) -> None:
    """The registry plus a schema change: two columns on 在建项目 (a table that had no personal
    column, so it used to be granted whole), one personal; and a new feed with its own table."""
    copy_registry(target)
    feed = edit_feed(target / "hcc_project.yaml", lambda feed: feed["columns"].extend(
        [{"source": "项目负责人电话", "name": "manager_phone", "personal": True}, {"source": "备注二", "name": "remark_two"}]))
    write_feed(target / "hcc_site_contact.yaml", site_contact_feed(feed))


def test_personal_columns_added_after_grant_analyst_stay_hidden(warehouse, tmp_path, monkeypatch):
    from safety_hub.warehouse.roles import grant_analyst
    from safety_hub.warehouse.engine import ensure_schema

    engine, created = warehouse
    role = _role(created, "sh_analyst_later")
    grant_analyst(engine, role)
    assert _as_role(engine, role, "SELECT COUNT(project_id) FROM fact_construction_project")[0][0] == 0

    _feeds_with_changes(tmp_path / "feeds")
    monkeypatch.setenv("SAFETY_HUB_FEEDS_DIR", str(tmp_path / "feeds"))
    ensure_schema(engine)  # the schema change (as a task or `warehouse migrate` makes it)

    _denied(engine, role, "SELECT manager_phone FROM fact_construction_project")
    _denied(engine, role, "SELECT * FROM fact_construction_project")
    _as_role(engine, role, "SELECT project_id, remark_two FROM fact_construction_project")
    _denied(engine, role, "SELECT manager_phone FROM fact_site_contact")
    _as_role(engine, role, "SELECT project_id, remark_two FROM fact_site_contact")
    _denied(engine, role, "SELECT * FROM load_audit")


def test_grants_are_column_level_only(warehouse):
    from safety_hub.warehouse.roles import grant_analyst

    engine, created = warehouse
    role = _role(created, "sh_analyst_cols")
    summary = grant_analyst(engine, role)
    assert "fact_construction_project" in summary["full"]
    with engine.connect() as conn:
        whole = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.role_table_grants WHERE grantee = :r AND privilege_type = 'SELECT'"), {"r": role}).scalars().all()
        columns = conn.execute(sa.text(
            "SELECT COUNT(*) FROM information_schema.column_privileges WHERE grantee = :r AND table_name = 'fact_construction_project'"), {"r": role}).scalar_one()
    # information_schema lists a table under role_table_grants only for a table-level grant
    assert whole == [] and columns > 0
