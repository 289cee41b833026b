"""Risk analysis marts (issue #6), one partition per ISO week (keyed by its Sunday), each
computed as of the week's data date (the Sunday once the week is complete).

- ``mart_enterprise_risk``: every key enterprise's score and 红/橙/黄/蓝 grade, with one column
  per component (inherent risk, open and overdue hazards, accidents, enforcement, lapsed 安责险, no
  安责险 policy seen);
- ``mart_district_week``: per district and ISO week, hazards found and closed, 动态整改率,
  按期整改率, overdue, 重大 and 挂牌督办 hazards, enforcement actions and fines;
- ``mart_supervised_hazard``: listed (挂牌督办) hazards with a 红/黄/绿 progress flag.

Weights, band limits and the flag's days-left threshold live in ``include/risk.yaml``
(``settings.risk_config_path()``), validated here by a strict schema. The SQL is in
``sql/mart_*.sql``; config values are written into it as literals (numbers and known
enum values only). A week is computed from what the warehouse knew by its data date (the
latest business date loaded within the week, ``week_data_date``): facts loaded with
``business_date <=`` that day and the hazard versions known by then (``hazard_asof.sql``);
overdue, days left and windows count from that day. So an unfinished week is as of its
last loaded day, a complete one as of its Sunday, and rebuilding a past week gives the same figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safety_hub import settings
from safety_hub.domain import INDUSTRY_SECTORS

GRADES = ("红", "橙", "黄", "蓝")  # grade_rank 1..4
REGISTRY_FEED = "emb_ent_registry"

Points = Annotated[Decimal, Field(ge=0, decimal_places=2)]


class RiskConfigError(ValueError):
    """``risk.yaml`` does not satisfy the schema; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bands(_Strict):
    """Lowest score of each grade, inclusive (``score >= red_min`` is 红)."""

    red_min: Points
    orange_min: Points
    yellow_min: Points


class Lookup(_Strict):
    points: dict[str, Points]
    default: Points = Decimal(0)


class HeadcountBand(_Strict):
    min_employees: int = Field(ge=0)
    points: Points


class Inherent(_Strict):
    industry: Lookup
    major_source: Lookup
    headcount: list[HeadcountBand]


class Hazards(_Strict):
    open_points: Points
    overdue_points: Points
    major_weight: Points
    max_points: Points | None = None


class Events(_Strict):
    lookback_days: int = Field(gt=0)
    points: dict[str, Points]
    max_points: Points | None = None


class Insurance(_Strict):
    points: Points
    mandatory_sectors: list[str]
    grace_days: int = Field(default=0, ge=0)
    # No policy of the enterprise loaded at all (未见保单): unknown, not a lapse; points as configured.
    no_policy_seen_points: Points = Decimal(0)


class Supervised(_Strict):
    yellow_days_left: int = Field(gt=0)


class RiskConfig(_Strict):
    bands: Bands
    inherent: Inherent
    hazards: Hazards
    accidents: Events
    enforcement: Events
    insurance: Insurance
    supervised: Supervised

    def domain_errors(self) -> list[tuple[str, str]]:
        """Problems across fields or against the warehouse's domain, as (field, message)."""
        from safety_hub.registry import get_feed

        errors = []
        b = self.bands
        if not b.orange_min < b.red_min:
            errors.append(("bands.orange_min", f"must be below red_min ({b.red_min})"))
        if not b.yellow_min < b.orange_min:
            errors.append(("bands.yellow_min", f"must be below orange_min ({b.orange_min})"))
        mins = [band.min_employees for band in self.inherent.headcount]
        if any(a >= b for a, b in zip(mins, mins[1:])):
            errors.append(("inherent.headcount", f"min_employees must increase strictly, got {mins}"))

        def enum(feed_id: str, column: str) -> list[str]:
            return list(get_feed(feed_id).column(column).values or {})

        known = {
            "inherent.industry.points": list(INDUSTRY_SECTORS),
            "inherent.major_source.points": enum(REGISTRY_FEED, "major_hazard_level"),
            "accidents.points": enum("emb_accident", "grade"),
            "enforcement.points": enum("emb_enforcement", "action_type"),
            "insurance.mandatory_sectors": list(INDUSTRY_SECTORS),
        }
        given = {
            "inherent.industry.points": self.inherent.industry.points,
            "inherent.major_source.points": self.inherent.major_source.points,
            "accidents.points": self.accidents.points,
            "enforcement.points": self.enforcement.points,
            "insurance.mandatory_sectors": self.insurance.mandatory_sectors,
        }
        for field, values in given.items():
            unknown = [v for v in values if v not in known[field]]
            if unknown:
                errors.append((field, f"unknown values {unknown}; known: {known[field]}"))
        return errors

    @property
    def sha(self) -> str:
        """Short hash of the weights (comments and layout of the file do not change it)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def load_risk_config(path: Path | str | None = None) -> RiskConfig:
    """Read and validate ``risk.yaml`` (default: ``settings.risk_config_path()``)."""
    path = Path(path) if path is not None else settings.risk_config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RiskConfigError(f"{path}: risk configuration not found (set SAFETY_HUB_RISK_CONFIG)") from None
    except yaml.YAMLError as exc:
        raise RiskConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RiskConfigError(f"{path}: expected a mapping at the top level")
    try:
        config = RiskConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  field '{'.'.join(str(p) for p in e['loc']) or '<root>'}': {e['msg']}" for e in exc.errors()]
        raise RiskConfigError("\n".join([f"{path}: invalid risk configuration", *lines])) from None
    problems = config.domain_errors()
    if problems:
        raise RiskConfigError("\n".join([f"{path}: invalid risk configuration", *(f"  field '{f}': {m}" for f, m in problems)]))
    return config


# --- SQL ------------------------------------------------------------------------------------

def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def enterprise_risk_sql(config: RiskConfig) -> str:
    from safety_hub.warehouse.transform import sql_file

    return sql_file("mart_enterprise_risk.sql").format(
        hazard_asof=sql_file("hazard_asof.sql"),
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


def district_week_sql() -> str:
    from safety_hub.warehouse.transform import sql_file

    return sql_file("mart_district_week.sql").format(hazard_asof=sql_file("hazard_asof.sql"))


def supervised_hazard_sql(config: RiskConfig) -> str:
    from safety_hub.warehouse.transform import sql_file

    return sql_file("mart_supervised_hazard.sql").format(
        hazard_asof=sql_file("hazard_asof.sql"), yellow_days_left=config.supervised.yellow_days_left)


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


def refresh_risk_marts(conn: sa.Connection, as_of: list[dt.date] | None = None, config: RiskConfig | None = None) -> list[dt.date]:
    """Replace the risk marts' partitions of the weeks of ``as_of`` (default: every week with a
    loaded business date) inside the caller's transaction; return the week ends computed.

    Any date stands for its week: the partition is the week's end (Sunday), its figures are as
    of the week's data date (``week_data_date``: the Sunday once the week is complete, else the
    latest business date loaded in it). A week without any load gets no rows (its partitions, if
    any, are deleted), and so do the partitions of every other week without data. Run after the
    hazard lifecycle refresh (``build_marts`` does), which marks status regressions.
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
        conn.execute(sa.text(enterprise), {
            "week_end": end,
            "as_of": day,
            "accidents_from": day - dt.timedelta(days=config.accidents.lookback_days - 1),
            "enforcement_from": day - dt.timedelta(days=config.enforcement.lookback_days - 1),
            "cover_ends_from": day - dt.timedelta(days=config.insurance.grace_days),
        })
        conn.execute(sa.text(district), {"week_end": end, "as_of": day, "week_start": start, "week_label": week_label(end)})
        conn.execute(sa.text(supervised), {"week_end": end, "as_of": day})
        computed.append(end)
    drop_empty_weeks(conn)
    return computed


def build_risk_marts(engine: sa.Engine, as_of: list[dt.date] | None = None, config: RiskConfig | None = None) -> list[dt.date]:
    """Rebuild the risk marts for the weeks of ``as_of`` in one transaction (idempotent);
    return the week ends (Sundays) computed."""
    from safety_hub.warehouse.engine import ensure_schema

    config = config or load_risk_config()  # a bad file fails before the transaction opens
    ensure_schema(engine)
    with engine.begin() as conn:
        return refresh_risk_marts(conn, as_of, config)
