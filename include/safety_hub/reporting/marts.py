"""The report's reads of the risk marts (built by ``safety_hub.warehouse.risk`` in warehouse_build).

``mart_district_week`` gives the trend over weeks and the district comparison,
``mart_enterprise_risk`` the risk distribution and ``mart_supervised_hazard``
the listed hazards with their progress flags, and the 红/橙 enterprises with the
components that made their grade, in words (``risk_reasons``); every one is
partitioned by the week's end (Sunday) and computed as of the week's data date.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import sqlalchemy as sa

log = logging.getLogger(__name__)

GRADES = ("红", "橙", "黄", "蓝")
GRADE_NAMES = {"红": "重大风险", "橙": "较大风险", "黄": "一般风险", "蓝": "低风险"}


def _frame(conn: sa.Connection, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))


def has_week(conn: sa.Connection, week_end: dt.date) -> bool:
    """Whether the risk marts hold the week ending ``week_end`` computed as of the week's current data date."""
    from safety_hub.warehouse.risk import week_data_date

    built = conn.execute(sa.text("SELECT MAX(data_through) FROM mart_district_week WHERE week_end = :d"), {"d": week_end}).scalar()
    if built is None:
        return False
    built = built if isinstance(built, dt.date) else dt.date.fromisoformat(str(built)[:10])
    return built == week_data_date(conn, week_end)


def trend(conn: sa.Connection, week_end: dt.date, weeks: int) -> pd.DataFrame:
    """One row per week of the ``weeks`` weeks ending ``week_end`` that the mart holds, districts summed;
    动态整改率 from the summed counts."""
    frame = _frame(conn, """
        SELECT week_label, week_start, week_end,
               SUM(hazards_found) AS hazards_found, SUM(hazards_closed) AS hazards_closed,
               SUM(hazards_open) AS hazards_open, SUM(overdue) AS overdue,
               SUM(found_total) AS found_total, SUM(closed_total) AS closed_total,
               SUM(enforcement_actions) AS enforcement_actions, SUM(penalty_amount_wan) AS penalty_amount_wan
        FROM mart_district_week
        WHERE week_end <= :end AND week_end > :first
        GROUP BY week_label, week_start, week_end
        ORDER BY week_end""", end=week_end, first=week_end - dt.timedelta(weeks=weeks))
    if frame.empty:
        return frame
    counts = [c for c in frame.columns if c not in ("week_label", "week_start", "week_end", "penalty_amount_wan")]
    frame[counts] = frame[counts].astype(int)
    frame["penalty_amount_wan"] = frame["penalty_amount_wan"].astype(float)
    frame["dynamic_rate"] = (frame["closed_total"] / frame["found_total"].where(frame["found_total"] > 0)).astype(float)
    return frame


def districts(conn: sa.Connection, week_end: dt.date) -> pd.DataFrame:
    """The week's row per district."""
    frame = _frame(conn, """
        SELECT district_code, district_name, hazards_found, hazards_closed, hazards_open, overdue, major_hazards, supervised,
               found_total, closed_total, dynamic_rate, on_time_rate, enforcement_actions, penalty_amount_wan
        FROM mart_district_week WHERE week_end = :d ORDER BY district_code""", d=week_end)
    for col in ("dynamic_rate", "on_time_rate", "penalty_amount_wan"):
        if col in frame:
            frame[col] = frame[col].astype(float)
    return frame


def risk_distribution(conn: sa.Connection, week_end: dt.date) -> pd.DataFrame:
    """Enterprises per grade (红 … 蓝) on the week's end, every grade present (zeros included)."""
    frame = _frame(conn, """
        SELECT grade, grade_rank, COUNT(*) AS enterprises
        FROM mart_enterprise_risk WHERE as_of_date = :d
        GROUP BY grade, grade_rank""", d=week_end)
    counts = {r.grade: int(r.enterprises) for r in frame.itertuples()}
    return pd.DataFrame({"grade": list(GRADES), "grade_name": [GRADE_NAMES[g] for g in GRADES],
                         "enterprises": [counts.get(g, 0) for g in GRADES]})


def risk_by_district(conn: sa.Connection, week_end: dt.date) -> pd.DataFrame:
    """Enterprises per district and grade on the week's end (long form)."""
    return _frame(conn, """
        SELECT district_code, district_name, grade, COUNT(*) AS enterprises
        FROM mart_enterprise_risk WHERE as_of_date = :d
        GROUP BY district_code, district_name, grade
        ORDER BY district_code, grade""", d=week_end)


def supervised(conn: sa.Connection, week_end: dt.date) -> pd.DataFrame:
    """The listed (挂牌督办) hazards on the week's end with their progress flags, open and red first."""
    frame = _frame(conn, """
        SELECT identity_key, district_code, district_name, uscc, org_name, description, grade, found_date, deadline,
               days_left, status, is_closed, closed_date, progress
        FROM mart_supervised_hazard WHERE as_of_date = :d""", d=week_end)
    if frame.empty:
        return frame
    order = {"红": 0, "黄": 1, "绿": 2}
    frame = frame.assign(_p=frame["progress"].map(order)).sort_values(["_p", "is_closed", "deadline", "identity_key"])
    return frame.drop(columns="_p").reset_index(drop=True)


def _points(value) -> str:
    f = float(value)
    return f"{f:g}" if f.is_integer() else f"{f:.2f}".rstrip("0")


def risk_reasons(row: dict, config) -> str:
    """The components that made an enterprise's score, in words, e.g.
    ``重大隐患未整改 2 项 +30；逾期隐患 1 项 +10`` (only components that scored; a mandatory
    enterprise with no 安责险 policy seen says so even when that scores nothing)."""
    parts = []

    def add(column: str, text: str) -> None:
        if float(row.get(column) or 0) > 0:
            parts.append(f"{text} +{_points(row[column])}")

    add("inherent_industry", f"行业领域（{row.get('sector') or '其他'}）")
    add("inherent_major_source", f"重大危险源（{row.get('major_hazard_level')}）")
    add("inherent_headcount", f"从业人员 {int(row.get('employees') or 0)} 人")
    add("open_major", f"重大隐患未整改 {int(row['n_open_major'])} 项")
    add("overdue_major", f"逾期重大隐患 {int(row['n_overdue_major'])} 项")
    add("open_hazards", f"一般隐患未整改 {int(row['n_open_hazards'])} 项")
    add("overdue_hazards", f"逾期一般隐患 {int(row['n_overdue_hazards'])} 项")
    add("accidents", f"近{config.accidents.lookback_days}天生产安全事故 {int(row['n_accidents'])} 起")
    add("enforcement", f"近{config.enforcement.lookback_days}天执法处罚 {int(row['n_enforcement'])} 次")
    add("insurance_lapsed", "安责险脱保")
    if row.get("insurance_mandatory") and row.get("insurance_status") == "未见保单":
        unseen = float(row.get("insurance_unseen") or 0)
        parts.append(f"未见安责险保单 +{_points(unseen)}" if unseen > 0 else "未见安责险保单（未计分）")
    return "；".join(parts)


def risk_list(conn: sa.Connection, week_end: dt.date, config=None) -> pd.DataFrame:
    """The 红 and 橙 enterprises of the week (highest score first) with ``reasons``, the components of their grade in words."""
    from safety_hub.config.risk import load_risk_config

    frame = _frame(conn, """
        SELECT * FROM mart_enterprise_risk WHERE as_of_date = :d AND grade_rank <= 2
        ORDER BY grade_rank, score DESC, district_code, uscc""", d=week_end)
    if frame.empty:
        return frame.assign(reasons=pd.Series(dtype="string"))
    config = config or load_risk_config()
    frame["score"] = frame["score"].astype(float)
    frame["reasons"] = [risk_reasons(r, config) for r in frame.to_dict("records")]
    return frame.reset_index(drop=True)


def attach(conn: sa.Connection, figures, weeks: int) -> None:
    """Fill the mart-based parts of ``figures`` (a ``WeeklyFigures``) for its week."""
    end = figures.week.end
    if not has_week(conn, end):
        log.warning("risk marts hold no rows for the week ending %s: run warehouse_build (or ensure_week_marts)", end)
    figures.trend = trend(conn, end, weeks)
    figures.districts = districts(conn, end)
    figures.risk = risk_distribution(conn, end)
    figures.risk_by_district = risk_by_district(conn, end)
    figures.risk_as_of = figures.as_of
    figures.supervised = supervised(conn, end)
    figures.risk_list = risk_list(conn, end)


def ensure_week_marts(engine: sa.Engine, week_end: dt.date) -> bool:
    """Build the risk marts of the week ending ``week_end`` when they are missing or were computed
    as of an earlier data date than the week's current one; return whether it built them. A week
    without any load gets no rows (its stale partitions are removed). Each week is computed from
    what the warehouse knew at its data date, so building it later gives the same rows."""
    from safety_hub.warehouse.risk import build_risk_marts
    from safety_hub.warehouse.engine import ensure_schema

    ensure_schema(engine)
    with engine.connect() as conn:
        if has_week(conn, week_end):
            return False
    build_risk_marts(engine, [week_end])
    return True
