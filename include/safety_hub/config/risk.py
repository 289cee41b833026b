"""The risk marts' configuration, ``include/risk.yaml`` (``settings.risk_config_path()``): its strict
schema (weights, grade bands, lookback windows, 安责险 rules, the 黄 days-left threshold), checked
against the registry's enums and the industry sectors; errors name the file and the field.
The marts themselves: ``safety_hub.warehouse.risk``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safety_hub.config import settings
from safety_hub.domain.industry import INDUSTRY_SECTORS
from safety_hub.config.registry import get_feed, safe_load

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
        data = safe_load(path.read_text(encoding="utf-8"))
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
