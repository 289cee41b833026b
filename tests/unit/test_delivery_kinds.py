"""A delivery kind is one module under ingest/kinds/ (issue 17): everything that depends on how an agency delivers.

A toy kind, reading a local JSON-lines file, is registered here as a new kind's module would
register itself, with a policy and hooks of its own, and runs through the real extract and
landing (``extract.extract``, ``landing.land_raw`` / ``land_records``), the lineage's source
dataset, the whole pipeline (``run_feed``: its digest check and its ``after_load``), the ingest
DAG (its retries, extract timeout and sensor) and ``safety-hub validate``, none of which names
a kind. A last test fails when code outside ``ingest/kinds/`` compares against a kind's name.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import runpy
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from safety_hub.cli import main
from safety_hub.config.connections import ConnectionInfo
from safety_hub.config.registry import get_feed, load_registry
from safety_hub.domain.errors import DuplicateDelivery
from safety_hub.ingest import kinds
from safety_hub.ingest.datasets import file_dataset
from safety_hub.ingest.delivery import Extract, RawFile
from safety_hub.ingest.extract import extract
from safety_hub.ingest.landing import PARSERS, RECORDS, land_raw, land_records, partition_dir, read_sidecar
from safety_hub.ops import lineage
from safety_hub.pipeline import run_extract, run_feed
from safety_hub_dev.simulator import generate_day

DAY = dt.date(2026, 11, 3)
ROOT = Path(__file__).resolve().parents[2]
FEED = "hcc_gas_inspection"


class JsonLinesFile(BaseModel):
    """The toy kind's delivery settings (a real kind's model goes into config/registry.py's ``Delivery``)."""

    kind: Literal["jsonl_file"] = "jsonl_file"
    conn_id: str = "toy"
    path: str


def _extract_jsonl(feed, delivery: JsonLinesFile, day: dt.date) -> Extract:
    path = Path(delivery.path)
    body = path.read_bytes()
    return Extract(feed.feed_id, day, str(path), [RawFile(path.name, body)], expected_rows=body.count(b"\n"))


def _done(feed) -> Path:
    """Where the toy kind's ``after_load`` moves a loaded file."""
    path = Path(feed.delivery.path)
    return path.parent / "done" / path.name


def _move_to_done(feed, day: dt.date) -> None:
    """The toy kind's ``after_load``: the loaded file moves to ``done/``, with a note of what the warehouse then holds."""
    from safety_hub.warehouse.engine import get_engine

    with get_engine().connect() as conn:  # run_load calls it once the day's rows are committed
        loaded = conn.execute(sa.text("SELECT rows_loaded FROM load_audit WHERE feed_id = :f AND business_date = :d AND status = 'loaded'"),
                              {"f": feed.feed_id, "d": day}).scalar_one()
    done = _done(feed)
    done.parent.mkdir(exist_ok=True)
    Path(feed.delivery.path).replace(done)
    done.with_name(done.name + ".loaded").write_text(f"{day} {loaded}", encoding="utf-8")


def _read_local_parts(feed, path: Path, day: dt.date) -> Extract:
    """The toy kind's ``read_local``: a file, or a folder of ``*.jsonl`` parts read as one delivery."""
    if not path.is_dir():
        return kinds.base.read_local_file(feed, path, day)
    return Extract(feed.feed_id, day, str(path), [RawFile(p.name, p.read_bytes()) for p in sorted(path.glob("*.jsonl"))])


def _toy_ready(feed, day: dt.date) -> bool:
    return Path(feed.delivery.path).is_file()


@pytest.fixture
def toy_kind():
    """The toy kind as its module would register it: a policy and hooks of its own, none of them a built-in kind's."""
    kind = kinds.register(kinds.DeliveryKind(
        "jsonl_file", extract=_extract_jsonl, parser=lambda feed: "jsonl",
        source=lambda feed, conn, day, **facets: file_dataset(feed.delivery.path, **facets),
        retries=4, retry_delay=dt.timedelta(seconds=90), extract_timeout=dt.timedelta(minutes=7),
        wait=lambda feed: kinds.Wait("wait_for_jsonl", ready=_toy_ready, timeout=1800, poke_interval=45),
        dedupe_by_digest=True, after_load=_move_to_done, read_local=_read_local_parts))
    yield kind
    del kinds.KINDS["jsonl_file"]


def _rows(feed, n: int) -> list[dict]:
    """Records in the agency's own column names (what the gas database's extract delivers)."""
    return [{c.source: f"{c.source}-{i}" for c in feed.columns} | {"JCRQ": "2026-11-03", "GXSJ": "2026-11-03T10:00:00+08:00"}
            for i in range(n)]


def test_a_new_kind_is_one_registration_through_extract_land_and_lineage(toy_kind, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "home"))
    base = get_feed("hcc_gas_inspection")
    delivered = tmp_path / "agency" / "gas_20261103.jsonl"
    delivered.parent.mkdir()
    rows = _rows(base, 5)
    delivered.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    feed = base.model_copy(update={"delivery": JsonLinesFile(path=str(delivered))})

    got = extract(feed, DAY)
    assert got.source == str(delivered) and [f.name for f in got.files] == [delivered.name] and got.expected_rows == 5
    land_raw(got)
    sidecar = land_records(feed, DAY)
    part = partition_dir(feed.feed_id, DAY)
    assert read_sidecar(part)["source"] == str(delivered) and sidecar["source"] == str(delivered)
    records = pd.read_parquet(part / RECORDS)
    assert len(records) == 5
    assert list(records["YHBH"]) == [r["YHBH"] for r in rows]
    assert (part / delivered.name).read_bytes() == delivered.read_bytes()  # the original bytes, unchanged

    source = lineage.source_dataset(feed, ConnectionInfo("toy"), DAY)
    assert source.namespace == "file" and source.name == str(delivered)
    assert source.description == f"{feed.title} ({feed.agency}, jsonl_file)"


def test_an_unregistered_kind_is_refused_by_name(tmp_path):
    feed = get_feed("hcc_gas_inspection").model_copy(update={"delivery": JsonLinesFile(path=str(tmp_path / "x.jsonl"))})
    with pytest.raises(ValueError, match="unknown delivery kind 'jsonl_file'; registered: file_drop, rest_api, sql_extract"):
        extract(feed, DAY)


def test_every_feed_kind_is_registered_and_chooses_a_landing_parser():
    feeds = load_registry().values()
    assert {f.delivery.kind for f in feeds} == set(kinds.KINDS) == {"rest_api", "file_drop", "sql_extract"}
    chosen = {(f.delivery.kind, kinds.get_kind(f.delivery.kind).parser(f)) for f in feeds}
    assert chosen == {("rest_api", "api_pages"), ("sql_extract", "jsonl"), ("file_drop", "csv"), ("file_drop", "xlsx")}
    assert {parser for _, parser in chosen} <= set(PARSERS)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.fixture
def toy_feed(toy_kind, tmp_path, monkeypatch):
    """The gas inspections delivered through the toy kind (the simulator's day as JSON lines), in a
    warehouse of the test's own; the registry's entry names the toy kind, as its YAML would."""
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    data = generate_day(DAY)
    delivered = tmp_path / "agency" / f"gas_{DAY:%Y%m%d}.jsonl"
    delivered.parent.mkdir()
    delivered.write_text(_jsonl(data.records[FEED]), encoding="utf-8")
    feed = get_feed(FEED).model_copy(update={"delivery": JsonLinesFile(path=str(delivered))})
    monkeypatch.setitem(load_registry(), FEED, feed)
    return feed, data


def test_the_pipeline_asks_the_kind_for_its_digest_check_and_after_load(toy_kind, toy_feed):
    feed, data = toy_feed
    truth = data.truth["feeds"][FEED]
    delivered = Path(feed.delivery.path)
    original = delivered.read_bytes()

    result = run_feed(FEED, DAY, batch_id="toy__1")
    assert result["loaded"] == truth["distinct_valid"] and result["rows"] == truth["rows_delivered"]
    assert not delivered.exists() and _done(feed).read_bytes() == original, "run_load called the kind's after_load"
    note = _done(feed).with_name(_done(feed).name + ".loaded").read_text(encoding="utf-8")
    assert note == f"{DAY} {truth['distinct_valid']}", "after_load runs once the day's rows and audit row are committed"

    delivered.write_bytes(original)  # the same bytes delivered again: this kind skips a delivery already loaded
    with pytest.raises(DuplicateDelivery, match=f"already loaded for {DAY}; skipped"):
        run_extract(FEED, DAY, "toy__2")
    assert run_extract(FEED, DAY, "toy__3", force=True)["files"] == [delivered.name]
    kinds.register(dataclasses.replace(toy_kind, dedupe_by_digest=False))  # a kind that does not dedupe lands it again
    assert run_extract(FEED, DAY, "toy__4")["files"] == [delivered.name]


def test_validate_reads_a_local_copy_as_the_kind_says(toy_kind, toy_feed, tmp_path, capsys):
    _, data = toy_feed
    rows = data.records[FEED]
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "a.jsonl").write_text(_jsonl(rows[:20]), encoding="utf-8")
    (parts / "b.jsonl").write_text(_jsonl(rows[20:]), encoding="utf-8")
    assert main(["validate", "--feed", FEED, str(parts), "--date", DAY.isoformat()]) == 0, capsys.readouterr().err
    assert f"rows {len(rows)} " in capsys.readouterr().out, "both parts, read by the toy kind's read_local"
    kinds.register(dataclasses.replace(toy_kind, read_local=kinds.base.read_local_file))  # the default: one file
    assert main(["validate", "--feed", FEED, str(parts), "--date", DAY.isoformat()]) == 2
    assert "not a regular file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ingest_dags() -> dict:
    """``dags/ingest_feeds.py`` parsed as the DAG processor parses it: its namespace, one DAG per feed and ``build_ingest_dag``."""
    return runpy.run_path(str(ROOT / "dags" / "ingest_feeds.py"))


def test_the_ingest_dag_takes_the_kinds_policy_and_sensor(toy_kind, ingest_dags, tmp_path):
    delivered = tmp_path / f"gas_{DAY:%Y%m%d}.jsonl"
    feed = get_feed(FEED).model_copy(update={"delivery": JsonLinesFile(path=str(delivered))})
    dag = ingest_dags["build_ingest_dag"](feed, "toy agency")
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"wait_for_jsonl", "extract", "land", "validate", "load", "return_rejections"}
    assert "jsonl_file" in dag.tags
    extract_task = tasks["extract"]
    assert (extract_task.retries, extract_task.retry_delay, extract_task.execution_timeout) == (
        4, dt.timedelta(seconds=90), dt.timedelta(minutes=7))
    assert tasks["load"].retries == 4 and tasks["land"].retries == tasks["validate"].retries == 0
    wait = tasks["wait_for_jsonl"]
    assert (wait.mode, wait.timeout, wait.poke_interval, wait.retries) == ("reschedule", 1800, 45, 0)
    assert wait.downstream_task_ids == {"extract"}
    context = {"params": {"business_date": DAY.isoformat()}}
    assert wait.python_callable(**context) is False, "the kind's ready(), for the run's business date"
    delivered.write_text("{}\n", encoding="utf-8")
    assert wait.python_callable(**context) is True


# The built-in kinds' policy as it was before it moved into their modules: retries, extract timeout, sensor.
BUILT_IN_POLICY = {"rest_api": (3, dt.timedelta(minutes=30), None), "sql_extract": (2, dt.timedelta(hours=1), None),
                   "file_drop": (1, dt.timedelta(minutes=15), "wait_for_file")}


def test_the_built_in_kinds_keep_their_dag_policy(ingest_dags):
    feeds = load_registry()
    assert {f.delivery.kind for f in feeds.values()} == set(BUILT_IN_POLICY)
    for feed in feeds.values():
        dag = ingest_dags[f"ingest_{feed.feed_id}"]
        retries, timeout, sensor = BUILT_IN_POLICY[feed.delivery.kind]
        tasks = {t.task_id: t for t in dag.tasks}
        assert (dag.default_args["retries"], dag.default_args["retry_delay"], dag.default_args["retry_exponential_backoff"]) == (
            retries, dt.timedelta(minutes=1), True), feed.feed_id
        assert tasks["extract"].execution_timeout == timeout and tasks["extract"].retries == retries, feed.feed_id
        assert set(tasks) == {"extract", "land", "validate", "load", "return_rejections"} | ({sensor} if sensor else set()), feed.feed_id
        if sensor:
            wait = tasks[sensor]
            assert (wait.mode, wait.timeout, wait.poke_interval, wait.retries) == (
                "reschedule", feed.delivery.wait_timeout_hours * 3600, 300, 0), feed.feed_id
            assert wait.downstream_task_ids == {"extract"}


# --- no switch on a kind's name outside ingest/kinds/ --------------------------------------------

KIND_MODULES = ROOT / "include" / "safety_hub" / "ingest" / "kinds"
SCANNED = [ROOT / "include", ROOT / "dags", ROOT / "plugins"]


def kind_switches(source: str, names: set[str]) -> list[tuple[int, str]]:
    """Where ``source`` compares against a kind's name (``==``, ``!=``, ``in`` a literal tuple, list or
    set), keys a dict literal or a lookup by it, or matches it in a ``case``; ``Literal["<kind>"]``
    (the delivery model's discriminator in config/registry.py) is the registry literal, not a switch."""
    found = []

    def named(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in names
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(named(e) for e in node.elts)
        return False

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(named(n) for n in (node.left, *node.comparators)):
            found.append((node.lineno, "comparison"))
        elif isinstance(node, ast.Dict) and any(k is not None and named(k) for k in node.keys):
            found.append((node.lineno, "dict key"))
        elif isinstance(node, ast.Subscript) and named(node.slice) and not (isinstance(node.value, ast.Name) and node.value.id == "Literal"):
            found.append((node.lineno, "lookup"))
        elif isinstance(node, ast.MatchValue) and named(node.value):
            found.append((node.lineno, "case"))
    return found


def test_the_kind_switch_check_finds_each_form_of_switch():
    names = {"file_drop", "rest_api"}
    source = '''
if feed.delivery.kind == "file_drop": pass
if kind in ("rest_api", "x"): pass
RETRIES = {"rest_api": 3}
timeout = TIMEOUTS["file_drop"]
match kind:
    case "rest_api": pass
kind: Literal["file_drop"]
label = "file_drop"
'''
    assert [form for _, form in kind_switches(source, names)] == ["comparison", "comparison", "dict key", "lookup", "case"]


def test_no_module_outside_ingest_kinds_switches_on_a_kind_name():
    names = set(kinds.KINDS)
    assert names >= {"rest_api", "file_drop", "sql_extract"}
    scanned, found = 0, []
    for root in SCANNED:
        for path in sorted(root.rglob("*.py")):
            if path.is_relative_to(KIND_MODULES):
                continue
            scanned += 1
            found += [f"{path.relative_to(ROOT)}:{line}: {form}" for line, form in kind_switches(path.read_text(encoding="utf-8"), names)]
    assert scanned > 50, "the scan reads the package, the DAG files and the plugins"
    assert not found, "a switch on a delivery kind's name: move it into the kind (ingest/kinds/, DeliveryKind):\n" + "\n".join(found)


def test_a_refusal_is_not_retried():
    """Every delivery an extract refuses for what it is raises ``DeliveryRefused``, which the
    ingest DAG fails at once (``AirflowFailException``): retrying the same delivery refuses it
    again and only delays the alert. A ``FeedError`` saying "refused" is a refusal retried.
    (Landing's refusals need nothing: its task never retries.)"""
    from safety_hub.domain.errors import DeliveryRefused, FeedError

    assert issubclass(DeliveryRefused, FeedError), "every handler of FeedError still catches it"
    retried, refused = [], 0
    for source in sorted((ROOT / "include" / "safety_hub" / "ingest" / "kinds").rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                segment = ast.get_source_segment(text, node) or ""
                if node.exc.func.id == "FeedError" and "refused" in segment:
                    retried.append(f"{source.relative_to(ROOT)}:{node.lineno}")
                refused += node.exc.func.id == "DeliveryRefused"
    assert refused >= 10, "the scan finds the refusals"
    assert not retried, f"a refusal raised as a plain FeedError (retried): {retried}"
    dag = (ROOT / "dags" / "ingest_feeds.py").read_text(encoding="utf-8")
    assert "except DeliveryRefused as exc:" in dag and "raise AirflowFailException(str(exc))" in dag
