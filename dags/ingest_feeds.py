"""One ingest DAG per registered feed: extract -> land -> validate -> load.

Generated from ``include/feeds/*.yaml``; adding a feed is adding a YAML file.
Reading the registry is the only work done at parse time.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from safety_hub.ops.dagkit import WAREHOUSE_POOL, agency_pool, asset_uri, business_date, TOUCHED_KEY, on_failure, on_run_failure
from safety_hub.config.registry import agencies, load_registry
from safety_hub.config.settings import BUSINESS_TZ, business_tz
from safety_hub.ingest.kinds import kind_of

DOC = """
### Ingest `{feed_id}` — {title}

{description}

* Agency: **{agency}**; delivery: `{kind}` via connection `{conn_id}`.
* Runs at `{schedule}` ({tz}) for the previous business day; set the `business_date`
  param to (re)ingest any day. Re-running a day replaces that day.
* Raw: `data/raw/{feed_id}/dt=<date>/`; rejected rows: table `quarantine`, and returned to the
  agency as a 退回清单 workbook in its outbox (task `return_rejections`, also after a failed validate);
  loaded rows: table `{table}`; one row per run in `load_audit`.
* Lineage: every task reports its datasets to OpenLineage (`safety_hub/ops/lineage.py`).
* The load's Asset event (`{table}`) carries the business dates it touched in its `extra`
  (`business_dates`: the day, and, for a fact table the marts read, the days of the stored rows it superseded); `warehouse_build` recomputes from the earliest.
"""


def build_ingest_dag(feed, agency_name: str):
    """The feed's DAG; its delivery kind (``ingest/kinds/``) sets the retries, the extract's
    timeout and the sensor, if any, that waits for the delivery before the extract."""
    kind = kind_of(feed)
    wait = kind.wait(feed)

    @dag(
        dag_id=f"ingest_{feed.feed_id}",
        schedule=CronDataIntervalTimetable(feed.schedule, timezone=BUSINESS_TZ),
        start_date=dt.datetime.fromisoformat(feed.start_date).replace(tzinfo=business_tz()),
        catchup=False,
        max_active_runs=1,
        tags=["ingest", feed.agency, kind.name],
        doc_md=DOC.format(
            feed_id=feed.feed_id, title=feed.title, description=feed.description.strip(), agency=agency_name,
            kind=kind.name, conn_id=feed.delivery.conn_id, schedule=feed.schedule, tz=BUSINESS_TZ, table=feed.target_table,
        ),
        params={
            "business_date": Param(None, type=["null", "string"], format="date", description="YYYY-MM-DD to (re)ingest"),
            "force": Param(False, type="boolean", description="process a dropped file even if its sha256 was already loaded"),
        },
        on_failure_callback=on_run_failure,  # one rolled-up alert per failed run
        default_args={
            "owner": feed.owner,
            "retries": kind.retries,
            "retry_delay": kind.retry_delay,
            "retry_exponential_backoff": True,
            "on_failure_callback": on_failure,
        },
    )
    def ingest():
        feed_id = feed.feed_id

        @task(pool=agency_pool(feed.agency), execution_timeout=kind.extract_timeout)
        def extract(**context) -> dict:
            from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

            from safety_hub.domain.errors import DeliveryRefused, DuplicateDelivery
            from safety_hub.pipeline import run_extract

            from safety_hub.ops.lineage import report

            day = business_date(context)
            try:
                result = run_extract(feed_id, day, context["run_id"], force=bool(context["params"].get("force")))
            except DuplicateDelivery as exc:
                raise AirflowSkipException(str(exc)) from None
            except DeliveryRefused as exc:  # the same delivery is refused the same way on a retry: fail now
                raise AirflowFailException(str(exc)) from None
            report("extract", feed_id, day, result)  # OpenLineage: agency source -> raw partition
            return result

        @task(retries=0)
        def land(extracted: dict, **context) -> dict:
            from safety_hub.ops.lineage import report
            from safety_hub.pipeline import run_land

            day = business_date(context)
            result = run_land(feed_id, day)
            report("land", feed_id, day, result)
            return result

        @task(pool=WAREHOUSE_POOL, retries=0)
        def validate(landed: dict, **context) -> dict:
            from safety_hub.ops.lineage import report
            from safety_hub.pipeline import run_validate

            day = business_date(context)
            result = run_validate(feed_id, day, context["run_id"])
            report("validate", feed_id, day, result)
            return result

        fact_asset = Asset(asset_uri(feed.target_table))

        @task(pool=WAREHOUSE_POOL, outlets=[fact_asset])
        def load(validated: dict, **context) -> dict:
            from safety_hub.ops.lineage import report
            from safety_hub.pipeline import run_load

            day = business_date(context)
            result = run_load(feed_id, day, context["run_id"])
            report("load", feed_id, day, result)  # OpenLineage: validated batch -> warehouse table
            # The business dates whose stored rows changed: warehouse_build recomputes from the earliest.
            context["outlet_events"][fact_asset].extra = {TOUCHED_KEY: result["business_dates"]}
            return result

        @task(retries=0, trigger_rule="all_done")
        def return_rejections(**context) -> dict:
            """The batch's 退回清单 to its agency's outbox, announced on the alerts connection (also after a failed validate)."""
            from airflow.sdk.exceptions import AirflowSkipException

            from safety_hub.config.registry import agencies
            from safety_hub.domain.errors import FeedError
            from safety_hub.ops.alerts import deliver, returned_rows_alert
            from safety_hub.pipeline import run_returns

            day = business_date(context)
            try:
                result = run_returns(feed_id, day, context["run_id"])
            except FeedError as exc:  # land or validate did not stage this batch
                raise AirflowSkipException(str(exc)) from None
            if result["path"]:
                deliver(returned_rows_alert(feed.title, agencies()[feed.agency].name, day, context["run_id"], result))
            return result

        extracted = extract()
        if wait is not None:
            # Wait for the delivery (a complete file) without holding a worker slot between pokes.
            @task.sensor(task_id=wait.task_id, poke_interval=wait.poke_interval, timeout=wait.timeout, mode="reschedule", retries=0)
            def wait_for_delivery(**context) -> bool:
                return wait.ready(feed, business_date(context))

            wait_for_delivery() >> extracted
        validated = validate(land(extracted))
        load(validated)
        validated >> return_rejections()

    return ingest()


_agencies = agencies()
for _feed in load_registry().values():
    globals()[f"ingest_{_feed.feed_id}"] = build_ingest_dag(_feed, _agencies[_feed.agency].name)
