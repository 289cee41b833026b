"""Risk analysis marts (issue #6), one partition per ISO week (keyed by its Sunday), each
computed as of the week's data date (the Sunday once the week is complete).

- ``mart_enterprise_risk``: every key enterprise's score and 红/橙/黄/蓝 grade, with one column
  per component (inherent risk, open and overdue hazards, accidents, enforcement, lapsed 安责险, no
  安责险 policy seen);
- ``mart_district_week``: per district and ISO week, hazards found and closed, 动态整改率,
  按期整改率, overdue, 重大 and 挂牌督办 hazards, enforcement actions and fines;
- ``mart_supervised_hazard``: listed (挂牌督办) hazards with a 红/黄/绿 progress flag.

Weights, band limits and the flag's days-left threshold live in ``include/risk.yaml``
(``settings.risk_config_path()``), validated by the strict schema of ``safety_hub.config.risk``. The SQL is in
``sql/mart_*.sql``; config values are written into it as literals (numbers and known
enum values only). A week is computed from what the warehouse knew by its data date (the
latest business date loaded within the week, ``week_data_date``): facts loaded with
``business_date <=`` that day and the hazard versions known by then (``hazard_asof.sql``);
overdue, days left and windows count from that day. So an unfinished week is as of its
last loaded day, a complete one as of its Sunday, and rebuilding a past week gives the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal

import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.config.risk import REGISTRY_FEED, HeadcountBand, Lookup, RiskConfig, load_risk_config
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.sqltext import format_asof, sql_file, sql_literal


# --- SQL ------------------------------------------------------------------------------------

def _lit(text: str) -> str:
    return sql_literal(text)


def _num(value: Decimal | int | None) -> str:
    """A config number as a SQL decimal literal (NULL for "no cap": LEAST ignores NULLs)."""
    return "NULL" if value is None else f"{Decimal(value):.2f}"


def _lookup(column: str, lookup: Lookup) -> str:
    if not lookup.points:
        return _num(lookup.default)
    whens = " ".join(f"WHEN {_lit(k)} THEN {_num(v)}" for k, v in lookup.points.items())
    return f"CASE {column} {whens} ELSE {_num(lookup.default)} END"


def _headcount(column: str, bands: list[HeadcountBand]) -> str:
    whens = " ".join(f"WHEN {column} >= {b.min_employees} THEN {_num(b.points)}"
                     for b in sorted(bands, key=lambda b: -b.min_employees))
    return f"CASE {whens} ELSE {_num(0)} END" if whens else _num(0)


def _in(column: str, values: list[str]) -> str:
    return f"COALESCE({column} IN ({', '.join(_lit(v) for v in values)}), FALSE)" if values else "FALSE"


def enterprise_risk_sql(config: RiskConfig, hazard_asof: str | None = None) -> str:
    """``hazard_asof``: a SELECT of hazard_asof.sql's rows for ``:as_of`` (default the file itself)."""
    return format_asof(
        sql_file("mart_enterprise_risk.sql"), load_registry(),
        hazard_asof=hazard_asof or sql_file("hazard_asof.sql"),
        registry_feed=_lit(REGISTRY_FEED),
        industry_points=_lookup("e.sector", config.inherent.industry),
        major_source_points=_lookup("e.major_hazard_level", config.inherent.major_source),
        headcount_points=_headcount("e.employees", config.inherent.headcount),
        open_points=_num(config.hazards.open_points),
        overdue_points=_num(config.hazards.overdue_points),
        major_weight=_num(config.hazards.major_weight),
        hazards_max=_num(config.hazards.max_points),
        accident_points=_lookup("grade", Lookup(points=config.accidents.points)),
        accidents_max=_num(config.accidents.max_points),
        enforcement_points=_lookup("action_type", Lookup(points=config.enforcement.points)),
        enforcement_max=_num(config.enforcement.max_points),
        mandatory=_in("e.sector", config.insurance.mandatory_sectors),
        insurance_points=_num(config.insurance.points),
        no_policy_seen_points=_num(config.insurance.no_policy_seen_points),
        red_min=_num(config.bands.red_min),
        orange_min=_num(config.bands.orange_min),
        yellow_min=_num(config.bands.yellow_min),
        config_sha=_lit(config.sha),
    )


def district_week_sql(hazard_asof: str | None = None) -> str:
    return format_asof(sql_file("mart_district_week.sql"), load_registry(), hazard_asof=hazard_asof or sql_file("hazard_asof.sql"))


def supervised_hazard_sql(config: RiskConfig, hazard_asof: str | None = None) -> str:
    return sql_file("mart_supervised_hazard.sql").format(
        hazard_asof=hazard_asof or sql_file("hazard_asof.sql"), yellow_days_left=config.supervised.yellow_days_left)


# --- Build ----------------------------------------------------------------------------------

def week_end(day: dt.date) -> dt.date:
    """The Sunday ending ``day``'s ISO week (``day`` itself when it is a Sunday)."""
    return day + dt.timedelta(days=6 - day.weekday())


def week_label(day: dt.date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_data_date(conn: sa.Connection, end: dt.date) -> dt.date | None:
    """The as-of date of the week ending ``end``: the latest business date loaded within the week
    (Monday to Sunday, so never after the Sunday); None when the warehouse holds no load for it."""
    value = conn.execute(sa.text("SELECT MAX(business_date) FROM load_audit WHERE business_date BETWEEN :s AND :e"),
                         {"s": end - dt.timedelta(days=6), "e": end}).scalar()
    return value if value is None or isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


MART_PARTITIONS = {"mart_enterprise_risk": "as_of_date", "mart_district_week": "week_end", "mart_supervised_hazard": "as_of_date"}


def _delete_week(conn: sa.Connection, end: dt.date) -> None:
    for table, column in MART_PARTITIONS.items():
        conn.execute(sa.text(f"DELETE FROM {table} WHERE {column} = :d"), {"d": end})


def drop_empty_weeks(conn: sa.Connection) -> list[dt.date]:
    """Delete the risk marts' partitions of weeks for which the warehouse holds no load (left by an
    earlier build or report of a week without data); return their week ends."""
    ends = set()
    for table, column in MART_PARTITIONS.items():
        ends |= {r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0])[:10])
                 for r in conn.execute(sa.text(f"SELECT DISTINCT {column} FROM {table}"))}
    empty = sorted(e for e in ends if week_data_date(conn, e) is None)
    for end in empty:
        _delete_week(conn, end)
    return empty


def drop_week_if_empty(engine: sa.Engine, end: dt.date) -> bool:
    """Delete the risk marts' partitions of the week ending ``end`` when the warehouse holds no load
    for it (a stale empty week left by an older build or report); return whether any were deleted.
    Nothing is written when there is nothing to delete."""
    with engine.connect() as conn:
        if week_data_date(conn, end) is not None:
            return False
        stale = sum(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t} WHERE {c} = :d"), {"d": end}).scalar()
                    for t, c in MART_PARTITIONS.items())
    if not stale:
        return False
    with engine.begin() as conn:
        _delete_week(conn, end)
    return True


def refresh_risk_marts(conn: sa.Connection, as_of: list[dt.date] | None = None, config: RiskConfig | None = None,
                       hazards_asof: Callable[[dt.date], AbstractContextManager[str]] | None = None) -> list[dt.date]:
    """Replace the risk marts' partitions of the weeks of ``as_of`` (default: every week with a
    loaded business date) inside the caller's transaction; return the week ends computed.

    Any date stands for its week: the partition is the week's end (Sunday), its figures are as
    of the week's data date (``week_data_date``: the Sunday once the week is complete, else the
    latest business date loaded in it). A week without any load gets no rows (its partitions, if
    any, are deleted), and so do the partitions of every other week without data. Run after the
    hazard lifecycle refresh (``build_marts`` does), which marks status regressions.
    ``hazards_asof`` (a day -> a context giving a SELECT of hazard_asof.sql's rows for that day,
    ``lifecycle.asof_from_hazard``): where the hazards known on a week's data date are read from.
    """
    config = config or load_risk_config()
    if as_of is None:
        as_of = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT business_date FROM load_audit"))]
    ends = sorted({week_end(d) for d in as_of})
    enterprise, district, supervised = enterprise_risk_sql(config), district_week_sql(), supervised_hazard_sql(config)
    computed = []
    for end in ends:
        start = end - dt.timedelta(days=6)
        _delete_week(conn, end)
        day = week_data_date(conn, end)
        if day is None:
            continue
        with hazards_asof(day) if hazards_asof is not None else nullcontext() as view:
            if view is not None:
                enterprise, district, supervised = (enterprise_risk_sql(config, view), district_week_sql(view),
                                                    supervised_hazard_sql(config, view))
            _week(conn, enterprise, district, supervised, end, start, day, config)
        computed.append(end)
    drop_empty_weeks(conn)
    return computed


def _week(conn: sa.Connection, enterprise: str, district: str, supervised: str, end: dt.date, start: dt.date, day: dt.date,
          config: RiskConfig) -> None:
    conn.execute(sa.text(enterprise), {
        "week_end": end,
        "as_of": day,
        "accidents_from": day - dt.timedelta(days=config.accidents.lookback_days - 1),
        "enforcement_from": day - dt.timedelta(days=config.enforcement.lookback_days - 1),
        "cover_ends_from": day - dt.timedelta(days=config.insurance.grace_days),
    })
    conn.execute(sa.text(district), {"week_end": end, "as_of": day, "week_start": start, "week_label": week_label(end)})
    conn.execute(sa.text(supervised), {"week_end": end, "as_of": day})


def build_risk_marts(engine: sa.Engine, as_of: list[dt.date] | None = None, config: RiskConfig | None = None) -> list[dt.date]:
    """Rebuild the risk marts for the weeks of ``as_of`` in one transaction (idempotent);
    return the week ends (Sundays) computed."""
    config = config or load_risk_config()  # a bad file fails before the transaction opens
    ensure_schema(engine)
    with engine.begin() as conn:
        return refresh_risk_marts(conn, as_of, config)
