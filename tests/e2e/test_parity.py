"""DuckDB and PostgreSQL hold the same warehouse, row for row.

Both session runs load the same simulated days through the same DAGs; every
core table (facts, conformed dimensions), the marts and the quarantine are
compared after normalising values each driver returns in its own Python type
(Decimal vs float, date vs Timestamp). Columns that name the run rather than
the data (load times, the landing path, the Airflow run id) are left out.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub.warehouse.schema import build_metadata, table_layer

pytestmark = pytest.mark.e2e
RUN_COLUMNS = {"batch_id", "raw_file", "loaded_at", "quarantined_at", "validated_at"}
MODEL = build_metadata()
COMPARED = sorted(t.name for t in MODEL.sorted_tables if table_layer(t) in ("core", "marts")) + ["quarantine"]


def _value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (decimal.Decimal, float)):
        return round(float(v), 6)
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.timezone.utc) if v.tzinfo else v).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def rows(run, table: sa.Table) -> list[tuple]:
    cols = [c.name for c in table.columns if c.name not in RUN_COLUMNS]
    with run.engine().connect() as conn:
        result = conn.execute(sa.select(*[table.c[c] for c in cols]))
        return sorted((tuple(_value(v) for v in r) for r in result), key=repr)


@pytest.mark.parametrize("table_name", COMPARED)
def test_duckdb_and_postgres_hold_identical_tables(duckdb_warehouse, postgres_run, table_name):
    table = MODEL.tables[table_name]
    duck, pg = rows(duckdb_warehouse, table), rows(postgres_run, table)
    assert duck, f"{table_name} is empty: nothing was compared"
    only_duck, only_pg = set(duck) - set(pg), set(pg) - set(duck)
    assert len(duck) == len(pg) and not only_duck and not only_pg, (
        f"{table_name}: {len(duck)} rows on DuckDB, {len(pg)} on PostgreSQL; "
        f"only on DuckDB {sorted(only_duck, key=repr)[:3]}, only on PostgreSQL {sorted(only_pg, key=repr)[:3]}")
