"""The figures of one weekly report, read from the warehouse as of the week's data date.

The as-of date of a week is its data date: the latest business date loaded within the week
(``safety_hub.warehouse.risk.week_data_date``), so the Sunday once the week is complete (终版) and the last
loaded day while it is not (非终版); a week without any load has no report (``NoWeekData``).
Every query takes the week's Monday (``week_start``) and that date (``as_of``) and sees only
what was loaded for business dates up to it: the hazards through ``hazard_version``
(hazard_asof.sql), enforcement, the measures list and the campaign ledgers through their version
tables (``{asof_<feed_id>}``: each record's latest version loaded by then), the snapshot feeds'
lists through their daily membership, the marts through their week partition (computed as of the
same date). Overdue (超期/逾期) is a deadline before the as-of date and not closed by then, as in
``mart_district_hazard`` for that day. So the report of a past week gives the same figures
whenever it is produced. The SQL is in ``safety_hub/sql/report_*.sql``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.reporting import campaign as campaign_figures
from safety_hub.reporting.archive import NoWeekData, ReportWeek
from safety_hub.reporting.progress import hazard_progress, measure_progress
from safety_hub.reporting.sqlfiles import asof_sql, sql_file
from safety_hub.warehouse.sqltext import sql_file as warehouse_sql

TREND_WEEKS = 8


def _hazard_sql(name: str, **parts: str) -> str:
    return sql_file(name).format(hazard_asof=warehouse_sql("hazard_asof.sql"), **parts)


def _ledgers_sql() -> str:
    """One SELECT per hazard ledger: its record key with the ledger's measures and owner (NULL where it has none)."""
    selects = []
    for feed in load_registry().values():
        if feed.lifecycle is None:
            continue
        names = {c.name for c in feed.columns}
        key = " || '|' || ".join(f"CAST({k} AS VARCHAR)" for k in feed.key)
        measures = "measures" if "measures" in names else "CAST(NULL AS VARCHAR)"
        owner = "owner" if "owner" in names else "CAST(NULL AS VARCHAR)"
        selects.append(f"SELECT '{feed.feed_id}' AS feed_id, {key} AS record_key, {measures} AS measures, {owner} AS owner "
                       f"FROM {feed.target_table}")
    return "\n    UNION ALL\n    ".join(selects)


def _frame(conn: sa.Connection, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))


def _numbers(row: dict) -> dict:
    """Driver numbers (Decimal, numpy) as int where whole, else float."""
    out = {}
    for k, v in row.items():
        v = 0 if v is None else v
        f = float(v)
        out[k] = int(f) if f.is_integer() and "wan" not in k else round(f, 4)
    return out


@dataclass
class WeeklyFigures:
    """Everything the workbook and the HTML report show for one week."""

    week: ReportWeek
    data_date: dt.date | None  # the as-of date: latest business date loaded within the week (数据截至)
    sources: list[str]  # feeds whose data the report uses (数据来源)
    hazards: dict  # report_situation_hazards.sql
    enforcement: dict  # report_situation_enforcement.sql
    hazard_list: pd.DataFrame
    measure_list: pd.DataFrame
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per week (mart_district_week)
    districts: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per district (mart_district_week)
    risk: pd.DataFrame = field(default_factory=pd.DataFrame)  # enterprises per grade (mart_enterprise_risk)
    risk_by_district: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_as_of: dt.date | None = None
    supervised: pd.DataFrame = field(default_factory=pd.DataFrame)  # mart_supervised_hazard
    risk_list: pd.DataFrame = field(default_factory=pd.DataFrame)  # 红/橙 enterprises with their reasons (mart_enterprise_risk)
    closure: pd.DataFrame = field(default_factory=pd.DataFrame)  # 退回整改闭环 per agency and district (closure_frame)
    # 报送情况 of the periods due in the week, as of the data date (mart_reporting_status; reporting_status.week_table)
    reporting: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the campaign's other figures (reporting/campaign.py): section -> query column -> number
    campaign: dict = field(default_factory=dict)
    warn_days: int = 7  # progress flags: 黄 with fewer days left (include/risk.yaml supervised.yellow_days_left)

    @property
    def as_of(self) -> dt.date:
        """The date every figure is computed as of (统计截止日): the data date, never after the Sunday."""
        return min(self.data_date, self.week.end) if self.data_date is not None else self.week.end

    @property
    def complete(self) -> bool:
        """Whether the week's Sunday was loaded: the report is final (终版), else provisional (非终版)."""
        return self.data_date is not None and self.data_date >= self.week.end

    @property
    def status(self) -> str:
        return "终版" if self.complete else "非终版"

    @property
    def label(self) -> str:
        """How the report names its date and state, e.g. 数据截至 2026-11-04（北京时间），非终版."""
        return f"数据截至 {self.as_of:%Y-%m-%d}（北京时间），{self.status}"

    @property
    def rectification_rate(self) -> float | None:
        """动态整改率 as of the as-of date: closed / found."""
        found = self.hazards["found_total"]
        return self.hazards["closed_total"] / found if found else None

    @property
    def on_time_rate(self) -> float | None:
        """按期整改率 as of the as-of date: closed by the deadline / deadline passed."""
        due = self.hazards["due"]
        return self.hazards["closed_on_time"] / due if due else None

    def headline(self) -> dict:
        """The headline figures (JSON-safe): what figures.json archives and the tests compare."""
        rate, on_time = self.rectification_rate, self.on_time_rate
        return {
            "week": self.week.label, "week_end": self.week.end.isoformat(), "as_of": self.as_of.isoformat(),
            "data_date": self.data_date.isoformat() if self.data_date else None,
            "final": self.complete, "label": self.label,
            "hazards": self.hazards, "enforcement": self.enforcement,
            "rectification_rate": None if rate is None else round(rate, 6),
            "on_time_rate": None if on_time is None else round(on_time, 6),
            "hazard_list_rows": len(self.hazard_list), "measure_list_rows": len(self.measure_list),
            "measures_completed": int(self.measure_list["completed_by_asof"].sum()) if len(self.measure_list) else 0,
            "risk": {str(r.grade): int(r.enterprises) for r in self.risk.itertuples()} if len(self.risk) else {},
            "supervised_rows": len(self.supervised),
            "risk_red_orange": len(self.risk_list),
            "closure": closure_totals(self.closure),
            "campaign": self.campaign,
        }


def _table_exists(conn: sa.Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def data_date(conn: sa.Connection, week: ReportWeek) -> dt.date | None:
    """The week's data date: the latest business date loaded within it (None: no load in the week)."""
    from safety_hub.warehouse.risk import week_data_date

    return week_data_date(conn, week.end)


def sources(conn: sa.Connection, as_of: dt.date) -> list[str]:
    """The feeds (Chinese titles with ids) whose loads up to ``as_of`` the report draws on."""
    used = {"emb_enforcement", "emb_policy_measure"} | campaign_figures.feeds() | {f.feed_id for f in load_registry().values() if f.lifecycle is not None}
    loaded = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT feed_id FROM load_audit WHERE business_date <= :d"), {"d": as_of})}
    feeds = load_registry()
    return [f"{feeds[f].title}（{f}）" for f in sorted(used & loaded)]


def hazard_list(conn: sa.Connection, week: ReportWeek, as_of: dt.date, warn_days: int) -> pd.DataFrame:
    """Every hazard open at some point of the week up to ``as_of``; 剩余天数 against ``as_of``, blank once closed."""
    frame = _frame(conn, _hazard_sql("report_hazard_list.sql", ledgers=_ledgers_sql()), as_of=as_of, week_start=week.start)
    if frame.empty:
        return frame.assign(progress=pd.Series(dtype="string"), days_left=pd.Series(dtype="Int64"))
    for col in ("found_date", "deadline", "closed_date"):
        frame[col] = pd.to_datetime(frame[col]).dt.date
    frame["closed_by_asof"] = frame["closed_by_asof"].fillna(False).astype(bool)
    frame["days_left"] = pd.Series([None if c or d is None or pd.isna(d) else (d - as_of).days
                                    for c, d in zip(frame["closed_by_asof"], frame["deadline"])], index=frame.index, dtype=object)
    frame["progress"] = [hazard_progress(c, d, as_of, warn_days) for c, d in zip(frame["closed_by_asof"], frame["deadline"])]
    order = {"红": 0, "黄": 1, "绿": 2}
    frame = frame.assign(_p=frame["progress"].map(order), _m=~frame["is_major"].fillna(False).astype(bool))
    frame = frame.sort_values(["_p", "_m", "deadline", "district_code", "org_name", "identity_key"], na_position="last")
    return frame.drop(columns=["_p", "_m"]).reset_index(drop=True)


def measure_list(conn: sa.Connection, as_of: dt.date, warn_days: int) -> pd.DataFrame:
    frame = _frame(conn, asof_sql("report_measure_list.sql"), as_of=as_of)
    if frame.empty:
        return frame.assign(progress=pd.Series(dtype="string"), status=pd.Series(dtype="string"))
    for col in ("registered_date", "planned_date", "completed_date"):
        frame[col] = pd.to_datetime(frame[col]).dt.date
    frame["completed_by_asof"] = frame["completed_by_asof"].fillna(False).astype(bool)
    frame["status"] = frame["completed_by_asof"].map({True: "已完成", False: "推进中"})
    frame["progress"] = [measure_progress(c, p, as_of, warn_days) for c, p in zip(frame["completed_by_asof"], frame["planned_date"])]
    return frame.sort_values(["district_code", "measure_id"], na_position="first").reset_index(drop=True)


def closure_frame(conn: sa.Connection, as_of: dt.date) -> pd.DataFrame:
    """退回 / 已整改 / 未整改 / 整改闭环率 / 平均整改工作日 per agency and district as of ``as_of``
    (``warehouse.rejections``: the rejections opened up to that date and those corrected by it)."""
    from safety_hub.config.registry import agencies
    from safety_hub.domain.places import DISTRICTS
    from safety_hub.warehouse.rejections import closure

    names = {code: a.name for code, a in agencies().items()}
    rows = [{"agency": agency, "agency_name": names.get(agency, agency), "district_code": district,
             "district_name": DISTRICTS.get(district, "区不详") if district else "区不详",
             "returned": c.returned, "corrected": c.corrected, "open": c.open, "rate": c.rate, "days_to_fix": c.days_to_fix}
            for (agency, district), c in closure(conn, as_of).items()]
    columns = ["agency", "agency_name", "district_code", "district_name", "returned", "corrected", "open", "rate", "days_to_fix"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["agency", "district_code"], na_position="last").reset_index(drop=True)


def closure_totals(frame: pd.DataFrame) -> dict:
    """The closure figures over every agency and district (JSON-safe; days_to_fix weighted by the corrected)."""
    returned, corrected = int(frame["returned"].sum()) if len(frame) else 0, int(frame["corrected"].sum()) if len(frame) else 0
    days = float((frame["days_to_fix"].fillna(0) * frame["corrected"]).sum()) if len(frame) else 0.0
    return {"returned": returned, "corrected": corrected, "open": returned - corrected,
            "rate": round(corrected / returned, 6) if returned else None,
            "days_to_fix": round(days / corrected, 4) if corrected else None}


def load_figures(engine: sa.Engine, week: ReportWeek, warn_days: int | None = None) -> WeeklyFigures:
    """Read every figure of ``week``'s report as of its data date (``NoWeekData`` when it has none)."""
    from safety_hub.reporting import marts
    from safety_hub.reporting.reporting_status import week_table as reporting_week
    from safety_hub.reporting.progress import warn_days as default_warn_days
    from safety_hub.warehouse.engine import ensure_schema

    warn = default_warn_days() if warn_days is None else warn_days
    ensure_schema(engine)
    with engine.connect() as conn:
        day = data_date(conn, week)
        if day is None:
            raise NoWeekData(week)
        params = {"as_of": day, "week_start": week.start}
        figures = WeeklyFigures(
            week=week,
            data_date=day,
            sources=sources(conn, day),
            hazards=_numbers(conn.execute(sa.text(_hazard_sql("report_situation_hazards.sql")), params).mappings().one()),
            enforcement=_numbers(conn.execute(sa.text(asof_sql("report_situation_enforcement.sql")), params).mappings().one()),
            hazard_list=hazard_list(conn, week, day, warn),
            measure_list=measure_list(conn, day, warn),
            closure=closure_frame(conn, day),
            warn_days=warn,
            reporting=reporting_week(conn, week.start, week.end, min(day, week.end)),
            campaign=campaign_figures.campaign_figures(conn, week.start, day, warn),
        )
        marts.attach(conn, figures, TREND_WEEKS)
    return figures
