"""JSON deliveries (API pages, extracts' JSON lines) keep the feed's column and field-size limits, as CSV does."""

from __future__ import annotations

import json

import pytest

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.records import parse_jsonl, parse_pages
from safety_hub.config.registry import get_feed


def _limited(feed_id: str, **limits):
    feed = get_feed(feed_id)
    return feed.model_copy(update={"limits": feed.limits.model_copy(update=limits)})


def test_a_long_field_in_an_extract_is_refused_naming_its_line():
    feed = _limited("hcc_gas_inspection", max_field_chars=10)
    lines = [json.dumps({"YHBH": "1", "YHX": "短"}, ensure_ascii=False), json.dumps({"YHBH": "2", "YHX": "长" * 11}, ensure_ascii=False)]
    with pytest.raises(FeedError, match=r"line 2: field 'YHX' holds 11 characters, .*limits.max_field_chars=10") as err:
        parse_jsonl(feed, "extract.jsonl", ("\n".join(lines) + "\n").encode())
    assert "长长" not in str(err.value)
    assert len(parse_jsonl(_limited("hcc_gas_inspection", max_field_chars=11), "x", ("\n".join(lines) + "\n").encode()).frame) == 2


def test_too_many_fields_in_api_records_are_refused():
    feed = _limited("emb_hazard", max_columns=2)
    page = {"data": {"records": [{"yhbh": "1", "a": 1, "b": 2}], "total": 1, "pages": 1}}
    with pytest.raises(FeedError, match=r"records with 3 fields, more than the feed's limit limits.max_columns=2"):
        parse_pages(feed, [("page-0001.json", json.dumps(page).encode())])
