"""The Airflow pools are declared once (ops/pools.py) from the registry and the warehouse URL."""

from __future__ import annotations

import pytest
import yaml

from safety_hub.config.settings import PROJECT_DIR
from safety_hub.ops.pools import WAREHOUSE_POOL, pool_plan, warehouse_writer_slots


def _agency_slots() -> dict[str, int]:
    agencies = yaml.safe_load((PROJECT_DIR / "include" / "feeds" / "_agencies.yaml").read_text(encoding="utf-8"))
    return {f"pool_{code}": agency["pool_slots"] for code, agency in agencies.items()}


@pytest.mark.parametrize("url", [None, "", "duckdb:////tmp/w.duckdb"])
def test_the_embedded_warehouse_has_one_writer(url):
    assert warehouse_writer_slots(url) == 1


def test_postgresql_takes_concurrent_loads_as_configured(monkeypatch):
    url = "postgresql+psycopg2://task@127.0.0.1/warehouse"
    monkeypatch.delenv("SAFETY_HUB_WAREHOUSE_WRITER_SLOTS", raising=False)
    assert warehouse_writer_slots(url) == 4
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_WRITER_SLOTS", "6")
    assert warehouse_writer_slots(url) == 6
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_WRITER_SLOTS", "0")
    with pytest.raises(ValueError, match="SAFETY_HUB_WAREHOUSE_WRITER_SLOTS"):
        warehouse_writer_slots(url)


def test_one_extract_pool_per_registered_agency_and_the_writer_pool():
    plan = {spec.name: spec.slots for spec in pool_plan("duckdb:///x.duckdb")}
    assert plan.pop(WAREHOUSE_POOL) == 1
    assert plan == _agency_slots()
    assert {s.name: s.slots for s in pool_plan("postgresql://x/y", warehouse_slots=3)}[WAREHOUSE_POOL] == 3
