"""The CSV and JSON parsers account for every physical row, or refuse the file in one line.

Each case is a class of hostile delivery: the parsed frame, the physical row of each
record, the rows rejected as rows and the rows set aside must be exactly what the
file holds; a refusal is one line naming the file and the place.
"""

from __future__ import annotations

import json

import pytest

from safety_hub.domain.errors import FeedError
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.landing import parse_files
from safety_hub.config.registry import Limits, get_feed

FEED = get_feed("hcc_project")  # a CSV file drop, encoding auto, 11 columns
HEADER = "项目编号,项目名称,施工许可证号,施工单位统一社会信用代码,施工单位名称,所在区,开工日期,计划竣工日期,项目状态,报送批次,更新时间"


def row(n: int) -> str:
    return f"P{n:03d},工程{n},1201012026010100{n:02d},91120116697415782C,天津建工,120116,2026-10-01,2026-12-01,在建,1,2026-11-02 10:00:00"


def parse(text: str, encoding: str = "utf-8", feed=FEED, **kw):
    return parse_files(feed, [RawFile("f.csv", text.encode(encoding) if isinstance(text, str) else text)], **kw)


def accounted(p) -> dict:
    (c,) = p.files
    assert c.reconciles() and c.physical == p.records + c.set_aside_total
    return {"physical": c.physical, "parsed": c.parsed, "rejected": c.rejected, **c.set_aside}


def test_plain_file_every_line_a_record():
    p = parse("\n".join([HEADER, row(1), row(2), row(3)]) + "\n", "gbk")
    assert list(p.frame["项目编号"]) == ["P001", "P002", "P003"]
    assert p.rows.tolist() == [2, 3, 4]
    assert accounted(p) == {"physical": 4, "parsed": 3, "rejected": 0, "header": 1}


def test_blank_lines_inside_are_set_aside_not_the_end_of_the_data():
    p = parse("\n".join([HEADER, row(1), "", row(2), ",,,,,,,,,,", "   ", row(3)]) + "\n")
    assert list(p.frame["项目编号"]) == ["P001", "P002", "P003"]
    assert p.rows.tolist() == [2, 4, 7]
    assert accounted(p) == {"physical": 7, "parsed": 3, "rejected": 0, "header": 1, "blank": 3}


def test_title_lines_above_and_notes_below_are_set_aside():
    text = "\n".join(["天津市在建项目报送表", "填报日期：2026-11-02,,", HEADER, row(1), row(2), "",
                      "注：1. 本表由各区填报", "填报人：张三,审核人：李四", "填报单位（盖章）：,,,,,,,,,,"]) + "\n"
    p = parse(text, "gbk")
    assert list(p.frame["项目编号"]) == ["P001", "P002"]
    assert p.rows.tolist() == [4, 5]
    assert accounted(p) == {"physical": 9, "parsed": 2, "rejected": 0, "title": 2, "header": 1, "blank": 1, "note": 3}


def test_a_note_like_line_inside_the_data_is_not_set_aside():
    p = parse("\n".join([HEADER, row(1), "注：此行在数据中间", row(2)]) + "\n")
    assert [r.row for r in p.rejects] == [3] and p.rejects[0].rule == "row.shape"
    assert accounted(p) == {"physical": 4, "parsed": 2, "rejected": 1, "header": 1}


def test_unmatched_quotes_do_not_swallow_the_rows_between():
    lines = [HEADER, row(1), row(2).replace("工程2", '"工程2'), row(3), row(4), row(5).replace("天津建工", '天津建工"'), row(6)]
    p = parse("\n".join(lines) + "\n")
    assert list(p.frame["项目编号"]) == ["P001", "P003", "P004", "P006"]
    assert p.rows.tolist() == [2, 4, 5, 7]
    assert [(r.row, r.rule) for r in p.rejects] == [(3, "row.shape"), (6, "row.shape")]
    assert p.rejects[0].raw == lines[2], "the raw line is kept for the quarantine"
    assert accounted(p) == {"physical": 7, "parsed": 4, "rejected": 2, "header": 1}


def test_quoted_values_with_commas_and_doubled_quotes_read_whole():
    p = parse("\n".join([HEADER, row(1).replace("工程1", '"工程1,二期 ""A"" 标段"')]) + "\n")
    assert p.frame["项目名称"].tolist() == ['工程1,二期 "A" 标段'] and not p.rejects


def test_rows_with_too_few_or_too_many_fields_are_rejected_as_rows():
    p = parse("\n".join([HEADER, row(1), "P002,工程2", row(3) + ",多余", row(4)]) + "\n")
    assert [(r.row, r.rule) for r in p.rejects] == [(3, "row.shape"), (4, "row.shape")]
    assert "2 field(s), the header has 11" in p.rejects[0].detail
    assert accounted(p) == {"physical": 5, "parsed": 2, "rejected": 2, "header": 1}


@pytest.mark.parametrize("cut", ["mid-row", "inside-quote"])
def test_a_file_cut_mid_row_is_refused_as_truncated(cut):
    last = row(3)[:30] if cut == "mid-row" else row(3).replace("工程3", '"工程3 cut')[:20]
    with pytest.raises(FeedError, match=r"truncated: the file ends inside line 4 .*deliver the whole file again"):
        parse("\n".join([HEADER, row(1), row(2), last]))


def test_no_final_newline_but_a_complete_last_record_is_read_and_noted():
    p = parse("\n".join([HEADER, row(1), row(2)]))
    assert len(p.frame) == 2 and p.files[0].notes == ["no final newline"]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_a_cut_inside_a_multibyte_character_is_truncation_not_a_wrong_encoding(encoding):
    data = ("\n".join([HEADER, row(1), row(2)])).encode(encoding)
    with pytest.raises(FeedError, match=r"truncated: the file ends inside a .* character"):
        parse(_cut_in_char(data, encoding))


def _cut_in_char(data: bytes, encoding: str) -> bytes:
    """``data`` cut after the first byte of its last Chinese character."""
    text = data.decode(encoding)
    last = max(i for i, ch in enumerate(text) if ord(ch) > 127)
    return text[:last].encode(encoding) + text[last].encode(encoding)[:1]


def test_wrong_bytes_in_the_middle_name_the_right_byte_and_line():
    good = ("\n".join([HEADER, row(1), row(2)]) + "\n").encode("utf-8")
    bad = good + b"P003,\xff\xfe\xfd\n"
    with pytest.raises(FeedError) as err:
        parse(bad)
    message = str(err.value)
    assert f"UTF-8 fails at byte {len(good) + 5} (line 4)" in message and len(message) <= 300


def test_utf16_is_refused_in_one_line():
    with pytest.raises(FeedError, match="UTF-16 text"):
        parse(("\n".join([HEADER, row(1)]) + "\n").encode("utf-16"))


def test_duplicate_column_names_are_refused():
    with pytest.raises(FeedError, match=r"header line 1: column '项目名称' appears twice \(columns 2 and 12\)"):
        parse("\n".join([HEADER + ",项目名称", row(1) + ",x"]) + "\n")


def test_a_trailing_delimiter_column_without_values_is_dropped():
    p = parse("\n".join([HEADER + ",", row(1) + ",", row(2) + ","]) + "\n")
    assert list(p.frame.columns) == HEADER.split(",") and len(p.frame) == 2


def test_crlf_and_lone_cr_line_ends():
    for sep in ("\r\n", "\r"):
        p = parse(sep.join([HEADER, row(1), "", row(2)]) + sep)
        assert p.rows.tolist() == [2, 4] and accounted(p)["blank"] == 1


def test_limits_refuse_before_reading():
    small = FEED.model_copy(update={"limits": Limits(max_rows=2, max_columns=5, max_field_chars=10, max_file_mb=0.001)})
    text = "\n".join([HEADER, row(1), row(2), row(3), row(4)]) + "\n"
    with pytest.raises(FeedError, match=r"limits.max_file_mb"):
        parse(text * 4, feed=small)
    with pytest.raises(FeedError, match=r"limits.max_columns=5"):
        parse(text, feed=small.model_copy(update={"limits": Limits(max_columns=5)}))
    with pytest.raises(FeedError, match=r"line 2: column '施工许可证号' holds 18 characters, more than the feed's limit limits.max_field_chars=15"):
        parse(text, feed=small.model_copy(update={"limits": Limits(max_field_chars=15)}))
    with pytest.raises(FeedError, match=r"4 rows, more than the feed's limit limits.max_rows=2"):
        parse(text, feed=small.model_copy(update={"limits": Limits(max_rows=2)}))


def test_an_announced_row_count_must_match():
    text = "\n".join([HEADER, row(1), row(2)]) + "\n"
    assert parse(text, expected_rows=2).records == 2
    with pytest.raises(FeedError, match="announces 3 rows and holds 2"):
        parse(text, expected_rows=3)


def test_errors_are_one_line_of_at_most_300_characters():
    with pytest.raises(FeedError) as err:
        parse("x" * 40_000 + "\n" + row(1) + "\n")
    assert "no header row" in str(err.value) and len(str(err.value)) <= 300 and "\n" not in str(err.value)


def test_api_pages_must_hold_the_announced_total():
    feed = get_feed("emb_hazard")
    page = {"code": 0, "data": {"records": [{"a": 1}, 7], "page": 1, "pages": 1, "total": 3}}
    with pytest.raises(FeedError, match="announced 3 records and its pages hold 2"):
        parse_files(feed, [RawFile("page-0001.json", json.dumps(page).encode())])


def test_jsonl_cut_last_line_is_truncated_and_a_bad_middle_line_a_row():
    feed = get_feed("hcc_gas_inspection")
    with pytest.raises(FeedError, match=r"truncated: line 2"):
        parse_files(feed, [RawFile("extract.jsonl", b'{"a": 1}\n{"a": ')])
