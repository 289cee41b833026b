"""应急管理局 (EMB) datasets beyond the hazard ledger: the key-enterprise registry,
enforcement (双公示 format), accidents and 安责险 policies.

Field names are the bureau's own: Chinese headers in its Excel and CSV files,
the national 双公示 field codes (CF_*) in its enforcement API.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from dataclasses import dataclass, replace

from safety_hub.domain.places import DISTRICTS
from safety_hub.domain.codes import accident_grade
from safety_hub.domain.uscc import make_uscc, normalise_uscc
from safety_hub_dev.simulator.datasets._units import fishery_units, insured_units
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import Api, CsvDrop, DatasetSpec, RuleDefect, XlsxDrop, cn_date, iso, knob, register, stamp, value_in

# --- 重点企业名录 (key-enterprise registry, a daily full snapshot) -------------------------

_SUPERVISION = {"危化": "危险化学品", "金属冶炼": "金属冶炼", "工贸": "工贸"}
_SUPERVISION_SPELLINGS = {"危险化学品": ["危险化学品", "危险化学品", "危化"], "金属冶炼": ["金属冶炼", "金属冶炼", "冶金"], "工贸": ["工贸", "工贸", "一般工贸"]}
_RISK = ["重大风险", "较大风险", "一般风险", "低风险"]
# Agencies write risk levels as words, colours or the numbers 1-4 (DOMAIN.md, ent_registry defects).
_RISK_SPELLINGS = {
    "重大风险": ["重大风险", "红色", "1"],
    "较大风险": ["较大风险", "橙色", "2"],
    "一般风险": ["一般风险", "黄色", "3"],
    "低风险": ["低风险", "蓝色", "4"],
}
_PRINCIPALS = ["张建国", "王立新", "李志强", "刘海涛", "陈永明", "杨振华", "赵光明", "孙德胜", "周宏伟", "吴国庆"]


def key_enterprises(pool: list[Enterprise], n: int) -> list[Enterprise]:
    """The registry's enterprises: the first ``n`` of the pool in EMB-supervised sectors."""
    return [e for e in pool if e.sector in _SUPERVISION][:n]


def _leaves_registry_on(ent: Enterprise) -> dt.date:
    """About 5% of key enterprises leave the registry on a day in November 2026."""
    r = random.Random(f"{ent.uscc}:emb-registry-exit")
    return dt.date(2026, 11, 2) + dt.timedelta(days=r.randrange(1, 10)) if r.random() < 0.05 else dt.date.max


def employees_of(ent: Enterprise) -> int:
    """从业人员数 in the registry: stable per enterprise (insurance must cover all of them)."""
    er = random.Random(f"{ent.uscc}:employees")
    return er.choice([er.randrange(12, 100), er.randrange(100, 600), er.randrange(600, 3000)])


def enterprise_registry(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The same enterprises with the same facts every day; only 报送批次/更新时间 change."""
    out = []
    for ent in key_enterprises(pool, n):
        if day >= _leaves_registry_on(ent):
            continue  # no longer a key enterprise: absent from today's snapshot (a deletion)
        er = random.Random(f"{ent.uscc}:emb-registry")  # stable per enterprise, not per day
        category = _SUPERVISION[ent.sector]
        chem = category == "危险化学品"
        hazard_level = er.choice(["一级", "二级", "三级", "四级", "无", "无"]) if chem else "无"
        risk = er.choices(_RISK, weights=[1, 3, 8, 6])[0]
        if hazard_level in ("一级", "二级"):
            risk = er.choice(_RISK[:2])
        license_no = expiry = None
        if chem:
            issued = dt.date(er.randrange(2023, 2026), er.randrange(1, 13), er.randrange(1, 29))
            license_no = f"(津){er.choice(['WH', 'WH', 'JY'])}安许证字[{issued.year}]{er.randrange(1, 400):04d}"
            expiry = issued.replace(year=issued.year + 3) - dt.timedelta(days=1)
        out.append({
            "统一社会信用代码": ent.uscc,
            "企业名称": ent.name_on(day),
            "所在区": er.choice([ent.district_code, ent.district_code, DISTRICTS[ent.district_code]]),
            "行业代码": ent.industry_code,
            "监管类别": er.choice(_SUPERVISION_SPELLINGS[category]),
            "重大危险源等级": {"无": er.choice(["无", "无", "/"])}.get(hazard_level, hazard_level),
            "风险等级": er.choices(_RISK_SPELLINGS[risk], weights=[6, 2, 2])[0],
            "安全生产许可证号": license_no,
            "许可证有效期至": iso(expiry),
            "从业人员数": str(employees_of(ent)),
            "主要负责人": er.choice(_PRINCIPALS),
            "报送批次": f"EMB-QY-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


REGISTRY = register(DatasetSpec(
    feed_id="emb_ent_registry", build=enterprise_registry, volume=80,
    delivery=XlsxDrop("emb", "重点企业名录_{date:%Y%m%d}.xlsx", "天津市安全生产重点企业名录"),
    key="统一社会信用代码", uscc="统一社会信用代码", name="企业名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("行业代码", "industry_code"), ("监管类别", "supervision_category"), ("从业人员数", "employees")),
    date_order=None,
    mode="snapshot",
    optional=("重大危险源等级", "风险等级", "安全生产许可证号", "许可证有效期至", "主要负责人", "报送批次"),
))

# --- 执法处罚 (enforcement, national 双公示 format) ------------------------------------------

# Document-number prefixes of the district bureaus (津保 = 天津港保税区).
_DOC_PREFIX = {
    "120101": "津和", "120102": "津东", "120103": "津西", "120104": "津南开", "120105": "津北", "120106": "津红",
    "120110": "津丽", "120111": "津青", "120112": "津南", "120113": "津辰", "120114": "津武", "120115": "津宝",
    "120116": "津滨", "120117": "津宁", "120118": "津静", "120119": "津蓟",
}
_BRACKETS = [("[", "]"), ("〔", "〕"), ("［", "］")]
_VIOLATIONS = [
    ("未按规定对安全设备进行经常性维护、保养和定期检测", "《中华人民共和国安全生产法》第九十九条第二项", "安全阀未定期校验"),
    ("未如实记录安全生产教育和培训情况", "《中华人民共和国安全生产法》第九十七条第四项", "安全培训记录缺失"),
    ("特种作业人员未按照规定经专门的安全作业培训并取得相应资格上岗作业", "《中华人民共和国安全生产法》第九十七条第七项", "特种作业人员无证上岗"),
    ("未在有较大危险因素的生产经营场所设置明显的安全警示标志", "《中华人民共和国安全生产法》第九十九条第一项", "有限空间无警示标识"),
    ("未采取措施消除事故隐患", "《中华人民共和国安全生产法》第一百零二条", "消防通道堵塞"),
    ("未按照规定制定生产安全事故应急救援预案或者未定期组织演练", "《中华人民共和国安全生产法》第九十七条第六项", "应急预案未演练"),
    ("进行动火等危险作业未安排专门人员进行现场安全管理", "《中华人民共和国安全生产法》第一百零一条第四项", "动火作业未审批"),
]
# action_type -> (双公示 处罚类别, weight); 约谈 and 联合惩戒 are measures, not penalties.
_ACTIONS = {
    "罚款": ("罚款", 55),
    "警告": ("警告", 10),
    "停产整顿": ("责令停产停业", 8),
    "吊销": ("暂扣或者吊销许可证、暂扣或者吊销执照", 2),
    "关闭取缔": ("其他（关闭取缔）", 3),
    "联合惩戒": ("其他（联合惩戒）", 4),
    "约谈": ("其他（约谈）", 18),
}
_ACTION_SPELLINGS = {"停产整顿": ["停产整顿", "责令停产停业整顿"], "关闭取缔": ["关闭取缔", "提请关闭"], "联合惩戒": ["联合惩戒", "纳入联合惩戒对象"], "约谈": ["约谈", "警示约谈"]}
_FINES_WAN = ["0.5", "1", "1.5", "2", "3", "5", "8", "10", "20", "30", "50"]


@functools.lru_cache(maxsize=64)
def _authority(district: str | None) -> tuple[str, str, str]:
    """(name, USCC, doc prefix) of the bureau deciding: a district bureau, 保税区 or the city (None)."""
    if district is None:
        name, region, prefix = "天津市应急管理局", "120000", "津"
    elif district == "bonded":
        name, region, prefix = "天津港保税区应急管理局", "120116", "津保"
    else:
        name, region, prefix = f"天津市{DISTRICTS[district]}应急管理局", district, _DOC_PREFIX[district]
    rng = random.Random(f"authority:{name}")
    body = "".join(rng.choice("0123456789") for _ in range(8))
    return name, make_uscc("11", region, body), prefix  # 11 = 机关


def enforcements(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(pool)
        level = rng.random()
        who = None if level < 0.15 else ("bonded" if ent.district_code == "120116" and level < 0.3 else ent.district_code)
        authority, authority_uscc, prefix = _authority(who)
        weights = knob("enforcement_action_weights", None) or {a: w for a, (_, w) in _ACTIONS.items()}
        action = rng.choices(list(_ACTIONS), weights=[weights[a] for a in _ACTIONS])[0]
        category = _ACTIONS[action][0]
        violation, basis, problem = rng.choice(_VIOLATIONS)
        decision = day - dt.timedelta(days=rng.randrange(0, 15))
        notice = decision - dt.timedelta(days=rng.randrange(3, 21))  # 告知 -> 陈述申辩 -> 决定
        inspect = notice - dt.timedelta(days=rng.randrange(1, 46))
        fine = rng.choice(_FINES_WAN) if action == "罚款" or (action == "停产整顿" and rng.random() < 0.5) else None
        if fine is None and action in ("警告", "约谈", "联合惩戒") and rng.random() < 0.5:
            fine = "0"
        left, right = rng.choice(_BRACKETS)
        paren = rng.choice([("(", ")"), ("（", "）")]) if prefix != "津" else ("", "")
        kind = "约" if action == "约谈" else "罚"
        # A running number of the day's record: two cases share a number only where a defect says so
        # (doc_no_shared, doc_no_reused), never by chance.
        running = f"{day:%j}{seq:03d}"
        serial = f"{rng.choice('abcdefghjk')}-{running}" if rng.random() < 0.4 else running
        content = {"罚款": f"罚款人民币{fine}万元", "警告": "警告", "停产整顿": "责令停产停业整顿" + (f"，并处罚款人民币{fine}万元" if fine else ""),
                   "吊销": "吊销安全生产许可证", "关闭取缔": "提请县级以上人民政府予以关闭", "联合惩戒": "纳入安全生产失信惩戒名单",
                   "约谈": "约谈企业主要负责人"}[action]
        publicity_days = 3 * 365 if action in ("停产整顿", "吊销", "关闭取缔", "联合惩戒") or (fine and float(fine) >= 10) else 365
        out.append({
            "CF_JLBH": f"CF{day:%Y%m%d}{seq:04d}",
            "CF_XDR_MC": ent.name_variant(rng, day),
            "CF_XDR_LB": "法人及非法人组织",
            "CF_XDR_SHXYM": ent.uscc,
            "CF_FRDB": rng.choice(_PRINCIPALS),
            "CF_WSH": f"{paren[0]}{prefix}{paren[1]}应急{kind}{left}{decision.year}{right}{serial}号",
            "CF_WFXW": violation,
            "CF_SY": f"{inspect.year}年{inspect.month}月{inspect.day}日执法检查发现该单位{problem}，{violation}。",
            "CF_YJ": basis,
            "CF_CFLB": category,
            "CF_NR": content,
            "CF_NR_FK": fine,
            "CF_NR_WFFF": "0" if rng.random() < 0.3 else None,
            "CF_NR_ZKDX": {"吊销": "安全生产许可证", "停产整顿": "安全生产许可证（暂扣）"}.get(action),  # 停产整顿: the licence held
            "CF_JDRQ": decision.isoformat(),
            "CF_YXQ": (decision + dt.timedelta(days=365)).isoformat(),
            "CF_GSJZQ": (decision + dt.timedelta(days=publicity_days)).isoformat(),
            "CF_CFJG": authority,
            "CF_CFJGDM": authority_uscc,
            "CF_SJLY": authority,
            "CF_SJLYDM": authority_uscc,
            "JCRQ": inspect.isoformat(),
            "GZRQ": notice.isoformat(),
            "CSLX": rng.choice(_ACTION_SPELLINGS.get(action, [action])),
            "XZQH": ent.district_code,
            "BSPC": f"EMB-CF-{day:%Y%m%d}",
            "GXSJ": stamp(day, rng),
        })
    return out


_SWAP_BRACKETS = str.maketrans({"[": "〔", "]": "〕", "〔": "［", "〕": "］", "［": "[", "］": "]"})


def _two_digit_year(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    doc = rec["CF_WSH"]
    rec["CF_WSH"] = re.sub(r"([\[〔［])\d{2}(\d{2})", r"\1\2", doc, count=1)  # 〔2026〕 -> 〔26〕
    return rec["CF_WSH"] != doc


def _shared_doc_no(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    """Another case's document number, typed with other brackets: the same number twice."""
    rec["CF_WSH"] = partner["CF_WSH"].translate(_SWAP_BRACKETS)
    return True


_REUSE_SHARE = 0.04  # of a day's clean cases: its number is used again by a new case a day or two later


def reused_doc_nos(day: dt.date, seed: int, pool: list[Enterprise], n: int, earlier) -> list[tuple[dict, dict | None]]:
    """New cases decided under the number of a loaded case delivered one or two days before, typed
    with other brackets: a number used twice, seen only beside the earlier day's batch."""
    defect = next(d for d in ENFORCEMENT.rule_defects if d.kind == "doc_no_reused")
    out: list[tuple[dict, dict | None]] = []
    for back in (1, 2):
        origin = day - dt.timedelta(days=back)
        delivered, truth = earlier(origin)
        clean = set(truth["valid_keys"]) - {d["key"] for d in truth["defects"]}
        # Which of the origin day's cases are reused, and when: the same draws whichever later day asks.
        pick = random.Random(f"{seed}:{origin.isoformat()}:emb_enforcement:reuse")
        for original in sorted({r["CF_JLBH"]: r for r in delivered if r["CF_JLBH"] in clean}.values(), key=lambda r: r["CF_JLBH"]):
            if pick.random() >= _REUSE_SHARE or pick.choice((1, 2)) != back:
                continue
            rng = random.Random(f"{seed}:{day.isoformat()}:emb_enforcement:reuse:{original['CF_JLBH']}")
            case = enforcements(rng, day, pool, 1)[0]
            if (normalise_uscc(case["CF_XDR_SHXYM"]), case["CF_JDRQ"]) == (normalise_uscc(original["CF_XDR_SHXYM"]), original["CF_JDRQ"]):
                continue  # the same party and decision day would be the same case resubmitted, not a reuse
            case["CF_JLBH"] = f"CF{day:%Y%m%d}{n + len(out) + 1:04d}"  # after the day's own records
            defect.apply(rng, case, day, original)
            out.append((case, defect.entry(origin_day=origin.isoformat(), partner=original["CF_JLBH"])))
    return out


ENFORCEMENT = register(DatasetSpec(
    feed_id="emb_enforcement", build=enforcements, volume=40, delivery=Api("enforcements"),
    key="CF_JLBH", uscc="CF_XDR_SHXYM", name="CF_XDR_MC", district="XZQH", batch="BSPC", updated="GXSJ",
    required=(("CF_WSH", "doc_no"), ("CF_CFLB", "penalty_category"), ("JCRQ", "inspect_date")),
    date_order=("JCRQ", "GZRQ", "inspect_date<=notice_date"),
    rule_defects=(
        RuleDefect("doc_no_bad_year", "doc_no.format", _two_digit_year),
        RuleDefect("doc_no_shared", "doc_no.unique", _shared_doc_no, pair=True),
        # a case of an earlier day (``partner``, delivered on ``origin_day``) is flagged with it
        RuleDefect("doc_no_reused", "doc_no.unique_across_batches", _shared_doc_no, severity="warning", stage="warehouse",
                   history=True),
    ),
    history=reused_doc_nos,
    optional=(
        "CF_XDR_LB", "CF_FRDB", "CF_WFXW", "CF_SY", "CF_YJ", "CF_NR", "CF_NR_FK", "CF_NR_WFFF", "CF_NR_ZKDX", "GZRQ", "CF_YXQ",
        "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM", "BSPC",
    ),
    filled_if=(("CF_NR_FK", value_in("CSLX", "罚款", "处罚款")),),
))

# --- 生产安全事故 (accidents) -----------------------------------------------------------------

# GB 6441-86 accident kinds with a typical one-line account.
_ACCIDENT_KINDS = [
    ("高处坠落", "作业人员在脚手架上作业时未系安全带坠落"),
    ("物体打击", "吊装作业中钢管坠落砸中地面人员"),
    ("机械伤害", "操作工清理设备时未停机被卷入"),
    ("起重伤害", "汽车吊吊装时钢丝绳断裂"),
    ("触电", "维修人员带电作业触电"),
    ("车辆伤害", "厂内叉车倒车时撞伤作业人员"),
    ("中毒和窒息", "人员未经检测进入污水池有限空间作业"),
    ("坍塌", "基坑边坡未按方案放坡发生局部坍塌"),
    ("火灾", "仓库电气线路短路引发火灾"),
    ("容器爆炸", "反应釜超压发生物理爆炸"),
    ("灼烫", "高温物料喷溅致人员烫伤"),
    ("淹溺", "作业人员在码头作业时落水"),
    ("其他爆炸", "动火作业引燃可燃气体发生爆燃"),
    ("其他伤害", "人员在作业中扭伤摔倒"),
]
_GRADE_SPELLING = {"特别重大": ["特别重大", "特别重大事故"], "重大": ["重大", "重大事故"], "较大": ["较大", "较大事故"], "一般": ["一般", "一般事故"]}


def accidents(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(pool)
        kind, account = rng.choice(_ACCIDENT_KINDS)
        deaths = rng.choices([0, 1, 2, 3, 4, 6, 11], weights=[50, 32, 8, 4, 2, 1, 0.5])[0]
        serious = rng.choices([0, 1, 2, 3, 5, 12, 55], weights=[55, 20, 10, 6, 5, 2, 0.3])[0]
        loss = round(rng.choice([rng.uniform(1, 80), rng.uniform(50, 600), rng.uniform(100, 990)]) if rng.random() < 0.97
                     else rng.choice([rng.uniform(1000, 4999), rng.uniform(5000, 9000)]), 2)
        grade = accident_grade(deaths, serious, loss)
        occurred = day - dt.timedelta(days=rng.randrange(0, 30))
        reported = min(day, occurred + dt.timedelta(days=rng.choice([0, 0, 0, 1, 1, 2, 5])))  # 首报, 续报
        style = rng.random()
        out.append({
            "事故编号": f"SG{day:%Y%m%d}{seq:03d}",
            "事故单位": ent.name_variant(rng, day),
            "统一社会信用代码": ent.uscc,
            "所在区": rng.choice([ent.district_code, ent.district_code, DISTRICTS[ent.district_code]]),
            # One clerk, one date style per record: the injector's date_order swap compares the texts.
            "事故发生日期": cn_date(occurred, random.Random(style)),
            "事故报告日期": cn_date(reported, random.Random(style)),
            "事故地点": f"{DISTRICTS[ent.district_code]}{ent.name.removeprefix('天津')[:4]}{rng.choice(['生产车间', '仓库', '厂区道路', '储罐区', '施工现场', '装卸区'])}",
            "事故类别": kind,
            "事故简要经过": account,
            "死亡人数": str(deaths),
            "重伤人数": str(serious),
            "轻伤人数": str(rng.randrange(0, 4)),
            "直接经济损失（万元）": f"{loss:.2f}",
            "事故等级": rng.choice(_GRADE_SPELLING[grade]),
            "调查状态": rng.choice(["调查中", "调查中", "已结案"]),
            "报送批次": f"EMB-SG-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


ACCIDENT = register(DatasetSpec(
    feed_id="emb_accident", build=accidents, volume=36, delivery=CsvDrop("emb", "生产安全事故_{date:%Y%m%d}.csv", "utf-8-sig"),
    key="事故编号", uscc="统一社会信用代码", name="事故单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("事故发生日期", "occurred_date"), ("事故类别", "accident_type"), ("死亡人数", "deaths")),
    date_order=("事故发生日期", "事故报告日期", "occurred_date<=reported_date"),
    optional=("事故报告日期", "事故地点", "事故简要经过", "轻伤人数", "调查状态", "报送批次"),
))

# --- 安全生产责任保险 (安责险 policies) ----------------------------------------------------------
#
# A renewal model: every policyholder has a chain of consecutive policies, one per policy year
# (from its anniversary to the day before the next), each starting the day after the previous
# one ends. A policy is delivered when it is issued (a renewal 1-30 days before it starts),
# together with the policy it renews (the insurer's record of that one changes: it is renewed),
# so the warehouse sees each pair. The book is the pool's insured enterprises and fishery units, which
# renew in November (the simulated window, like the renames: their renewals, and the registry's
# headcounts, are in the data the tests load), plus the insurer's other policyholders renewing
# all year round, enough of them for about ``volume`` rows a day.
#
# Defects of a policy year (at most one; ``policy_history`` delivers them with their partner):
# - cover_gap: renewed after the previous policy ended, starting 1-45 days after it (脱保);
# - policy_overlap: renewed early, starting 1-60 days before the previous policy ends, or a second
#   policy for the same cover issued beside the renewal under the next number (double reporting);
# - headcount_below_employees (registered enterprises only): fewer insured than the registry's
#   从业人员数, on every delivery of that policy.
# A defective policy still runs to the usual anniversary, so the next year's renewal is clean.

# Sectors where 安责险 is mandatory (DOMAIN.md §7) among the pool's sectors.
_INSURED_SECTORS = {"危化": "危险化学品", "金属冶炼": "金属冶炼", "建筑": "建筑施工", "危货运输": "交通运输", "渔业": "渔业"}
_INSURERS = [
    ("中国人民财产保险股份有限公司天津市分公司", "PZAK"),
    ("中国平安财产保险股份有限公司天津分公司", "1181"),
    ("中国太平洋财产保险股份有限公司天津分公司", "ATIJ"),
    ("渤海财产保险股份有限公司", "BHCX"),
    ("中华联合财产保险股份有限公司天津分公司", "ZHLH"),
    ("中国人寿财产保险股份有限公司天津市分公司", "8061"),
]
_GAP_RATE, _EARLY_RATE, _DOUBLE_RATE = 0.04, 0.03, 0.02  # per policy year (a renewal delivers two rows)
_SHORT_RATE = 0.2  # per policy year of a registered enterprise: headcount below its 从业人员数
_POOL_ANNIVERSARIES = (dt.date(2001, 11, 5), 21)  # first day and number of days (the pool renews in November)


@dataclass(frozen=True)
class _Holder:
    index: int  # in the book: the policy number's serial
    ent: Enterprise
    anniversary: tuple[int, int]  # (month, day) the policy year starts; never 29 February
    employees: int | None  # 从业人员数 in the EMB registry, None when not registered


@dataclass(frozen=True)
class _Policy:
    """One policy year of a holder (``copy`` 2: the double-reported second policy for it)."""

    holder: _Holder
    year: int
    start: dt.date
    end: dt.date
    issued: dt.date
    kind: str | None  # None, cover_gap, policy_overlap (early), double or headcount_below_employees
    insurer: tuple[str, str]
    limit_wan: int
    headcount: int
    premium_rate: int
    copy: int = 1

    @property
    def policy_no(self) -> str:
        return f"{self.insurer[1]}12{self.issued:%Y%m%d}{self.holder.index:06d}{self.copy:02d}"


_BOOKS: dict[tuple[str, int, int], tuple[_Holder, ...]] = {}


def _book(pool: list[Enterprise], n: int) -> tuple[_Holder, ...]:
    """The policyholders for ``n`` rows a day: the pool's first, then the insurer's other ones."""
    key = (pool[0].uscc, len(pool), n)
    if key not in _BOOKS:
        registered = {e.uscc: employees_of(e) for e in key_enterprises(pool, knob("registry_size", REGISTRY.volume))}
        own = [e for e in pool if e.sector in _INSURED_SECTORS] + fishery_units(pool)
        others = insured_units(pool, max(1, n * 365 // 2 - len(own)))  # a renewal delivers two rows
        first, days = _POOL_ANNIVERSARIES
        holders = []
        for i, ent in enumerate(own + others):
            r = random.Random(f"{ent.uscc}:insurance-anniversary")
            day = first + dt.timedelta(days=r.randrange(days)) if i < len(own) else dt.date(2001, 1, 1) + dt.timedelta(days=r.randrange(365))
            holders.append(_Holder(i, ent, (day.month, day.day), registered.get(ent.uscc)))
        _BOOKS[key] = tuple(holders)
    return _BOOKS[key]


def _policy_year(h: _Holder, year: int) -> _Policy:
    """The holder's policy for the policy year starting on its anniversary in ``year``."""
    r = random.Random(f"{h.ent.uscc}:insurance:{year}")
    anniversary, next_one = dt.date(year, *h.anniversary), dt.date(year + 1, *h.anniversary)
    roll, kind = r.random(), None
    if roll < _GAP_RATE:
        kind, start = "cover_gap", anniversary + dt.timedelta(days=r.randrange(1, 46))
        issued = anniversary + dt.timedelta(days=r.randrange(0, (start - anniversary).days + 1))  # after the lapse
    elif roll < _GAP_RATE + _EARLY_RATE:
        kind, start = "policy_overlap", anniversary - dt.timedelta(days=r.randrange(1, 61))
        issued = start - dt.timedelta(days=r.randrange(0, 15))
    else:
        start = anniversary
        issued = start - dt.timedelta(days=r.randrange(1, 31))
        if roll < _GAP_RATE + _EARLY_RATE + _DOUBLE_RATE:
            kind = "double"
    short = h.employees is not None and h.employees >= 20 and kind is None and r.random() < _SHORT_RATE
    if short:
        kind, headcount = "headcount_below_employees", h.employees - r.randrange(1, h.employees // 2)
    else:
        headcount = r.randrange(8, 600) if h.employees is None else h.employees + r.randrange(0, 30)  # covers all staff
    return _Policy(h, year, start, next_one - dt.timedelta(days=1), issued, kind, r.choice(_INSURERS),
                   r.choice([40, 50, 50, 60, 80, 100]),  # 万元 per person, >= 40 since the 2025 revision
                   headcount, r.choice([120, 150, 180, 240, 300]))


@functools.lru_cache(maxsize=16)
def _issued_in(pool_key: tuple[str, int], n: int, year: int) -> dict[dt.date, tuple[_Policy, ...]]:
    """Issue day -> the policies of the policy years starting on an anniversary in ``year``."""
    out: dict[dt.date, list[_Policy]] = {}
    for h in _BOOKS[(*pool_key, n)]:
        p = _policy_year(h, year)
        out.setdefault(p.issued, []).append(p)
    return {d: tuple(ps) for d, ps in out.items()}


def _issued_on(pool: list[Enterprise], n: int, day: dt.date) -> list[_Policy]:
    """Policies issued on ``day`` (an anniversary lies at most 74 days after or 45 days before its issue); under a
    profile delivering on working days only (knob ``insurance_catch_up``), also those issued on the days off before it."""
    _book(pool, n)
    days = [day]
    if knob("insurance_catch_up", False):
        from safety_hub.domain.workdays import previous_business_day

        before = previous_business_day(day)
        days = [before + dt.timedelta(days=i) for i in range(1, (day - before).days + 1)]
    key = (pool[0].uscc, len(pool))
    found = [p for d in days for year in (d.year - 1, d.year, d.year + 1) for p in _issued_in(key, n, year).get(d, ())]
    return sorted(found, key=lambda p: p.holder.index)


def _policy_row(p: _Policy, rng: random.Random, day: dt.date) -> dict:
    """The policy as the insurer's CSV has it on ``day``."""
    ent, limit = p.holder.ent, p.limit_wan
    return {
        "保单号": p.policy_no,
        "投保单位名称": ent.name_variant(rng, day),
        "统一社会信用代码": ent.uscc,
        "所在区": ent.district_code,
        "投保行业": _INSURED_SECTORS[ent.sector],
        "保险公司": p.insurer[0],
        "起保日期": cn_date(p.start, rng),
        "终保日期": cn_date(p.end, rng),
        "每人死亡伤残责任限额（万元）": str(limit),
        "参保人数": str(p.headcount),
        "保费（元）": f"{p.headcount * p.premium_rate * limit / 50:.2f}",
        "报送批次": f"EMB-AZX-{day:%Y%m%d}",
        "更新时间": stamp(day, rng),
    }


def _renewal(p: _Policy) -> tuple[_Policy, _Policy]:
    """(the policy renewed by ``p``, ``p``)."""
    return _policy_year(p.holder, p.year - 1), p


def _in_history(p: _Policy) -> bool:
    """Whether the renewal ``p`` or the policy it renews carries a defect (``policy_history`` delivers them)."""
    previous, _ = _renewal(p)
    return p.kind is not None or previous.kind == "headcount_below_employees"


def policies(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """Clean renewals issued on ``day``, each with the policy it renews."""
    out = []
    for p in _issued_on(pool, n, day):
        if not _in_history(p):
            previous, _ = _renewal(p)
            out += [_policy_row(p, rng, day), _policy_row(previous, rng, day)]
    return out


def policy_history(day: dt.date, seed: int, pool: list[Enterprise], n: int, earlier) -> list[tuple[dict, dict | None]]:
    """Renewals issued on ``day`` with a defect in the renewal or the policy it renews, each with that policy."""
    rng = random.Random(f"{seed}:{day.isoformat()}:emb_insurance:history")
    defects = {d.kind: d for d in INSURANCE.rule_defects}
    out: list[tuple[dict, dict | None]] = []
    for p in _issued_on(pool, n, day):
        if not _in_history(p):
            continue
        previous, _ = _renewal(p)
        row = _policy_row(p, rng, day)
        if p.kind in ("cover_gap", "policy_overlap"):
            out.append((row, defects[p.kind].entry(after=previous.policy_no)))
        elif p.kind == "headcount_below_employees":
            out.append((row, defects[p.kind].entry()))
        else:
            out.append((row, None))
        if p.kind == "double":  # the same cover issued again under the next number: the later of the two overlaps
            second = replace(p, copy=2)
            out.append((_policy_row(second, rng, day), defects["policy_overlap"].entry(after=p.policy_no)))
        short = previous.kind == "headcount_below_employees"
        out.append((_policy_row(previous, rng, day), defects[previous.kind].entry() if short else None))
    return out


INSURANCE = register(DatasetSpec(
    feed_id="emb_insurance", build=policies, volume=40, delivery=CsvDrop("emb", "安责险保单_{date:%Y%m%d}.csv", "gb18030"),
    key="保单号", uscc="统一社会信用代码", name="投保单位名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("保险公司", "insurer"), ("起保日期", "start_date"), ("每人死亡伤残责任限额（万元）", "death_limit_wan")),
    date_order=("起保日期", "终保日期", "start_date<end_date"),
    rule_defects=(
        RuleDefect("headcount_below_employees", "insured_headcount>=employees", None, severity="warning", stage="warehouse", history=True),
        RuleDefect("cover_gap", "insurance_cover.no_gap", None, severity="warning", stage="warehouse", history=True),
        RuleDefect("policy_overlap", "insurance_cover.no_overlap", None, severity="warning", stage="warehouse", history=True),
    ),
    history=policy_history,
    optional=("投保行业", "参保人数", "保费（元）", "报送批次"),
))
