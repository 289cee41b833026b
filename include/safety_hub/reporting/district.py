"""Stage 6, report: the district hazard report as one self-contained Chinese HTML page.

Figures come from ``mart_district_hazard``; the chart is Plotly with its
JavaScript inlined, so the file opens offline in any browser.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from safety_hub.config import settings
from safety_hub.config.files import write_atomic
from safety_hub.reporting.rendering import render
from safety_hub.reporting.html import beijing_now, chart
from safety_hub.warehouse.engine import get_engine

def latest_as_of(engine: sa.Engine) -> dt.date | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT MAX(as_of_date) FROM mart_district_hazard")).scalar()


def district_summary(engine: sa.Engine, as_of: dt.date) -> pd.DataFrame:
    """One row per district (grades summed) for ``as_of``."""
    query = sa.text("""
        SELECT district_code, district_name,
               SUM(hazards_found) AS found, SUM(hazards_closed) AS closed,
               SUM(hazards_overdue) AS overdue, SUM(hazards_listed) AS listed,
               SUM(CASE WHEN grade = '重大隐患' THEN hazards_found ELSE 0 END) AS major
        FROM mart_district_hazard WHERE as_of_date = :d
        GROUP BY district_code, district_name ORDER BY district_code""")
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query, {"d": as_of}).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["district_code", "district_name", "found", "closed", "overdue", "listed", "major", "rate"])
    frame[["found", "closed", "overdue", "listed", "major"]] = frame[["found", "closed", "overdue", "listed", "major"]].astype(int)
    frame["rate"] = frame["closed"] / frame["found"]
    return frame


def _chart(frame: pd.DataFrame) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=frame["district_name"], y=frame["found"], name="排查隐患")
    fig.add_bar(x=frame["district_name"], y=frame["closed"], name="已销号")
    fig.add_bar(x=frame["district_name"], y=frame["overdue"], name="超期未改")
    fig.add_trace(go.Scatter(x=frame["district_name"], y=frame["rate"] * 100, name="动态整改率(%)", mode="lines+markers"), secondary_y=True)
    fig.update_layout(barmode="group", height=460, margin=dict(t=30, l=40, r=40, b=80), legend=dict(orientation="h"))
    fig.update_yaxes(title_text="隐患数（条）", secondary_y=False)
    fig.update_yaxes(title_text="整改率（%）", range=[0, 100], secondary_y=True)
    return chart(fig, "district-chart", include_js=True)


TABLE_HEADERS = ["区", "排查隐患", "已销号", "动态整改率", "超期未改", "重大隐患", "挂牌督办"]


def render_district_report(frame: pd.DataFrame, as_of: dt.date, sources: str) -> str:
    """The page (template ``district_report.html``) for ``district_summary``'s frame."""
    total_found, total_closed = int(frame["found"].sum()), int(frame["closed"].sum())
    rate = total_closed / total_found if total_found else 0.0
    kpis = [
        ("排查隐患", total_found), ("已销号", total_closed), ("动态整改率", f"{rate:.1%}"),
        ("超期未改", int(frame["overdue"].sum())), ("重大隐患", int(frame["major"].sum())), ("挂牌督办", int(frame["listed"].sum())),
    ]
    rows = [[r.district_name, r.found, r.closed, f"{r.rate:.1%}", r.overdue, r.major, r.listed] for r in frame.itertuples()]
    return render(
        "district_report.html", title=f"天津市安全生产隐患排查整改情况（截至{as_of:%Y年%m月%d日}）", as_of=as_of.isoformat(),
        sources=sources, generated=beijing_now().strftime("%Y-%m-%d %H:%M 北京时间"), kpis=kpis,
        chart=_chart(frame) if not frame.empty else None, headers=TABLE_HEADERS, rows=rows,
    )


def write_district_report(as_of: dt.date | None = None, engine: sa.Engine | None = None) -> Path:
    """Write ``reports/district_hazard_<as_of>.html``; return its path."""
    engine = engine or get_engine()
    as_of = as_of or latest_as_of(engine)
    if as_of is None:
        raise RuntimeError("mart_district_hazard is empty: run the ingest and warehouse_build DAGs first")
    with engine.connect() as conn:
        feeds = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT feed_id FROM fact_hazard ORDER BY 1"))]
    page = render_district_report(district_summary(engine, as_of), as_of, "、".join(feeds) or "无")
    return write_atomic(settings.reports_dir() / f"district_hazard_{as_of.isoformat()}.html", page)
