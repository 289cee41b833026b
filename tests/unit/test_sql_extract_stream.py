"""A database extract is streamed: fetched ``chunk_rows`` at a time into the raw zone's JSON lines
(hashed as written), then landed a piece of whole lines at a time into ``records.parquet``, with
exactly the source's rows and the accounting of reading the file whole.

Real SQLite database of the simulator's 燃气入户检查 day (the feed's own table), real landing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sqlite3

import pandas as pd
import pyarrow.parquet as pq
import pytest

from adversarial import generate
from safety_hub.config.registry import get_feed
from safety_hub.domain.errors import FeedError
from safety_hub.ingest import landing
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.extract import extract
from safety_hub.ingest.landing import land_raw, land_records, partition_dir, pending_dir, read_records, read_sidecar
from test_landing_stream import CORPUS_PIECES, PIECES, _feed_for, _same, landed_whole_and_streamed

FEED_ID = "hcc_gas_inspection"
DAY = dt.date(2026, 11, 2)


def _feed(chunk_rows: int):
    feed = get_feed(FEED_ID)
    return feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"chunk_rows": chunk_rows})})


@pytest.fixture
def source(tmp_path, monkeypatch):
    """The agency's SQLite table holding the simulator's day (every column text), its connection set."""
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import write_sqlite

    feed = get_feed(FEED_ID)
    rows = generate_day(DAY).records[FEED_ID]
    db = write_sqlite(rows, tmp_path / "agency" / "hcc_gas.sqlite", feed.delivery.table, feed.delivery.updated_column, DAY.isoformat())
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_CONN_HCC_DB", json.dumps({"conn_type": "generic", "extra": {"url": f"sqlite:///{db}"}}))
    return db


def _source_rows(db) -> list[dict]:
    feed = get_feed(FEED_ID)
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        cur = conn.execute(f"SELECT * FROM {feed.delivery.table} WHERE substr({feed.delivery.updated_column}, 1, 10) = ?", (DAY.isoformat(),))
        return [dict(r) for r in cur]


def test_a_delivery_of_many_chunks_lands_exactly_the_source_rows(source, monkeypatch):
    want = _source_rows(source)
    chunk = 7
    assert len(want) > 5 * chunk, "the day spans many chunks"
    feed = _feed(chunk)
    ex = extract(feed, DAY)
    assert ex.files[0].content is None, "nothing fetched before landing writes the file"
    part = land_raw(ex)
    # The raw file is what the extract always wrote (one json.dumps line per row): earlier deliveries hash the same.
    old_format = b"".join(json.dumps(r, ensure_ascii=False, default=str).encode("utf-8") + b"\n" for r in want)
    assert (part / "extract.jsonl").read_bytes() == old_format
    sidecar = read_sidecar(part)
    assert sidecar["expected_rows"] == len(want)
    assert sidecar["sha256"] == sidecar["files"][0]["sha256"] == hashlib.sha256(old_format).hexdigest()

    monkeypatch.setattr(landing, "PIECE_BYTES", 2048)  # several pieces, several row groups
    sidecar = land_records(feed, DAY)
    final = partition_dir(FEED_ID, DAY)
    assert pq.ParquetFile(final / "records.parquet").num_row_groups > 3
    records, rows, rejects = read_records(final)
    assert len(rejects) == 0
    assert rows.tolist() == list(range(1, len(want) + 1))
    expected = pd.DataFrame(want).astype("string").replace({"": pd.NA})
    pd.testing.assert_frame_equal(records.reset_index(drop=True), expected, check_dtype=False)
    assert sidecar["rows"] == len(want)
    assert sidecar["accounting"]["physical"] == sidecar["accounting"]["parsed"] == len(want)
    assert sidecar["accounting"]["rejected"] == 0 and sidecar["accounting"]["set_aside"] == {}


def test_a_failing_query_is_refused_in_one_line_and_leaves_nothing(source, monkeypatch):
    feed = get_feed(FEED_ID)
    feed = feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"table": "t_missing"})})
    with pytest.raises(FeedError, match=r"t_missing: query failed: .*no such table") as err:
        land_raw(extract(feed, DAY))
    assert "\n" not in str(err.value)
    assert not pending_dir(FEED_ID, DAY).exists()
    assert not list(pending_dir(FEED_ID, DAY).parent.glob(".tmp-*"))


JSONL_CASES = [c for c in generate.build() if c.kind == "sql/jsonl" and not c.trap]


@pytest.mark.parametrize("piece_bytes", CORPUS_PIECES)
def test_every_extract_of_the_corpus_streams_to_the_whole_files_result(piece_bytes, tmp_path):
    how = {}
    for case in JSONL_CASES:
        feed = _feed_for(case)
        (name, content), = ((n, b) for n, b in case.files.items() if n == case.arg)
        folder = tmp_path / case.id
        folder.mkdir()
        how[case.id] = _same(feed, name, content, folder, piece_bytes, parser="jsonl")
    assert len(how) >= 5
    # An extract without a record (no row today) is read whole: nothing to stream.
    assert {i for i, h in how.items() if h == "whole"} == {"jsonl-empty"}, how


REQUIRED = {"RQQY_TYDM": "91120116697415782C", "RQQY_MC": "天津燃气", "XZQH": "120116", "YHLX": "居民", "JCRQ": "2026-11-02",
            "ZGZT": "未整改"}


def _hostile_lines(n: int, seed: int) -> list[str]:
    """Records with the hazards of an extract: blank lines, broken JSON, arrays, fields missing, numbers, nulls."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec = {**REQUIRED, "YHBH": f"U{i:05d}", "YHX": rng.choice(["正常", "漏气", "", None]), "GXSJ": f"2026-11-02 10:{i % 60:02d}:00"}
        r = rng.random()
        if r < 0.3:
            rec["JCCS"] = rng.choice([1, 2, None, 1.5, True])  # numbers and nulls in one column: each value's own text
        if r < 0.05:
            line = json.dumps(rec, ensure_ascii=False)[:-3]  # cut inside: quarantined as row.shape
        elif r < 0.09:
            line = ""  # a blank line: set aside
        elif r < 0.12:
            line = json.dumps([rec["YHBH"]])  # not an object: row.not_object
        elif r < 0.2:
            line = json.dumps({k: v for k, v in rec.items() if k != "YHX"}, ensure_ascii=False)  # a field missing
        else:
            line = json.dumps(rec, ensure_ascii=False)
        out.append(line)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("piece_bytes", PIECES)
def test_hostile_json_lines_on_piece_boundaries(seed, piece_bytes, tmp_path):
    feed = get_feed(FEED_ID)
    lines = _hostile_lines(random.Random(seed).randrange(40, 160), seed)
    lines[0] = json.dumps({**REQUIRED, "YHBH": "U-first", "YHX": "正常", "GXSJ": "2026-11-02 09:00:00", "JCCS": 1}, ensure_ascii=False)
    text = "\n".join(lines) + ("\n" if seed != 5 else "")
    assert _same(feed, f"extract-{seed}.jsonl", text.encode("utf-8"), tmp_path, piece_bytes, parser="jsonl") == "streamed"


def test_integers_with_nulls_land_as_integers_either_way(tmp_path):
    from test_landing_stream import _streamed, _whole

    feed = get_feed(FEED_ID)
    content = "".join(json.dumps({**REQUIRED, "YHBH": str(i), "GXSJ": "2026-11-02", "JCCS": v}, ensure_ascii=False) + "\n"
                      for i, v in enumerate([3, None, 2.5])).encode("utf-8")
    (tmp_path / "x.jsonl").write_bytes(content)
    for got in (_whole(feed, "x.jsonl", content), _streamed(feed, "x.jsonl", tmp_path / "x.jsonl", 1, "jsonl")):
        assert got[1]["JCCS"].tolist() == ["3", pd.NA, "2.5"]


@pytest.mark.parametrize("piece_bytes", PIECES)
def test_a_new_field_late_in_the_file_or_a_cut_last_line_is_read_as_whole_reads_it(piece_bytes, tmp_path):
    feed = get_feed(FEED_ID)
    lines = [json.dumps({**REQUIRED, "YHBH": str(i), "GXSJ": "2026-11-02"}, ensure_ascii=False) for i in range(100)]
    late = "\n".join(lines + [json.dumps({**REQUIRED, "YHBH": "x", "GXSJ": "2026-11-02", "NEW": "1"}, ensure_ascii=False)]) + "\n"
    assert _same(feed, "late.jsonl", late.encode(), tmp_path, piece_bytes, parser="jsonl") == "whole"
    cut = "\n".join(lines) + '\n{"YHBH": "3'
    assert _same(feed, "cut.jsonl", cut.encode(), tmp_path, piece_bytes, parser="jsonl") == "streamed"
    assert _same(feed, "empty.jsonl", b"", tmp_path, piece_bytes, parser="jsonl") == "whole"
    assert _same(feed, "blank.jsonl", b"\n\n[1]\n", tmp_path, piece_bytes, parser="jsonl") == "whole"


def test_land_records_of_an_extract_is_the_same_streamed_or_whole(tmp_path, monkeypatch):
    """The streamed landing's records, rows, rejects and accounting against the whole-file reference,
    on an extract in the format every earlier delivery has (a replay of one lands the same)."""
    feed = get_feed(FEED_ID)
    content = ("\n".join(_hostile_lines(3000, 11)) + "\n").encode("utf-8")
    streamed = landed_whole_and_streamed(monkeypatch, tmp_path, feed, DAY, [RawFile("extract.jsonl", content)],
                                         {(landing, "PIECE_BYTES"): 4096}, expected_rows=None)
    assert streamed.row_groups > 10
    acc = streamed.sidecar["accounting"]
    assert acc["physical"] == 3000 and acc["rejected"] > 0 and acc["set_aside"].get("blank", 0) > 0
    assert acc["physical"] == acc["parsed"] + acc["rejected"] + sum(acc["set_aside"].values())
