"""A refused delivery never replaces the day's accepted partition: it is kept aside with its reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.delivery import Extract, RawFile
from safety_hub.ingest.landing import land_raw, land_records, partition_dir, read_records, refused_dir
from safety_hub.config.registry import get_feed

DAY = dt.date(2026, 11, 2)
FEED = get_feed("hcc_project")
HEADER = "项目编号,项目名称,施工许可证号,施工单位统一社会信用代码,施工单位名称,所在区,开工日期,计划竣工日期,项目状态,报送批次,更新时间"
ROW = "P{n},工程,120101202601010001,91120116697415782C,天津建工,120116,2026-10-01,2026-12-01,在建,1,2026-11-02 10:00:00"


def _deliver(text: bytes) -> None:
    land_raw(Extract(FEED.feed_id, DAY, "test", [RawFile("在建项目_20261102.csv", text)]))


def test_a_refused_delivery_leaves_the_accepted_partition(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    good = "\n".join([HEADER] + [ROW.format(n=n) for n in range(3)]).encode("gbk") + b"\n"
    _deliver(good)
    assert land_records(FEED, DAY)["accounting"]["parsed"] == 3
    part = partition_dir(FEED.feed_id, DAY)
    before = {p.name: p.read_bytes() for p in part.iterdir()}

    cut = good[:-25]  # an interrupted upload: the last line is incomplete
    _deliver(cut)
    with pytest.raises(FeedError, match="truncated") as err:
        land_records(FEED, DAY)
    assert "refused delivery kept in" in " ".join(getattr(err.value, "__notes__", []))
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before, "the accepted partition is untouched"
    (kept,) = refused_dir(FEED.feed_id, DAY).glob("*/在建项目_20261102.csv")
    assert kept.read_bytes() == cut
    assert "truncated" in json.loads((kept.parent / "_sidecar.json").read_text(encoding="utf-8"))["refused"]
    records, rows, rejects = read_records(part)
    assert len(records) == 3 and rows.tolist() == [2, 3, 4] and rejects.empty
