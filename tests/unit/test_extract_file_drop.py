"""A file drop's extract: the row count its marker announces reaches the landing check, and a
symbolic link or a path outside the drop folder is refused in one line that quotes no file content."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from safety_hub.ingest.kinds import file_drop as ex
from safety_hub.config.connections import ConnectionInfo
from safety_hub.domain.errors import FeedError
from safety_hub.config.registry import get_feed

DAY = dt.date(2026, 11, 5)
BODY = "项目编号,项目名称\nXM1,甲\nXM2,乙\nXM3,丙\n".encode("gbk")


@pytest.fixture
def drop(tmp_path, monkeypatch):
    folder = tmp_path / "drop"
    folder.mkdir()
    monkeypatch.setattr(ex, "get_connection", lambda conn_id: ConnectionInfo(conn_id, extra={"path": str(folder)}))
    return folder


def _feed(marker: str | None = ".ok"):
    feed = get_feed("hcc_project")
    return feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"marker_suffix": marker})})


def _deliver(folder, feed, marker: bytes | None = None):
    path = folder / feed.delivery.pattern.format(date=DAY)
    path.write_bytes(BODY)
    if marker is not None:
        path.with_name(path.name + feed.delivery.marker_suffix).write_bytes(marker)
    return path


@pytest.mark.parametrize("content, rows", [(b"rows=3", 3), (b"3\n", 3), (b"  ROWS = 65 \r\n", 65), (b"", None), (b"\n", None)])
def test_the_marker_count_becomes_expected_rows(drop, content, rows):
    feed = _feed()
    _deliver(drop, feed, content)
    got = ex.extract_file_drop(feed, feed.delivery, DAY)
    assert got.expected_rows == rows and b"".join(got.files[0].chunks()) == BODY


def test_no_marker_or_no_marker_suffix_means_no_count(drop):
    feed = _feed()
    _deliver(drop, feed)
    assert ex.extract_file_drop(feed, feed.delivery, DAY).expected_rows is None
    plain = _feed(None)
    _deliver(drop, plain, None)
    (drop / (plain.delivery.pattern.format(date=DAY) + ".ok")).write_bytes(b"rows=99")  # not this feed's marker
    assert ex.extract_file_drop(plain, plain.delivery, DAY).expected_rows is None


@pytest.mark.parametrize("content", [b"done", b"rows=3 sha=abc", b"-3", b"\xff\xfe3\x00", b"1" * 300, "行数=3".encode()])
def test_a_marker_without_a_count_is_refused_without_quoting_it(drop, content):
    feed = _feed()
    _deliver(drop, feed, content)
    with pytest.raises(FeedError) as err:
        ex.extract_file_drop(feed, feed.delivery, DAY)
    message = str(err.value)
    assert "no row count" in message and "\n" not in message and len(message) <= 300
    assert "done" not in message and "sha=abc" not in message and "1" * 20 not in message


def test_the_count_is_checked_at_landing(drop, tmp_path, monkeypatch):
    from safety_hub.ingest.landing import land_raw, land_records, read_sidecar

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "hub"))
    feed = _feed()
    _deliver(drop, feed, b"rows=5")
    part = land_raw(ex.extract_file_drop(feed, feed.delivery, DAY))
    assert read_sidecar(part)["expected_rows"] == 5
    with pytest.raises(FeedError, match="announces 5 rows and holds 3"):
        land_records(feed.model_copy(update={"columns": [c for c in feed.columns if c.source in ("项目编号", "项目名称")]}), DAY)


def test_a_symbolic_link_is_refused(drop, tmp_path):
    feed = _feed(None)
    real = tmp_path / "elsewhere.csv"
    real.write_bytes(BODY)
    link = drop / feed.delivery.pattern.format(date=DAY)
    os.symlink(real, link)
    with pytest.raises(FeedError, match="a symbolic link, refused") as err:
        ex.extract_file_drop(feed, feed.delivery, DAY)
    assert "\n" not in str(err.value) and "甲" not in str(err.value)


def test_a_symbolic_link_marker_is_refused(drop, tmp_path):
    feed = _feed()
    path = _deliver(drop, feed)
    secret = tmp_path / "secret.txt"
    secret.write_text("rows=3")
    os.symlink(secret, path.with_name(path.name + ".ok"))
    with pytest.raises(FeedError, match="a symbolic link, refused"):
        ex.extract_file_drop(feed, feed.delivery, DAY)


def test_a_path_resolving_outside_the_drop_folder_is_refused(drop, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    feed = _feed(None)
    (outside / feed.delivery.pattern.format(date=DAY)).write_bytes(BODY)
    os.symlink(outside, drop / "sub")  # a folder inside the drop folder that leads out of it
    sneaky = feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"pattern": "sub/" + feed.delivery.pattern})})
    with pytest.raises(FeedError, match="resolves outside the drop folder") as err:
        ex.extract_file_drop(sneaky, sneaky.delivery, DAY)
    assert "\n" not in str(err.value) and len(str(err.value)) <= 300
    dotdot = feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"pattern": "../outside/" + feed.delivery.pattern})})
    with pytest.raises(FeedError, match="resolves outside the drop folder"):
        ex.extract_file_drop(dotdot, dotdot.delivery, DAY)


def test_an_archived_file_is_read_with_its_marker(drop):
    feed = _feed()
    path = _deliver(drop, feed, b"rows=3")
    archive = drop / ex.ARCHIVE
    archive.mkdir()
    path.replace(archive / path.name)
    path.with_name(path.name + ".ok").replace(archive / (path.name + ".ok"))
    got = ex.extract_file_drop(feed, feed.delivery, DAY)
    assert got.expected_rows == 3 and got.source == str(archive / path.name)


def test_a_dropped_file_is_landed_by_streaming_its_bytes_and_hashed_as_copied(drop, tmp_path, monkeypatch):
    """Extract holds a dropped file's path, not its bytes; landing copies it in chunks and hashes
    it as it copies; a digest check that refuses it (a file already loaded) leaves nothing behind."""
    import hashlib
    import json

    from safety_hub.ingest.landing import SIDECAR, land_raw, pending_dir

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "home"))
    feed = _feed(marker=None)
    path = _deliver(drop, feed)
    big = BODY + b"".join(f"XM{n},\u5de5\u7a0b{n}\n".encode("gbk") for n in range(4, 300_000))  # several chunks
    path.write_bytes(big)
    got = ex.extract_file_drop(feed, feed.delivery, DAY)
    assert got.files[0].content is None and got.files[0].size == len(big)

    seen = []
    part = land_raw(got, check_digest=seen.append)
    sidecar = json.loads((part / SIDECAR).read_text(encoding="utf-8"))
    assert seen == [hashlib.sha256(big).hexdigest()] == [sidecar["sha256"]]
    assert sidecar["files"] == [{"name": path.name, "bytes": len(big), "sha256": hashlib.sha256(big).hexdigest()}]
    assert (part / path.name).read_bytes() == big

    def refuse(digest):
        raise FeedError(feed.feed_id, path.name, "already loaded")

    with pytest.raises(FeedError, match="already loaded"):
        land_raw(got, check_digest=refuse)
    assert (part / path.name).read_bytes() == big, "the pending delivery before stays as it was"
    assert [p.name for p in pending_dir(feed.feed_id, DAY).parent.iterdir() if p.name.startswith(".tmp-")] == []
