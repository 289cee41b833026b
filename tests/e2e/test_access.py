"""The analyst role on PostgreSQL sees core and marts, not the audit layer or personal columns."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from safety_hub.warehouse.roles import grant_analyst

pytestmark = pytest.mark.e2e


@pytest.fixture()
def analyst(postgres_run):
    role = f"analyst_test_{os.getpid()}"
    engine = postgres_run.engine()
    summary = grant_analyst(engine, role)
    grant_analyst(engine, role)  # idempotent
    yield engine, role, summary
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))


def as_role(engine, role: str, sql: str):
    with engine.connect() as conn:
        conn.execute(sa.text(f"SET ROLE {role}"))
        try:
            return conn.execute(sa.text(sql)).fetchall()
        finally:
            conn.rollback()


def test_analyst_reads_core_and_marts(analyst):
    engine, role, summary = analyst
    assert "fact_hazard" in summary["without_personal"] and "dim_enterprise" in summary["full"] and "mart_district_hazard" in summary["full"]
    assert as_role(engine, role, "SELECT COUNT(*) FROM fact_enforcement")[0][0] > 0
    assert as_role(engine, role, "SELECT COUNT(*) FROM mart_district_hazard")[0][0] > 0
    assert as_role(engine, role, "SELECT COUNT(*) FROM fact_hazard WHERE uscc IS NOT NULL")[0][0] > 0


@pytest.mark.parametrize("sql", [
    "SELECT COUNT(*) FROM quarantine",
    "SELECT COUNT(*) FROM load_audit",
    "SELECT owner FROM fact_hazard",            # 责任人: a named person
    "SELECT driver_cert FROM fact_dg_waybill",
    "SELECT * FROM fact_hazard",                 # * includes the personal column
])
def test_analyst_is_denied_audit_tables_and_personal_columns(analyst, sql):
    engine, role, _ = analyst
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        as_role(engine, role, sql)
