"""A delivery kind is one module under ingest/kinds/ (issue 17): extractor, parser choice, lineage facet.

A toy kind, reading a local JSON-lines file, is registered here as a new kind's module would
register itself, and runs through the real extract and landing (``extract.extract``,
``landing.land_raw`` / ``land_records``) and the lineage's source dataset, none of which
names a kind.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel

from safety_hub.config.connections import ConnectionInfo
from safety_hub.config.registry import get_feed, load_registry
from safety_hub.ingest import kinds
from safety_hub.ingest.datasets import file_dataset
from safety_hub.ingest.delivery import Extract, RawFile
from safety_hub.ingest.extract import extract
from safety_hub.ingest.landing import PARSERS, RECORDS, land_raw, land_records, partition_dir, read_sidecar
from safety_hub.ops import lineage

DAY = dt.date(2026, 11, 3)


class JsonLinesFile(BaseModel):
    """The toy kind's delivery settings (a real kind's model goes into config/registry.py's ``Delivery``)."""

    kind: Literal["jsonl_file"] = "jsonl_file"
    conn_id: str = "toy"
    path: str


def _extract_jsonl(feed, delivery: JsonLinesFile, day: dt.date) -> Extract:
    path = Path(delivery.path)
    body = path.read_bytes()
    return Extract(feed.feed_id, day, str(path), [RawFile(path.name, body)], expected_rows=body.count(b"\n"))


@pytest.fixture
def toy_kind():
    kind = kinds.register(kinds.DeliveryKind(
        "jsonl_file", extract=_extract_jsonl, parser=lambda feed: "jsonl",
        source=lambda feed, conn, day, **facets: file_dataset(feed.delivery.path, **facets)))
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
