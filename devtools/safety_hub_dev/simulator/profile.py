"""Volume profiles of the agency simulator.

The default profile (no profile, ``generate_day(day)``) is the demo's: every feed delivers its
spec's ``volume`` records every day. ``CITY`` (``simulate --profile city``) is a whole city's
year: deliveries on the Chinese statutory working days only (``workdays``), volumes per feed and
working day calibrated so that a simulated year reproduces the annual figures of a city's work
safety campaign (``TARGETS``), with seasonal, weekday and day-to-day variation, the same defect
mix and truth manifest as the demo. ``FIGURES`` maps each annual figure to the feed and field the
warehouse computes it from; ``day_figures`` computes a day's contribution from what was generated
and ``PeriodFigures`` adds days up into the period's figures the truth manifest carries.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from safety_hub_dev.simulator.spec import DatasetSpec
from safety_hub.domain.workdays import business_days, holiday_name, is_business_day, previous_business_day

# The annual figures of the city (a year of the work this project's pipeline serves).
TARGETS: dict[str, float] = {
    "hazards_found": 250_000,           # 排查隐患 (250,000+)
    "dynamic_rectification_rate": 95.8,  # 动态整改率, % of them closed (验收销号) by the year's end
    "penalties": 12_000,                # 行政处罚 (12,000+)
    "suspensions": 550,                 # 责令停产整顿 (550+)
    "revocations": 3,                   # 吊销许可证照
    "closures": 8,                      # 关闭取缔
    "joint_punishments": 95,            # 联合惩戒
    "warning_talks": 6_337,             # 约谈
    "listed_major_hazards": 38,         # 重大隐患挂牌督办
    "insured_enterprises": 1_290,       # 高危行业企业投保安责险
    "chemical_enterprises_assessed": 264,  # 危化企业 (安全风险评估)
    "supervision_inspections": 50_900,  # 监督检查 (no feed: see FIGURES)
    "supervised_key_problems": 24_100,  # 督办重点问题 (no feed: see FIGURES)
}

# Figure -> where it comes from (feed: field and definition), or None: no feed carries it yet.
FIGURES: dict[str, str | None] = {
    "hazards_found": "emb_hazard + hcc_hazard: distinct hazards (uscc | description without whitespace, NFKC | found_date) "
                     "among the valid records delivered in the period (the warehouse's hazard table)",
    "dynamic_rectification_rate": "emb_hazard + hcc_hazard: share of those hazards with a valid 销号 version (closed_date) by the period's end",
    "penalties": "emb_enforcement: valid cases with action_type 罚款, 警告, 停产整顿, 吊销 or 关闭取缔",
    "suspensions": "emb_enforcement: valid cases with action_type 停产整顿",
    "revocations": "emb_enforcement: valid cases with action_type 吊销",
    "closures": "emb_enforcement: valid cases with action_type 关闭取缔",
    "joint_punishments": "emb_enforcement: valid cases with action_type 联合惩戒",
    "warning_talks": "emb_enforcement: valid cases with action_type 约谈",
    "listed_major_hazards": "emb_hazard + hcc_hazard: hazards of hazards_found with listed_supervision (挂牌督办, 重大 only)",
    "insured_enterprises": "emb_insurance: distinct policyholders (uscc) of the valid policies delivered in the period",
    "chemical_enterprises_assessed": "emb_ent_registry: distinct enterprises of supervision_category 危险化学品 with a "
                                     "risk_level (风险评估) among the valid registry rows of the period",
    "supervision_inspections": None,  # an inspection ledger (执法检查记录); emb_enforcement holds only inspections that led to a case
    "supervised_key_problems": None,  # a 督办 problem list; the 一情况两清单 problem list is built from the hazard ledgers
}
_PENALTIES = ("罚款", "警告", "停产整顿", "吊销", "关闭取缔")
_ACTION_OF = {"责令停产停业整顿": "停产整顿", "提请关闭": "关闭取缔", "纳入联合惩戒对象": "联合惩戒", "警示约谈": "约谈"}
_COUNTED_ACTIONS = {"停产整顿": "suspensions", "吊销": "revocations", "关闭取缔": "closures", "联合惩戒": "joint_punishments", "约谈": "warning_talks"}


@dataclass(frozen=True)
class Profile:
    """How much each feed delivers on which day, and the builders' parameters (``spec.knob``)."""

    name: str
    pool_size: int  # enterprises in the shared pool
    volumes: Mapping[str, float]  # feed -> mean records per working day of a year (before defects and late updates)
    fixed: frozenset[str]  # feeds whose volume is a size (a snapshot, an insurer's book): the same every working day
    monthly: tuple[float, ...]  # seasonal factor per month (January first)
    weekday: tuple[float, ...]  # factor per weekday, Monday first (Saturday, Sunday: make-up working days)
    after_holiday: float  # factor of the first working day after a statutory holiday (the backlog)
    noise: float  # day-to-day relative standard deviation
    knobs: Mapping[str, object] = field(default_factory=dict)
    # whether rejected records come back corrected (``generate.CORRECTION_AFTER``); the demo's default does
    corrections: bool = False
    # feed -> (late update, days looked back): replaces the spec's late updates (share 1: each record asks)
    late_updates: Mapping[str, tuple[Callable, int]] = field(default_factory=dict)

    def factor(self, day: dt.date) -> float:
        """The day's volume relative to an average working day (before the year's normalisation)."""
        f = self.monthly[day.month - 1] * self.weekday[day.weekday()]
        before = previous_business_day(day)
        if (day - before).days > 1 and holiday_name(before + dt.timedelta(days=1)) is not None:
            f *= self.after_holiday  # the first working day after a statutory holiday
        return f

    def _year_mean(self, year: int) -> float:
        return _year_mean(self, year)

    def expected(self, feed_id: str, day: dt.date, spec_volume: int) -> float:
        """The expected number of records ``feed_id`` builds on ``day`` (0 on a day off)."""
        if not is_business_day(day):
            return 0.0
        mean = self.volumes.get(feed_id, spec_volume)
        if feed_id in self.fixed:
            return float(mean)
        return mean * self.factor(day) / self._year_mean(day.year)

    def volume(self, feed_id: str, day: dt.date, seed: int, spec_volume: int) -> int:
        """The number of records ``feed_id`` builds on ``day``: the expected number with the day's own variation."""
        expected = self.expected(feed_id, day, spec_volume)
        if expected == 0:
            return 0
        if feed_id in self.fixed:
            return int(expected)
        r = random.Random(f"{seed}:{day.isoformat()}:{feed_id}:volume")
        return max(1, round(expected * (1 + max(-0.5, min(0.5, r.gauss(0, self.noise))))))

    def spec(self, spec: DatasetSpec) -> DatasetSpec:
        """The feed's spec under this profile (its late updates replaced)."""
        if spec.feed_id in self.late_updates:
            update, days = self.late_updates[spec.feed_id]
            return replace(spec, late_update=update, late_update_share=1.0, late_update_days=days)
        return spec


_YEAR_MEANS: dict[tuple[str, int], float] = {}


def _year_mean(profile: Profile, year: int) -> float:
    key = (profile.name, year)
    if key not in _YEAR_MEANS:
        days = business_days(dt.date(year, 1, 1), dt.date(year, 12, 31))
        _YEAR_MEANS[key] = sum(profile.factor(d) for d in days) / len(days)
    return _YEAR_MEANS[key]


def _city() -> Profile:
    from safety_hub_dev.simulator.datasets import emb, hcc_hazard

    return Profile(
        name="city",
        pool_size=1200,
        volumes={
            # hazard ledgers: ~1,000 a working day, one in ten of HCC's is an EMB hazard again (one hazard)
            "emb_hazard": 923, "hcc_hazard": 265,
            "emb_enforcement": 88,  # ~18,400 valid cases a year (penalties + 约谈 + 联合惩戒)
            "emb_accident": 3,
            "emb_insurance": 7,  # the insurer's book: ~1,280 policyholders renewing through the year
            "emb_ent_registry": 600,  # key enterprises (snapshot); 263 of them 危险化学品
            "hcc_project": 150, "hcc_major_hazard_work": 120, "hcc_gas_inspection": 1500,
            "tc_dg_vehicle": 300, "tc_dg_waybill": 6000,
            "tc_rail_hazard": 30, "agri_fishing_vessel": 30,
        },
        fixed=frozenset({"emb_insurance", "emb_ent_registry", "tc_rail_segment_chief", "emb_policy_measure", "emb_risk_task"}),
        # spring campaigns, 安全生产月 in June, the year-end 百日攻坚; the Spring Festival month low
        monthly=(0.85, 0.75, 1.05, 1.05, 1.05, 1.2, 1.0, 0.95, 1.0, 0.95, 1.05, 1.1),
        weekday=(1.1, 1.0, 1.0, 1.0, 0.9, 0.85, 0.85),
        after_holiday=1.25,
        noise=0.12,
        knobs={
            "hazard_status_weights": [1, 1.4, 0.6, 10],  # most hazards are fixed on the spot (立查立改)
            "emb_major_share": 0.02, "hcc_major_share": 0.02,  # about 98% 一般 (DOMAIN.md)
            "listed_share": 0.0076,  # 挂牌督办: ~38 of ~5,000 major hazards a year
            "hazard_stays_open": 0.01,  # long-running 治理: not closed within the lookback
            "registry_size": 600,
            "insurance_catch_up": True,  # policies issued on a day off are delivered on the next working day
            # action_type -> weight: per year ~10,240 罚款, 1,200 警告, 550 停产整顿, 3 吊销, 8 关闭取缔, 95 联合惩戒, 6,337 约谈
            "enforcement_action_weights": {"罚款": 10239, "警告": 1200, "停产整顿": 550, "吊销": 3, "关闭取缔": 8, "联合惩戒": 95, "约谈": 6337},
        },
        late_updates={"emb_hazard": (emb.hazard_closes, emb.CLOSE_LOOKBACK), "hcc_hazard": (hcc_hazard.hazard_closes, emb.CLOSE_LOOKBACK)},
    )


PROFILES: dict[str, Callable[[], Profile]] = {"city": _city}
_BUILT: dict[str, Profile] = {}


def get_profile(name: str | Profile | None) -> Profile | None:
    """The named profile (None or "demo": the default, no profile)."""
    if name is None or isinstance(name, Profile):
        return name
    if name == "demo":
        return None
    if name not in PROFILES:
        raise ValueError(f"unknown simulator profile {name!r} (known: demo, {', '.join(PROFILES)})")
    if name not in _BUILT:
        _BUILT[name] = PROFILES[name]()
    return _BUILT[name]


# --- The figures of what was generated ------------------------------------------------------


def _halfwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text)


def _cn_date(text: str) -> str:
    parts = text.replace("年", "-").replace("月", "-").replace("日", "").replace(".", "-").split("-")
    return dt.date(*(int(p) for p in parts)).isoformat()


def _identity(uscc: str, description: str, found: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", description or "").split())
    return f"{_halfwidth(uscc).strip().upper()}|{text}|{_cn_date(found)}"


# Hazard ledgers: feed -> (uscc, description, found date, status, closed date, listed) fields and closed spellings.
_LEDGERS = {
    "emb_hazard": ("tyshxydm", "yhms", "fxrq", "zgzt", "xhrq", "gpdb", ("验收销号", "已销号", "完成", "√")),
    "hcc_hazard": ("施工单位统一社会信用代码", "隐患描述", "检查日期", "整改状态", "销号日期", "是否挂牌督办", ("已销号", "复查销号")),
}


def _valid_rows(data, feed_id: str) -> list[dict]:
    """The day's delivered rows of ``feed_id`` that load (valid, not a status regression)."""
    from safety_hub_dev.simulator.spec import SPECS

    if feed_id not in data.records:
        return []
    spec, truth = SPECS[feed_id], data.truth["feeds"][feed_id]
    valid = set(truth["valid_keys"])
    regressions = data.regression_rows.get(feed_id, set())
    return [r for i, r in enumerate(data.records[feed_id]) if _halfwidth(str(r[spec.key])).strip() in valid and i not in regressions]


FIGURE_FEEDS = ("emb_hazard", "hcc_hazard", "emb_enforcement", "emb_insurance", "emb_ent_registry", "tc_dg_waybill")  # what day_figures reads


def day_figures(data, feeds: tuple[str, ...] = FIGURE_FEEDS) -> dict:
    """The day's contribution to the period's figures, from the records generated (``DayData``), of
    the deliveries of ``feeds`` (default all: ``delivery_figures`` gives each delivery's apart)."""
    out: dict = {"hazards": {}, "enforcement": {}, "insured": [], "chemical": []}
    if not data.records:
        return out
    for feed_id, (uscc, desc, found, status, closed, listed, closed_spellings) in _LEDGERS.items():
        for r in _valid_rows(data, feed_id) if feed_id in feeds else []:
            identity = _identity(r[uscc], r[desc], r[found])
            closed_on = _cn_date(r[closed]) if r[status] in closed_spellings and r[closed] else None
            before = out["hazards"].get(identity)
            is_listed = r[listed] == "是" or bool(before and before[1])
            out["hazards"][identity] = [closed_on or (before[0] if before else None), is_listed]
    from safety_hub_dev.simulator.spec import SPECS

    key = SPECS["emb_enforcement"].key
    for r in _valid_rows(data, "emb_enforcement") if "emb_enforcement" in feeds else []:
        out["enforcement"][r[key]] = _ACTION_OF.get(r["CSLX"], r["CSLX"])
    out["insured"] = sorted({_halfwidth(r["统一社会信用代码"]).strip().upper() for r in _valid_rows(data, "emb_insurance")}) \
        if "emb_insurance" in feeds else []
    out["chemical"] = sorted({_halfwidth(r["统一社会信用代码"]).strip().upper() for r in _valid_rows(data, "emb_ent_registry")
                              if r["监管类别"] in ("危险化学品", "危化") and r["风险等级"]}) if "emb_ent_registry" in feeds else []
    out["waybills"] = data.truth["feeds"].get("tc_dg_waybill", {}).get("distinct_valid", 0) if "tc_dg_waybill" in feeds else 0
    return out


def delivery_figures(data) -> dict[str, dict]:
    """Each delivery's contribution to the period's figures apart (feed -> ``day_figures`` of that feed
    alone), so the figures can be added up without the deliveries the pipeline refused
    (``merge_day_figures``); written beside the truth as ``truth/figures/<day>.json``."""
    return {feed: day_figures(data, (feed,)) for feed in FIGURE_FEEDS if feed in data.records}


def merge_day_figures(parts: list[dict]) -> dict:
    """Deliveries' contributions of one day (``delivery_figures``' values, in FIGURE_FEEDS order) as one
    ``day_figures`` result: what ``day_figures`` gives for those feeds together."""
    out: dict = {"hazards": {}, "enforcement": {}, "insured": [], "chemical": [], "waybills": 0}
    for part in parts:
        for identity, (closed_on, listed) in part["hazards"].items():
            before = out["hazards"].get(identity)
            out["hazards"][identity] = [closed_on or (before[0] if before else None), bool(listed or (before and before[1]))]
        out["enforcement"].update(part["enforcement"])
        out["insured"] = sorted({*out["insured"], *part["insured"]})
        out["chemical"] = sorted({*out["chemical"], *part["chemical"]})
        out["waybills"] += part.get("waybills", 0)
    return out


class PeriodFigures:
    """Days' contributions added up into a period's figures (hazards by identity, cases by key, enterprises by USCC)."""

    def __init__(self) -> None:
        self.hazards: dict[str, list] = {}
        self.enforcement: dict[str, str] = {}
        self.insured: set[str] = set()
        self.chemical: set[str] = set()
        self.days: list[str] = []
        self.waybills = 0

    def add(self, day: dt.date, figures: dict) -> None:
        self.days.append(day.isoformat())
        for identity, (closed_on, listed) in figures["hazards"].items():
            before = self.hazards.get(identity)
            if before is None:
                self.hazards[identity] = [closed_on, listed]
            else:
                before[0] = before[0] or closed_on
                before[1] = before[1] or listed
        self.enforcement.update(figures["enforcement"])
        self.insured.update(figures["insured"])
        self.chemical.update(figures["chemical"])
        self.waybills += figures.get("waybills", 0)

    def result(self) -> dict:
        found = len(self.hazards)
        closed = sum(1 for c, _ in self.hazards.values() if c)
        actions: dict[str, int] = {}
        for action in self.enforcement.values():
            actions[action] = actions.get(action, 0) + 1
        figures = {
            "hazards_found": found,
            "hazards_closed": closed,
            "dynamic_rectification_rate": round(100.0 * closed / found, 1) if found else None,
            "penalties": sum(actions.get(a, 0) for a in _PENALTIES),
            **{name: actions.get(action, 0) for action, name in _COUNTED_ACTIONS.items()},
            "listed_major_hazards": sum(1 for _, listed in self.hazards.values() if listed),
            "insured_enterprises": len(self.insured),
            "chemical_enterprises_assessed": len(self.chemical),
            "supervision_inspections": None,
            "supervised_key_problems": None,
            "waybills": self.waybills,
        }
        return {"from": min(self.days) if self.days else None, "to": max(self.days) if self.days else None,
                "working_days": len(self.days), "figures": figures, "targets": TARGETS, "sources": FIGURES}
