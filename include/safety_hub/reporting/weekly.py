"""The weekly HTML report in Chinese: one self-contained page per ISO week.

Headline figures, the trend over the last weeks, the district comparison with its map (districtmap.py), the
risk distribution with every 红/橙 enterprise and the components of its grade, the
overdue major hazards and the listed (挂牌督办) hazards with their progress flags, the 报送情况 of the
reports due in the week (by feed, department and district), the campaign's other figures (督导检查 and the
other campaign feeds, this week and cumulative),
with the as-of date (数据截至, 终版/非终版) and the sources stated. Plotly's JavaScript is inlined once, so the page opens offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from safety_hub.reporting.campaign import situation_lines as campaign_lines
from safety_hub.reporting.rendering import render
from safety_hub.reporting import html as page_parts
from safety_hub.reporting.figures import WeeklyFigures
from safety_hub.reporting.marts import GRADE_NAMES

CHART_IDS = ("trend-chart", "district-chart", "risk-chart")
RISK_COLOURS = {"红": "#c0392b", "橙": "#e67e22", "黄": "#f1c40f", "蓝": "#2e86c1"}
LIST_LIMIT = 50  # rows shown per list in the page (the workbook has all of them)


def _values(series: pd.Series) -> list:
    """Chart values as plain JSON numbers (no binary-encoded arrays), so the page's data stays readable."""
    return [None if pd.isna(v) else (int(v) if float(v).is_integer() else float(v)) for v in series]


def _pct(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1%}"


def _date(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value:%Y-%m-%d}"


def trend_chart(trend: pd.DataFrame) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=trend["week_label"], y=_values(trend["hazards_found"]), name="本周排查隐患")
    fig.add_bar(x=trend["week_label"], y=_values(trend["hazards_closed"]), name="本周整改销号")
    fig.add_bar(x=trend["week_label"], y=_values(trend["overdue"]), name="周末超期未改")
    fig.add_trace(go.Scatter(x=trend["week_label"], y=_values(trend["dynamic_rate"] * 100), name="动态整改率(%)", mode="lines+markers"),
                  secondary_y=True)
    fig.update_layout(barmode="group", height=420, margin=dict(t=30, l=40, r=40, b=60), legend=dict(orientation="h"))
    fig.update_xaxes(type="category", title_text="周")
    fig.update_yaxes(title_text="隐患数（条）", secondary_y=False)
    fig.update_yaxes(title_text="整改率（%）", range=[0, 100], dtick=20, showgrid=False, secondary_y=True)
    return page_parts.chart(fig, "trend-chart")


def district_chart(districts: pd.DataFrame) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=districts["district_name"], y=_values(districts["hazards_found"]), name="本周排查隐患")
    fig.add_bar(x=districts["district_name"], y=_values(districts["hazards_closed"]), name="本周整改销号")
    fig.add_bar(x=districts["district_name"], y=_values(districts["overdue"]), name="超期未改")
    fig.add_trace(go.Scatter(x=districts["district_name"], y=_values(districts["dynamic_rate"] * 100), name="动态整改率(%)",
                             mode="markers", marker=dict(size=10, symbol="diamond")), secondary_y=True)
    fig.update_layout(barmode="group", height=460, margin=dict(t=30, l=40, r=40, b=80), legend=dict(orientation="h"))
    fig.update_yaxes(title_text="隐患数（条）", secondary_y=False)
    fig.update_yaxes(title_text="整改率（%）", range=[0, 100], dtick=20, showgrid=False, secondary_y=True)
    return page_parts.chart(fig, "district-chart")


def risk_chart(risk: pd.DataFrame, by_district: pd.DataFrame) -> str:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], specs=[[{"type": "domain"}, {"type": "xy"}]],
                        subplot_titles=("全市企业风险等级", "各区企业风险等级"))
    labels = [f"{g} {GRADE_NAMES[g]}" for g in risk["grade"]]
    fig.add_pie(labels=labels, values=_values(risk["enterprises"]), marker=dict(colors=[RISK_COLOURS[g] for g in risk["grade"]]),
                sort=False, hole=0.4, textinfo="label+value", row=1, col=1, showlegend=False)
    for grade in RISK_COLOURS:
        part = by_district[by_district["grade"] == grade] if len(by_district) else by_district
        if len(part):
            fig.add_bar(x=part["district_name"], y=_values(part["enterprises"]), name=f"{grade} {GRADE_NAMES[grade]}",
                        marker_color=RISK_COLOURS[grade], row=1, col=2)
    fig.update_layout(barmode="stack", height=420, margin=dict(t=50, l=40, r=20, b=80), legend=dict(orientation="h"))
    if len(by_district):  # districts in code order, as in the district comparison
        order = by_district.sort_values("district_code")["district_name"].drop_duplicates().tolist()
        fig.update_xaxes(categoryorder="array", categoryarray=order, row=1, col=2)
    return page_parts.chart(fig, "risk-chart")


@dataclass(frozen=True)
class Listing:
    """A list of the page: its first ``LIST_LIMIT`` rows and how many there are."""

    headers: list[str]
    rows: list[list]
    count: int


def _overdue_major_rows(fig: WeeklyFigures) -> pd.DataFrame:
    """The major hazards overdue as of the as-of date (progress 红) of the week's hazard list."""
    hl = fig.hazard_list
    return hl[hl["is_major"].fillna(False).astype(bool) & (hl["progress"] == "红")] if len(hl) else hl


def _overdue_major(fig: WeeklyFigures) -> Listing:
    rows = _overdue_major_rows(fig)
    body = [[r.district_name, r.org_name, r.description, _date(r.found_date), _date(r.deadline), -int(r.days_left),
             "是" if r.listed_supervision else "否", r.status, r.progress]
            for r in rows.head(LIST_LIMIT).itertuples()]
    headers = ["所在区", "单位名称", "隐患描述", "发现日期", "整改时限", "超期天数", "挂牌督办", "整改状态", "进展"]
    return Listing(headers, body, len(rows))


def _supervised(fig: WeeklyFigures) -> Listing:
    s = fig.supervised
    body = [[r.district_name, r.org_name, r.description, r.grade, _date(r.deadline),
             "" if pd.isna(r.days_left) else int(r.days_left), r.status, _date(r.closed_date), r.progress]
            for r in s.head(LIST_LIMIT).itertuples()]
    headers = ["所在区", "单位名称", "隐患描述", "等级", "整改时限", "剩余天数", "整改状态", "销号日期", "进展"]
    return Listing(headers, body, len(s))


def _risk(fig: WeeklyFigures) -> Listing:
    r = fig.risk_list
    body = [[x.grade, x.org_name, x.district_name, "" if pd.isna(x.sector) else x.sector, f"{float(x.score):g}", x.reasons]
            for x in r.head(LIST_LIMIT).itertuples()]
    headers = ["风险等级", "单位名称", "所在区", "行业领域", "风险分", "评分构成"]
    return Listing(headers, body, len(r))


CLOSURE_HEADERS = ["报送部门", "所在区", "退回", "已整改", "未整改", "整改闭环率", "平均整改工作日"]


def district_map(fig: WeeklyFigures) -> dict:
    """The district map's shapes, each with its count of overdue major hazards and fill (template
    macro ``district_map``); every district is drawn, those without any at 0."""
    from safety_hub.reporting import districtmap

    rows = _overdue_major_rows(fig)
    counts = rows["district_code"].value_counts().to_dict() if len(rows) else {}
    shape_map = districtmap.district_map()
    shapes = [{"code": s.code, "name": s.name, "path": s.path, "label": s.label, "count": int(counts.get(s.code, 0)),
               "fill": districtmap.colour(int(counts.get(s.code, 0)))} for s in shape_map.shapes]
    return {"width": shape_map.width, "height": shape_map.height, "shapes": shapes, "legend": districtmap.legend(),
            "total": int(len(rows)), "unplaced": int(len(rows)) - sum(s["count"] for s in shapes)}


def _closure(fig: WeeklyFigures) -> list[list]:
    """退回整改闭环 per agency and district, then the total (平均整改工作日 blank where nothing was corrected)."""
    from safety_hub.reporting.figures import closure_totals

    def days(v) -> str:
        return "" if v is None or pd.isna(v) else f"{float(v):.1f}"

    rows = [[r.agency_name, r.district_name, int(r.returned), int(r.corrected), int(r.open), _pct(r.rate), days(r.days_to_fix)]
            for r in fig.closure.itertuples()]
    if rows:
        t = closure_totals(fig.closure)
        rows.append(["合计", "", t["returned"], t["corrected"], t["open"], _pct(t["rate"]), days(t["days_to_fix"])])
    return rows


DISTRICT_HEADERS = ["区", "本周排查", "本周销号", "周末未销号", "超期未改", "未销号重大隐患", "未销号挂牌督办", "动态整改率", "本周执法", "本周罚款(万元)"]


def _district_rows(d: pd.DataFrame) -> list[list]:
    return [[r.district_name, int(r.hazards_found), int(r.hazards_closed), int(r.hazards_open), int(r.overdue),
             int(r.major_hazards), int(r.supervised), _pct(r.dynamic_rate), int(r.enforcement_actions), f"{float(r.penalty_amount_wan):.2f}"]
            for r in d.itertuples()]


REPORTING_HEADERS = ["数据源", "部门", "应报", "已报", "按时", "迟报", "漏报", "重复报送", "报送率", "及时率"]


def _reporting_rows(fig: WeeklyFigures, scope: str, names: list[str]) -> list[list]:
    r = fig.reporting
    part = r[r["scope"] == scope] if len(r) else r
    return [[*(getattr(x, n) for n in names), int(x.expected), int(x.reported), int(x.on_time), int(x.late), int(x.missed),
             int(x.repeated), _pct(x.report_rate), _pct(x.timely_rate)] for x in part.itertuples()]


CAMPAIGN_HEADERS = ["类别", "指标", "单位", "本周", "累计", "说明"]


def _campaign_rows(fig: WeeklyFigures) -> list[list]:
    """The campaign's other figures (reporting/campaign.py), as the 一情况 sheet lists them; 本周 "—" where not counted."""
    return [[category, name, unit, "—" if week is None else week, total, note]
            for category, name, unit, week, total, note in campaign_lines(fig.campaign)]


def render_weekly_report(fig: WeeklyFigures, generated: str | None = None) -> str:
    """The page for ``fig``'s week (template ``weekly_report.html``)."""
    h, e = fig.hazards, fig.enforcement
    week = fig.week
    title = (f"天津市安全生产周报（{week.label}，{week.start.year}年{week.start.month}月{week.start.day}日—"
             f"{week.end.month}月{week.end.day}日）")
    as_of = f"{fig.as_of:%Y-%m-%d}"
    kpis = [
        ("本周排查隐患", h["found_week"], f"累计 {h['found_total']}"),
        ("本周整改销号", h["closed_week"], f"累计 {h['closed_total']}"),
        ("动态整改率", _pct(fig.rectification_rate), f"截至 {as_of}"),
        ("按期整改率", _pct(fig.on_time_rate), f"截至 {as_of}"),
        ("超期未整改", h["overdue"], f"其中重大 {h['major_overdue']}"),
        ("重大隐患", h["major_total"], f"本周新增 {h['major_week']}"),
        ("挂牌督办", h["listed_total"], f"未销号 {h['listed_open']}"),
        ("本周行政处罚", e["penalties_week"], f"罚款 {e['fine_wan_week']:.2f} 万元"),
        ("本周停产整顿", e["suspensions_week"], f"关闭取缔 {e['closures_week']}，吊销 {e['revocations_week']}"),
        ("本周联合惩戒", e["joint_punishments_week"], f"约谈 {e['warning_talks_week']}"),
    ]
    has_risk = int(fig.risk["enterprises"].sum() if len(fig.risk) else 0)
    return render(
        "weekly_report.html", title=title, label=fig.label, status=fig.status, complete=fig.complete, as_of=as_of,
        sources=fig.sources, generated=generated or page_parts.beijing_now().strftime("%Y-%m-%d %H:%M 北京时间"),
        week_label=week.label, week_start=f"{week.start:%Y-%m-%d}", week_end=f"{week.end:%Y-%m-%d}", warn_days=fig.warn_days,
        kpis=kpis, trend_weeks=len(fig.trend), list_limit=LIST_LIMIT, plotly_js=page_parts.plotly_js(),
        trend_chart=trend_chart(fig.trend) if len(fig.trend) else None,
        district_chart=district_chart(fig.districts) if len(fig.districts) else None,
        district_map=district_map(fig), district_headers=DISTRICT_HEADERS, district_rows=_district_rows(fig.districts) if len(fig.districts) else [],
        risk_chart=risk_chart(fig.risk, fig.risk_by_district) if has_risk else None,
        risk=_risk(fig), overdue=_overdue_major(fig), supervised=_supervised(fig),
        closure_headers=CLOSURE_HEADERS, closure_rows=_closure(fig),
        reporting_headers=REPORTING_HEADERS, reporting_feeds=_reporting_rows(fig, "按数据源", ["feed_id", "agency_name"]),
        reporting_agencies=_reporting_rows(fig, "按部门", ["agency_name"]), reporting_units=_reporting_rows(fig, "按区", ["unit_name"]),
        campaign_headers=CAMPAIGN_HEADERS, campaign_rows=_campaign_rows(fig),
    )
