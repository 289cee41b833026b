"""One business day of every agency's records, with injected defects and the truth.

Records are produced in each agency's own field names (pinyin JSON keys for the
EMB API, Chinese CSV headers for HCC, upper-case columns in the TC database):
the simulator does not read the feed registry, so a wrong mapping there is a
bug the tests catch. Every defective record carries exactly one defect, and the
truth manifest names the key, the defect kind and the rule expected to catch it.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from safety_hub.domain import DISTRICTS, LEGACY_DISTRICTS, USCC_CHARSET
from safety_hub.simulator.enterprises import Enterprise, enterprise_pool

DEFAULT_SEED = 20261101
# Per-kind injection rates (DOMAIN.md: each defect type at 2-5%).
DEFECT_RATES = {
    "duplicate": 0.04,
    "invalid_uscc": 0.03,
    "missing_required": 0.03,
    "fullwidth": 0.04,
    "unknown_district": 0.02,
    "legacy_district": 0.04,
    "date_order": 0.03,
}
# Defects the pipeline repairs: the record stays valid.
REPAIRABLE = {"fullwidth", "legacy_district"}


@dataclass(frozen=True)
class DatasetSpec:
    """Where the defect injector finds things in one agency's record layout."""

    feed_id: str
    key: str
    uscc: str
    name: str
    district: str
    batch: str
    required: tuple[tuple[str, str], ...]  # (agency field, warehouse column) that may be blanked
    date_order: tuple[str, str, str]  # (earlier field, later field, rule id)


HAZARD = DatasetSpec(
    feed_id="emb_hazard", key="yhbh", uscc="tyshxydm", name="dwmc", district="ssq", batch="bsbc",
    required=(("yhms", "description"), ("yhdj", "grade"), ("fxrq", "found_date")),
    date_order=("fxrq", "zgqx", "found_date<=deadline"),
)
PROJECT = DatasetSpec(
    feed_id="hcc_project", key="项目编号", uscc="施工单位统一社会信用代码", name="施工单位名称", district="所在区", batch="报送批次",
    required=(("项目名称", "project_name"), ("施工许可证号", "permit_no"), ("开工日期", "start_date")),
    date_order=("开工日期", "计划竣工日期", "start_date<=planned_end"),
)
VEHICLE = DatasetSpec(
    feed_id="tc_dg_vehicle", key="CPHM", uscc="YHTYDM", name="YHMC", district="XZQH", batch="BSPC",
    required=(("DLYSZH", "transport_cert_no"), ("HDZZL", "rated_load_kg"), ("YHMC", "org_name")),
    date_order=("FZRQ", "YXQZ", "cert_issue_date<=cert_expiry_date"),
)
SPECS = {s.feed_id: s for s in (HAZARD, PROJECT, VEHICLE)}
_LEGACY_BY_CURRENT: dict[str, list[str]] = {}
for _old, _new in LEGACY_DISTRICTS.items():
    _LEGACY_BY_CURRENT.setdefault(_new, []).append(_old)


@dataclass
class DayData:
    """One day: records per feed (agency layout) and the ground-truth manifest."""

    day: dt.date
    seed: int
    records: dict[str, list[dict]] = field(default_factory=dict)
    truth: dict = field(default_factory=dict)


def _bj(day: dt.date, rng: random.Random) -> str:
    """An update timestamp within the business day, Beijing time, ISO format."""
    t = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=rng.randrange(0, 10 * 3600))
    return t.isoformat(timespec="seconds") + "+08:00"


def _fmt_cn_date(d: dt.date, rng: random.Random) -> str:
    """Dates as housing-commission clerks type them (C4)."""
    style = rng.random()
    if style < 0.6:
        return d.isoformat()
    if style < 0.8:
        return f"{d.year}.{d.month}.{d.day}"
    return f"{d.year}年{d.month}月{d.day}日"


def _hazards(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    categories = ["设备设施", "作业环境", "安全管理", "人员操作", "消防安全", "危化品储存"]
    problems = ["安全阀未定期校验", "消防通道堵塞", "配电箱未接地", "有限空间无警示标识", "气体报警器失效", "特种作业人员无证上岗",
                "储罐区防火堤破损", "应急预案未演练", "安全培训记录缺失", "防爆电器损坏", "动火作业未审批", "安全出口指示灯损坏"]
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(pool)
        found = day - dt.timedelta(days=rng.randrange(0, 21))
        major = rng.random() < 0.03
        deadline = found + dt.timedelta(days=rng.randrange(3, 31) if not major else rng.randrange(30, 91))
        status = rng.choices(["待整改", "整改中", "待验收", "验收销号"], weights=[2, 3, 1, 4])[0]
        fixed = accepted = closed = None
        if status in ("待验收", "验收销号"):
            fixed = min(day, found + dt.timedelta(days=rng.randrange(0, 25)))
        if status == "验收销号":
            accepted = closed = min(day, fixed + dt.timedelta(days=rng.randrange(0, 3)))
        status_spelling = status if status != "验收销号" else rng.choice(["验收销号", "验收销号", "已销号", "完成", "√"])
        out.append({
            "yhbh": f"YH{day:%Y%m%d}{seq:04d}",
            "tyshxydm": ent.uscc,
            "dwmc": ent.name_variant(rng),
            "ssq": ent.district_code,
            "fxrq": found.isoformat(),
            "yhly": rng.choice(["企业自查", "执法检查", "专项督查", "群众举报"]),
            "yhdj": "重大隐患" if major else "一般隐患",
            "yhlb": rng.choice(categories),
            "yhms": rng.choice(problems),
            "zgcs": "立即整改并复查" if not major else "制定治理方案，停产整改",
            "zgqx": deadline.isoformat(),
            "zrr": rng.choice(["张伟", "王芳", "李强", "刘洋", "陈静", "杨磊", "赵敏"]),
            "zgzt": status_spelling,
            "wcrq": fixed.isoformat() if fixed else None,
            "ysrq": accepted.isoformat() if accepted else None,
            "xhrq": closed.isoformat() if closed else None,
            "gpdb": "是" if major and rng.random() < 0.5 else "否",
            "bsbc": f"EMB-{day:%Y%m%d}-01",
            "gxsj": _bj(day, rng),
        })
    return out


def _projects(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    builders = [e for e in pool if e.sector == "建筑"] or pool
    kinds = ["住宅", "商业综合体", "学校", "医院", "厂房", "道路", "桥梁", "地铁站"]
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(builders)
        permit_day = day - dt.timedelta(days=rng.randrange(10, 400))
        start = permit_day + dt.timedelta(days=rng.randrange(0, 30))
        planned_end = start + dt.timedelta(days=rng.randrange(180, 900))
        out.append({
            "项目编号": f"XM{day:%Y%m%d}{seq:04d}",
            "项目名称": f"{DISTRICTS[ent.district_code]}{rng.choice(['海河', '津塘', '新城', '中新', '金街'])}{rng.choice(kinds)}项目",
            "施工许可证号": f"{ent.district_code}{permit_day:%Y%m%d}{rng.randrange(1, 20):02d}{rng.randrange(1, 20):02d}",
            "施工单位统一社会信用代码": ent.uscc,
            "施工单位名称": ent.name_variant(rng),
            "所在区": rng.choice([ent.district_code, DISTRICTS[ent.district_code]]),
            "开工日期": _fmt_cn_date(start, rng),
            "计划竣工日期": _fmt_cn_date(planned_end, rng),
            "项目状态": rng.choice(["在建", "在建", "在建", "停工", "竣工验收"]),
            "报送批次": f"HCC-{day:%Y%m%d}",
            "更新时间": _bj(day, rng),
        })
    return out


_PLATE_LETTERS = "ABCDEFGHJKLMNPQR"


def _vehicles(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    carriers = [e for e in pool if e.sector == "危货运输"] or pool
    ordinal = day.toordinal()
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(carriers)
        serial = (ordinal % 100) * 1000 + seq
        issue = day - dt.timedelta(days=rng.randrange(30, 1500))
        out.append({
            "CPHM": f"津{_PLATE_LETTERS[ordinal % len(_PLATE_LETTERS)]}{serial:05d}",
            "HPYS": "黄色",
            "CLLX": rng.choice(["重型罐式货车", "重型厢式货车", "半挂牵引车", "中型罐式货车"]),
            "DLYSZH": f"津交运管字120{rng.randrange(100000000, 999999999)}",
            "YHTYDM": ent.uscc,
            "YHMC": ent.name_variant(rng),
            "XZQH": ent.district_code,
            "HDZZL": str(rng.choice([8000, 15000, 20000, 25000, 31000])),
            "FZRQ": issue.isoformat(),
            "YXQZ": (issue + dt.timedelta(days=365 * rng.choice([4, 6]))).isoformat(),
            "BSPC": f"TC-{day:%Y%m%d}",
            "GXSJ": _bj(day, rng),
        })
    return out


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _break_check_char(uscc: str, rng: random.Random) -> str:
    wrong = [c for c in USCC_CHARSET if c != uscc[17]]
    return uscc[:17] + rng.choice(wrong)


def _inject(rng: random.Random, spec: DatasetSpec, records: list[dict]) -> tuple[list[dict], dict]:
    """Inject at most one defect per record; return delivered rows and truth for the feed."""
    delivered: list[dict] = []
    defects: list[dict] = []
    valid_keys: list[str] = []
    valid_usccs: set[str] = set()
    kinds = list(DEFECT_RATES)
    for rec in records:
        roll, kind = rng.random(), None
        acc = 0.0
        for k in kinds:
            acc += DEFECT_RATES[k]
            if roll < acc:
                kind = k
                break
        rec = dict(rec)
        key = rec[spec.key]
        expected_rule = None
        if kind == "invalid_uscc":
            rec[spec.uscc] = _break_check_char(rec[spec.uscc], rng)
            expected_rule = "uscc.valid_uscc"
        elif kind == "missing_required":
            field_name, column = rng.choice(spec.required)
            rec[field_name] = None if rng.random() < 0.5 else ""
            expected_rule = f"{column}.required"
        elif kind == "fullwidth":
            rec[spec.uscc] = _fullwidth(rec[spec.uscc])
            rec[spec.name] = rec[spec.name].replace("(", "（").replace(")", "）") + "　"
        elif kind == "unknown_district":
            rec[spec.district] = rng.choice(["120199", "120300", "999999"])
            expected_rule = "district_code.known_district"
        elif kind == "legacy_district":
            current = rec[spec.district] if rec[spec.district] in DISTRICTS else None
            if current and current in _LEGACY_BY_CURRENT:
                rec[spec.district] = rng.choice(_LEGACY_BY_CURRENT[current])
            else:
                kind = None  # this district has no legacy code: record stays clean
        elif kind == "date_order":
            early, late, rule = spec.date_order
            rec[early], rec[late] = rec[late], rec[early]
            if rec[early] == rec[late]:
                kind = None  # equal dates are in order
            else:
                expected_rule = rule
        if kind is not None and kind != "duplicate":
            defects.append({"key": key, "kind": kind, "expected_rule": expected_rule})
        delivered.append(rec)
        if expected_rule is None:
            valid_keys.append(key)
            valid_usccs.add(_halfwidth(rec[spec.uscc]))
        if kind == "duplicate":
            resubmitted = dict(rec)
            resubmitted[spec.batch] = rec[spec.batch] + "-R"
            delivered.append(resubmitted)
            defects.append({"key": key, "kind": "duplicate", "expected_rule": None})
    truth = {
        "rows_delivered": len(delivered),
        "distinct_valid": len(set(valid_keys)),
        "valid_keys": sorted(set(valid_keys)),
        "valid_usccs": sorted(valid_usccs),
        "duplicates": sum(1 for d in defects if d["kind"] == "duplicate"),
        "defects": defects,
    }
    return delivered, truth


def _halfwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text)


VOLUMES = {"emb_hazard": 160, "hcc_project": 60, "tc_dg_vehicle": 80}
_BUILDERS = {"emb_hazard": _hazards, "hcc_project": _projects, "tc_dg_vehicle": _vehicles}


def generate_day(day: dt.date, seed: int = DEFAULT_SEED, scale: float = 1.0) -> DayData:
    """Deterministic: the same (seed, day, scale) always gives the same bytes."""
    pool = enterprise_pool(seed)
    data = DayData(day=day, seed=seed)
    feeds_truth = {}
    for feed_id, build in _BUILDERS.items():
        rng = random.Random(f"{seed}:{day.isoformat()}:{feed_id}")
        clean = build(rng, day, pool, max(1, int(VOLUMES[feed_id] * scale)))
        delivered, truth = _inject(rng, SPECS[feed_id], clean)
        data.records[feed_id] = delivered
        feeds_truth[feed_id] = truth
    data.truth = {
        "date": day.isoformat(),
        "seed": seed,
        "feeds": feeds_truth,
        "valid_usccs": sorted({u for t in feeds_truth.values() for u in t["valid_usccs"]}),
    }
    return data
