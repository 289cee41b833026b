"""OpenLineage events of the session's pipeline run (the real DAGs through ``dag.test()``).

conftest configures the provider's file transport (``localairflow.airflow_env``): every
event is a JSON file in ``<hub-duckdb>/openlineage/``, for both backends' runs. The events
are read back as a lineage consumer would: the events of one run (same ``runId``: START,
the RUNNING event with the task's datasets, COMPLETE) merged into one.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from conftest import DAYS
from safety_hub.ops import lineage
from safety_hub.config.connections import ConnectionInfo
from safety_hub.config.registry import load_registry

pytestmark = pytest.mark.e2e
FEEDS = load_registry()


@dataclass
class TaskRun:
    """Every event of one OpenLineage run (one task try), merged."""

    job: str
    types: set[str] = field(default_factory=set)
    inputs: set[tuple[str, str]] = field(default_factory=set)
    outputs: set[tuple[str, str]] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)

    @property
    def feed_id(self) -> str:
        return self.job.split(".")[0].removeprefix("ingest_")


@pytest.fixture(scope="module")
def task_runs(run) -> dict[str, TaskRun]:
    path = lineage.events_path()
    assert path is not None, "the tests configure the file transport (localairflow.airflow_env)"
    events = lineage.read_events(path)
    assert events, f"no OpenLineage event in {path.parent}"
    runs: dict[str, TaskRun] = {}
    for e in events:
        if e["job"]["namespace"] != lineage.JOB_NAMESPACE or "." not in e["job"]["name"]:
            continue  # DAG-level events
        r = runs.setdefault(e["run"]["runId"], TaskRun(e["job"]["name"]))
        r.types.add(e["eventType"])
        r.inputs |= {(d["namespace"], d["name"]) for d in e.get("inputs") or []}
        r.outputs |= {(d["namespace"], d["name"]) for d in e.get("outputs") or []}
        if parent := e["run"]["facets"].get("parent"):
            r.parents.add(parent["job"]["name"])
    return runs


def connection(conn_id: str) -> ConnectionInfo:
    """The feed's connection as the tasks saw it (``AIRFLOW_CONN_<ID>``, set for the simulator)."""
    data = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    return ConnectionInfo(conn_id, data.get("host"), data.get("password"), data.get("extra") or {})


def sources(feed_id: str) -> set[tuple[str, str]]:
    feed = FEEDS[feed_id]
    return {lineage.source_dataset(feed, connection(feed.delivery.conn_id), day).key for day in DAYS}


def task_run(task_runs, job: str, *, reads=None, writes=None) -> TaskRun:
    """The one run of ``job`` that read ``reads`` / wrote ``writes`` in this pipeline run."""
    found = [r for r in task_runs.values() if r.job == job and (reads is None or reads in r.inputs) and (writes is None or writes in r.outputs)]
    assert found, f"no OpenLineage run of {job} reading {reads} / writing {writes}"
    return found[-1]


@pytest.mark.parametrize("feed_id", sorted(FEEDS))
def test_extract_reads_the_agency_source_and_writes_the_raw_landing(run, task_runs, feed_id):
    feed = FEEDS[feed_id]
    for day in DAYS:
        raw = lineage.file_dataset(lineage.raw_partition(feed_id, day)).key  # under this run's SAFETY_HUB_HOME
        r = task_run(task_runs, f"ingest_{feed_id}.extract", writes=raw)
        assert lineage.source_dataset(feed, connection(feed.delivery.conn_id), day).key in r.inputs
        assert {"START", "RUNNING", "COMPLETE"} <= r.types and "FAIL" not in r.types, r.types
        assert r.parents == {f"ingest_{feed_id}"}, "the task's events hang off its DAG run"


@pytest.mark.parametrize("feed_id", sorted(FEEDS))
def test_load_reads_the_validated_batch_and_writes_the_warehouse_table(run, task_runs, feed_id):
    feed = FEEDS[feed_id]
    target = lineage.warehouse_dataset(feed.target_table, run.warehouse_url).key
    assert target[0] == lineage.sql_namespace(run.warehouse_url)[0]
    assert target[0].startswith("duckdb:///" if run.backend == "duckdb" else "postgres://")
    assert target[1].endswith(f".{lineage.sql_namespace(run.warehouse_url)[2]}.{feed.target_table}")
    for day in DAYS:
        r = task_run(task_runs, f"ingest_{feed_id}.load", reads=lineage.file_dataset(lineage.staged_batch(feed_id, day)).key)
        assert target in r.outputs
        assert {"START", "RUNNING", "COMPLETE"} <= r.types and "FAIL" not in r.types, r.types


def trace(task_runs, dataset: tuple[str, str]) -> tuple[set[str], set[tuple[str, str]]]:
    """Follow the events upstream from ``dataset``: the jobs that led to it and the datasets no job wrote."""
    producers = defaultdict(list)
    for r in task_runs.values():
        for out in r.outputs:
            producers[out].append(r)
    jobs, origins, seen, todo = set(), set(), set(), [dataset]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        if not producers[d]:
            origins.add(d)
        for r in producers[d]:
            jobs.add(r.job)
            todo.extend(r.inputs)
    return jobs, origins


@pytest.mark.parametrize("table", ["fact_hazard", "fact_construction_project", "hazard_version"])
def test_a_warehouse_table_traces_back_to_its_feeds(run, task_runs, table):
    expected_feeds = {f for f, feed in FEEDS.items() if feed.target_table == table or (table == "hazard_version" and feed.lifecycle)}
    assert expected_feeds
    jobs, origins = trace(task_runs, lineage.warehouse_dataset(table, run.warehouse_url).key)
    assert {j.split(".")[0].removeprefix("ingest_") for j in jobs} == expected_feeds
    assert {j.split(".")[1] for j in jobs} == {"extract", "land", "validate", "load"}, "one chain of datasets through every stage"
    expected_sources = set().union(*(sources(f) for f in expected_feeds))
    assert expected_sources <= origins, "every day's source of every feed is reached"
    extract_inputs = set().union(*(r.inputs for r in task_runs.values() if r.job.endswith(".extract")))
    assert origins <= extract_inputs, f"the trace ends only at agency sources: {origins - extract_inputs}"


def test_fact_hazard_comes_from_the_emb_api(run, task_runs):
    """The worked example of README "Lineage"."""
    _, origins = trace(task_runs, lineage.warehouse_dataset("fact_hazard", run.warehouse_url).key)
    (namespace, name), = origins
    assert name == "api/v1/hazards" and namespace == connection("emb_api").host.rstrip("/")
