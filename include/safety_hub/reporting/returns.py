"""退回清单: every row of a validated batch that was rejected or flagged, returned to the agency that sent it.

After a feed's batch is validated (the ingest DAG's ``return_rejections`` task, also when the
batch failed its quality threshold), one Excel workbook per batch goes to the outbox of the
feed's agency (``<outbox>/<agency code>/``, ``SAFETY_HUB_OUTBOX_DIR`` or ``data/outbox``, the
way file drops arrive the other way): per (row, rule), the physical row number in the delivered
file, its key, whether it was 已隔离（未入库）or 已入库待核对 (a warning rule), the rule in plain
words, the field to fix and how, then the row's original values under the agency's own headers
(a personal field masked, ``masking.mask_value``: the row number and key identify the record in
the agency's own file, and a list that travels by folder and message carries no clear personal data).
A second sheet says which feed, business date and batch it covers and how many rows. Every
value goes through ``cells.neutralise`` (agency text cannot become a formula).

The rows come from the batch's staged quality records (``quarantine.parquet`` and
``quality_flag.parquet`` beside ``valid.parquet``), so the list holds exactly what the
warehouse's quarantine and quality_flag tables get for the batch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from safety_hub.config import settings
from safety_hub.config.files import atomic_path
from safety_hub.config.registry import Feed

SHEET_ROWS = 1_000_000  # data rows per sheet (Excel holds 1,048,576 rows); more go on 退回清单(2), ...
FIXED = ["原始行号", "业务主键", "处理结果", "规则编号", "问题说明", "需修改字段", "修改方法"]
OUTCOME = {"quarantine": "已隔离（未入库）", "quality_flag": "已入库待核对"}
# How to fix a row broken by a rule implied by a column's type or flags (``<column>.<check>``).
HOW = {
    "required": "请补填该字段",
    "parseable": "请按规范格式填写（日期 YYYY-MM-DD，数值只填数字，不带单位）",
    "valid_uscc": "请核对18位统一社会信用代码（含校验位），以营业执照为准",
    "pilot_era": "试点期代码已入库；如企业已换发新代码，请更新",
    "known_district": "请填写天津市现行行政区划代码（如 120101 和平区），以 GB/T 2260 为准",
    "in_set": "请从规定取值中选择：{values}",
    "not_future": "日期不得晚于业务日期 {day}，请核对",
}
LANDING_HOW = "原始行无法按表头读取（字段数不符、引号未闭合或被截断），请检查该行后重新报送整份文件"


def outbox_dir(agency: str) -> Path:
    """The outbox of ``agency`` (its code): ``SAFETY_HUB_OUTBOX_DIR``/<agency>, default ``data/outbox/<agency>``."""
    root = os.environ.get("SAFETY_HUB_OUTBOX_DIR")
    return (Path(root) if root else settings.data_dir() / "outbox") / agency


@dataclass
class ReturnList:
    path: Path | None  # None: nothing was rejected or flagged, no workbook
    feed_id: str
    agency: str
    business_date: dt.date
    batch_id: str
    rejected: int  # rows (distinct row numbers) quarantined
    flagged: int  # rows flagged by a warning rule, loaded
    lines: int  # (row, rule) lines in the list


def _fixes(feed: Feed, day: dt.date) -> dict[str, tuple[str, str]]:
    """Per rule id of the feed: (the field(s) to fix, by the agency's names; how)."""
    from safety_hub.reporting.catalogue import column_rules

    by_name = {c.name: c for c in feed.columns}
    fields: dict[str, list[str]] = {}
    for column, rules in column_rules(feed).items():
        for rule in rules:
            fields.setdefault(rule, []).append(by_name[column].display_name)
    out = {}
    for rule, names in fields.items():
        check = rule.split(".", 1)[1] if "." in rule else ""
        column = by_name.get(rule.split(".", 1)[0])
        registry = next((r for r in feed.validation.rules if r.id == rule), None)
        if check in HOW and column is not None:
            values = "、".join(column.values or {}) if column.values else ""
            how = HOW[check].format(values=values, day=day.isoformat())
        else:
            how = f"请按规则修正：{registry.description}" if registry and registry.description else "请核对并修正该字段"
        out[rule] = ("、".join(names), how)
    return out


def _lines(feed: Feed, day: dt.date, stage: Path) -> tuple[list[list], list[str], int, int]:
    """The list's rows (fixed columns, then original values) and the original headers; (rows, headers, rejected, flagged)."""
    from safety_hub.domain.masking import mask_value
    from safety_hub.ingest.parquetfiles import iter_batches

    fixes = _fixes(feed, day)
    headers = [c.source for c in feed.columns]
    personal = {c.source for c in feed.columns if c.personal}
    if personal:
        personal.add("_raw")  # the raw text of a row refused at landing holds the personal fields too
    rows: list[list] = []
    counts = {}
    for table in ("quarantine", "quality_flag"):
        path = stage / f"{table}.parquet"
        seen: set[int] = set()
        if path.exists():
            columns = ["row_number", "record_key", "rule_id", "rule_description", "original_values"]
            for batch in iter_batches(path, 50_000, columns):
                for number, key, rule, text, original in zip(*(batch.column(c).to_pylist() for c in columns)):
                    seen.add(number)
                    values = json.loads(original) if original else {}
                    field, how = fixes.get(rule, ("-", LANDING_HOW) if rule.startswith("row.") else ("-", "请核对并修正"))
                    extra = [k for k in values if k not in headers]
                    headers += extra  # e.g. the raw text of a row refused at landing (_raw), a column the registry does not map
                    rows.append([number, key, OUTCOME[table], rule, text, field, how, values])
        counts[table] = len(seen)
    rows.sort(key=lambda r: (r[0], r[2], r[3]))
    def shown(header: str, value):
        return mask_value(value) if header in personal and value not in (None, "") else value

    return ([r[:7] + [shown(h, r[7].get(h)) for h in headers] for r in rows], headers,
            counts["quarantine"], counts["quality_flag"])


def write_return_list(feed: Feed, day: dt.date, batch_id: str, stage: Path, agency_name: str | None = None) -> ReturnList:
    """The batch's 退回清单 in its agency's outbox (replacing one of the same batch); no file when nothing to return."""
    from openpyxl import Workbook

    from safety_hub.reporting.cells import neutralise

    lines, headers, rejected, flagged = _lines(feed, day, stage)
    result = ReturnList(None, feed.feed_id, feed.agency, day, batch_id, rejected, flagged, len(lines))
    if not lines:
        return result
    folder = outbox_dir(feed.agency)
    folder.mkdir(parents=True, exist_ok=True)
    safe_batch = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in batch_id)[:80]
    path = folder / f"退回清单_{feed.feed_id}_{day.isoformat()}_{safe_batch}.xlsx"
    wb = Workbook(write_only=True)
    for start in range(0, len(lines), SHEET_ROWS):
        ws = wb.create_sheet("退回清单" if start == 0 else f"退回清单({start // SHEET_ROWS + 1})")
        ws.append(FIXED + headers)
        for line in lines[start:start + SHEET_ROWS]:
            ws.append([neutralise(v) for v in line])
    about = wb.create_sheet("说明")
    for label, value in (("数据集", f"{feed.title}（{feed.feed_id}）"), ("报送单位", agency_name or feed.agency),
                         ("业务日期", day.isoformat()), ("批次", batch_id),
                         ("已隔离（未入库）行数", rejected), ("已入库待核对行数", flagged), ("清单条数（行 × 规则）", len(lines)),
                         ("生成时间", settings.beijing_time(dt.datetime.now(dt.timezone.utc))),
                         ("处理方式", "请按“需修改字段”和“修改方法”修正原始记录，在下次报送中重新报送（业务主键不变）。"),
                         ("个人信息", "个人信息字段已脱敏，请按原始行号和业务主键在本单位原始文件中查找该记录。")):
        about.append([label, neutralise(value)])
    with atomic_path(path) as tmp:  # a reader of the outbox never sees half a workbook; a failed save leaves nothing
        wb.save(tmp)
    result.path = path
    return result
