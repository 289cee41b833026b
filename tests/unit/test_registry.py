"""Tests for the feed registry (``safety_hub.config.registry``): the shipped feeds and error messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from registry_copy import FEEDS_DIR, copy_registry, edit_feed
from safety_hub.config.registry import RegistryError, load_registry

FEED_FILE = "hcc_project.yaml"


# --- the shipped registry -------------------------------------------------------------


def test_shipped_registry_loads_and_covers_delivery_kinds():
    feeds = load_registry()
    assert len(feeds) >= 3
    kinds = {f.delivery.kind for f in feeds.values()}
    assert {"rest_api", "file_drop", "sql_extract"} <= kinds
    assert len({f.agency for f in feeds.values()}) >= 3


def test_shipped_registry_is_the_include_feeds_folder():
    assert set(load_registry()) == {p.stem for p in FEEDS_DIR.glob("*.yaml") if not p.name.startswith("_")}


def test_every_feed_key_column_exists():
    for feed_id, feed in load_registry().items():
        names = {c.name for c in feed.columns}
        assert feed.key, feed_id
        assert set(feed.key) <= names, (feed_id, feed.key)
        for k in feed.key:
            assert feed.column(k).name == k


def test_feed_ids_match_agency_and_file():
    for feed_id, feed in load_registry().items():
        assert feed.feed_id == feed_id
        assert feed_id.startswith(feed.agency + "_")
        assert (FEEDS_DIR / f"{feed_id}.yaml").is_file()


_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key)\s*:", re.IGNORECASE)
_URL_WITH_CREDENTIALS = re.compile(r"://[^\s/'\"]*@")


def _walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
    else:
        yield node


@pytest.mark.parametrize("path", sorted(FEEDS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_no_credentials_in_feed_yaml(path):
    text = path.read_text(encoding="utf-8")
    assert not _SECRET_KEY.search(text), "a password/token key in the feed file"
    assert not _URL_WITH_CREDENTIALS.search(text), "a URL with user:password@ in the feed file"
    # 'password' may only appear in comments (emb_hazard.yaml documents that the
    # connection's password field holds the bearer token); never in YAML content.
    for line in text.splitlines():
        content = line.split("#", 1)[0]
        assert "password" not in content.lower(), line
    for item in _walk(yaml.safe_load(text)):
        if isinstance(item, str):
            assert not _URL_WITH_CREDENTIALS.search(item), item
            assert not re.search(r"password|secret|bearer\s+\S", item, re.IGNORECASE), item


# --- bad feed files -------------------------------------------------------------------


def _registry_copy(tmp_path: Path) -> Path:
    return copy_registry(tmp_path / "feeds", ["_agencies.yaml", FEED_FILE])


def test_unmodified_copy_loads(tmp_path):
    feeds = _registry_copy(tmp_path)
    assert list(load_registry(feeds)) == ["hcc_project"]


def _drop_enum_values(data: dict) -> None:
    enum_cols = [c for c in data["columns"] if c.get("type") == "enum"]
    assert enum_cols
    del enum_cols[0]["values"]


# (case id, mutation of the feed dict, strings the message must contain besides the file name)
FEED_CASES = [
    ("unknown_top_level_field", lambda d: d.update(retries=3), ["retries"]),
    ("unknown_delivery_kind", lambda d: d["delivery"].update(kind="ftp"), ["delivery", "ftp"]),
    ("key_not_in_columns", lambda d: d.update(key=["no_such_column"]), ["key", "no_such_column"]),
    ("feed_id_not_file_name", lambda d: d.update(feed_id="hcc_other"), ["feed_id", "hcc_other"]),
    ("enum_without_values", _drop_enum_values, ["columns", "values"]),
]


@pytest.mark.parametrize("change,expected", [(c[1], c[2]) for c in FEED_CASES], ids=[c[0] for c in FEED_CASES])
def test_bad_feed_file_names_file_and_field(tmp_path, change, expected):
    feeds = _registry_copy(tmp_path)
    edit_feed(feeds / FEED_FILE, change)
    with pytest.raises(RegistryError) as info:
        load_registry(feeds)
    message = str(info.value)
    assert FEED_FILE in message
    for part in expected:
        assert part in message, (part, message)


def test_key_error_labels_the_key_field(tmp_path):
    feeds = _registry_copy(tmp_path)
    edit_feed(feeds / FEED_FILE, lambda d: d.update(key=["no_such_column"]))
    with pytest.raises(RegistryError) as info:
        load_registry(feeds)
    assert "field 'key'" in str(info.value)


def test_unknown_agency_names_file_and_field(tmp_path):
    feeds = _registry_copy(tmp_path)
    edit_feed(feeds / "_agencies.yaml", lambda d: d.pop("hcc"))
    with pytest.raises(RegistryError) as info:
        load_registry(feeds)
    message = str(info.value)
    assert FEED_FILE in message
    assert "agency" in message and "hcc" in message


def test_invalid_yaml_names_file(tmp_path):
    feeds = _registry_copy(tmp_path)
    (feeds / FEED_FILE).write_text("feed_id: [unclosed\nagency: hcc\n", encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(feeds)
    message = str(info.value)
    assert FEED_FILE in message
    assert "not valid YAML" in message


def test_top_level_list_rejected(tmp_path):
    feeds = _registry_copy(tmp_path)
    (feeds / FEED_FILE).write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=re.escape(FEED_FILE)):
        load_registry(feeds)
