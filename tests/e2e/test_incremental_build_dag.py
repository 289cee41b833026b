"""The incremental build through Airflow (``dag.test()``): a load's Asset event carries the business
dates it touched in its ``extra``, and ``warehouse_build`` builds from the events it consumed.

``dag.test()`` creates a manual run; the scheduler's one step this test does itself is linking
the queued Asset events to the ``warehouse_build`` run it creates (``dagrun_asset_event``), as the
scheduler does for an Asset-triggered run.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import DAYS

pytestmark = pytest.mark.e2e
FEED = "emb_hazard"
DAY = DAYS[1]


@pytest.fixture
def isolated_hub(simulator, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return tmp_path


def test_the_load_event_carries_its_dates_and_warehouse_build_builds_from_them(isolated_hub):
    from airflow.models.asset import AssetEvent, AssetModel, association_table
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.settings import Session

    from safety_hub.config.registry import get_feed
    from safety_hub.ops.dagkit import asset_uri, logical_date_for
    from safety_hub_dev.localairflow import load_dags

    dags = load_dags()
    ingest = dags[f"ingest_{FEED}"].test(logical_date=logical_date_for(DAY), run_conf={"business_date": DAY.isoformat()})
    assert ingest.get_state() == "success"
    session = Session()
    event = session.scalars(sa.select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                            .where(AssetModel.uri == asset_uri(get_feed(FEED).target_table), AssetEvent.source_run_id == ingest.run_id)
                            ).one()
    assert event.extra == {"business_dates": [DAY.isoformat()]}

    def consume(mapper, connection, run):  # what the scheduler does for an Asset-triggered run
        if run.dag_id == "warehouse_build":
            connection.execute(association_table.insert().values(dag_run_id=run.id, event_id=event.id))

    sa.event.listen(DagRun, "after_insert", consume)
    try:
        build = dags["warehouse_build"].test()
    finally:
        sa.event.remove(DagRun, "after_insert", consume)
    assert build.get_state() == "success"
    row = session.scalars(XComModel.get_many(run_id=build.run_id, dag_ids="warehouse_build", task_ids="build_dimensions",
                                             key="return_value")).one()
    plan = XComModel.deserialize_value(row)
    assert plan["full"] is False and plan["touched"] == [DAY.isoformat()] and plan["since"] == DAY.isoformat()
