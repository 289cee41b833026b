"""The Airflow pools, declared once: the local Airflow, the native stack and compose's
``airflow-init`` (``python -m safety_hub pools``) all create them here.

- ``warehouse_writer``: the embedded DuckDB file admits one writing process, so 1 slot; a
  PostgreSQL warehouse takes concurrent loads (each feed run is one transaction on its own
  partition): ``SAFETY_HUB_WAREHOUSE_WRITER_SLOTS``, default 4.
- ``pool_<agency>``: extract slots per agency, ``pool_slots`` in ``include/feeds/_agencies.yaml``
  (a new agency gets its pool from the registry).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from safety_hub.config.registry import agencies
from safety_hub.config.settings import warehouse_url as configured_warehouse_url

WAREHOUSE_POOL = "warehouse_writer"
POSTGRES_WRITER_SLOTS = 4


def agency_pool(agency: str) -> str:
    return f"pool_{agency}"


@dataclass(frozen=True)
class PoolSpec:
    name: str
    slots: int
    description: str


def warehouse_writer_slots(warehouse_url: str | None) -> int:
    """1 for the embedded DuckDB file, else the configured slots; no URL: the configured warehouse."""
    if (warehouse_url or configured_warehouse_url()).startswith("duckdb"):
        return 1
    slots = int(os.environ.get("SAFETY_HUB_WAREHOUSE_WRITER_SLOTS", POSTGRES_WRITER_SLOTS))
    if slots < 1:
        raise ValueError(f"SAFETY_HUB_WAREHOUSE_WRITER_SLOTS must be at least 1, got {slots}")
    return slots


def pool_plan(warehouse_url: str | None = None, warehouse_slots: int | None = None) -> list[PoolSpec]:
    """Every pool the DAGs use, with its slots (``warehouse_slots`` overrides the URL's choice)."""
    slots = warehouse_slots if warehouse_slots is not None else warehouse_writer_slots(warehouse_url)
    what = "One writer at a time on the warehouse (DuckDB file)" if slots == 1 else "Concurrent warehouse loads (PostgreSQL)"
    plan = [PoolSpec(WAREHOUSE_POOL, slots, what)]
    plan += [PoolSpec(agency_pool(code), agency.pool_slots, f"Extract slots for {agency.name}")
             for code, agency in agencies().items()]
    return plan


def declare_pools(warehouse_url: str | None = None, warehouse_slots: int | None = None) -> list[PoolSpec]:
    """Create or update every pool of ``pool_plan`` in Airflow's metadata DB; returns the plan."""
    from airflow.models.pool import Pool

    plan = pool_plan(warehouse_url, warehouse_slots)
    for spec in plan:
        Pool.create_or_update_pool(spec.name, spec.slots, spec.description, include_deferred=False)
    return plan
