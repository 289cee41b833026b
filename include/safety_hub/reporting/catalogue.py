"""The data-item catalogue (数据项目录): every data item of every feed, from the registry, with measured rates.

One item per column of a feed (the agency's field, as the registry maps it): owner agency,
feed, source field, Chinese name, conformed column and table, type, the rules that check it,
personal flag and update frequency. ``docs/catalogue.md`` is generated from the registry
alone (``python -m safety_hub catalogue --docs``; a test fails when it is stale or misses a
column); ``python -m safety_hub catalogue --out FILE.xlsx`` adds, per item, what was measured:

* fill rate (填充率): the share of the day's delivered records whose field is not blank;
* validity rate (有效率): the share of the day's records not quarantined by a rule of that
  field (rule ids ``<column>.<check>``);

both read from the warehouse's history of them (table ``field_quality``, written with each
validated batch: ``warehouse.fieldquality``), for the latest measured business date and averaged
over the trailing ``days`` measured dates, with the date the figures run to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from safety_hub.config.files import atomic_path, write_atomic
from safety_hub.config.registry import Feed, agencies, load_registry

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "catalogue.md"

HEADERS = {  # item attribute -> the workbook's Chinese header
    "agency": "责任单位", "feed_id": "数据源", "feed_title": "数据集", "source": "来源字段", "label": "数据项名称",
    "column": "标准字段", "table": "目标表", "type": "类型", "required": "必填", "rules": "校验规则",
    "personal": "个人信息", "frequency": "更新频率",
    "fill_latest": "填充率（最新）", "fill_trailing": "填充率（近期平均）",
    "valid_latest": "有效率（最新）", "valid_trailing": "有效率（近期平均）", "as_of": "数据截至",
}


@dataclass
class Item:
    agency: str
    feed_id: str
    feed_title: str
    source: str
    label: str
    column: str
    table: str
    type: str
    required: bool
    rules: list[str]
    personal: bool
    frequency: str
    fill_latest: float | None = None
    fill_trailing: float | None = None
    valid_latest: float | None = None
    valid_trailing: float | None = None
    as_of: dt.date | None = None
    _days: dict = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        """The item's fields (``HEADERS``' keys), JSON-ready but for ``as_of`` (a date)."""
        return {attr: getattr(self, attr) for attr in HEADERS}


def frequency(schedule: str) -> str:
    """``0 1 * * *`` -> 每日 01:00 (北京时间); another cron as written."""
    minute, hour, *rest = schedule.split()
    if minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]:
        return f"每日 {int(hour):02d}:{int(minute):02d}（北京时间）"
    return f"cron {schedule}"


def column_rules(feed: Feed) -> dict[str, list[str]]:
    """The rule ids that check each column: implied by its type and flags, and the registry's rules naming it."""
    out: dict[str, list[str]] = {c.name: [] for c in feed.columns}
    implied = {"required": lambda c: c.required, "parseable": lambda c: c.type in ("date", "datetime", "int", "decimal", "bool"),
               "valid_uscc": lambda c: c.type == "uscc", "pilot_era": lambda c: c.type == "uscc",
               "known_district": lambda c: c.type == "district", "in_set": lambda c: c.type == "enum",
               "not_future": lambda c: c.not_future}
    for c in feed.columns:
        out[c.name] += [f"{c.name}.{check}" for check, applies in implied.items() if applies(c)]
    for rule in feed.validation.rules:
        kwargs = rule.kwargs
        named = {kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *kwargs.get("column_list", [])}
        named.add(rule.id.split(".", 1)[0])
        for name in named & out.keys():
            if rule.id not in out[name]:
                out[name].append(rule.id)
    return out


def items() -> list[Item]:
    """Every column of every registered feed, in registry order."""
    names = agencies()
    out = []
    for feed in load_registry().values():
        rules = column_rules(feed)
        for c in feed.columns:
            out.append(Item(agency=names[feed.agency].name, feed_id=feed.feed_id, feed_title=feed.title, source=c.source,
                            label=c.label or c.source, column=c.name, table=feed.target_table, type=c.type, required=c.required,
                            rules=rules[c.name], personal=c.personal, frequency=frequency(feed.schedule)))
    return out


# --- measured rates --------------------------------------------------------------------------

def measure(found: list[Item], engine, days: int = 7) -> list[Item]:
    """Fill and validity rates of ``found`` for each feed's latest ``days`` measured business dates (in place),
    from the warehouse's field quality history (``warehouse.fieldquality``)."""
    from safety_hub.warehouse.fieldquality import history

    with engine.connect() as conn:
        measured = history(conn, days)
    for item in found:
        item._days = dict(measured.get((item.feed_id, item.column), {}))
        if not item._days:
            continue
        item.as_of = max(item._days)
        item.fill_latest, item.valid_latest = item._days[item.as_of]
        item.fill_trailing = _mean(f for f, _ in item._days.values())
        item.valid_trailing = _mean(v for _, v in item._days.values())
    return found


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


# --- outputs -----------------------------------------------------------------------------------

def markdown(found: list[Item] | None = None) -> str:
    """docs/catalogue.md: the catalogue as the registry declares it (no measured rates)."""
    found = items() if found is None else found
    feeds = len({i.feed_id for i in found})
    lines = ["# 数据项目录 (data-item catalogue)", "",
             "Generated from the feed registry by `python -m safety_hub catalogue --docs`; do not edit by hand.",
             "`python -m safety_hub catalogue --out catalogue.xlsx` writes the same items with their measured fill and",
             "validity rates (latest and trailing landed business dates, with the date they run to).", "",
             f"**{len(found)} data items** integrated from {feeds} feeds.", ""]
    current = None
    for item in found:
        if item.feed_id != current:
            current = item.feed_id
            lines += ["", f"## {item.feed_title} (`{item.feed_id}`, {item.agency}, {item.frequency} → `{item.table}`)", "",
                      "| 来源字段 | 数据项名称 | 标准字段 | 类型 | 必填 | 个人信息 | 校验规则 |", "|---|---|---|---|---|---|---|"]
        rules = ", ".join(f"`{r}`" for r in item.rules)
        lines.append(f"| {item.source} | {item.label} | `{item.column}` | {item.type} | {'是' if item.required else ''} | "
                     f"{'是' if item.personal else ''} | {rules} |")
    return "\n".join(lines) + "\n"


def write_docs(path: Path = DOC_PATH) -> Path:
    return write_atomic(path, markdown())


def write_workbook(found: list[Item], path: Path) -> Path:
    """The catalogue as an Excel workbook with Chinese headers (rates as percentages)."""
    import pandas as pd

    from safety_hub.reporting.cells import neutralise

    rows = []
    for item in found:
        row = {}
        for attr, header in HEADERS.items():
            value = getattr(item, attr)
            if isinstance(value, bool):
                value = "是" if value else "否"
            elif isinstance(value, list):
                value = "、".join(value)
            elif attr.startswith(("fill_", "valid_")) and value is not None:
                value = round(value * 100, 1)
            row[header] = neutralise(value)
        rows.append(row)
    with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        pd.DataFrame(rows, columns=list(HEADERS.values())).to_excel(writer, sheet_name="数据项目录", index=False)
    return path
