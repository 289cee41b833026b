"""OpenLineage dataset naming and configuration (``safety_hub.ops.lineage``), without running a DAG."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from safety_hub.ops import lineage
from safety_hub.config.connections import ConnectionInfo
from safety_hub.ops.lineage import DatasetRef, api_dataset, file_dataset, sql_namespace, sql_table_dataset, warehouse_dataset
from safety_hub.config.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
FEEDS = load_registry()
DAY = dt.date(2026, 11, 2)


@pytest.mark.parametrize("url,expected", [
    ("postgresql+psycopg2://airflow:s3cret@postgres/warehouse", ("postgres://postgres:5432", "warehouse", "public")),
    ("postgresql://u:p@db.example.cn:6543/wh", ("postgres://db.example.cn:6543", "wh", "public")),
    ("postgresql+psycopg://u@127.0.0.1/wh?options=-csearch_path%3Dcore,public", ("postgres://127.0.0.1:5432", "wh", "core")),
    ("duckdb:////srv/hub/data/warehouse.duckdb", ("duckdb:///srv/hub/data/warehouse.duckdb", "warehouse", "main")),
    ("duckdb:///:memory:", ("duckdb://:memory:", "memory", "main")),
    ("sqlite:////srv/drop/tc/tc_agency.sqlite", ("sqlite:///srv/drop/tc/tc_agency.sqlite", "tc_agency", "main")),
    ("mysql+pymysql://u:p@agency-db/gas", ("mysql://agency-db:3306", "gas", "")),
])
def test_sql_namespace_follows_openlineage_naming_without_credentials(url, expected):
    assert sql_namespace(url) == expected
    assert "s3cret" not in sql_namespace(url)[0] and "@" not in sql_namespace(url)[0]


def test_a_relative_database_file_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sql_namespace("duckdb:///data/warehouse.duckdb")[0] == f"duckdb://{tmp_path}/data/warehouse.duckdb"


def test_warehouse_tables_are_database_schema_table():
    pg = warehouse_dataset("fact_hazard", "postgresql+psycopg2://airflow:pw@postgres:5432/warehouse")
    assert (pg.namespace, pg.name) == ("postgres://postgres:5432", "warehouse.public.fact_hazard")
    duck = warehouse_dataset("fact_hazard", "duckdb:////srv/hub/data/warehouse.duckdb")
    assert (duck.namespace, duck.name) == ("duckdb:///srv/hub/data/warehouse.duckdb", "warehouse.main.fact_hazard")
    assert sql_table_dataset("mysql://h/gas", "t_rqjc").name == "gas.t_rqjc"
    assert sql_table_dataset("postgresql://h/db", "audit.load_audit").name == "db.audit.load_audit"


def test_the_configured_warehouse_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path}/wh.duckdb")
    assert warehouse_dataset("load_audit") == DatasetRef(f"duckdb://{tmp_path}/wh.duckdb", "wh.main.load_audit")


def test_warehouse_schema_facet_comes_from_the_model():
    fields = dict((n, t) for n, t, _ in warehouse_dataset("fact_hazard", "duckdb:///w.duckdb", with_schema=True).fields)
    assert fields["uscc"] == "VARCHAR(18)" and {"hazard_id", "batch_id", "business_date"} <= set(fields)


@pytest.mark.parametrize("base,endpoint,expected", [
    ("http://127.0.0.1:8765", "/api/v1/hazards", ("http://127.0.0.1:8765", "api/v1/hazards")),
    ("https://user:token@emb.tj.gov.cn/", "/api/v1/hazards", ("https://emb.tj.gov.cn", "api/v1/hazards")),
    ("https://emb.tj.gov.cn/gateway?key=secret", "", ("https://emb.tj.gov.cn", "gateway")),
])
def test_api_dataset_is_scheme_host_port_and_path(base, endpoint, expected):
    assert api_dataset(base, endpoint).key == expected


def test_api_dataset_needs_an_absolute_url():
    with pytest.raises(ValueError):
        api_dataset("emb-api-host", "/api/v1/hazards")


def test_file_dataset_is_namespace_file_and_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert file_dataset("drop/hcc/../hcc/在建项目_20261102.csv").key == ("file", f"{tmp_path}/drop/hcc/在建项目_20261102.csv")


def _connection(feed, tmp_path: Path) -> ConnectionInfo:
    kind = feed.delivery.kind
    if kind == "rest_api":
        return ConnectionInfo(feed.delivery.conn_id, host="https://api.example.cn:8443", password="token")
    if kind == "file_drop":
        return ConnectionInfo(feed.delivery.conn_id, extra={"path": str(tmp_path / "drop" / feed.agency)})
    return ConnectionInfo(feed.delivery.conn_id, extra={"url": f"sqlite:///{tmp_path}/db/{feed.agency}.sqlite"})


@pytest.mark.parametrize("feed_id", sorted(FEEDS))
def test_every_feed_has_a_source_raw_batch_and_target(feed_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "hub"))
    feed = FEEDS[feed_id]
    url = "postgresql+psycopg2://airflow:pw@postgres/warehouse"
    sidecar = {"files": [{"name": "a", "bytes": 10}, {"name": "b", "bytes": 5}]}
    (source,), (raw,) = lineage.extract_lineage(feed, _connection(feed, tmp_path), DAY, sidecar)
    (batch,), outputs = lineage.load_lineage(feed, DAY, {"loaded": 7}, url=url)
    d = feed.delivery
    if d.kind == "rest_api":
        assert source.key == ("https://api.example.cn:8443", d.endpoint.strip("/"))
    elif d.kind == "file_drop":
        assert source.key == ("file", str(tmp_path / "drop" / feed.agency / d.pattern.format(date=DAY)))
    else:
        assert source.key == (f"sqlite://{tmp_path}/db/{feed.agency}.sqlite", f"{feed.agency}.main.{d.table}")
    assert feed.title in source.description
    assert raw.key == ("file", str(tmp_path / "hub" / "data" / "raw" / feed_id / "dt=2026-11-02"))
    assert (raw.size, raw.files) == (15, 2)
    assert batch.key == ("file", str(tmp_path / "hub" / "data" / "staging" / feed_id / "dt=2026-11-02" / "valid.parquet"))
    assert outputs[0].key == ("postgres://postgres:5432", f"warehouse.public.{feed.target_table}") and outputs[0].rows == 7
    assert outputs[-1].name == "warehouse.public.load_audit"
    assert ("warehouse.public.hazard_version" in {o.name for o in outputs}) == (feed.lifecycle is not None)
    assert ("warehouse.public.report_receipt" in {o.name for o in outputs}) == (feed.reporters is not None)


def test_the_stages_chain_through_their_datasets(tmp_path, monkeypatch):
    """extract's output is land's input, land's output validate's input, validate's batch load's input."""
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    feed = FEEDS["tc_rail_segment_chief"]  # a snapshot feed
    url = "duckdb:////w/warehouse.duckdb"
    _, (raw,) = lineage.extract_lineage(feed, _connection(feed, tmp_path), DAY, {})
    (land_in,), (records,) = lineage.land_lineage(feed, DAY, rows=3)
    (val_in,), val_out = lineage.validate_lineage(feed, DAY, {"valid": 2, "quarantined": 1}, url=url)
    (load_in,), load_out = lineage.load_lineage(feed, DAY, {"loaded": 2, "quarantined": 1}, url=url)
    assert raw.key == land_in.key and records.key == val_in.key and val_out[0].key == load_in.key
    assert records.rows == 3 and val_out[0].rows == 2 and len(val_out) == 1, "validate writes no warehouse table"
    quarantine = next(o for o in load_out if o.name == "warehouse.main.quarantine")
    assert quarantine.rows == 1, "the load writes the batch's quarantine in its transaction"
    assert {"warehouse.main.snapshot_member", "warehouse.main.snapshot_deletion"} <= {o.name for o in load_out}


def test_paths_match_the_pipeline(tmp_path, monkeypatch):
    from safety_hub.ingest.landing import partition_dir
    from safety_hub.pipeline import staging_partition

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    assert lineage.raw_partition("emb_hazard", DAY) == partition_dir("emb_hazard", DAY)
    assert lineage.staged_batch("emb_hazard", DAY) == staging_partition("emb_hazard", DAY) / "valid.parquet"


def test_openlineage_datasets_carry_the_facets():
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.serde import Serde

    ref = DatasetRef("postgres://h:5432", "wh.public.fact_hazard", description="隐患台账", fields=(("uscc", "VARCHAR(18)", "统一社会信用代码"),), rows=5)
    out = lineage.to_openlineage(ref, output=True)
    assert isinstance(out, OutputDataset)
    data = json.loads(Serde.to_json(out))
    assert data["facets"]["documentation"]["description"] == "隐患台账"
    assert data["facets"]["schema"]["fields"][0]["name"] == "uscc"
    assert data["outputFacets"]["outputStatistics"]["rowCount"] == 5
    inp = lineage.to_openlineage(ref, output=False)
    assert isinstance(inp, InputDataset) and "outputFacets" not in json.loads(Serde.to_json(inp))


def test_default_transport_is_the_same_everywhere(tmp_path):
    """localairflow (demo, tests) and docker compose configure the file transport lineage.file_transport describes."""
    from safety_hub_dev.localairflow import airflow_env

    env = airflow_env(airflow_home=tmp_path / "airflow", hub_home=tmp_path / "hub", sim_url="http://127.0.0.1:9",
                      token="t", dropzone=tmp_path / "drop")
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == lineage.file_transport(tmp_path / "hub")
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == lineage.JOB_NAMESPACE
    assert lineage.events_path(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == tmp_path / "hub" / "data" / "openlineage" / "events"

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["x-airflow-common"]["environment"]
    assert json.loads(compose["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == lineage.file_transport(compose["SAFETY_HUB_HOME"])
    assert compose["AIRFLOW__OPENLINEAGE__NAMESPACE"] == lineage.JOB_NAMESPACE
    assert lineage.events_path('{"type": "http", "url": "http://marquez:5000"}') is None


def _event(state: str, run_id: str, job: str = "ingest_x.load"):
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    return RunEvent(eventType=RunState[state], eventTime=dt.datetime.now(dt.timezone.utc).isoformat(), run=Run(runId=run_id),
                    job=Job(namespace="safety_hub", name=job), producer="test")


def _default_transport(home):
    """The transport as the provider builds it: an OpenLineageClient configured with it."""
    from openlineage.client import OpenLineageClient

    return OpenLineageClient(config={"transport": lineage.file_transport(home)}).transport


def test_the_file_transport_creates_its_folder_and_events_read_back(tmp_path):
    from openlineage.client.uuid import generate_new_uuid

    from safety_hub.ops import lineage_files

    assert lineage.TRANSPORT_TYPE == lineage_files.TYPE
    transport = _default_transport(tmp_path / "hub")
    assert isinstance(transport, lineage_files.EventFileTransport), "the client's factory builds it from the class path"
    run_id = str(generate_new_uuid())
    for state in ("START", "COMPLETE"):
        transport.emit(_event(state, run_id))
    folder = tmp_path / "hub" / "data" / "openlineage"
    names = sorted(f.name for f in folder.glob("events-*.json"))
    assert len(names) == 2, "one file per event, folder created on the first"
    assert all(re.fullmatch(rf"events-\d{{8}}-\d{{6}}\.\d{{6}}-{os.getpid()}-[0-9a-f]{{12}}\.json", n) for n in names), names
    assert not list(folder.glob(".*")), "no temporary file left behind"
    assert [e["eventType"] for e in lineage.read_events(lineage.events_path(lineage.file_transport(tmp_path / "hub")))] == ["START", "COMPLETE"]
    (folder / "events").write_text('{"eventTime": "1", "eventType": "START"}\n{"eventTime": "2", "eventType": "COMPLETE"}\n')
    assert len(lineage.read_events(folder / "events")) == 4, "append mode: JSON lines in one file"
    assert lineage.read_events(tmp_path / "missing" / "events") == []
    (folder / "events-torn.json").write_text('{"eventTime": "1", "eventType": "START"}\nrflow/tree/", "eventType": "COMPLETE"}\n')
    with pytest.raises(ValueError, match=r"events-torn.json is not JSON \(line 2"):
        lineage.read_events(folder / "events")


def _emit_many(home: str, writer: int, count: int) -> None:
    transport = _default_transport(home)
    for i in range(count):
        transport.emit(_event("RUNNING", f"00000000-0000-4000-8000-{writer:06d}{i:06d}", job=f"ingest_{writer}.load"))


def test_concurrent_writers_lose_no_event_and_never_show_half_of_one(tmp_path):
    """Celery workers' task processes (and the provider's threads) emit at once: every event is a
    whole file of its own, while they write and after (the client's own file transport names files
    by the microsecond, so two writers in the same microsecond write one file)."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    home = str(tmp_path / "hub")
    path = lineage.events_path(lineage.file_transport(home))
    writers, count = 6, 150
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_emit_many, args=(home, w, count)) for w in range(writers)]
    for p in procs:
        p.start()
    with ThreadPoolExecutor(4) as pool:  # threads of this process too, in the same microseconds
        threads = list(pool.map(lambda w: _emit_many(home, w, count), range(writers, writers + 4)))
        seen_while_writing = 0
        while any(p.is_alive() for p in procs):
            seen_while_writing = max(seen_while_writing, len(lineage.read_events(path)))  # never raises: no half event
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(threads) == 4
    events = lineage.read_events(path)
    assert len(events) == (writers + 4) * count
    assert len({e["run"]["runId"] for e in events}) == (writers + 4) * count
    assert seen_while_writing <= len(events)


def test_report_never_fails_a_task(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setattr(lineage, "active", lambda: True)
    assert lineage.report("extract", "no_such_feed", DAY, {}) is False
    assert lineage.report("transform", "emb_hazard", DAY, {}) is False
    assert lineage.report("extract", "emb_hazard", DAY, {}) is False, "no sidecar: nothing landed"


@pytest.mark.parametrize("stage", ["land", "validate", "load"])
def test_report_emits_the_stage_datasets(stage, monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path}/warehouse.duckdb")
    monkeypatch.setattr(lineage, "active", lambda: True)
    emitted = []
    monkeypatch.setattr(lineage, "emit", lambda inputs, outputs: emitted.append((inputs, outputs)) or True)
    assert lineage.report(stage, "emb_hazard", DAY, {"rows": 4, "valid": 3, "quarantined": 1, "loaded": 3}) is True
    (inputs, outputs), = emitted
    expected = {"land": lineage.land_lineage, "validate": lineage.validate_lineage, "load": lineage.load_lineage}[stage]
    exp_in, exp_out = expected(FEEDS["emb_hazard"], DAY, {"rows": 4, "valid": 3, "quarantined": 1, "loaded": 3} if stage != "land" else 4)
    assert [d.key for d in inputs] == [d.key for d in exp_in] and [d.key for d in outputs] == [d.key for d in exp_out]
    if stage == "load":
        assert outputs[0].name == "warehouse.main.fact_hazard" and outputs[0].fields and outputs[0].rows == 3


def test_report_does_nothing_without_openlineage(monkeypatch):
    monkeypatch.setattr(lineage, "active", lambda: False)
    monkeypatch.setattr(lineage, "emit", lambda *a: pytest.fail("emitted while OpenLineage is off"))
    assert lineage.report("load", "emb_hazard", DAY, {"loaded": 1}) is False


def test_importing_lineage_is_light():
    """ingest tasks import it lazily, but DAG files may too: no Airflow, OpenLineage, SQLAlchemy or pandas."""
    code = ("import sys, safety_hub.ops.lineage\n"
            "print(','.join(m for m in ('airflow', 'openlineage', 'sqlalchemy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
