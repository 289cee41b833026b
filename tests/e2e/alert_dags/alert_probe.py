"""A DAG that fails the way the project's DAGs do, wired with the project's callbacks
(``dagkit.on_failure`` on every task, ``dagkit.on_run_failure`` on the DAG): a quality breach,
two mapped instances failing with their feed as map index, a task that never runs because of
them, and one that succeeds. Run by ``tests/e2e/test_alert_scheduler.py`` under a real scheduler."""

from __future__ import annotations

from airflow.sdk import dag, task

from safety_hub.ops.dagkit import on_failure, on_run_failure


@dag(dag_id="alert_probe", schedule=None, catchup=False, on_failure_callback=on_run_failure, tags=["alerts"],
     default_args={"owner": "data-engineering", "retries": 0, "on_failure_callback": on_failure})
def alert_probe():
    @task
    def extract() -> list[str]:
        return ["emb_hazard", "hcc_project"]

    @task
    def validate() -> None:
        from safety_hub.domain.errors import FeedQualityError

        raise FeedQualityError("feed emb_hazard 2026-11-20: 50/100 rows invalid (50.0% > threshold 30%); nothing loaded <b>")

    @task(map_index_template="{{ feed }}")
    def check(feed: str) -> None:
        from airflow.sdk import get_current_context

        get_current_context()["feed"] = feed
        raise ValueError(f"feed {feed}: page 3: HTTP 500")

    @task
    def load() -> None:
        pass

    feeds = extract()
    [validate(), check.expand(feed=feeds)] >> load()


alert_probe()
