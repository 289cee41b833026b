"""A REST delivery's pages are landed a page at a time (``landing.stream_pages``) with exactly the result
of reading them all (``landing.parse_files``): the same records, numbering, rejects, per-page accounting,
or the same refusal. On every API delivery of the adversarial corpus, on generated pages with non-object
records, fields missing and numbers, and through ``land_records`` (``records.parquet`` the same either way).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from adversarial import generate
from safety_hub.config.registry import get_feed
from safety_hub.domain.errors import FeedError
from safety_hub.ingest import landing
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.landing import ROW, Unstreamable, parse_files, stream_pages
from test_landing_stream import _feed_for, landed_whole_and_streamed

FEED = get_feed("emb_hazard")
DAY = dt.date(2026, 11, 2)


def _whole(feed, pages: dict[str, bytes]):
    try:
        parsed = parse_files(feed, [RawFile(n, b) for n, b in pages.items()])
    except FeedError as exc:
        return ("refused", exc.detail)
    return ("read", parsed.frame.assign(**{ROW: parsed.rows}), [vars(r) for r in parsed.rejects], [vars(c) for c in parsed.files])


def _streamed(feed, pages: dict[str, bytes], folder):
    for name, body in pages.items():
        (folder / name).write_bytes(body)
    gen = stream_pages(feed, folder, list(pages))
    frames = []
    try:
        while True:
            frames.append(next(gen))
    except StopIteration as done:
        counts, rejects = done.value
    except FeedError as exc:
        return ("refused", exc.detail)
    if not frames:
        raise Unstreamable("no record")
    return ("read", pd.concat(frames, ignore_index=True), [vars(r) for r in rejects], [vars(c) for c in counts])


def _same(feed, pages, folder) -> str:
    want = _whole(feed, pages)
    try:
        got = _streamed(feed, pages, folder)
    except Unstreamable:
        return "whole"
    assert got[0] == want[0], (got[:2], want[:2])
    if want[0] == "refused":
        assert got[1] == want[1] or ("limits.max_rows" in want[1] and "limits.max_rows" in got[1])
        return "streamed"
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2], "rejects"
    assert got[3] == want[3], "accounting per page"
    return "streamed"


@pytest.mark.parametrize("batch", [1, 3, 100_000])
def test_every_api_delivery_of_the_corpus_streams_to_the_whole_result(batch, tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "PAGE_BATCH_RECORDS", batch)
    how = {}
    for case in generate.build():
        if case.kind != "api/json" or case.trap:
            continue
        folder = tmp_path / case.id
        folder.mkdir()
        pages = {Path(name).name: body for name, body in sorted(case.files.items())}  # as the extract lands them
        how[case.id] = _same(_feed_for(case), pages, folder)
    assert len(how) >= 5
    assert sum(h == "streamed" for h in how.values()) >= 0.8 * len(how), how


def _pages(seed: int, n_pages: int, size: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    records = []
    for i in range(n_pages * size):
        rec = {"yhbh": f"H{i:06d}", "dwmc": "天津某企业", "tyshxydm": "91120116697415782C", "ssq": "120116", "yhms": "消防通道堵塞",
               "fxrq": "2026-11-02", "yhdj": "一般隐患", "zgzt": "整改中",
               "gxsj": f"2026-11-02 10:{i % 60:02d}:00"}
        r = rng.random()
        if r < 0.05:
            rec = [rec["yhbh"]]  # not an object: row.not_object
        elif r < 0.15:
            del rec["yhms"]  # a field missing in some records
        elif r < 0.3:
            rec["zgqx"] = rng.choice([30, None, 7.5])  # numbers and nulls: each value's own text
        records.append(rec)
    if seed % 2:  # the field appears only after the first page's first records (it is on the first page)
        for rec in records[: size // 2]:
            if isinstance(rec, dict):
                rec.pop("zgqx", None)
    pages = {}
    for p in range(n_pages):
        chunk = records[p * size:(p + 1) * size]
        body = {"code": 0, "data": {"records": chunk, "page": p + 1, "page_size": size, "total": len(records), "pages": n_pages}}
        pages[f"page-{p + 1:04d}.json"] = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return pages


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch", [1, 25, 100_000])
def test_generated_pages_stream_to_the_whole_result(seed, batch, tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "PAGE_BATCH_RECORDS", batch)
    assert _same(FEED, _pages(seed, 7, 20), tmp_path) == "streamed"


def test_a_field_first_seen_on_a_later_page_is_read_whole_and_a_short_total_refused(tmp_path):
    pages = _pages(0, 3, 10)
    body = json.loads(pages["page-0003.json"])
    body["data"]["records"][0]["新字段"] = "x"
    pages["page-0003.json"] = json.dumps(body, ensure_ascii=False).encode()
    (tmp_path / "late").mkdir()
    assert _same(FEED, pages, tmp_path / "late") == "whole"
    pages = _pages(1, 3, 10)
    del pages["page-0003.json"]  # the API announced 30 records, the pages hold 20
    (tmp_path / "short").mkdir()
    assert _same(FEED, pages, tmp_path / "short") == "streamed"
    assert "announced 30 records" in _whole(FEED, pages)[1]


def test_land_records_of_api_pages_is_the_same_streamed_or_whole(tmp_path, monkeypatch):
    pages = _pages(3, 12, 50)
    streamed = landed_whole_and_streamed(monkeypatch, tmp_path, FEED, DAY, [RawFile(n, b) for n, b in pages.items()],
                                         {(landing, "PAGE_BATCH_RECORDS"): 120}, keys=("rows", "columns", "accounting", "watermark", "sha256"))
    assert streamed.row_groups >= 4
    acc = streamed.sidecar["accounting"]
    assert len(acc["files"]) == 12 and acc["physical"] == 600 == acc["parsed"] + acc["rejected"] and acc["rejected"] > 0
