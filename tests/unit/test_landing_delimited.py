"""CSV landing edge cases found by the adversarial corpus (tests/adversarial): a GBK file cut inside
its last character is truncated (not "not text"), and a header without rows is a quiet day."""

from __future__ import annotations

import pytest

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.landing.delimited import parse_csv
from safety_hub.config.registry import get_feed

FEED = get_feed("hcc_project")
HEADER = ",".join(c.source for c in FEED.columns)


def test_a_gbk_file_cut_inside_a_character_is_truncated():
    data = (HEADER + "\r\nXM1,东丽区住宅项目").encode("gbk")
    with pytest.raises(FeedError, match="truncated: the file ends inside a GB18030 character") as err:
        parse_csv(FEED, "x.csv", data[:-1])
    assert "line 2" in str(err.value)


def test_a_header_without_rows_is_read_as_no_records():
    for data in ((HEADER + "\r\n").encode("gbk"), HEADER.encode("gbk")):
        parsed = parse_csv(FEED, "x.csv", data)
        assert len(parsed.frame) == 0 and list(parsed.frame.columns) == [c.source for c in FEED.columns]
        assert parsed.count.physical == 1 and parsed.count.set_aside == {"header": 1} and not parsed.rejects
