"""OpenLineage for the ingest tasks: the datasets each stage reads and writes.

Airflow's OpenLineage provider (``apache-airflow-providers-openlineage``) emits a START
and a COMPLETE (or FAIL) event for every task by itself, from its listener in the task
process (under the scheduler's workers and ``dag.test()`` alike). For a ``@task`` it finds no extractor, no hook lineage it can
translate (Airflow assets convert to OpenLineage only for schemes a provider registers,
none of them ``duckdb``, ``sqlite`` or ``http``) and no inlets/outlets, so those events
carry no datasets. Each ingest task therefore reports its own datasets through the
provider's public API, ``airflow.providers.openlineage.api.emit_dataset_lineage``: one
RUNNING event with the same run id, job name (``<dag_id>.<task_id>``) and parent DAG run
as the task's START and COMPLETE events. A consumer (Marquez, or ``read_events`` here)
merges the datasets of every event of a run.

    extract   agency source (API endpoint / dropped file / agency table) -> raw partition
    land      raw partition -> records.parquet
    validate  records.parquet -> staged valid.parquet (and the batch's quality records beside it)
    load      staged valid.parquet -> fact table (+ hazard_version, snapshot_deletion), quarantine,
              quality_flag, validation_result (+ snapshot_member, + report_receipt), load_audit: one transaction

Dataset names follow https://openlineage.io/docs/spec/naming (``ingest/datasets.py``); what
an extract reads is named by the feed's delivery kind (``ingest/kinds/<kind>.py``, ``source``).

Reporting lineage never fails a task: every error is logged and swallowed. Nothing here
imports Airflow, OpenLineage or SQLAlchemy at module level (DAG files stay fast to parse).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from safety_hub.config import settings
from safety_hub.ingest.datasets import DatasetRef, api_dataset, file_dataset, sql_namespace, sql_table_dataset  # noqa: F401  (named here too)
from safety_hub.ingest.kinds import get_kind

log = logging.getLogger(__name__)

JOB_NAMESPACE = "safety_hub"  # [openlineage] namespace: the namespace of every job (DAG and task)
EVENTS_DIR = "openlineage"  # under SAFETY_HUB_HOME/data (git-ignored, `make clean`): the default file transport's folder
TRANSPORT_TYPE = "safety_hub.ops.lineage_files.EventFileTransport"  # the default transport's class (lineage_files.TYPE)
EVENTS_PREFIX = "events"  # one file per event: events-<timestamp>-<pid>-<random>.json

# ---------------------------------------------------------------------------------------------
# The datasets of a feed (pure, given the feed, its connection and the stage's results)


def raw_partition(feed_id: str, day: dt.date) -> Path:
    """``data/raw/<feed>/dt=<date>/`` (``landing.partition_dir``; this module stays free of pandas)."""
    return settings.raw_dir() / feed_id / f"dt={day.isoformat()}"


def staged_batch(feed_id: str, day: dt.date) -> Path:
    """The validated batch ``data/staging/<feed>/dt=<date>/valid.parquet`` (``pipeline.staging_partition``)."""
    return settings.staging_dir() / feed_id / f"dt={day.isoformat()}" / "valid.parquet"


def source_dataset(feed, conn, day: dt.date) -> DatasetRef:
    """What the feed's extract reads, as its delivery kind names it (``ingest/kinds/``); ``conn`` is the
    feed's connection (``connections.ConnectionInfo``). A dropped file is named where the agency drops
    it, also when a rerun reads the copy moved to ``_archive/``.
    """
    d = feed.delivery
    return get_kind(d.kind).source(feed, conn, day, description=f"{feed.title} ({feed.agency}, {d.kind})")


def warehouse_dataset(table: str, url: str | None = None, with_schema: bool = False, **facets) -> DatasetRef:
    """A warehouse table, named from the warehouse URL (``SAFETY_HUB_WAREHOUSE_URL``)."""
    if with_schema:
        facets.setdefault("fields", table_fields(table))
    return sql_table_dataset(url or settings.warehouse_url(), table, **facets)


def table_fields(table: str) -> tuple[tuple[str, str, str | None], ...]:
    """(column, type, comment) of a warehouse table, from the model (``warehouse.schema``)."""
    from safety_hub.warehouse.schema import build_metadata

    t = build_metadata().tables.get(table)
    return tuple((c.name, str(c.type), c.comment) for c in t.columns) if t is not None else ()


def extract_lineage(feed, conn, day: dt.date, sidecar: dict) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """extract: the agency source -> the raw landing partition (its original files)."""
    files = sidecar.get("files") or []
    raw = file_dataset(raw_partition(feed.feed_id, day), description=f"raw landing of {feed.feed_id}, as delivered",
                       size=sum(int(f.get("bytes") or 0) for f in files), files=len(files))
    return [source_dataset(feed, conn, day)], [raw]


def land_lineage(feed, day: dt.date, rows: int | None = None) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """land: the raw partition -> its parsed ``records.parquet``."""
    part = raw_partition(feed.feed_id, day)
    return [file_dataset(part)], [file_dataset(part / "records.parquet", rows=rows)]


def validate_lineage(feed, day: dt.date, summary: dict | None = None, url: str | None = None) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """validate: ``records.parquet`` -> the validated batch (its quality records are staged beside it; the load writes them)."""
    summary = summary or {}
    outputs = [file_dataset(staged_batch(feed.feed_id, day), description=f"validated batch of {feed.feed_id}", rows=summary.get("valid"))]
    return [file_dataset(raw_partition(feed.feed_id, day) / "records.parquet")], outputs


def load_lineage(feed, day: dt.date, result: dict | None = None, url: str | None = None,
                 with_schema: bool = False) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """load: the validated batch -> the feed's fact table (first output), its history tables, the batch's
    quality records (written in the same transaction), load_audit."""
    result = result or {}
    target = warehouse_dataset(feed.target_table, url, with_schema=with_schema, description=f"{feed.title} ({feed.feed_id})",
                               rows=result.get("loaded"))
    outputs = [target]
    if feed.lifecycle is not None:
        outputs.append(warehouse_dataset("hazard_version", url))
    outputs.append(warehouse_dataset("quarantine", url, rows=result.get("quarantined")))
    outputs += [warehouse_dataset(t, url) for t in ("quality_flag", "validation_result")]
    if feed.mode == "snapshot":
        outputs += [warehouse_dataset("snapshot_member", url), warehouse_dataset("snapshot_deletion", url)]
    if feed.reporters is not None:
        outputs.append(warehouse_dataset("report_receipt", url))
    outputs.append(warehouse_dataset("load_audit", url))
    return [file_dataset(staged_batch(feed.feed_id, day), description=f"validated batch of {feed.feed_id}")], outputs


# ---------------------------------------------------------------------------------------------
# Emission (inside a running task)


def report(stage: str, feed_id: str, day: dt.date, result: dict | None = None) -> bool:
    """Report the datasets of one ingest task (``stage``: extract, land, validate, load) for ``feed_id``.

    Called at the end of the task, with what the stage returned. Returns whether an event
    was handed to OpenLineage (False when the provider is missing or not configured);
    never raises.
    """
    try:
        if not active():
            return False
        from safety_hub.config.registry import get_feed

        feed = get_feed(feed_id)
        if stage == "extract":
            from safety_hub.config.connections import get_connection

            # The delivery lands as the day's pending partition; the dataset is the partition it becomes.
            landed = Path((result or {}).get("raw_dir") or raw_partition(feed_id, day))
            sidecar = json.loads((landed / "_sidecar.json").read_text(encoding="utf-8"))
            inputs, outputs = extract_lineage(feed, get_connection(feed.delivery.conn_id), day, sidecar)
        elif stage == "land":
            inputs, outputs = land_lineage(feed, day, (result or {}).get("rows"))
        elif stage == "validate":
            inputs, outputs = validate_lineage(feed, day, result)
        elif stage == "load":
            inputs, outputs = load_lineage(feed, day, result, with_schema=True)
        else:
            raise ValueError(f"unknown stage {stage!r}")
        return emit(inputs, outputs)
    except Exception as exc:  # lineage must never fail an ingest
        log.warning("OpenLineage: could not report %s lineage of %s %s: %s", stage, feed_id, day, exc, exc_info=True)
        return False


def active() -> bool:
    """Whether the OpenLineage provider is installed, configured and listening."""
    try:
        from airflow.providers.openlineage.api import is_openlineage_active
    except ImportError:
        return False
    return is_openlineage_active()


def emit(inputs: Iterable[DatasetRef], outputs: Iterable[DatasetRef]) -> bool:
    """One RUNNING event for the current task with these datasets (the provider's public API)."""
    from airflow.providers.openlineage.api import emit_dataset_lineage

    emit_dataset_lineage(inputs=[to_openlineage(d, output=False) for d in inputs],
                         outputs=[to_openlineage(d, output=True) for d in outputs])
    return True


def to_openlineage(ref: DatasetRef, output: bool):
    """The OpenLineage ``InputDataset`` / ``OutputDataset`` of ``ref``, with its facets."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import documentation_dataset, output_statistics_output_dataset, schema_dataset

    facets = {}
    if ref.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(description=ref.description)
    if ref.fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=n, type=t, description=c) for n, t, c in ref.fields
        ])
    if not output:
        return InputDataset(namespace=ref.namespace, name=ref.name, facets=facets)
    stats = {}
    if (ref.rows, ref.size, ref.files) != (None, None, None):
        stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=ref.rows, size=ref.size, fileCount=ref.files)
    return OutputDataset(namespace=ref.namespace, name=ref.name, facets=facets, outputFacets=stats)


# ---------------------------------------------------------------------------------------------
# Reading the file transport's events (tests, troubleshooting)


def file_transport(home: str | os.PathLike | None = None) -> dict:
    """The default transport (``AIRFLOW__OPENLINEAGE__TRANSPORT``): one JSON file per event in
    ``<SAFETY_HUB_HOME>/data/openlineage/``, written by ``lineage_files.EventFileTransport`` (unique
    names, whole files: many Celery workers write there at once; it creates the folder)."""
    folder = Path(home if home is not None else settings.home()).absolute() / "data" / EVENTS_DIR
    return {"type": TRANSPORT_TYPE, "log_file_path": str(folder / EVENTS_PREFIX)}


def airflow_settings(home: str | os.PathLike | None = None) -> dict[str, str]:
    """The provider's settings for every Airflow process (local Airflow, the native stack; compose
    sets the same): the jobs' namespace, the file transport under ``home``, and events sent from a
    thread of the task process (the default forks it, which a hung backend can leave stuck)."""
    return {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": JOB_NAMESPACE,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(file_transport(home)),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "true",
    }


def events_path(transport: str | dict | None = None) -> Path | None:
    """Where a file transport writes (default: ``AIRFLOW__OPENLINEAGE__TRANSPORT``); None for other transports.

    Without ``append`` the transport writes one file per event, ``<log_file_path>-<timestamp>.json``.
    """
    if transport is None:
        transport = os.environ.get("AIRFLOW__OPENLINEAGE__TRANSPORT") or "{}"
    config = json.loads(transport) if isinstance(transport, str) else transport
    if config.get("type") not in ("file", TRANSPORT_TYPE) or not config.get("log_file_path"):
        return None
    path = str(config["log_file_path"])
    for prefix in ("local://", "file://"):
        path = path.removeprefix(prefix)
    return Path(path)


def read_events(log_file_path: str | os.PathLike) -> list[dict]:
    """Every event a file transport wrote for ``log_file_path`` (one file per event, or one appended file), by time."""
    path = Path(log_file_path)
    events = []
    for f in sorted(path.parent.glob(f"{path.name}*")) if path.parent.is_dir() else []:
        text = f.read_text(encoding="utf-8")
        try:
            events.append(json.loads(text))  # one event per file (pretty-printed in debug_mode)
        except json.JSONDecodeError:
            for number, line in enumerate(text.splitlines(), start=1):  # append mode: JSON lines
                try:
                    events.extend([json.loads(line)] if line.strip() else [])
                except json.JSONDecodeError as error:
                    raise ValueError(f"OpenLineage event file {f} is not JSON (line {number}: {error.msg})") from error
    return sorted(events, key=lambda e: e.get("eventTime", ""))
