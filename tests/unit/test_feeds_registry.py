"""The simulator's dataset specs and the feed registry describe the same feeds.

The simulator does not read the registry (a wrong mapping there is a bug the
tests must catch), so this checks the two agree: delivery, mode, the fields the
defect injector touches, the rule ids it expects, and that every delivered
field is mapped.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import pytest

from safety_hub.registry import agencies, load_registry
from safety_hub_dev.simulator.generate import generate_day
from safety_hub_dev.simulator.spec import SPECS, Api, CsvDrop, SqliteTable, XlsxDrop

FEEDS = sorted(SPECS)
# The file-drop connection of each agency folder: extra.path = <dropzone>/<folder>.
DROP_CONN = {"emb": "emb_drop", "hcc": "hcc_drop", "tc": "tc_drop", "agri": "agri_drop"}
SQL_CONN = {"hcc_gas.sqlite": "hcc_db", "tc_agency.sqlite": "tc_db"}


@functools.lru_cache(maxsize=None)
def first_day():
    return generate_day(dt.date(2026, 11, 2))


def test_registry_and_simulator_cover_the_same_feeds():
    assert set(load_registry()) == set(SPECS)


def test_registry_spans_agencies_and_delivery_kinds():
    feeds = load_registry()
    assert len(feeds) >= 13
    assert {f.agency for f in feeds.values()} == {"emb", "hcc", "tc", "agri"}
    assert {f.delivery.kind for f in feeds.values()} == {"rest_api", "file_drop", "sql_extract"}
    assert agencies()["agri"].name == "天津市农业农村委员会"
    assert len({f.target_table for f in feeds.values()}) == len(feeds), "one fact table per feed"


@pytest.mark.parametrize("feed_id", FEEDS)
def test_delivery_matches(feed_id):
    spec, feed = SPECS[feed_id], load_registry()[feed_id]
    d, r = spec.delivery, feed.delivery
    assert feed.mode == spec.mode
    if isinstance(d, Api):
        assert r.kind == "rest_api" and r.endpoint == f"/api/v1/{d.endpoint}"
        assert r.conn_id in ("emb_api", "tc_api")
    elif isinstance(d, (CsvDrop, XlsxDrop)):
        assert r.kind == "file_drop" and r.pattern == d.filename
        assert r.conn_id == DROP_CONN[d.folder]
        assert r.format == ("xlsx" if isinstance(d, XlsxDrop) else "csv")
        assert r.encoding == "auto"
    elif isinstance(d, SqliteTable):
        assert r.kind == "sql_extract" and r.table == d.table and r.updated_column == spec.updated
        assert r.conn_id == SQL_CONN[d.db]
    else:  # pragma: no cover
        raise AssertionError(d)
    assert feed.target_table == f"fact_{feed.dataset}" or feed_id in ("hcc_project",)


@pytest.mark.parametrize("feed_id", FEEDS)
def test_injector_fields_map_to_the_common_columns(feed_id):
    spec, feed = SPECS[feed_id], load_registry()[feed_id]
    by_source = {c.source: c for c in feed.columns}
    assert by_source[spec.uscc].name == "uscc" and by_source[spec.uscc].type == "uscc"
    assert by_source[spec.name].name == "org_name" and by_source[spec.name].type == "org_name"
    assert by_source[spec.district].name == "district_code" and by_source[spec.district].type == "district"
    assert by_source[spec.batch].name == "report_batch"
    assert by_source[spec.updated].name == "updated_at" and by_source[spec.updated].type == "datetime"
    assert feed.key == [by_source[spec.key].name]
    for name in ("uscc", "org_name", "district_code", "updated_at"):
        assert feed.column(name).required, name


@pytest.mark.parametrize("feed_id", FEEDS)
def test_blankable_fields_are_required_columns(feed_id):
    spec, feed = SPECS[feed_id], load_registry()[feed_id]
    by_source = {c.source: c for c in feed.columns}
    for field, column in spec.required:
        assert by_source[field].name == column and by_source[field].required, (field, column)
        assert field != spec.key, "blanking the key would lose the record's identity"


@pytest.mark.parametrize("feed_id", FEEDS)
def test_date_order_names_a_registry_rule_on_those_fields(feed_id):
    spec, feed = SPECS[feed_id], load_registry()[feed_id]
    if spec.date_order is None:
        return
    early, late, rule_id = spec.date_order
    by_source = {c.source: c for c in feed.columns}
    rule = next((r for r in feed.validation.rules if r.id == rule_id), None)
    assert rule is not None, f"rule {rule_id} is not in {feed_id}.yaml"
    assert rule.expectation == "expect_column_pair_values_a_to_be_greater_than_b"
    assert (rule.kwargs["column_A"], rule.kwargs["column_B"]) == (by_source[late].name, by_source[early].name)
    assert rule.kwargs.get("ignore_row_if") == "either_value_is_missing"


@pytest.mark.parametrize("feed_id", FEEDS)
def test_every_delivered_field_is_mapped(feed_id):
    feed = load_registry()[feed_id]
    sources = {c.source for c in feed.columns}
    fields = {f for r in first_day().records[feed_id] for f in r}
    assert fields == sources, (sorted(fields - sources), sorted(sources - fields))


@pytest.mark.parametrize("feed_id", [f for f in FEEDS if f not in ("emb_hazard", "hcc_project", "tc_dg_vehicle")])
def test_volume_keeps_tests_fast(feed_id):
    truth = first_day().truth["feeds"][feed_id]
    assert 20 <= truth["rows_delivered"] - truth["duplicates"] <= 80


@pytest.mark.parametrize("feed_id", sorted(load_registry()))
def test_coded_headers_have_a_chinese_label(feed_id):
    """The data dictionary and the warehouse comments name every field in Chinese (issue 16:
    they showed agency codes such as ``yhbh``); the code stays beside it."""
    from safety_hub.warehouse.schema import build_metadata

    feed = load_registry()[feed_id]
    unlabelled = [c.source for c in feed.columns if c.coded_header and not c.label]
    assert not unlabelled, f"{feed_id}: give these coded headers a Chinese 'label': {unlabelled}"
    table = build_metadata().tables[feed.target_table]
    for c in feed.columns:
        comment = table.c[c.name].comment
        assert re.search(r"[\u4e00-\u9fff]", comment), (feed_id, c.name, comment)
        assert c.source in comment  # the agency's own header, to find the field in its delivery
    if feed_id == "emb_hazard":
        assert table.c["hazard_id"].comment == "隐患编号（yhbh）"
