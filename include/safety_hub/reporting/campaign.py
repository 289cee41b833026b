"""The campaign's other figures (专项整治的其他指标) of one weekly report, as of its data date.

Each campaign feed has one section: its query (``reporting/sql/report_situation_<name>.sql``,
parameters ``week_start``, ``as_of`` and ``warn_by``, one row of figures) and the indicators the 一情况 sheet
and the weekly HTML report show from that row, "this week" (本周) and cumulative (累计) as of the
report's date. A new campaign figure is an indicator here and a column of its section's query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.reporting.sqlfiles import asof_sql


@dataclass(frozen=True)
class Indicator:
    """One line of the 一情况 sheet: its name, unit, the query's columns for 本周 and 累计 (None: not shown)."""

    name: str
    unit: str
    week: str | None
    total: str
    note: str = ""


@dataclass(frozen=True)
class Section:
    """A campaign feed's figures: its 类别, the feed it reads, its query and its indicators."""

    name: str
    category: str
    feed_id: str
    indicators: tuple[Indicator, ...]

    @property
    def sql(self) -> str:
        return f"report_situation_{self.name}.sql"


SECTIONS: tuple[Section, ...] = (
    Section("supervision", "督导检查", "emb_supervision", (
        Indicator("督导检查次数", "次", "inspections_week", "inspections_total", "按督导日期"),
        Indicator("督导发现问题", "个", "problems_week", "problems_total", "督导检查发现的问题数"),
        Indicator("督导督办重点问题", "个", "supervised_week", "supervised_total", "督导组挂账督办的重点问题"),
        Indicator("其中：已整改", "个", None, "rectified_total", "整改完成日期不晚于统计截止日"),
        Indicator("其中：整改中", "个", None, "underway_total", "已开始整改、尚未完成"),
        Indicator("其中：未整改", "个", None, "not_started_total", "尚未开始整改"),
        Indicator("其中：超期未整改", "个", None, "overdue_total", "整改期限早于统计截止日且未整改完成"),
    )),
    Section("outreach", "安全宣讲及培训", "emb_outreach", (
        Indicator("安全宣讲次数", "次", "talks_week", "talks_total", "按活动结束日期"),
        Indicator("安全宣讲场次", "场", "talk_sessions_week", "talk_sessions_total", ""),
        Indicator("宣讲覆盖企业", "家次", "talk_enterprises_week", "talk_enterprises_total", "企业每参加一场计一家次"),
        Indicator("安全教育培训次数", "次", "courses_week", "courses_total", "按活动结束日期"),
        Indicator("安全教育培训场次", "场", "course_sessions_week", "course_sessions_total", ""),
        Indicator("培训覆盖企业", "家次", "course_enterprises_week", "course_enterprises_total", ""),
        Indicator("培训人次", "人次", "trained_week", "trained_total", "安全教育培训的参训人次"),
    )),
    Section("chem", "危险化学品企业排查评估", "emb_chem_assessment", (
        Indicator("排查评估", "次", "assessments_week", "assessments_total", "按评估日期"),
        Indicator("排查评估企业", "家", "enterprises_week", "enterprises_total", "统一社会信用代码去重；本周：首次评估在本周"),
        Indicator("其中：关闭退出", "家", None, "closed_total", "三个一批，按企业截至统计截止日的最近一次评估结论"),
        Indicator("其中：停业整改", "家", None, "suspended_total", ""),
        Indicator("其中：限期整改", "家", None, "deadline_total", ""),
        Indicator("其中：评估达标", "家", None, "passed_total", ""),
        Indicator("一企一策", "家", None, "plans_total", "列入三个一批且已制定一企一策措施的企业"),
    )),
    Section("risk_task", "安全风险分析及防范措施", "emb_risk_task", (
        Indicator("风险区域", "个", None, "areas_total", "截至统计截止日最新一期任务清单"),
        Indicator("防范措施任务", "项", None, "tasks_total", "已下达的任务"),
        Indicator("其中：已完成任务", "项", "done_week", "done_total", "完成日期不晚于统计截止日；本周：完成日期在本周"),
        Indicator("进展：红", "项", None, "red_total", "已过完成时限仍未完成"),
        Indicator("进展：黄", "项", None, "yellow_total", "未完成，距完成时限不足预警天数"),
        Indicator("进展：绿", "项", None, "green_total", "已完成或按计划推进"),
    )),
)


def _number(value) -> int | float:
    f = float(0 if value is None else value)
    return int(f) if f.is_integer() else round(f, 4)


def campaign_figures(conn: sa.Connection, week_start: dt.date, as_of: dt.date, warn_days: int) -> dict[str, dict]:
    """Section name -> its figures (query column -> number) for the week from ``week_start`` as of ``as_of``;
    an open item with fewer than ``warn_days`` left to its deadline is 黄 (``warn_by``, as in ``progress.py``)."""
    params = {"week_start": week_start, "as_of": as_of, "warn_by": as_of + dt.timedelta(days=warn_days)}
    out, feeds = {}, load_registry()
    for section in SECTIONS:
        sql = asof_sql(section.sql, feeds)
        row = conn.execute(sa.text(sql), {k: v for k, v in params.items() if f":{k}" in sql}).mappings().one()
        out[section.name] = {k: _number(v) for k, v in row.items()}
    return out


def feeds() -> set[str]:
    """The feeds the campaign figures read (the report's 数据来源)."""
    return {s.feed_id for s in SECTIONS}


def situation_lines(campaign: dict[str, dict]) -> list[tuple[str, str, str, object, object, str]]:
    """(类别, 指标, 单位, 本周, 累计, 说明) per indicator of every section with figures."""
    lines = []
    for section in SECTIONS:
        figures = campaign.get(section.name)
        if figures is None:
            continue
        for i in section.indicators:
            lines.append((section.category, i.name, i.unit, None if i.week is None else figures[i.week], figures[i.total], i.note))
    return lines
