"""Row accounting: every physical row of a delivered file is parsed, rejected or set aside.

A parser returns a ``ParsedFile``: the parsed rows (text columns with the agency's
names), the physical row of each (line of a text file, row of a sheet, record of a
page), the rows it rejected as rows (quarantined at landing with a rule, e.g.
``row.shape``) and the rows it set aside with a reason (title, header, blank, note).
``check`` refuses a file whose count does not reconcile, so a parser that loses a
row fails loudly instead of reporting success.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from safety_hub.domain.errors import FeedError

# Reasons a physical row is not a record. Anything else is parsed or rejected.
SET_ASIDE = ("title", "header", "blank", "note")

# Rules a row can break at landing (before any typing); they quarantine the row.
LANDING_RULES = {
    "row.shape": "行结构错误：字段数与表头不一致或引号未闭合（原始行已保留）",
    "row.not_object": "记录不是一个对象（JSON）",
    "cell.formula_uncached": "公式单元格没有计算结果（请在 Excel 中重新计算并保存后再报送）",
}


@dataclass
class Reject:
    """A physical row refused as a row: quarantined under ``rule`` with its raw text."""

    file: str
    row: int  # physical row, 1-based, in its file
    rule: str
    detail: str  # what is wrong, in words
    raw: str  # the row as delivered (the line, the cells, the JSON)


@dataclass
class FileCount:
    """The physical structure of one file and what became of each row."""

    name: str
    physical: int = 0  # lines of a text file, rows of the sheet's used range, records of a page
    parsed: int = 0
    rejected: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the parser decided (sheet chosen, final newline missing...)

    def aside(self, reason: str, n: int = 1) -> None:
        assert reason in SET_ASIDE, reason
        if n:
            self.set_aside[reason] = self.set_aside.get(reason, 0) + n

    @property
    def set_aside_total(self) -> int:
        return sum(self.set_aside.values())

    def reconciles(self) -> bool:
        return self.physical == self.parsed + self.rejected + self.set_aside_total


@dataclass
class ParsedFile:
    frame: pd.DataFrame  # text columns, the agency's names
    rows: np.ndarray  # int64, the physical row of each frame row
    count: FileCount
    rejects: list[Reject] = field(default_factory=list)


def check(feed_id: str, parsed: ParsedFile) -> ParsedFile:
    """Refuse a file whose rows do not reconcile (a parser bug, never a silent loss)."""
    c = parsed.count
    c.parsed, c.rejected = len(parsed.frame), len(parsed.rejects)
    if len(parsed.rows) != len(parsed.frame) or not c.reconciles():
        raise FeedError(feed_id, c.name, f"rows do not reconcile: {c.physical} physical = {c.parsed} parsed + "
                        f"{c.rejected} rejected + {c.set_aside_total} set aside {c.set_aside} is false; nothing was landed")
    return parsed


def totals(counts: list[FileCount]) -> dict:
    """The sidecar's ``accounting``: per file and summed."""
    out = {"physical": 0, "parsed": 0, "rejected": 0, "set_aside": {}}
    for c in counts:
        out["physical"] += c.physical
        out["parsed"] += c.parsed
        out["rejected"] += c.rejected
        for reason, n in c.set_aside.items():
            out["set_aside"][reason] = out["set_aside"].get(reason, 0) + n
    out["files"] = [dataclasses.asdict(c) for c in counts]
    return out


def rejects_frame(rejects: list[Reject]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(r) for r in rejects], columns=["file", "row", "rule", "detail", "raw"]).astype(
        {"file": "string", "row": "int64", "rule": "string", "detail": "string", "raw": "string"})


@dataclass
class Parsed:
    """A whole delivery (all its files): what validation receives, and how every physical row was accounted for."""

    frame: pd.DataFrame
    rows: np.ndarray  # the physical row of each frame row, in its file
    files: list[FileCount]
    rejects: list[Reject]

    @property
    def records(self) -> int:
        """Rows handed on as records: parsed, or rejected as rows (both reach the quarantine or the warehouse)."""
        return len(self.frame) + len(self.rejects)

    @property
    def set_aside(self) -> int:
        return sum(c.set_aside_total for c in self.files)

    @property
    def physical(self) -> int:
        return sum(c.physical for c in self.files)
