"""A dropped CSV file is landed piece by piece (``landing.stream_records``) with exactly the result of
reading it whole (``landing.parse_files``): the same records, physical rows, rejects, accounting,
or the same refusal. Checked on every CSV file drop of the adversarial corpus and on files whose
hostile lines (unmatched quotes, blank lines, notes, a trailer longer than a piece, a line cut off)
fall on piece boundaries, with pieces of a few bytes to a few kilobytes; and through
``land_records``, whose ``records.parquet`` is the same either way.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from adversarial import generate
from safety_hub.domain.errors import FeedError
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.landing import ROW, Unstreamable, parse_files, stream_records
from safety_hub.config.registry import get_feed

PIECES = (1, 97, 1024)  # bytes per piece: every line its own piece, a few lines, many lines
CORPUS_PIECES = (1, 1024)  # the corpus tests: one byte cuts every line at every place, a superset of 97's cuts
FEED = get_feed("hcc_project")
HEADER = "项目编号,项目名称,施工许可证号,施工单位统一社会信用代码,施工单位名称,所在区,开工日期,计划竣工日期,项目状态,报送批次,更新时间"
ROW_TEXT = "P{n},工程{n},120101202601010001,91120116697415782C,天津建工,120116,2026-10-01,2026-12-01,在建,1,2026-11-02 10:{m:02d}:00"


def _feed_for(case) -> object:
    feed = get_feed(case.feed)
    update = {part: getattr(feed, part).model_copy(update=values) for part, values in case.overrides.items()}
    return feed.model_copy(update=update) if update else feed


def _whole(feed, name: str, content: bytes):
    try:
        parsed = parse_files(feed, [RawFile(name, content)])
    except FeedError as exc:
        return ("refused", exc.detail)
    frame = parsed.frame.assign(**{ROW: parsed.rows})
    return ("read", frame, [vars(r) for r in parsed.rejects], [vars(c) for c in parsed.files])


def _streamed(feed, name: str, path, piece_bytes: int, parser: str = "csv"):
    pieces = stream_records(feed, name, path, piece_bytes, parser=parser)
    frames = []
    try:
        while True:
            frames.append(next(pieces))
    except StopIteration as done:
        count, rejects = done.value
    except FeedError as exc:
        return ("refused", exc.detail)
    count.parsed, count.rejected = sum(map(len, frames)), len(rejects)
    return ("read", pd.concat(frames, ignore_index=True), [vars(r) for r in rejects], [vars(count)])


def _same(feed, name: str, content: bytes, tmp_path, piece_bytes: int, parser: str = "csv") -> str:
    """"streamed" or "whole" (the file must be read whole); fails where the two differ."""
    path = tmp_path / name
    path.write_bytes(content)
    want = _whole(feed, name, content)
    try:
        got = _streamed(feed, name, path, piece_bytes, parser)
    except Unstreamable:
        return "whole"
    assert got[0] == want[0], (got[:2], want[:2])
    if want[0] == "refused":
        if "rows" in want[1] and "limits.max_rows" in want[1]:
            assert "limits.max_rows" in got[1]
        else:
            assert got[1] == want[1]
        return "streamed"
    pd.testing.assert_frame_equal(got[1], want[1], check_dtype=True)
    assert got[2] == want[2], "rejects"
    assert got[3] == want[3], "accounting"
    return "streamed"


CSV_CASES = [c for c in generate.build() if c.kind.startswith("csv/") and not c.trap]


@pytest.mark.parametrize("piece_bytes", CORPUS_PIECES)
def test_every_csv_drop_of_the_corpus_streams_to_the_whole_files_result(piece_bytes, tmp_path):
    how = {}
    for case in CSV_CASES:
        feed = _feed_for(case)
        if feed.delivery.kind != "file_drop":
            continue
        (name, content), = ((n, b) for n, b in case.files.items() if n == case.arg)
        folder = tmp_path / case.id
        folder.mkdir()
        how[case.id] = _same(feed, name, content, folder, piece_bytes)
    assert len(how) >= 30
    streamed = [i for i, h in how.items() if h == "streamed"]
    assert len(streamed) >= 0.7 * len(how), f"most files stream; read whole: {sorted(set(how) - set(streamed))}"


def _lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        line = ROW_TEXT.format(n=i, m=rng.randrange(60))
        r = rng.random()
        if r < 0.05:
            line = line.replace("工程", 'a"b工程', 1)  # an unmatched quote: the line set apart
        elif r < 0.10:
            line = ""  # a blank line inside the data
        elif r < 0.13:
            line = "," * 10  # a line of delimiters only
        elif r < 0.16:
            line = line + ",多余"  # one field too many
        elif r < 0.18:
            line = "注：本行在数据中间"  # note-like text inside the data is a row, not a trailer
        out.append(line)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("piece_bytes", PIECES)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_hostile_lines_on_piece_boundaries(seed, piece_bytes, encoding, tmp_path):
    rng = random.Random(seed)
    title = ["2026年11月在建项目清单", ""] if seed % 2 else []
    trailer = ["", "注：数据截至11月2日", "填报人：张三", "", "审核人：李四", ""][: rng.randrange(7)]
    body = _lines(rng.randrange(5, 120), seed)
    eol = "\r\n" if seed % 3 == 0 else "\n"
    text = eol.join(title + [HEADER] + body + trailer) + (eol if seed != 5 else "")
    content = text.encode(encoding)
    assert _same(FEED, f"在建项目_{seed}.csv", content, tmp_path, piece_bytes) == "streamed"


@pytest.mark.parametrize("piece_bytes", PIECES)
def test_a_file_cut_off_is_refused_as_when_read_whole(piece_bytes, tmp_path):
    lines = [HEADER] + [ROW_TEXT.format(n=n, m=n % 60) for n in range(40)]
    content = ("\n".join(lines) + "\n").encode("utf-8")
    cut = content[: content.rindex(b",120116,")]  # the last line incomplete (fields missing), no final newline
    assert _same(FEED, "cut.csv", cut, tmp_path, piece_bytes) == "streamed"
    assert _whole(FEED, "cut.csv", cut)[0] == "refused"
    inside = content[: content.rindex("建".encode()) + 1]  # cut inside a character: read whole, which names the byte
    assert _same(FEED, "inside.csv", inside, tmp_path, piece_bytes) == "whole"
    assert "truncated" in _whole(FEED, "inside.csv", inside)[1]


def test_land_records_writes_the_same_records_streamed_or_whole(tmp_path, monkeypatch):
    from safety_hub.ingest import landing

    day = dt.date(2026, 11, 2)
    content = ("\n".join([HEADER] + _lines(3000, 7) + ["", "注：完"]) + "\n").encode("gbk")
    streamed = landed_whole_and_streamed(monkeypatch, tmp_path, FEED, day, [RawFile("在建项目_20261102.csv", content)],
                                         {(landing.delimited, "PIECE_BYTES"): 4096, (landing, "PIECE_BYTES"): 4096})
    assert streamed.row_groups > 10
    assert streamed.sidecar["accounting"]["physical"] == 3000 + 3


@pytest.mark.parametrize("seed", range(20))
def test_odd_quote_lines_agree_with_counting_each_line(seed, monkeypatch):
    from safety_hub.ingest.landing import delimited

    rng = random.Random(seed)
    lines = [bytes(rng.choice(b'ab,"\r ') for _ in range(rng.randrange(0, 12))) for _ in range(rng.randrange(0, 60))]
    body = b"\n".join(lines) + (b"\n" if seed % 2 else b"")
    monkeypatch.setattr(delimited, "_CHUNK", 16)  # chunks of a few lines, and lines longer than a chunk
    want = [i for i, line in enumerate(body.split(b"\n")) if line.count(b'"') % 2]
    assert delimited._odd_quote_lines(body).tolist() == want


@dataclass
class Landed:
    """The streamed landing of ``landed_whole_and_streamed``: its sidecar and records.parquet's row groups."""

    sidecar: dict
    row_groups: int


def landed_whole_and_streamed(monkeypatch, tmp_path, feed, day, files, knobs: dict, keys=("rows", "columns", "accounting", "watermark"),
                              expected_rows=...) -> Landed:
    """Land ``files`` twice, read whole and streamed (``knobs``: (module, name) -> value, the streamed
    landing's piece sizes), and assert the two give the same records, rows, rejects and sidecar ``keys``."""
    import pyarrow.parquet as pq

    from safety_hub.ingest import landing
    from safety_hub.ingest.delivery import Extract
    from safety_hub.ingest.landing import land_raw, land_records, partition_dir, read_records

    results = {}
    for mode in ("whole", "streamed"):
        monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / mode))
        if mode == "whole":
            monkeypatch.setattr(landing, "_streamable", lambda feed, sidecar: False)
        else:
            for (module, name), value in knobs.items():
                monkeypatch.setattr(module, name, value)
        extra = {} if expected_rows is ... else {"expected_rows": expected_rows}
        land_raw(Extract(feed.feed_id, day, "test", list(files), **extra))
        sidecar = land_records(feed, day)
        part = partition_dir(feed.feed_id, day)
        records, rows, rejects = read_records(part)
        results[mode] = (records, rows, rejects, {k: sidecar[k] for k in keys}, pq.ParquetFile(part / "records.parquet").num_row_groups)
        monkeypatch.undo()
    whole, streamed = results["whole"], results["streamed"]
    pd.testing.assert_frame_equal(streamed[0], whole[0])
    assert np.array_equal(streamed[1], whole[1])
    pd.testing.assert_frame_equal(streamed[2], whole[2])
    assert streamed[3] == whole[3]
    return Landed(sidecar=streamed[3], row_groups=streamed[4])
