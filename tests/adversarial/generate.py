#!/usr/bin/env python
"""Hostile deliveries made from the simulator's own files, each with the outcome it must have (issue 14, "Lossless or loud").

    .venv/bin/python tests/adversarial/generate.py --out /tmp/corpus [--date 2026-11-05]

writes one folder per case under ``--out`` and ``manifest.json`` beside them. Every case
starts from one simulated business day (``safety_hub_dev.simulator.generate_day``): the
agency's records, delivered the way the simulator delivers them (``deliver.csv_bytes``,
``deliver.xlsx_bytes``, ``deliver.api_page``, and JSON lines as ``extract_sql`` writes
them), then broken in one way: encodings, structure, truncation, Excel traps, limits,
text hygiene, codes, dates, numbers, duplicates. Its expected outcome is derived from the
simulator's truth (the rule each injected defect must break) and from the mutation, never
from a run:

* ``{"outcome": "read", "records": N, "physical": P, "set_aside": {reason: n},
  "quarantined": {rule: n}, "quarantined_rows": Q, "flagged": {rule: n},
  "distinct_valid_keys": K, "exit": 0|1}``: every physical row is a record
  (valid or quarantined) or set aside with a reason (P = N + set aside); the rules listed
  carry exactly these counts (the truth's own defects included), Q is exact; a rule a
  mutation may also break in passing (``.required`` beside ``.parseable``) is left out
  of ``quarantined``, never miscounted;
* ``{"outcome": "refused", "exit": 2, "message": "...", "message_words": [...]}``: one
  line on stderr containing ``message`` and each of ``message_words`` as a whole word
  (byte offsets, line numbers, counts).

A case may carry ``overrides`` (a feed copy: ``feed.model_copy(update=...)`` of ``limits``
or ``delivery``) and ``trap`` (an Excel workbook that once took minutes and gigabytes: run
also under a memory limit). ``tests/unit/test_adversarial_corpus.py`` runs them all.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import datetime as dt
import functools
import io
import json
import re
import shutil
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from safety_hub.domain import USCC_CHARSET, parse_date, uscc_check_char
from safety_hub.registry import get_feed
from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.deliver import api_page, csv_bytes, xlsx_bytes
from safety_hub_dev.simulator.generate import DEFAULT_SEED
from safety_hub_dev.simulator.spec import SPECS, Api, CsvDrop, SqliteTable, XlsxDrop

DAY = dt.date(2026, 11, 5)
MANIFEST = "manifest.json"
CLASSES = ("control", "encoding", "structure", "truncation", "excel", "limits", "hygiene", "codes", "dates", "numbers", "duplicates")
# Sheet rows the simulator's workbook sets aside: the title, the two rows of its merged two-level
# header, the blank row after the data, two notes.
XLSX_ASIDE = {"title": 1, "header": 2, "blank": 1, "note": 2}
XLSX_FIRST_DATA_ROW = 4
MARKER = ".ok"


def halfwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@functools.lru_cache(maxsize=None)
def _day(day: dt.date, seed: int):
    return generate_day(day, seed)


@dataclass
class Row:
    """One record as delivered, and what it must become.

    ``rules``/``flags`` None: what the simulator's truth says for its key; a set: the
    mutation decided (empty: valid). ``maybe``: rules it may break besides (not counted).
    """

    rec: dict | None
    rules: frozenset | None = None
    flags: frozenset | None = None
    maybe: frozenset = frozenset()
    key: str | None = None  # its normalised key, when the mutation changed it


class Source:
    """One feed's simulated day: its records in the agency's field names and its truth."""

    def __init__(self, feed_id: str, day: dt.date = DAY, seed: int = DEFAULT_SEED):
        self.feed_id, self.day, self.seed = feed_id, day, seed
        self.feed = get_feed(feed_id)
        self.spec = SPECS[feed_id]
        data = _day(day, seed)
        self.records = data.records[feed_id]
        self.truth = data.truth["feeds"][feed_id]
        checked = [d for d in self.truth["defects"] if d.get("stage", "validate") == "validate"]
        self.rule_of = {d["key"]: d["expected_rule"] for d in checked if d.get("expected_rule")}
        self.flag_of = {d["key"]: d["expected_flag"] for d in checked if d.get("expected_flag")}
        self.defect_keys = {d["key"] for d in self.truth["defects"]}
        self.key_counts = Counter(self.norm_key(r) for r in self.records)

    # -- the records ---------------------------------------------------------------
    def norm_key(self, rec: dict) -> str:
        return halfwidth(str(rec[self.spec.key])).strip()

    def rows(self) -> list[Row]:
        return [Row(copy.deepcopy(r)) for r in self.records]

    def clean(self, row: Row) -> bool:
        """A record the truth leaves alone (no defect of any stage, its key delivered once)."""
        if row.rec is None or row.rules is not None:
            return False
        key = self.norm_key(row.rec)
        return key not in self.defect_keys and self.key_counts[key] == 1

    def pick(self, rows: list[Row], n: int = 1, at: float = 0.4, where=lambda rec: True) -> list[int]:
        """``n`` clean records from about ``at`` of the way down, each satisfying ``where``."""
        start = int(len(rows) * at)
        order = list(range(start, len(rows))) + list(range(start))
        found = [i for i in order if self.clean(rows[i]) and where(rows[i].rec)][:n]
        if len(found) < n:
            raise ValueError(f"{self.feed_id}: fewer than {n} clean records fit")
        return found

    def field(self, name: str) -> str:
        """The agency field of a warehouse column."""
        return self.feed.column(name).source

    # -- the expected outcome ----------------------------------------------------------
    def expect_read(self, rows: list[Row], set_aside: dict, about: tuple = (), about_flags: tuple = ()) -> dict:
        quarantined, flagged, maybe, keys, bad = Counter(), Counter(), set(), set(), 0
        for row in rows:
            key = row.key if row.key is not None else (self.norm_key(row.rec) if row.rec is not None else None)
            rules = row.rules if row.rules is not None else ({self.rule_of[key]} if key in self.rule_of else set())
            flags = row.flags if row.flags is not None else ({self.flag_of[key]} if key in self.flag_of else set())
            maybe |= set(row.maybe)
            quarantined.update(rules)
            flagged.update(flags)
            if rules:
                bad += 1
            elif key is not None:
                keys.add(key)
        aside = {k: v for k, v in sorted(set_aside.items()) if v}
        records = len(rows)
        share = bad / records if records else 0.0
        return {
            "outcome": "read",
            "records": records,
            "physical": records + sum(aside.values()),
            "set_aside": aside,
            "quarantined": {r: quarantined[r] for r in sorted((set(quarantined) | set(about)) - maybe)},
            "quarantined_rows": bad,
            "flagged": {r: flagged[r] for r in sorted((set(flagged) | set(about_flags)) - maybe)},
            "distinct_valid_keys": len(keys),
            "exit": 1 if share > self.feed.validation.max_invalid_share else 0,
        }


def refused(message: str, *words) -> dict:
    return {"outcome": "refused", "exit": 2, "message": message, "message_words": [str(w) for w in words]}


@dataclass
class Case:
    id: str
    feed: str
    kind: str  # csv/gbk, csv/utf-8-bom, csv/gb18030, csv/utf-8, xlsx, api/json, sql/jsonl
    cls: str
    title: str
    files: dict[str, bytes]  # path inside the case's folder -> bytes
    arg: str  # what ``validate`` is given: a file, or the folder of an API delivery's pages
    expect: dict
    overrides: dict = field(default_factory=dict)  # {"limits": {...}, "delivery": {...}}
    trap: bool = False

    def manifest(self, day: dt.date) -> dict:
        out = {"id": self.id, "feed": self.feed, "kind": self.kind, "class": self.cls, "title": self.title,
               "date": day.isoformat(), "files": [f"{self.id}/{name}" for name in self.files], "path": f"{self.id}/{self.arg}",
               "expect": self.expect}
        if self.overrides:
            out["overrides"] = self.overrides
        if self.trap:
            out["trap"] = True
        return out


# --------------------------------------------------------------------------------------
# Deliveries, built from the simulator's own writers
# --------------------------------------------------------------------------------------


class CsvDoc:
    """A CSV delivery as lines, each known as header, title, note, blank or a record (its ``Row``)."""

    def __init__(self, src: Source, rows: list[Row], encoding: str | None = None):
        self.src = src
        self.encoding = encoding or src.spec.delivery.encoding
        both = [r.rec for r in rows] or [src.records[0]]
        lines = csv_bytes(both, "utf-8").decode("utf-8").split("\r\n")  # the simulator's own file
        assert lines[-1] == "" and len(lines) == len(both) + 2, "a value holds a line break"
        self.entries: list[list] = [[lines[0], "header", None]] + [[line, "record", r] for line, r in zip(lines[1:-1], rows)]
        self.eol, self.final_newline = "\r\n", True

    def index(self, row: Row) -> int:
        return next(i for i, e in enumerate(self.entries) if e[2] is row)

    def insert(self, at: int, text: str, kind: str, row: Row | None = None) -> None:
        self.entries.insert(at, [text, kind, row])

    @property
    def rows(self) -> list[Row]:
        return [e[2] for e in self.entries if e[1] == "record"]

    @property
    def set_aside(self) -> dict:
        return dict(Counter(e[1] for e in self.entries if e[1] != "record"))

    def text(self) -> str:
        return self.eol.join(e[0] for e in self.entries) + (self.eol if self.final_newline else "")

    def bytes(self) -> bytes:
        return self.text().encode(self.encoding)

    def expect(self, **kw) -> dict:
        return self.src.expect_read(self.rows, self.set_aside, **kw)


def _csv_kind(encoding: str) -> str:
    return {"gbk": "csv/gbk", "gb18030": "csv/gb18030", "utf-8-sig": "csv/utf-8-bom", "utf-8": "csv/utf-8"}[encoding]


def drop_name(src: Source) -> str:
    return src.feed.delivery.pattern.format(date=src.day)


def csv_case(id, src: Source, cls: str, title: str, doc: CsvDoc, expect: dict | None = None, content: bytes | None = None,
             kind: str | None = None, extra_files: dict | None = None, **kw) -> Case:
    """A CSV drop: ``doc``'s bytes (or ``content``, bytes made from it), named as the feed's pattern says."""
    name = drop_name(src)
    files = {name: doc.bytes() if content is None else content, **(extra_files or {})}
    return Case(id, src.feed_id, kind or _csv_kind(doc.encoding), cls, title, files, name, expect or doc.expect(), **kw)


def xlsx_of(src: Source, rows: list[Row]) -> bytes:
    return xlsx_bytes([r.rec for r in rows], src.spec.delivery.title)


def workbook(content: bytes):
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(content))


def saved(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def xlsx_case(id, src: Source, cls: str, title: str, content: bytes, expect: dict, **kw) -> Case:
    name = drop_name(src)
    return Case(id, src.feed_id, "xlsx", cls, title, {name: content}, name, expect, **kw)


def patch_sheet_xml(content: bytes, edit, sheet: str = "xl/worksheets/sheet1.xml") -> bytes:
    """The workbook with one sheet's XML rewritten by ``edit(text) -> text`` (what openpyxl cannot write)."""
    src = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == sheet:
                new = edit(data.decode("utf-8"))
                assert new != data.decode("utf-8"), "the sheet XML did not change"
                data = new.encode("utf-8")
            dst.writestr(item, data)
    return out.getvalue()


def page_files(src: Source, records: list, page_size: int | None = None, total: int | None = None) -> dict[str, bytes]:
    """The API's pages as ``server`` returns them (``deliver.api_page``), ``pages/page-NNNN.json``."""
    size = page_size or src.feed.delivery.page_size
    pages = max(1, -(-len(records) // size))
    out = {}
    for page in range(1, pages + 1):
        body = api_page(records, page, size)
        if total is not None:
            body["data"]["total"] = total
        out[f"pages/page-{page:04d}.json"] = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return out


def api_case(id, src: Source, cls: str, title: str, files: dict[str, bytes], expect: dict, **kw) -> Case:
    return Case(id, src.feed_id, "api/json", cls, title, files, "pages", expect, **kw)


def jsonl_record(rec: dict) -> dict:
    """A record as the agency's SQLite table gives it back to ``extract_sql`` (TEXT columns)."""
    return {k: (None if v is None else v if isinstance(v, str) else str(v)) for k, v in rec.items()}


class JsonlDoc:
    """An extract's JSON lines, each a record (its ``Row``) or blank."""

    def __init__(self, src: Source, rows: list[Row]):
        self.src = src
        self.entries = [[json.dumps(jsonl_record(r.rec), ensure_ascii=False, default=str), "record", r] for r in rows]
        self.eol, self.final_newline = "\n", True

    @property
    def rows(self) -> list[Row]:
        return [e[2] for e in self.entries if e[1] == "record"]

    def bytes(self) -> bytes:
        if not self.entries:
            return b""
        return (self.eol.join(e[0] for e in self.entries) + (self.eol if self.final_newline else "")).encode("utf-8")

    def expect(self, **kw) -> dict:
        return self.src.expect_read(self.rows, dict(Counter(e[1] for e in self.entries if e[1] != "record")), **kw)


def jsonl_case(id, src: Source, cls: str, title: str, content: bytes, expect: dict, **kw) -> Case:
    return Case(id, src.feed_id, "sql/jsonl", cls, title, {"extract.jsonl": content}, "extract.jsonl", expect, **kw)


def limits(src: Source, **values) -> dict:
    for name in values:
        assert name in type(src.feed.limits).model_fields, name
    return {"limits": values}


def first_error(data: bytes, encoding: str, start: int = 0) -> int:
    """The file offset of the first byte ``encoding`` cannot decode (from ``start``)."""
    try:
        data[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        return start + exc.start
    raise AssertionError(f"{encoding} decodes it all")


def line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def pilot_uscc(correct_check: bool, body: str = "100Y4") -> str:
    """A pilot-era code (DOMAIN.md §1): department/type 91, positions 3-4 ``35`` (a Fujian
    region), 9 ``M``, 10-12 ``000``; its check character right or deliberately wrong."""
    first17 = "91" + "350100" + "M" + "000" + body
    assert len(first17) == 17
    right = uscc_check_char(first17)
    return first17 + (right if correct_check else next(c for c in "3" + USCC_CHARSET if c != right))


def wrong_check(code: str) -> str:
    return code[:17] + next(c for c in USCC_CHARSET if c != code[17])


# --------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def _sources(day: dt.date, seed: int) -> dict[str, Source]:
    return {f: Source(f, day, seed) for f in SPECS}


# ---- control: the simulator's own deliveries, read in full ---------------------------------


@case
def controls(S):
    out = []
    for feed_id in ("hcc_project", "hcc_hazard", "agri_fishing_vessel", "emb_accident", "emb_insurance"):
        src = S[feed_id]
        doc = CsvDoc(src, src.rows())
        assert doc.bytes() == csv_bytes(src.records, src.spec.delivery.encoding), "not the simulator's own file"
        exp = doc.expect()
        assert exp["records"] == src.truth["rows_delivered"] and exp["distinct_valid_keys"] == src.truth["distinct_valid"]
        out.append(csv_case(f"control-{feed_id}", src, "control", "the simulator's own CSV drop", doc, exp))
    for feed_id in ("hcc_major_hazard_work", "emb_ent_registry", "tc_rail_segment_chief", "emb_policy_measure"):
        src = S[feed_id]
        rows = src.rows()
        exp = src.expect_read(rows, XLSX_ASIDE)
        assert exp["distinct_valid_keys"] == src.truth["distinct_valid"]
        out.append(xlsx_case(f"control-{feed_id}", src, "control", "the simulator's own workbook", xlsx_of(src, rows), exp))
    for feed_id in ("emb_hazard", "emb_enforcement", "tc_rail_hazard"):
        src = S[feed_id]
        rows = src.rows()
        out.append(api_case(f"control-{feed_id}", src, "control", "the simulator's API pages", page_files(src, [r.rec for r in rows]),
                            src.expect_read(rows, {})))
    for feed_id in ("hcc_gas_inspection", "tc_dg_vehicle", "tc_dg_waybill"):
        src = S[feed_id]
        doc = JsonlDoc(src, src.rows())
        out.append(jsonl_case(f"control-{feed_id}", src, "control", "the extract's JSON lines", doc.bytes(), doc.expect()))
    return out


# ---- encodings ------------------------------------------------------------------------------


@case
def encodings(S):
    out = []
    src = S["hcc_project"]
    doc = CsvDoc(src, src.rows())
    text = doc.text()
    out.append(csv_case("enc-utf16-le-bom", src, "encoding", "saved as UTF-16 (LE, BOM): refused", doc, refused("UTF-16"),
                        content=text.encode("utf-16"), kind="csv/utf-16"))
    out.append(csv_case("enc-utf16-be-bom", src, "encoding", "saved as UTF-16 (BE, BOM): refused", doc, refused("UTF-16"),
                        content=("\ufeff" + text).encode("utf-16-be"), kind="csv/utf-16"))

    # GBK cut inside a two-byte character at the very end: truncated, not "wrong encoding".
    data = doc.bytes()
    last = data.rstrip(b"\r\n")
    line_start = last.rfind(b"\n") + 1
    lead = next(i for i in range(line_start, len(last)) if last[i] >= 0x81)
    out.append(csv_case("enc-gbk-cut-inside-char", src, "encoding", "GBK file cut after the first byte of a two-byte character",
                        doc, refused("truncated"), content=data[: lead + 1]))

    # A byte no GBK/GB18030 character starts with, in the middle of a GBK file.
    rows = src.rows()
    doc = CsvDoc(src, rows)
    i = doc.index(rows[src.pick(rows, at=0.5)[0]])
    before = doc.eol.join(e[0] for e in doc.entries[:i]) + doc.eol
    first_comma = doc.entries[i][0].index(",") + 1
    raw = doc.bytes()
    at = len(before.encode("gbk")) + len(doc.entries[i][0][:first_comma].encode("gbk"))
    bad = raw[:at] + b"\xff" + raw[at:]
    offset = first_error(bad, "gb18030")
    assert offset == at
    out.append(csv_case("enc-gbk-invalid-byte-middle", src, "encoding", "a 0xFF byte inside a GBK file: refused at its byte and line",
                        doc, refused("byte", f"byte {offset}", f"line {line_of(bad, offset)}"), content=bad))

    # A UTF-8 (BOM) file with one line pasted from a GBK source.
    src = S["emb_accident"]
    rows = src.rows()
    doc = CsvDoc(src, rows)
    i = doc.index(rows[src.pick(rows, at=0.6)[0]])
    head = (doc.eol.join(e[0] for e in doc.entries[:i]) + doc.eol).encode("utf-8-sig")
    tail = (doc.eol + doc.eol.join(e[0] for e in doc.entries[i + 1 :]) + doc.eol).encode("utf-8")
    bad = head + doc.entries[i][0].encode("gbk") + tail
    offset = first_error(bad, "utf-8", start=3)
    out.append(csv_case("enc-utf8-bom-with-gbk-line", src, "encoding", "a UTF-8 (BOM) file with one GBK line: refused at its byte and line",
                        doc, refused("byte", f"byte {offset}", f"line {line_of(bad, offset)}"), content=bad))

    # A UTF-8 file without BOM (the feed detects the encoding) with one stray 0x80.
    src = S["hcc_hazard"]
    rows = src.rows()
    doc = CsvDoc(src, rows, encoding="utf-8")
    out.append(csv_case("enc-utf8-no-bom", src, "encoding", "the same file saved as UTF-8 without BOM: read", doc))
    raw = doc.bytes()
    i = doc.index(rows[src.pick(rows, at=0.3)[0]])
    at = len((doc.eol.join(e[0] for e in doc.entries[:i]) + doc.eol).encode("utf-8")) + len(doc.entries[i][0].split(",")[0]) + 1
    bad = raw[:at] + b"\x80" + raw[at:]
    offset = first_error(bad, "utf-8")
    assert offset == at
    out.append(csv_case("enc-utf8-stray-byte-middle", src, "encoding", "a stray 0x80 inside a UTF-8 file: refused at its byte and line",
                        doc, refused("byte", f"byte {offset}", f"line {line_of(bad, offset)}"), content=bad))

    # GB18030 four-byte characters (not in GBK) in a name: read as written.
    src = S["emb_insurance"]
    rows = src.rows()
    i = src.pick(rows, at=0.5)[0]
    name = src.field("org_name")
    rows[i].rec[name] = rows[i].rec[name][:2] + "㐀䶮" + rows[i].rec[name][2:]
    assert len("㐀".encode("gb18030")) == 4
    out.append(csv_case("enc-gb18030-four-byte-chars", src, "encoding", "GB18030 four-byte characters in a name: read", CsvDoc(src, rows)))

    # The same GBK file, with a UTF-8 BOM and UTF-8 bytes (an agency switching encodings): read.
    src = S["agri_fishing_vessel"]
    out.append(csv_case("enc-agri-utf8-bom", src, "encoding", "a GBK feed delivered as UTF-8 with BOM: read", CsvDoc(src, src.rows(), encoding="utf-8-sig")))
    return out


# ---- structure ------------------------------------------------------------------------------


def _padded(doc: CsvDoc, text: str) -> str:
    """A line as Excel exports it: the text, then a comma per empty cell."""
    return text + "," * (doc.entries[0][0].count(","))


@case
def structure(S):
    out = []
    src = S["hcc_project"]

    rows = src.rows()
    doc = CsvDoc(src, rows)
    n = len(doc.entries)
    doc.insert(n // 3, "", "blank")
    doc.insert(n // 2, _padded(doc, ""), "blank")
    doc.insert(2 * n // 3, "   ", "blank")
    out.append(csv_case("csv-blank-lines-inside", src, "structure", "empty, comma-only and space-only lines among the data: set aside", doc))

    rows = src.rows()
    doc = CsvDoc(src, rows)
    doc.insert(0, _padded(doc, "天津市住房和城乡建设委员会 在建项目报送表"), "title")
    doc.insert(1, "报送日期：2026年11月5日", "title")
    out.append(csv_case("csv-title-lines", src, "structure", "two title lines above the header: set aside", doc))

    # Title lines above and note rows below (a blank line before the notes): the e2e subset uses it.
    hz = S["hcc_hazard"]
    doc = CsvDoc(hz, hz.rows())
    doc.insert(0, _padded(doc, "天津市建设工程施工现场隐患排查台账"), "title")
    doc.insert(1, "填报单位：天津市住房和城乡建设委员会", "title")
    doc.entries.append(["", "blank", None])
    doc.entries.append(["注：1. 本表由各区住建委填报；2. 日期格式为年-月-日。", "note", None])
    doc.entries.append([_padded(doc, "填报人：王芳"), "note", None])
    doc.entries.append(["审核人：刘强,联系电话：022-23456789", "note", None])
    out.append(csv_case("csv-title-and-notes", hz, "structure", "titles above, a blank line and 注/填报人/审核人 notes below: set aside", doc))

    doc = CsvDoc(src, src.rows())
    doc.entries.append(["注：本表数据截至报送日24时", "note", None])
    doc.entries.append(["填报人：张三", "note", None])
    doc.entries.append(["审核人：李四", "note", None])
    out.append(csv_case("csv-notes-below", src, "structure", "note rows right below the data: set aside", doc))

    # Two unmatched quote characters, ten lines apart: each line quarantined, nothing swallowed.
    rows = src.rows()
    doc = CsvDoc(src, rows)
    a, b = src.pick(rows, 2, at=0.3)
    if abs(a - b) < 5:
        b = src.pick(rows, 1, at=0.7)[0]
    name = src.field("project_name")
    for idx, new in ((a, lambda v: '"' + v), (b, lambda v: v + '"')):
        line = doc.index(rows[idx])
        value = rows[idx].rec[name]
        assert f",{value}," in doc.entries[line][0]
        doc.entries[line][0] = doc.entries[line][0].replace(f",{value},", f",{new(value)},", 1)
        rows[idx].rules = frozenset({"row.shape"})
    out.append(csv_case("csv-unmatched-quotes", src, "structure", "an opening quote on one line, a closing one lines later: two row.shape rows, the rows between read", doc))

    rows = src.rows()
    doc = CsvDoc(src, rows)
    i = src.pick(rows, at=0.5)[0]
    line = doc.index(rows[i])
    doc.entries[line][0] = doc.entries[line][0].rsplit(",", 2)[0]
    rows[i].rules = frozenset({"row.shape"})
    out.append(csv_case("csv-too-few-fields", src, "structure", "a line two fields short: quarantined as row.shape", doc))

    rows = src.rows()
    doc = CsvDoc(src, rows)
    i = src.pick(rows, at=0.5)[0]
    line = doc.index(rows[i])
    doc.entries[line][0] += ",多出的值,另一个"
    rows[i].rules = frozenset({"row.shape"})
    out.append(csv_case("csv-too-many-fields", src, "structure", "a line with two fields too many: quarantined as row.shape", doc))

    rows = src.rows()
    doc = CsvDoc(src, rows)
    for e in doc.entries:
        e[0] += ","
    out.append(csv_case("csv-trailing-delimiter", src, "structure", "every line ends with a delimiter (an empty, unnamed column): read", doc))

    doc = CsvDoc(src, src.rows())
    doc.eol = "\n"
    out.append(csv_case("csv-lf-line-ends", src, "structure", "LF line ends (the simulator writes CRLF): read", doc))
    doc = CsvDoc(src, src.rows())
    doc.eol = "\r"
    out.append(csv_case("csv-lone-cr", src, "structure", "old Mac line ends (lone CR): read", doc))
    doc = CsvDoc(src, src.rows())
    raw = doc.text().split("\r\n")
    text = "".join(line + ("\n" if k % 3 == 0 else "\r\n") for k, line in enumerate(raw[:-1]))
    out.append(csv_case("csv-mixed-line-ends", src, "structure", "CRLF and LF line ends mixed: read", doc, content=text.encode(doc.encoding)))
    doc = CsvDoc(src, src.rows())
    doc.final_newline = False
    out.append(csv_case("csv-no-final-newline", src, "structure", "complete, but no newline after the last record: read", doc))

    # An embedded line break in a quoted value, in a feed that does not declare multiline_values.
    rows = src.rows()
    i = src.pick(rows, at=0.5)[0]
    doc = CsvDoc(src, rows)
    line = doc.index(rows[i])
    value = rows[i].rec[name]
    first, second = doc.entries[line][0].replace(f",{value},", f',"{value[:3]}\n{value[3:]}",', 1).split("\n")
    doc.entries[line][0] = first
    rows[i].rules = frozenset({"row.shape"})
    extra = Row(None, rules=frozenset({"row.shape"}))
    doc.insert(line + 1, second, "record", extra)
    out.append(csv_case("csv-line-break-in-quoted-value", src, "structure",
                        "a quoted value holding a line break (multiline_values is off): both lines quarantined as row.shape", doc))

    # Duplicate column names, a missing required column, header only, empty.
    ins = S["emb_insurance"]
    doc = CsvDoc(ins, ins.rows())
    header = next(csv.reader([doc.entries[0][0]]))
    dup = ins.field("premium")
    header[header.index(ins.field("insured_headcount"))] = dup
    doc.entries[0][0] = ",".join(header)
    out.append(csv_case("csv-duplicate-header", ins, "structure", "two columns named alike: refused", doc, refused(dup)))

    rows = src.rows()
    gone = src.field("permit_no")
    for r in rows:
        del r.rec[gone]
    out.append(csv_case("csv-missing-required-column", src, "structure", "a required column left out: refused", CsvDoc(src, rows),
                        refused("missing required column", gone)))

    doc = CsvDoc(src, [])
    out.append(csv_case("csv-header-only", src, "structure", "a header and no rows (a quiet day): read, nothing to load", doc))
    out.append(csv_case("csv-empty-file", src, "structure", "an empty file: refused", doc, refused("empty"), content=b""))
    out.append(csv_case("csv-whitespace-only", src, "structure", "only blank lines: refused", doc, refused("empty"), content=b"\r\n  \r\n\r\n"))
    other = S["agri_fishing_vessel"]
    out.append(csv_case("csv-another-feeds-file", src, "structure", "another feed's file under this feed's name: refused", doc,
                        refused("missing required column"), content=CsvDoc(other, other.rows()).bytes()))

    # API pages and extracts: records that are not objects, extra and missing fields, an empty day.
    enf = S["emb_enforcement"]
    rows = enf.rows()
    i = enf.pick(rows, at=0.5)[0]
    records = [r.rec for r in rows]
    records[i] = list(records[i].values())
    rows[i].rules = frozenset({"row.not_object"})
    out.append(api_case("api-record-not-object", enf, "structure", "one record an array, not an object: quarantined as row.not_object",
                        page_files(enf, records), enf.expect_read(rows, {})))

    hz = S["emb_hazard"]
    rows = hz.rows()
    for r in rows:
        r.rec["xzfield"] = "新增字段"
    out.append(api_case("api-extra-field", hz, "structure", "every record has a field the registry does not map: read, drift noted",
                        page_files(hz, [r.rec for r in rows]), hz.expect_read(rows, {})))
    out.append(api_case("api-empty-day", hz, "structure", "no record today (total 0): read, nothing to load",
                        page_files(hz, []), hz.expect_read([], {})))
    rail = S["tc_rail_hazard"]
    rows = rail.rows()
    gone = rail.field("mileage")
    for r in rows:
        r.rec[gone.upper()] = r.rec.pop(gone)
    out.append(api_case("api-missing-required-field", rail, "structure", "a required field renamed in every record: refused",
                        page_files(rail, [r.rec for r in rows]), refused("missing required column", gone)))
    files = page_files(hz, [r.rec for r in hz.rows()])
    name2 = sorted(files)[1]
    body = json.loads(files[name2])
    body["data"]["records"] = None
    files[name2] = json.dumps(body, ensure_ascii=False).encode()
    out.append(api_case("api-records-null", hz, "structure", "a page whose records are null: refused naming the page", files,
                        refused(Path(name2).name)))

    gas = S["hcc_gas_inspection"]
    rows = gas.rows()
    doc = JsonlDoc(gas, rows)
    i = gas.pick(rows, at=0.5)[0]
    doc.entries[i][0] = doc.entries[i][0][: len(doc.entries[i][0]) // 2]
    rows[i].rules = frozenset({"row.shape"})
    out.append(jsonl_case("jsonl-broken-line-middle", gas, "structure", "a line in the middle is not complete JSON: quarantined as row.shape",
                          doc.bytes(), doc.expect()))
    veh = S["tc_dg_vehicle"]
    doc = JsonlDoc(veh, veh.rows())
    doc.entries.insert(len(doc.entries) // 3, ["", "blank", None])
    doc.entries.insert(len(doc.entries) // 2, ["   ", "blank", None])
    out.append(jsonl_case("jsonl-blank-lines", veh, "structure", "blank lines among the records: set aside", doc.bytes(), doc.expect()))
    way = S["tc_dg_waybill"]
    rows = way.rows()
    doc = JsonlDoc(way, rows)
    i = way.pick(rows, at=0.5)[0]
    doc.entries[i][0] = json.dumps(list(jsonl_record(rows[i].rec).values()), ensure_ascii=False)
    rows[i].rules = frozenset({"row.not_object"})
    out.append(jsonl_case("jsonl-array-line", way, "structure", "a line holding an array: quarantined as row.not_object", doc.bytes(), doc.expect()))
    doc = JsonlDoc(gas, gas.rows())
    doc.eol = "\r\n"
    out.append(jsonl_case("jsonl-crlf", gas, "structure", "CRLF line ends: read", doc.bytes(), doc.expect()))
    doc = JsonlDoc(veh, veh.rows())
    doc.final_newline = False
    out.append(jsonl_case("jsonl-no-final-newline", veh, "structure", "complete, without a final newline: read", doc.bytes(), doc.expect()))
    out.append(jsonl_case("jsonl-empty", way, "structure", "no row today (an empty extract): read, nothing to load", b"", way.expect_read([], {})))
    return out


# ---- truncation -----------------------------------------------------------------------------


@case
def truncation(S):
    out = []
    agri = S["agri_fishing_vessel"]
    doc = CsvDoc(agri, agri.rows())
    k = len(doc.entries) // 2
    cut_line = doc.entries[k][0]
    cut = [m.start() for m in re.finditer(",", cut_line)][len(cut_line.split(",")) // 2] - 2
    text = doc.eol.join(e[0] for e in doc.entries[:k]) + doc.eol + cut_line[:cut]
    out.append(csv_case("csv-cut-mid-row", agri, "truncation", "an upload cut off in the middle of a row: refused", doc, refused("truncated"), content=text.encode(doc.encoding)))

    src = S["hcc_project"]
    rows = src.rows()
    name = src.field("project_name")
    last = rows[-1]
    last.rec[name] = last.rec[name] + ",二期,三标段"
    doc = CsvDoc(src, rows)
    full = doc.text()
    at = full.rindex(",二期,三标段") + 3
    out.append(csv_case("csv-cut-inside-quotes", src, "truncation", "cut inside the quoted value of the last row: refused", doc, refused("truncated"), content=full[:at].encode(doc.encoding)))

    hz = S["hcc_hazard"]
    marker = {"delivery": {"marker_suffix": MARKER}}
    doc = CsvDoc(hz, hz.rows())
    announced = len(doc.rows)
    kept = announced // 2
    short = CsvDoc(hz, doc.rows[:kept])
    out.append(csv_case("csv-cut-at-row-boundary-marker", hz, "truncation",
                        "cut at a row boundary; the marker announces the full count: refused", short,
                        refused("announces", announced, kept), overrides=marker,
                        extra_files={drop_name(hz) + MARKER: f"rows={announced}\n".encode()}))
    out.append(csv_case("csv-marker-count-agrees", hz, "truncation", "complete, with a marker holding its count: read", doc,
                        overrides=marker, extra_files={drop_name(hz) + MARKER: f"{announced}".encode()}))
    out.append(csv_case("csv-marker-empty", hz, "truncation", "complete, with an empty marker (completeness only): read", doc,
                        overrides=marker, extra_files={drop_name(hz) + MARKER: b""}))
    out.append(csv_case("csv-marker-garbage", hz, "truncation", "a marker holding no count: refused", doc,
                        refused("marker"), overrides=marker, extra_files={drop_name(hz) + MARKER: "上传完成".encode()}))

    acc = S["emb_accident"]
    doc = CsvDoc(acc, acc.rows())
    data = doc.bytes()
    last = data.rstrip(b"\r\n")
    lead = next(i for i in range(last.rfind(b"\n") + 1, len(last)) if last[i] >= 0xE0)
    out.append(csv_case("csv-utf8-cut-inside-char", acc, "truncation", "a UTF-8 file cut inside a three-byte character: refused",
                        doc, refused("truncated"), content=data[: lead + 2]))

    pm = S["emb_policy_measure"]
    content = xlsx_of(pm, pm.rows())
    out.append(xlsx_case("xlsx-truncated-zip", pm, "truncation", "a workbook cut off at 60% of its bytes: refused", content[: len(content) * 6 // 10],
                         refused("truncated")))

    hzd = S["emb_hazard"]
    records = [r.rec for r in hzd.rows()]
    files = page_files(hzd, records)
    assert len(files) >= 3
    cut_name = sorted(files)[2]
    files[cut_name] = files[cut_name][: len(files[cut_name]) // 2]
    out.append(api_case("api-page-cut", hzd, "truncation", "the third page cut off mid-JSON: refused naming the page", files,
                        refused(Path(cut_name).name)))
    files = page_files(hzd, records)
    dropped = sorted(files)[-1]
    held = len(records) - len(json.loads(files.pop(dropped))["data"]["records"])
    out.append(api_case("api-last-page-missing", hzd, "truncation", "the last page missing: pages hold fewer than the announced total: refused",
                        files, refused("announced", len(records), held)))
    rail = S["tc_rail_hazard"]
    records = [r.rec for r in rail.rows()]
    out.append(api_case("api-total-too-high", rail, "truncation", "the API announces more records than its pages hold: refused",
                        page_files(rail, records, total=len(records) + 5), refused("announced", len(records) + 5, len(records))))

    veh = S["tc_dg_vehicle"]
    doc = JsonlDoc(veh, veh.rows())
    data = doc.bytes()
    out.append(jsonl_case("jsonl-last-line-cut", veh, "truncation", "the extract's last line cut off: refused", data[: len(data) - 40],
                          refused("truncated")))
    return out


# ---- Excel ------------------------------------------------------------------------------------


def _sheet_from(wb, name: str, rows: list[list], index: int):
    ws = wb.create_sheet(name, index)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    return ws


def _values(content: bytes) -> list[list]:
    return [list(r) for r in workbook(content).worksheets[0].iter_rows(values_only=True)]


@case
def excel(S):
    out = []
    ent = S["emb_ent_registry"]
    rows = ent.rows()
    old = Source(ent.feed_id, ent.day - dt.timedelta(days=1), ent.seed)
    wb = workbook(xlsx_of(ent, rows))
    stale = _sheet_from(wb, "旧版（勿用）", _values(xlsx_of(old, old.rows())), 0)
    stale.sheet_state = "hidden"
    wb.active = 1
    out.append(xlsx_case("xlsx-hidden-first-sheet", ent, "excel", "a hidden first sheet holds yesterday's copy: the visible sheet is read",
                         saved(wb), ent.expect_read(rows, XLSX_ASIDE)))

    chief = S["tc_rail_segment_chief"]
    rows = chief.rows()
    old = Source(chief.feed_id, chief.day - dt.timedelta(days=1), chief.seed)
    wb = workbook(xlsx_of(chief, rows))
    _sheet_from(wb, "备份", _values(xlsx_of(old, old.rows())), 1)
    out.append(xlsx_case("xlsx-two-visible-candidate-sheets", chief, "excel", "two visible sheets with the feed's header: refused naming both",
                         saved(wb), refused("备份", "Sheet1")))

    pm = S["emb_policy_measure"]
    rows = pm.rows()
    wb = workbook(xlsx_of(pm, rows))
    _sheet_from(wb, "填报说明", [["填报说明"], ["1. 每行填写一项制度措施。"], ["2. 日期格式为年-月-日。"]], 0)
    wb.active = 0
    out.append(xlsx_case("xlsx-instructions-sheet-first", pm, "excel", "a visible instructions sheet before the data sheet: the data sheet is read",
                         saved(wb), pm.expect_read(rows, XLSX_ASIDE)))

    # Blank rows inside the data (the defect that lost 63 registry rows); the e2e subset uses the first.
    work = S["hcc_major_hazard_work"]
    rows = work.rows()
    wb = workbook(xlsx_of(work, rows))
    wb.active.insert_rows(XLSX_FIRST_DATA_ROW + len(rows) // 2)
    out.append(xlsx_case("xlsx-blank-row-inside", work, "excel", "an empty row in the middle of the data: every row after it read",
                         saved(wb), work.expect_read(rows, {**XLSX_ASIDE, "blank": XLSX_ASIDE["blank"] + 1})))
    rows = pm.rows()
    wb = workbook(xlsx_of(pm, rows))
    wb.active.insert_rows(XLSX_FIRST_DATA_ROW + 20)
    wb.active.insert_rows(XLSX_FIRST_DATA_ROW + 5, 2)
    wb.active.insert_rows(XLSX_FIRST_DATA_ROW)
    out.append(xlsx_case("xlsx-blank-rows-several", pm, "excel", "empty rows right below the header and twice among the data: read",
                         saved(wb), pm.expect_read(rows, {**XLSX_ASIDE, "blank": XLSX_ASIDE["blank"] + 4})))

    rows = ent.rows()
    wb = workbook(xlsx_of(ent, rows))
    for k in (3, 4, 30):
        wb.active.row_dimensions[XLSX_FIRST_DATA_ROW + k].hidden = True
    out.append(xlsx_case("xlsx-hidden-rows", ent, "excel", "rows hidden by the clerk: still read", saved(wb), ent.expect_read(rows, XLSX_ASIDE)))

    # A district merged down three rows (as offices merge a column of equal values): each row has it.
    rows = work.rows()
    district = work.field("district_code")
    start = next(i for i in range(len(rows) - 2) if all(work.clean(rows[i + k]) for k in range(3)))
    for k in (1, 2):
        rows[start + k].rec[district] = rows[start].rec[district]
    wb = workbook(xlsx_of(work, rows))
    ws = wb.active
    col = 2 + list(rows[0].rec).index(district)
    for k in (1, 2):
        ws.cell(XLSX_FIRST_DATA_ROW + start + k, col).value = None
    ws.merge_cells(start_row=XLSX_FIRST_DATA_ROW + start, start_column=col, end_row=XLSX_FIRST_DATA_ROW + start + 2, end_column=col)
    out.append(xlsx_case("xlsx-merged-cells-down-a-column", work, "excel", "one district merged over three data rows: each row gets it",
                         saved(wb), work.expect_read(rows, XLSX_ASIDE)))

    # The memory and time traps: a far stray cell, a merge over the whole sheet, a declared dimension of the whole sheet.
    rows = work.rows()
    wb = workbook(xlsx_of(work, rows))
    wb.active["XFD1048576"] = "x"
    # The stray value is not lost: its row is a record outside the header's columns (row.shape), and the
    # empty rows up to it are blank; read fast, the sheet's cells streamed sparse.
    used = XLSX_FIRST_DATA_ROW - 1 + len(rows) + XLSX_ASIDE["blank"] + XLSX_ASIDE["note"]
    stray_aside = {**XLSX_ASIDE, "blank": XLSX_ASIDE["blank"] + 1_048_576 - used - 1}
    out.append(xlsx_case("xlsx-stray-cell-xfd1048576", work, "excel", "one stray value in cell XFD1048576: quarantined as a row, fast",
                         saved(wb), work.expect_read([*rows, Row(None, rules=frozenset({"row.shape"}))], stray_aside), trap=True))
    rows = pm.rows()

    def whole_sheet_merge(xml: str) -> str:
        count = int(re.search(r'<mergeCells count="(\d+)"', xml).group(1))
        return xml.replace(f'<mergeCells count="{count}">', f'<mergeCells count="{count + 1}"><mergeCell ref="A1:XFD1048576" />', 1)

    out.append(xlsx_case("xlsx-merge-over-whole-sheet", pm, "excel", "a merged range A1:XFD1048576: refused naming it, fast",
                         patch_sheet_xml(xlsx_of(pm, rows), whole_sheet_merge), refused("A1:XFD1048576"), trap=True))
    rows = chief.rows()
    out.append(xlsx_case("xlsx-declared-dimension-whole-sheet", chief, "excel",
                         "the sheet declares the dimension A1:XFD1048576 over a small table: read, fast",
                         patch_sheet_xml(xlsx_of(chief, rows), lambda xml: re.sub(r'<dimension ref="[^"]+" ?/>', '<dimension ref="A1:XFD1048576" />', xml, count=1)),
                         chief.expect_read(rows, XLSX_ASIDE), trap=True))

    # Formulas: without a cached value the cell is refused (quarantined); with one, the value is read.
    rows = work.rows()
    i = work.pick(rows, at=0.5)[0]
    manager = work.field("project_manager")
    wb = workbook(xlsx_of(work, rows))
    wb.active.cell(XLSX_FIRST_DATA_ROW + i, 2 + list(rows[i].rec).index(manager)).value = '=CONCATENATE("孙","明辉")'
    rows[i].rules = frozenset({"cell.formula_uncached"})
    out.append(xlsx_case("xlsx-formula-without-cached-value", work, "excel", "a formula cell saved without its value: the row quarantined (cell.formula_uncached)",
                         saved(wb), work.expect_read(rows, XLSX_ASIDE)))
    rows = ent.rows()
    staff = ent.field("employees")
    i = ent.pick(rows, at=0.5, where=lambda rec: str(rec[staff] or "").isdigit() and int(rec[staff]) > 1)[0]
    n = int(rows[i].rec[staff])
    wb = workbook(xlsx_of(ent, rows))
    ref = wb.active.cell(XLSX_FIRST_DATA_ROW + i, 2 + list(rows[i].rec).index(staff))
    ref.value = f"={n - 1}+1"
    content = patch_sheet_xml(saved(wb), lambda xml: re.sub(rf'(<c r="{ref.coordinate}"[^>]*>)<f>{n - 1}\+1</f><v ?/>', rf"\1<f>{n - 1}+1</f><v>{n}</v>", xml))
    out.append(xlsx_case("xlsx-formula-with-cached-value", ent, "excel", "a formula cell with its cached value: the value is read",
                         content, ent.expect_read(rows, XLSX_ASIDE)))

    rows = ent.rows()
    wb = workbook(xlsx_of(ent, rows))
    header = [c.value for c in wb.active[3]]
    dup = ent.field("major_hazard_level")
    wb.active.cell(3, 1 + header.index(ent.field("risk_level"))).value = dup
    out.append(xlsx_case("xlsx-duplicate-headers", ent, "excel", "two columns with one header: refused", saved(wb), refused(dup)))
    rows = chief.rows()
    wb = workbook(xlsx_of(chief, rows))
    header = [c.value for c in wb.active[3]]
    gone = chief.field("local_chief")
    wb.active.cell(3, 1 + header.index(gone)).value = gone + "姓名"
    out.append(xlsx_case("xlsx-missing-required-column", chief, "excel", "a required column's header renamed: refused", saved(wb),
                         refused("missing required column", gone)))
    return out


# ---- limits -------------------------------------------------------------------------------------


@case
def limit_cases(S):
    out = []
    src = S["hcc_project"]
    doc = CsvDoc(src, src.rows())
    size = len(doc.bytes())
    out.append(csv_case("limit-csv-file-size", src, "limits", "a file larger than limits.max_file_mb: refused", doc, refused("max_file_mb"),
                        overrides=limits(src, max_file_mb=size / 2 / (1 << 20))))
    hz = S["hcc_hazard"]
    doc = CsvDoc(hz, hz.rows())
    out.append(csv_case("limit-csv-rows", hz, "limits", "more rows than limits.max_rows: refused", doc, refused("max_rows"),
                        overrides=limits(hz, max_rows=len(doc.rows) - 1)))
    agri = S["agri_fishing_vessel"]
    doc = CsvDoc(agri, agri.rows())
    out.append(csv_case("limit-csv-columns", agri, "limits", "more columns than limits.max_columns: refused", doc, refused("max_columns"),
                        overrides=limits(agri, max_columns=len(agri.records[0]) - 1)))
    # A 40,000-character field (over Excel's own 32,767 default): the e2e subset uses it.
    acc = S["emb_accident"]
    rows = acc.rows()
    i = acc.pick(rows, at=0.5)[0]
    rows[i].rec[acc.field("summary")] = ("厂内叉车倒车时撞伤作业人员。" * 3000)[:40_000]
    out.append(csv_case("limit-csv-field-40000-chars", acc, "limits", "a 40,000-character value, over limits.max_field_chars: refused",
                        CsvDoc(acc, rows), refused("max_field_chars")))
    out.append(csv_case("limit-csv-field-raised-limit", acc, "limits", "the same value with the feed's max_field_chars raised to 50,000: read",
                        CsvDoc(acc, rows), overrides=limits(acc, max_field_chars=50_000)))

    pm = S["emb_policy_measure"]
    rows = pm.rows()
    out.append(xlsx_case("limit-xlsx-rows", pm, "limits", "a sheet with more rows than limits.max_rows: refused", xlsx_of(pm, rows),
                         refused("max_rows"), overrides=limits(pm, max_rows=len(rows) - 1)))
    chief = S["tc_rail_segment_chief"]
    rows = chief.rows()
    out.append(xlsx_case("limit-xlsx-columns", chief, "limits", "a sheet with more columns than limits.max_columns: refused", xlsx_of(chief, rows),
                         refused("max_columns"), overrides=limits(chief, max_columns=len(rows[0].rec) - 1)))
    work = S["hcc_major_hazard_work"]
    rows = work.rows()
    content = xlsx_of(work, rows)
    merges = len(workbook(content).active.merged_cells.ranges)
    out.append(xlsx_case("limit-xlsx-merged-ranges", work, "limits", "more merged ranges than limits.max_merged_ranges: refused", content,
                         refused("max_merged_ranges"), overrides=limits(work, max_merged_ranges=merges - 1)))
    ent = S["emb_ent_registry"]
    rows = ent.rows()
    cells = (len(rows) + sum(XLSX_ASIDE.values())) * (len(rows[0].rec) + 1)
    out.append(xlsx_case("limit-xlsx-sheet-cells", ent, "limits", "a used range larger than limits.max_sheet_cells: refused", xlsx_of(ent, rows),
                         refused("max_sheet_cells"), overrides=limits(ent, max_sheet_cells=cells // 2)))
    rows = work.rows()
    i = work.pick(rows, at=0.5)[0]
    # An XLSX cell holds at most 32,767 characters (openpyxl cuts longer text when it writes): the
    # feed's limit is lowered below that to exercise the check.
    rows[i].rec[work.field("scale_description")] = ("单件起吊重量150kN，" * 4000)[:32_767]
    out.append(xlsx_case("limit-xlsx-cell-32767-chars", work, "limits", "a 32,767-character cell over a limit of 20,000: refused",
                         xlsx_of(work, rows), refused("max_field_chars"), overrides=limits(work, max_field_chars=20_000)))

    enf = S["emb_enforcement"]
    records = [r.rec for r in enf.rows()]
    out.append(api_case("limit-api-rows", enf, "limits", "pages holding more records than limits.max_rows: refused", page_files(enf, records),
                        refused("max_rows"), overrides=limits(enf, max_rows=len(records) - 1)))
    files = page_files(enf, records)
    out.append(api_case("limit-api-page-size", enf, "limits", "a page larger than limits.max_file_mb: refused", files, refused("max_file_mb"),
                        overrides=limits(enf, max_file_mb=max(len(b) for b in files.values()) / 2 / (1 << 20))))
    rail = S["tc_rail_hazard"]
    rows = rail.rows()
    i = rail.pick(rows, at=0.5)[0]
    rows[i].rec[rail.field("description")] = ("线路两侧防尘网、地膜等轻飘物未清理，" * 3000)[:40_000]
    out.append(api_case("limit-api-field-40000-chars", rail, "limits", "a 40,000-character value in a record: refused",
                        page_files(rail, [r.rec for r in rows]), refused("max_field_chars")))
    veh = S["tc_dg_vehicle"]
    doc = JsonlDoc(veh, veh.rows())
    out.append(jsonl_case("limit-jsonl-rows", veh, "limits", "an extract with more rows than limits.max_rows: refused", doc.bytes(),
                          refused("max_rows"), overrides=limits(veh, max_rows=len(doc.rows) - 1)))
    out.append(jsonl_case("limit-jsonl-columns", veh, "limits", "records with more fields than limits.max_columns: refused", doc.bytes(),
                          refused("max_columns"), overrides=limits(veh, max_columns=len(veh.records[0]) - 1)))
    gas = S["hcc_gas_inspection"]
    rows = gas.rows()
    i = gas.pick(rows, at=0.5)[0]
    rows[i].rec[gas.field("defect_items")] = ("燃气泄漏报警器未安装；" * 4000)[:40_000]
    out.append(jsonl_case("limit-jsonl-field-40000-chars", gas, "limits", "a 40,000-character value in a line: refused",
                          JsonlDoc(gas, rows).bytes(), refused("max_field_chars")))
    return out


# ---- text hygiene ---------------------------------------------------------------------------------


@case
def hygiene(S):
    out = []
    src = S["hcc_project"]
    name = src.field("project_name")
    rows = src.rows()
    doc = CsvDoc(src, rows)
    offsets, pos = [], 0
    for e in doc.entries:
        offsets.append(pos)
        pos += len((e[0] + doc.eol).encode(doc.encoding))
    late = [k for k, e in enumerate(doc.entries) if e[1] == "record" and offsets[k] > 4096 and src.clean(e[2])]
    assert late, "the file is shorter than 4 KB"
    row = doc.entries[late[len(late) // 2]][2]
    row.rec[name] = row.rec[name][:3] + "\x00" + row.rec[name][3:]
    row.rules = frozenset()
    out.append(csv_case("hygiene-nul-after-4kb", src, "hygiene", "a NUL byte inside a name after the first 4 KB: removed, the row valid",
                        CsvDoc(src, rows)))
    rows = src.rows()
    i = src.pick(rows, at=0.0)[0]
    rows[i].rec[name] = rows[i].rec[name][:2] + "\x00\x00" + rows[i].rec[name][2:]
    rows[i].rules = frozenset()
    out.append(csv_case("hygiene-nul-in-first-4kb", src, "hygiene", "NUL bytes inside a name in the first 4 KB: the same rule, the row valid",
                        CsvDoc(src, rows)))

    hz = S["hcc_hazard"]
    rows = hz.rows()
    i = hz.pick(rows, at=0.5)[0]
    desc = hz.field("description")
    rows[i].rec[desc] = rows[i].rec[desc][:4] + "\x0b" + rows[i].rec[desc][4:]
    rows[i].rules = frozenset()
    out.append(csv_case("hygiene-vertical-tab", hz, "hygiene", "a vertical tab inside a description: removed, the row valid", CsvDoc(hz, rows)))

    acc = S["emb_accident"]
    rows = acc.rows()
    i, j = acc.pick(rows, 2, at=0.3)
    where = acc.field("location")
    rows[i].rec[where] = rows[i].rec[where] + "\x85"
    rows[j].rec[where] = "\x9f" + rows[j].rec[where] + "\x1b"
    rows[i].rules = rows[j].rules = frozenset()
    out.append(csv_case("hygiene-c1-controls", acc, "hygiene", "C1 (U+0085, U+009F) and ESC control characters in values: removed, rows valid",
                        CsvDoc(acc, rows)))
    rows = acc.rows()
    org = acc.field("org_name")
    picked = acc.pick(rows, 3, at=0.2)
    for k, zw in zip(picked, ("\u200b", "\u200d", "\ufeff")):
        rows[k].rec[org] = rows[k].rec[org][:2] + zw + rows[k].rec[org][2:]
        rows[k].rules = frozenset()
    rows[picked[0]].rec[org] += "\u200b"
    out.append(csv_case("hygiene-zero-width-in-names", acc, "hygiene", "zero-width spaces and joiners inside enterprise names: removed, rows valid",
                        CsvDoc(acc, rows)))

    # A full-width hazard number equal to another row's key once normalised: one key, not two.
    rows = hz.rows()
    i = hz.pick(rows, at=0.5)[0]
    again = copy.deepcopy(rows[i].rec)
    key = hz.spec.key
    again[key] = fullwidth(again[key])
    rows.append(Row(again, rules=frozenset(), key=halfwidth(again[key]).strip()))
    assert rows[-1].key == hz.norm_key(rows[i].rec)
    out.append(csv_case("hygiene-fullwidth-key-equals-another", hz, "hygiene",
                        "a full-width hazard number equal to another row's: normalised to one key", CsvDoc(hz, rows)))

    hzd = S["emb_hazard"]
    rows = hzd.rows()
    i, j = hzd.pick(rows, 2, at=0.5)
    desc = hzd.field("description")
    rows[i].rec[desc] = rows[i].rec[desc][:2] + "\x00" + rows[i].rec[desc][2:]
    rows[j].rec[desc] = rows[j].rec[desc][:2] + "\x0b\x07" + rows[j].rec[desc][2:]
    rows[i].rules = rows[j].rules = frozenset()
    out.append(api_case("hygiene-api-controls", hzd, "hygiene", r"\u0000, \u000b and \u0007 in JSON strings: removed, rows valid",
                        page_files(hzd, [r.rec for r in rows]), hzd.expect_read(rows, {})))
    gas = S["hcc_gas_inspection"]
    rows = gas.rows()
    i = gas.pick(rows, at=0.5)[0]
    addr = gas.field("customer_address_masked")
    rows[i].rec[addr] = "\x00" + (rows[i].rec[addr] or "") + "\u200b"
    rows[i].rules = frozenset()
    doc = JsonlDoc(gas, rows)
    out.append(jsonl_case("hygiene-jsonl-nul-and-zero-width", gas, "hygiene", "a NUL and a zero-width space in an extract's value: removed, the row valid",
                          doc.bytes(), doc.expect()))
    return out


# ---- codes ----------------------------------------------------------------------------------------


PILOT = "uscc.pilot_era"


@case
def codes(S):
    out = []
    src = S["hcc_project"]
    uscc = src.field("uscc")
    rows = src.rows()
    i = src.pick(rows, at=0.5)[0]
    rows[i].rec[uscc] = pilot_uscc(correct_check=True)
    rows[i].rules, rows[i].flags = frozenset(), frozenset({PILOT})
    out.append(csv_case("code-pilot-era-uscc", src, "codes", "a pilot-era USCC (..35....M000...): accepted and flagged", CsvDoc(src, rows),
                        CsvDoc(src, rows).expect(about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    hz = S["hcc_hazard"]
    rows = hz.rows()
    i = hz.pick(rows, at=0.5)[0]
    code = pilot_uscc(correct_check=False)
    assert code[17] != uscc_check_char(code[:17])
    rows[i].rec[hz.field("uscc")] = code
    rows[i].rules, rows[i].flags = frozenset(), frozenset({PILOT})
    out.append(csv_case("code-pilot-era-uscc-check-fails", hz, "codes", "a pilot-era USCC whose check character fails: accepted and flagged",
                        CsvDoc(hz, rows), CsvDoc(hz, rows).expect(about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    hzd = S["emb_hazard"]
    rows = hzd.rows()
    i = hzd.pick(rows, at=0.5)[0]
    rows[i].rec[hzd.field("uscc")] = fullwidth(pilot_uscc(correct_check=False, body="2AB3C"))
    rows[i].rules, rows[i].flags = frozenset(), frozenset({PILOT})
    out.append(api_case("code-pilot-era-fullwidth-api", hzd, "codes", "a full-width pilot-era USCC in an API record: normalised, accepted, flagged",
                        page_files(hzd, [r.rec for r in rows]), hzd.expect_read(rows, {}, about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    ent = S["emb_ent_registry"]
    rows = ent.rows()
    i = ent.pick(rows, at=0.5)[0]
    code = pilot_uscc(correct_check=True, body="0K7L2")
    rows[i].rec[ent.field("uscc")] = code
    rows[i].rules, rows[i].flags, rows[i].key = frozenset(), frozenset({PILOT}), code
    out.append(xlsx_case("code-pilot-era-uscc-as-key-xlsx", ent, "codes", "a pilot-era USCC as the registry's key: accepted and flagged",
                         xlsx_of(ent, rows), ent.expect_read(rows, XLSX_ASIDE, about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    way = S["tc_dg_waybill"]
    rows = way.rows()
    i = way.pick(rows, at=0.5)[0]
    rows[i].rec[way.field("uscc")] = pilot_uscc(correct_check=False, body="3D0E9")
    rows[i].rules, rows[i].flags = frozenset(), frozenset({PILOT})
    doc = JsonlDoc(way, rows)
    out.append(jsonl_case("code-pilot-era-uscc-jsonl", way, "codes", "a pilot-era USCC in an extract: accepted and flagged", doc.bytes(),
                          doc.expect(about=("uscc.valid_uscc",), about_flags=(PILOT,))))

    rows = src.rows()
    i = src.pick(rows, at=0.6)[0]
    rows[i].rec[uscc] = wrong_check(rows[i].rec[uscc])
    rows[i].rules, rows[i].flags = frozenset({"uscc.valid_uscc"}), frozenset()
    out.append(csv_case("code-uscc-wrong-check-char", src, "codes", "an ordinary USCC with a wrong check character: quarantined",
                        CsvDoc(src, rows), CsvDoc(src, rows).expect(about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    rows = src.rows()
    i = src.pick(rows, at=0.6)[0]
    first17 = "35" + "120116" + "M" + "000" + "100Y4"  # the old, wrong reading: 35 as positions 1-2
    rows[i].rec[uscc] = first17 + next(c for c in USCC_CHARSET if c != uscc_check_char(first17))
    rows[i].rules, rows[i].flags = frozenset({"uscc.valid_uscc"}), frozenset()
    out.append(csv_case("code-uscc-old-pattern-lookalike", src, "codes",
                        "35 in positions 1-2 (the old misread pattern), check character wrong: not pilot-era, quarantined",
                        CsvDoc(src, rows), CsvDoc(src, rows).expect(about=("uscc.valid_uscc",), about_flags=(PILOT,))))
    rows = hz.rows()
    i = hz.pick(rows, at=0.3)[0]
    rows[i].rec[hz.field("uscc")] = rows[i].rec[hz.field("uscc")].lower()
    rows[i].rules, rows[i].flags = frozenset(), frozenset()
    out.append(csv_case("code-uscc-lower-case", hz, "codes", "a valid USCC typed in lower case: normalised, valid", CsvDoc(hz, rows)))
    return out


# ---- dates ----------------------------------------------------------------------------------------


def _date_of(rec: dict, field_name: str) -> dt.date | None:
    return parse_date(rec.get(field_name)) if rec.get(field_name) else None


@case
def dates(S):
    out = []
    src = S["hcc_project"]
    planned = src.field("planned_end")
    rows = src.rows()
    i = src.pick(rows, at=0.5, where=lambda rec: _date_of(rec, planned) is not None)[0]
    rows[i].rec[planned] = _date_of(rows[i].rec, planned).isoformat() + "xyz"
    rows[i].rules = frozenset({"planned_end.parseable"})
    out.append(csv_case("date-trailing-junk", src, "dates", "a date with trailing junk (2026-10-05xyz): quarantined", CsvDoc(src, rows)))

    hz = S["hcc_hazard"]
    found = hz.field("found_date")
    rows = hz.rows()
    picked = hz.pick(rows, 8, at=0.1, where=lambda rec: _date_of(rec, found) is not None)
    spellings = [lambda d: f"{d.year}年{d.month}月{d.day}日", lambda d: f"{d.year}.{d.month}.{d.day}", lambda d: f"{d:%Y/%m/%d}",
                 lambda d: f"{d:%Y%m%d}", lambda d: f"{d:%Y-%m-%d} 00:00:00", lambda d: f" {d:%Y-%m-%d} ",
                 lambda d: f"{d:%Y-%m-%d}T08:30:00+08:00", lambda d: fullwidth(f"{d:%Y-%m-%d}")]
    for k, spell in zip(picked, spellings):
        rows[k].rec[found] = spell(_date_of(rows[k].rec, found))
        rows[k].rules = frozenset()
    out.append(csv_case("date-legit-spellings", hz, "dates", "the same dates as clerks write them (年月日, dots, slashes, compact, with a time, full-width): read",
                        CsvDoc(hz, rows)))
    rows = hz.rows()
    deadline = hz.field("deadline")
    i = hz.pick(rows, at=0.5, where=lambda rec: _date_of(rec, deadline) is not None)[0]
    rows[i].rec[deadline] = f"{_date_of(rows[i].rec, deadline):%Y-%m-%d} 25:61"
    rows[i].rules = frozenset({"deadline.parseable"})
    out.append(csv_case("date-impossible-time", hz, "dates", "a date with an impossible time of day (25:61): quarantined", CsvDoc(hz, rows)))
    agri = S["agri_fishing_vessel"]
    rows = agri.rows()
    survey = agri.field("survey_date")
    i = agri.pick(rows, at=0.5, where=lambda rec: _date_of(rec, survey) is not None)[0]
    rows[i].rec[survey] = f"{_date_of(rows[i].rec, survey).year}-02-30"
    rows[i].rules = frozenset({"survey_date.parseable"})
    out.append(csv_case("date-impossible-day", agri, "dates", "February 30th: quarantined", CsvDoc(agri, rows)))

    hzd = S["emb_hazard"]
    rows = hzd.rows()
    deadline = hzd.field("deadline")
    i = hzd.pick(rows, at=0.5, where=lambda rec: _date_of(rec, deadline) is not None)[0]
    rows[i].rec[deadline] = _date_of(rows[i].rec, deadline).isoformat() + "xyz"
    rows[i].rules = frozenset({"deadline.parseable"})
    out.append(api_case("date-trailing-junk-api", hzd, "dates", "a date with trailing junk in an API record: quarantined",
                        page_files(hzd, [r.rec for r in rows]), hzd.expect_read(rows, {})))
    gas = S["hcc_gas_inspection"]
    rows = gas.rows()
    last = gas.field("last_inspect_date")
    i = gas.pick(rows, at=0.5, where=lambda rec: _date_of(rec, last) is not None)[0]
    rows[i].rec[last] = _date_of(rows[i].rec, last).isoformat() + " 检查"
    rows[i].rules = frozenset({"last_inspect_date.parseable"})
    doc = JsonlDoc(gas, rows)
    out.append(jsonl_case("date-trailing-words-jsonl", gas, "dates", "a date followed by words in an extract: quarantined", doc.bytes(), doc.expect()))

    ent = S["emb_ent_registry"]
    rows = ent.rows()
    expiry = ent.field("license_expiry")
    picked = ent.pick(rows, 3, at=0.3, where=lambda rec: _date_of(rec, expiry) is not None)
    wb = workbook(xlsx_of(ent, rows))
    col = 2 + list(rows[0].rec).index(expiry)
    for k, as_cell in zip(picked, (lambda d: dt.datetime.combine(d, dt.time()), lambda d: d, lambda d: (d - dt.date(1899, 12, 30)).days)):
        cell = wb.active.cell(XLSX_FIRST_DATA_ROW + k, col)
        cell.value = as_cell(_date_of(rows[k].rec, expiry))
        rows[k].rules = frozenset()
    out.append(xlsx_case("date-excel-date-cells", ent, "dates", "dates as Excel date cells and as a day serial: read", saved(wb),
                         ent.expect_read(rows, XLSX_ASIDE)))
    return out


# ---- numbers --------------------------------------------------------------------------------------


@case
def numbers(S):
    out = []
    acc = S["emb_accident"]
    injured = acc.field("serious_injuries")
    rows = acc.rows()
    i = acc.pick(rows, at=0.5)[0]
    rows[i].rec[injured] = "2.7"
    rows[i].rules, rows[i].maybe = frozenset({"serious_injuries.parseable"}), frozenset({"serious_injuries.required"})
    out.append(csv_case("number-fraction-of-people", acc, "numbers", "重伤人数 2.7: quarantined, not rounded", CsvDoc(acc, rows)))
    rows = acc.rows()
    i, j = acc.pick(rows, 2, at=0.5, where=lambda rec: str(rec[injured] or "").isdigit())
    rows[i].rec[injured] = f"{rows[i].rec[injured]}.0"
    rows[j].rec[injured] = f" {rows[j].rec[injured]} "
    rows[i].rules = rows[j].rules = frozenset()
    out.append(csv_case("number-whole-spellings", acc, "numbers", "重伤人数 3.0 and ' 3 ': read as whole numbers", CsvDoc(acc, rows)))
    ins = S["emb_insurance"]
    heads = ins.field("insured_headcount")
    rows = ins.rows()
    i = ins.pick(rows, at=0.5, where=lambda rec: str(rec[heads] or "").isdigit())[0]
    rows[i].rec[heads] = f"{rows[i].rec[heads]}.5"
    rows[i].rules = frozenset({"insured_headcount.parseable"})
    out.append(csv_case("number-fraction-optional-int", ins, "numbers", "参保人数 187.5 (an optional count): quarantined", CsvDoc(ins, rows)))

    ent = S["emb_ent_registry"]
    staff = ent.field("employees")
    rows = ent.rows()
    i, j = ent.pick(rows, 2, at=0.5, where=lambda rec: str(rec[staff] or "").isdigit())
    wb = workbook(xlsx_of(ent, rows))
    col = 2 + list(rows[0].rec).index(staff)
    wb.active.cell(XLSX_FIRST_DATA_ROW + i, col).value = int(rows[i].rec[staff]) + 0.7
    wb.active.cell(XLSX_FIRST_DATA_ROW + j, col).value = float(rows[j].rec[staff])
    rows[i].rules, rows[i].maybe = frozenset({"employees.parseable"}), frozenset({"employees.required"})
    rows[j].rules = frozenset()
    out.append(xlsx_case("number-xlsx-fraction-and-whole-float", ent, "numbers", "从业人员数 as a number cell 56.7 (quarantined) and 56.0 (read)",
                         saved(wb), ent.expect_read(rows, XLSX_ASIDE)))
    return out


# ---- duplicates -----------------------------------------------------------------------------------


@case
def duplicates(S):
    out = []
    src = S["hcc_project"]
    rows = src.rows()
    i = src.pick(rows, at=0.5)[0]
    rows.insert(i + 1, Row(copy.deepcopy(rows[i].rec), rules=frozenset()))
    rows[i].rules = frozenset()
    out.append(csv_case("dup-row-repeated", src, "duplicates", "one row delivered twice: both read, one key", CsvDoc(src, rows)))
    hz = S["hcc_hazard"]
    rows = hz.rows()
    i = hz.pick(rows, at=0.5)[0]
    later = copy.deepcopy(rows[i].rec)
    later[hz.field("updated_at")] = later[hz.field("updated_at")][:11] + "23:59:59" + later[hz.field("updated_at")][19:]
    later[hz.field("inspector")] = "复查人员"
    rows.append(Row(later, rules=frozenset()))
    rows[i].rules = frozenset()
    out.append(csv_case("dup-same-key-two-versions", hz, "duplicates", "one key twice with different versions: both read (the load keeps the newest)",
                        CsvDoc(hz, rows)))
    hzd = S["emb_hazard"]
    rows = hzd.rows()
    size = hzd.feed.delivery.page_size
    edge = rows[size - 1]
    twice = rows[:size] + [Row(copy.deepcopy(edge.rec), rules=edge.rules, flags=edge.flags)] + rows[size:]
    out.append(api_case("dup-record-on-two-pages", hzd, "duplicates", "the last record of page 1 again on page 2 (total counts it): both read",
                        page_files(hzd, [r.rec for r in twice]), hzd.expect_read(twice, {})))
    files = page_files(hzd, [r.rec for r in twice], total=len(rows))
    out.append(api_case("dup-record-shifted-while-paging", hzd, "duplicates",
                        "a record repeated because records shifted while paging (total does not count it): refused", files,
                        refused("announced", len(rows), len(twice))))
    way = S["tc_dg_waybill"]
    rows = way.rows()
    i = way.pick(rows, at=0.5)[0]
    rows.insert(i + 1, Row(copy.deepcopy(rows[i].rec), rules=frozenset()))
    rows[i].rules = frozenset()
    doc = JsonlDoc(way, rows)
    out.append(jsonl_case("dup-jsonl-line-repeated", way, "duplicates", "one extract line twice: both read, one key", doc.bytes(), doc.expect()))
    pm = S["emb_policy_measure"]
    rows = pm.rows()
    i = pm.pick(rows, at=0.5)[0]
    rows.append(Row(copy.deepcopy(rows[i].rec), rules=frozenset()))
    rows[i].rules = frozenset()
    out.append(xlsx_case("dup-xlsx-row-repeated", pm, "duplicates", "a snapshot row repeated at the end of the sheet: both read, one key",
                         xlsx_of(pm, rows), pm.expect_read(rows, XLSX_ASIDE)))
    return out


# --------------------------------------------------------------------------------------
# Build and write
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def build(day: dt.date = DAY, seed: int = DEFAULT_SEED) -> tuple[Case, ...]:
    """Every case of the corpus for one simulated day (made once per process)."""
    sources = _sources(day, seed)
    cases = [c for make in CASES for c in make(sources)]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    for c in cases:
        assert c.cls in CLASSES, c.id
        assert c.expect["outcome"] in ("read", "refused"), c.id
    return tuple(cases)


def write(out: Path, day: dt.date = DAY, seed: int = DEFAULT_SEED) -> Path:
    """Write every case's files under ``out/<id>/`` and ``out/manifest.json``; return the manifest's path."""
    out = Path(out)
    cases = build(day, seed)
    for c in cases:
        folder = out / c.id
        if folder.exists():
            shutil.rmtree(folder)
        for name, content in c.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    manifest = {
        "issue": 14,
        "generator": "tests/adversarial/generate.py",
        "date": day.isoformat(),
        "seed": seed,
        "cases": [c.manifest(day) for c in cases],
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the cases and manifest.json")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=DAY, help=f"simulated business day (default {DAY})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    path = write(args.out, args.date, args.seed)
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    by_class = Counter(c["class"] for c in cases)
    by_kind = Counter(c["kind"] for c in cases)
    print(f"{len(cases)} cases in {args.out} ({path.name})")
    print("  by class: " + ", ".join(f"{k} {by_class[k]}" for k in CLASSES if by_class[k]))
    print("  by kind:  " + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
