"""The local Airflow's pools are exactly the declared plan (ops/pools.py), with 1 writer slot."""

from __future__ import annotations

from safety_hub.ops.pools import pool_plan


def test_local_airflow_has_the_declared_pools(airflow_db):
    from airflow.models.pool import Pool

    for spec in pool_plan(warehouse_slots=1):
        pool = Pool.get_pool(spec.name)
        assert pool is not None, f"pool {spec.name} missing from the local Airflow"
        assert pool.slots == spec.slots, f"{spec.name}: {pool.slots} slots, declared {spec.slots}"
