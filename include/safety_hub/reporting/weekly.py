"""The weekly HTML report in Chinese: one self-contained page per ISO week.

Headline figures, the trend over the last weeks, the district comparison, the
risk distribution with every 红/橙 enterprise and the components of its grade, the
overdue major hazards and the listed (挂牌督办) hazards with their progress flags,
with the as-of date (数据截至, 终版/非终版) and the sources stated. Plotly's JavaScript is inlined once, so the page opens offline.
"""

from __future__ import annotations

import html

import pandas as pd

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


def _overdue_major_table(fig: WeeklyFigures) -> tuple[str, int]:
    hl = fig.hazard_list
    rows = hl[hl["is_major"].fillna(False).astype(bool) & (hl["progress"] == "红")] if len(hl) else hl
    body = [[r.district_name, r.org_name, r.description, _date(r.found_date), _date(r.deadline), -int(r.days_left),
             "是" if r.listed_supervision else "否", r.status, page_parts.flag(r.progress)]
            for r in rows.head(LIST_LIMIT).itertuples()]
    headers = ["所在区", "单位名称", "隐患描述", "发现日期", "整改时限", "超期天数", "挂牌督办", "整改状态", "进展"]
    return page_parts.table(headers, body, text_columns={0, 1, 2, 7}, raw_columns={8}), len(rows)


def _supervised_table(fig: WeeklyFigures) -> tuple[str, int]:
    s = fig.supervised
    body = [[r.district_name, r.org_name, r.description, r.grade, _date(r.deadline),
             "" if pd.isna(r.days_left) else int(r.days_left), r.status, _date(r.closed_date), page_parts.flag(r.progress)]
            for r in s.head(LIST_LIMIT).itertuples()]
    headers = ["所在区", "单位名称", "隐患描述", "等级", "整改时限", "剩余天数", "整改状态", "销号日期", "进展"]
    return page_parts.table(headers, body, text_columns={0, 1, 2, 3, 6}, raw_columns={8}), len(s)


def _risk_table(fig: WeeklyFigures) -> tuple[str, int]:
    r = fig.risk_list
    body = [[page_parts.flag_grade(x.grade), x.org_name, x.district_name, "" if pd.isna(x.sector) else x.sector, f"{float(x.score):g}", x.reasons]
            for x in r.head(LIST_LIMIT).itertuples()]
    headers = ["风险等级", "单位名称", "所在区", "行业领域", "风险分", "评分构成"]
    return page_parts.table(headers, body, text_columns={1, 2, 3, 5}, raw_columns={0}), len(r)


def _district_table(d: pd.DataFrame) -> str:
    body = [[r.district_name, int(r.hazards_found), int(r.hazards_closed), int(r.hazards_open), int(r.overdue),
             int(r.major_hazards), int(r.supervised), _pct(r.dynamic_rate), int(r.enforcement_actions), f"{float(r.penalty_amount_wan):.2f}"]
            for r in d.itertuples()]
    headers = ["区", "本周排查", "本周销号", "周末未销号", "超期未改", "未销号重大隐患", "未销号挂牌督办", "动态整改率", "本周执法", "本周罚款(万元)"]
    return page_parts.table(headers, body, text_columns={0})


def _shown(n: int) -> str:
    return f"（共 {n} 条，列出前 {LIST_LIMIT} 条；全部见一情况两清单工作簿）" if n > LIST_LIMIT else f"（共 {n} 条）"


def render_weekly_report(fig: WeeklyFigures, generated: str | None = None) -> str:
    """The page for ``fig``'s week."""
    h, e = fig.hazards, fig.enforcement
    week = fig.week
    title = (f"天津市安全生产周报（{week.label}，{week.start.year}年{week.start.month}月{week.start.day}日—"
             f"{week.end.month}月{week.end.day}日）")
    generated = generated or page_parts.beijing_now().strftime("%Y-%m-%d %H:%M 北京时间")
    as_of = f"{fig.as_of:%Y-%m-%d}"
    kpis = page_parts.kpi_cards([
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
    ])
    no_data = "<p>暂无数据</p>"
    overdue_html, n_overdue = _overdue_major_table(fig)
    supervised_html, n_supervised = _supervised_table(fig)
    risk_html, n_risk = _risk_table(fig)
    warning = "" if fig.complete else (
        f'<p class="warning">非终版：本周数据截至 {as_of}（北京时间），{as_of} 之后至 {week.end:%Y-%m-%d}（周日）的业务数据尚未入库；'
        f"各项数字按 {as_of} 计算（超期 = 整改期限早于 {as_of} 且未销号），周日数据入库后重新生成即为终版。</p>")
    body = f"""<h1>{html.escape(title)}</h1>
<p class="note" id="report-status"><b>{html.escape(fig.label)}</b></p>
<p class="note" id="report-meta">统计截止日：{as_of}（{"周日" if fig.complete else "本周最新数据日期"}）；数据截至：{as_of}（北京时间）；{fig.status}；
数据来源：{html.escape('、'.join(fig.sources) or '无')}；生成时间：{html.escape(generated)}</p>
{warning}
<h2>一、主要指标</h2>
{kpis}
<h2>二、近{len(fig.trend)}周趋势</h2>
<div id="trend">{trend_chart(fig.trend) if len(fig.trend) else no_data}</div>
<h2>三、各区对比（本周）</h2>
<div id="districts">{district_chart(fig.districts) if len(fig.districts) else no_data}</div>
{_district_table(fig.districts) if len(fig.districts) else ""}
<h2>四、企业风险分布（截至 {as_of}）</h2>
<div id="risk">{risk_chart(fig.risk, fig.risk_by_district) if int(fig.risk["enterprises"].sum() if len(fig.risk) else 0) else no_data}</div>
<h2>五、红橙风险企业及评分构成{_shown(n_risk)}</h2>
<div id="risk-list">{risk_html if n_risk else "<p>无红色、橙色风险企业。</p>"}</div>
<h2>六、超期重大隐患{_shown(n_overdue)}</h2>
{overdue_html if n_overdue else "<p>无超期重大隐患。</p>"}
<h2>七、挂牌督办隐患及进展{_shown(n_supervised)}</h2>
{supervised_html if n_supervised else "<p>无挂牌督办隐患。</p>"}
<h2>说明</h2>
<p class="note">本周：{week.start:%Y-%m-%d} 至 {week.end:%Y-%m-%d}（ISO 周 {week.label}）。统计截止日为本周已入库的最新业务日期（数据截至日，北京时间）：
周日数据入库后为终版，此前为非终版。所有数字按统计截止日当时仓库已加载的数据计算（业务日期不晚于统计截止日），
事后补报或更新不改变往周报告。单位名称为企业维度中的规范名称。隐患已按“统一社会信用代码＋规范化描述＋发现日期”跨部门、跨批次去重。
动态整改率 = 截至统计截止日已验收销号隐患数 ÷ 排查隐患数；按期整改率 = 期限内销号数 ÷ 整改期限已到的隐患数；超期（逾期）= 整改期限早于统计截止日且未销号；剩余天数 = 整改期限 − 统计截止日（已销号不计）。
进展：红 = 已超期未销号；黄 = 距整改期限不足 {fig.warn_days} 天（或未定期限）；绿 = 已销号或按计划推进。
行政处罚含罚款、警告、停产整顿、吊销、关闭取缔；联合惩戒、约谈单列。企业风险等级见 include/risk.yaml 的评分规则：
未见安责险保单（未加载到任何保单）不视为脱保，按配置计分（默认不计分）。</p>
"""
    return page_parts.page(title, body, head=page_parts.plotly_script())
