"""The campaign's other ledgers (专项整治的其他数据) of the city work-safety committee office (市安委办, in the EMB).

督导检查 (``emb_supervision``): supervision inspections of enterprises by leaders and the
committee's teams, one row per inspection, with the key problem the team put under
supervision (督导督办重点问题) where it did. A problem moves 未整改 → 整改中 → 已整改 on days its
plan fixes (``problem_plan``, drawn from the inspection's number alone), and the office
delivers the inspection again on each of those days with that day as 开始整改日期 or
整改完成日期: every version's dates are the days it was delivered, so a figure as of a date
reads the same whenever it is computed.

安全宣讲 and 安全教育培训 (``emb_outreach``): the talks and training courses the city and district
departments held, one row per activity delivered on the day it ended, with its sessions,
the enterprises covered and the people trained.

危险化学品企业排查评估 (``emb_chem_assessment``): assessments of the pool's hazardous-chemical
enterprises, each delivered on the day it was concluded, with the batch of 三个一批 it put the
enterprise in and the enterprise's 一企一策 plan.

安全风险分析及防范措施 (``emb_risk_task``): the regional risk prevention tasks of the city and
the districts, a fixed plan for the year (``risk_task_plan``) delivered whole every day as
known that day (a snapshot), with the progress the office reports for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.datasets.emb_measure import department
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import CsvDrop, DatasetSpec, RuleDefect, XlsxDrop, cn_date, register, stamp, value_in

# --- 督导检查 -----------------------------------------------------------------------------------

_LEADERS = ["市应急管理局副局长", "市安委办专职副主任", "区政府副区长", "区应急管理局局长", "市安委会第一督导组组长", "区安委办主任"]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_TEAMS = ["市安委会第一督导组", "市安委会第二督导组", "市安委会第三督导组", "区安委会督导组", "市应急管理局督查组"]
_FORMS = {"明查": ["明查", "检查"], "暗访": ["暗访", "暗查暗访"], "四不两直": ["四不两直"]}
_PROBLEMS = [
    "重大危险源监测监控系统报警未及时处置", "有限空间作业未执行审批制度", "动火作业未落实监护人",
    "安全风险分级管控清单未更新", "主要负责人未组织隐患排查", "应急预案未演练", "特种作业人员无证上岗",
    "消防通道被占用", "危险化学品储存超量", "安全生产责任制未落实到岗位",
]
STATUS_SPELLINGS = {"未整改": ["未整改", "未整改", "未开始整改"], "整改中": ["整改中", "整改中", "正在整改"], "已整改": ["已整改", "已整改", "整改完成"]}


def inspection_id(day: dt.date, seq: int) -> str:
    return f"DD-{day:%Y%m%d}-{seq:03d}"


def problem_plan(key: str, day: dt.date) -> dict:
    """An inspection's own plan from its number: whether a problem is put under supervision, its
    deadline, and the days rectification starts and is done (None: not within a week of it)."""
    rng = random.Random(f"supervision-plan:{key}")
    found = rng.choices([0, 1, 2, 3, 4, 6], weights=[2, 4, 4, 3, 2, 1])[0]
    supervised = found > 0 and rng.random() < 0.7
    deadline = day + dt.timedelta(days=rng.choice([7, 15, 30, 30, 60]))
    roll = rng.random()
    if roll < 0.1:  # 立行立改: done on the spot
        started = done = day
    elif roll < 0.3:
        started, done = day, (day + dt.timedelta(days=rng.randrange(2, 7)) if rng.random() < 0.5 else None)
    elif roll < 0.75:
        started = day + dt.timedelta(days=rng.randrange(1, 4))
        done = started + dt.timedelta(days=rng.randrange(1, 4)) if rng.random() < 0.5 else None
    else:
        started = done = None
    return {"found": found, "supervised": supervised, "deadline": deadline, "started": started, "done": done,
            "problem": rng.choice(_PROBLEMS)}


def _status(plan: dict, on: dt.date) -> str:
    if plan["done"] is not None and plan["done"] <= on:
        return "已整改"
    if plan["started"] is not None and plan["started"] <= on:
        return "整改中"
    return "未整改"


def _supervision_record(rng: random.Random, key: str, inspected: dt.date, unit: Enterprise, day: dt.date) -> dict:
    """The inspection as the ledger gives it on ``day`` (its problem's status and dates as of then)."""
    plan = problem_plan(key, inspected)
    status = _status(plan, day) if plan["supervised"] else None
    form = rng.choices(list(_FORMS), weights=[5, 2, 3])[0]
    return {
        "督导检查编号": key,
        "督导日期": cn_date(inspected, rng),
        "督导形式": rng.choice(_FORMS[form]),
        "带队领导": f"{rng.choice(_LEADERS)} {rng.choice(_SURNAMES)}某",
        "督导组": rng.choice(_TEAMS),
        "被督导单位": unit.name_variant(rng, day),
        "统一社会信用代码": unit.uscc,
        "所在区": rng.choice([unit.district_code, unit.district_code, DISTRICTS[unit.district_code]]),
        "发现问题数": str(plan["found"]),
        "督办问题编号": f"DB{key[2:]}" if plan["supervised"] else None,
        "督办重点问题": plan["problem"] if plan["supervised"] else None,
        "整改期限": cn_date(plan["deadline"], rng) if plan["supervised"] else None,
        "整改状态": rng.choice(STATUS_SPELLINGS[status]) if status else None,
        "开始整改日期": cn_date(plan["started"], rng) if status in ("整改中", "已整改") else None,
        "整改完成日期": cn_date(plan["done"], rng) if status == "已整改" else None,
        "报送批次": f"AWB-DD-{day:%Y%m%d}",
        "更新时间": stamp(day, rng),
    }


def supervisions(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The day's inspections, each delivered on its own day."""
    return [_supervision_record(rng, inspection_id(day, seq), day, rng.choice(pool), day) for seq in range(1, n + 1)]


def supervision_progress(rng: random.Random, rec: dict, day: dt.date) -> dict | None:
    """The inspection again on the day its problem starts or finishes rectification (else None)."""
    key = rec["督导检查编号"]
    inspected = dt.date(int(key[3:7]), int(key[7:9]), int(key[9:11]))
    plan = problem_plan(key, inspected)
    if not plan["supervised"] or day not in (plan["started"], plan["done"]) or day == inspected:
        return None
    status = _status(plan, day)
    return {**rec, "整改状态": rng.choice(STATUS_SPELLINGS[status]),
            "开始整改日期": cn_date(plan["started"], rng),
            "整改完成日期": cn_date(plan["done"], rng) if status == "已整改" else None,
            "报送批次": f"AWB-DD-{day:%Y%m%d}", "更新时间": stamp(day, rng)}


def _done_without_date(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["整改完成日期"] is None:
        return False
    rec["整改完成日期"] = None  # 已整改, but the day it was done left out
    return True


def _started_without_date(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["整改状态"] not in STATUS_SPELLINGS["整改中"]:
        return False
    rec["开始整改日期"] = None
    return True


def _deadline_before_inspection(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["整改期限"] is None:
        return False
    rec["整改期限"] = (day - dt.timedelta(days=rng.randrange(1, 30))).isoformat()
    return True


def _problems_out_of_range(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec["发现问题数"] = rng.choice(["-1", "-3", "120"])
    return True


SUPERVISION = register(DatasetSpec(
    feed_id="emb_supervision", build=supervisions, volume=20, delivery=CsvDrop("emb", "督导检查台账_{date:%Y%m%d}.csv", "utf-8-sig"),
    key="督导检查编号", uscc="统一社会信用代码", name="被督导单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("督导日期", "inspect_date"), ("带队领导", "leader"), ("发现问题数", "problems_found")),
    date_order=None,
    late_update=supervision_progress, late_update_share=1.0, late_update_days=7,
    rule_defects=(
        RuleDefect("done_without_date", "rectified_date.required_if_done", _done_without_date),
        RuleDefect("started_without_date", "started_date.required_if_started", _started_without_date),
        RuleDefect("deadline_before_inspection", "inspect_date<=deadline", _deadline_before_inspection),
        RuleDefect("problems_out_of_range", "problems_found>=0", _problems_out_of_range),
    ),
    optional=("督导组", "督办问题编号", "督办重点问题", "整改期限", "整改状态", "开始整改日期", "整改完成日期", "报送批次"),
    filled_if=(("整改完成日期", value_in("整改状态", "已整改", "整改完成", "已完成整改")), ("开始整改日期", value_in("整改状态", "整改中", "正在整改"))),
    rule_defect_each_day=True,
))


# --- 安全宣讲 and 安全教育培训 ------------------------------------------------------------------

_TALK_TOPICS = ["新《安全生产法》宣讲", "重大事故隐患判定标准解读", "安全生产治本攻坚三年行动宣讲", "企业主要负责人安全生产职责宣讲",
                "有限空间作业安全警示宣讲", "典型事故案例警示教育"]
_COURSES = ["企业主要负责人和安全管理人员培训", "特种作业人员安全培训", "危险化学品从业人员安全培训", "有限空间作业安全培训",
            "新员工三级安全教育", "应急救援技能培训"]
_DEPARTMENTS = ["应急管理局", "应急管理局", "住房和城乡建设委员会", "市场监督管理局"]
ACTIVITY_SPELLINGS = {"安全宣讲": ["安全宣讲", "安全宣讲", "宣讲"], "安全教育培训": ["安全教育培训", "安全教育培训", "安全培训"]}


def activities(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The activities that ended on ``day``, each delivered that day."""
    out = []
    for seq in range(1, n + 1):
        kind = rng.choice(["安全宣讲", "安全教育培训"])
        district = rng.choice(sorted(DISTRICTS))
        unit = department(rng.choice(_DEPARTMENTS), district if rng.random() < 0.85 else None)
        start = day - dt.timedelta(days=rng.choice([0, 0, 0, 1, 2]) if kind == "安全教育培训" else 0)
        sessions = rng.randrange(1, 4) if kind == "安全宣讲" else (day - start).days + 1
        covered = sessions * rng.randrange(5, 60)
        out.append({
            "活动编号": f"XJPX-{day:%Y%m%d}-{seq:03d}",
            "活动类型": rng.choice(ACTIVITY_SPELLINGS[kind]),
            "活动主题": rng.choice(_TALK_TOPICS if kind == "安全宣讲" else _COURSES),
            "主办单位": unit.name,
            "主办单位统一社会信用代码": unit.uscc,
            "所在区": rng.choice([unit.district_code, unit.district_code, DISTRICTS[unit.district_code]]),
            "主讲人": f"{rng.choice(_SURNAMES)}某",
            "形式": rng.choice(["线下", "线下", "现场", "线上", "视频"]),
            "开始日期": cn_date(start, rng),
            "结束日期": cn_date(day, rng),
            "场次": str(sessions),
            "覆盖企业（家次）": str(covered),
            "培训人次": str(covered * rng.randrange(1, 4)) if kind == "安全教育培训" or rng.random() < 0.5 else None,
            "报送批次": f"AWB-XJ-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _training_without_attendees(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["活动类型"] not in ACTIVITY_SPELLINGS["安全教育培训"]:
        return False
    rec["培训人次"] = None
    return True


def _no_sessions(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec["场次"] = rng.choice(["0", "-1", "500"])
    return True


def _negative_coverage(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec["覆盖企业（家次）"] = rng.choice(["-5", "99999"])
    return True


OUTREACH = register(DatasetSpec(
    feed_id="emb_outreach", build=activities, volume=24, delivery=CsvDrop("emb", "宣讲培训台账_{date:%Y%m%d}.csv", "utf-8-sig"),
    key="活动编号", uscc="主办单位统一社会信用代码", name="主办单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("活动主题", "topic"), ("场次", "sessions"), ("覆盖企业（家次）", "enterprises_covered")),
    date_order=("开始日期", "结束日期", "start_date<=end_date"),
    rule_defects=(
        RuleDefect("training_without_attendees", "attendees.required_for_training", _training_without_attendees),
        RuleDefect("no_sessions", "sessions>=1", _no_sessions),
        RuleDefect("negative_coverage", "enterprises_covered>=0", _negative_coverage),
    ),
    optional=("主讲人", "形式", "培训人次", "报送批次"),
    filled_if=(("培训人次", value_in("活动类型", "安全教育培训", "教育培训", "安全培训")),),
    rule_defect_each_day=True,
))


# --- 危险化学品企业排查评估 -------------------------------------------------------------------------

_CHEM_TYPES = {"生产": ["生产", "危化品生产"], "储存经营": ["储存经营", "经营（带储存）"], "使用": ["使用", "使用危化品"]}
CLASS_SPELLINGS = {"关闭退出": ["关闭退出", "关闭退出一批"], "停业整改": ["停业整改", "停业整改一批"], "限期整改": ["限期整改", "限期整改一批"],
                   "评估达标": ["评估达标", "达标"]}
_ASSESSORS = ["天津市安全生产科学研究院", "中国石化安全工程研究院天津分院", "天津市化工安全技术服务中心", "区应急管理局专家组"]
_PLANS = {
    "关闭退出": ["停止生产经营，清理危险化学品，拆除装置，注销许可证", "关闭退出，安全处置库存危险化学品"],
    "停业整改": ["停业整改：完善自动化控制系统和安全仪表系统后复产验收", "停业整改：重大危险源监测监控系统改造，聘请专家复核"],
    "限期整改": ["限期完成安全风险辨识评估和隐患治理", "限期完成可燃有毒气体检测报警系统改造", "限期配齐专职安全管理人员并完成培训"],
}


def chem_assessments(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The assessments concluded on ``day`` of hazardous-chemical enterprises of the pool."""
    chem = [e for e in pool if e.sector == "危化"] or pool
    out = []
    for seq in range(1, n + 1):
        unit = rng.choice(chem)
        batch = rng.choices(list(CLASS_SPELLINGS), weights=[1, 2, 5, 4])[0]
        deadline = {"关闭退出": day + dt.timedelta(days=rng.choice([90, 180])), "停业整改": day + dt.timedelta(days=rng.choice([30, 60, 90])),
                    "限期整改": day + dt.timedelta(days=rng.choice([15, 30, 60])), "评估达标": None}[batch]
        kind = rng.choice(list(_CHEM_TYPES))
        out.append({
            "评估编号": f"WHPG-{day:%Y%m%d}-{seq:03d}",
            "企业名称": unit.name_variant(rng, day),
            "统一社会信用代码": unit.uscc,
            "所在区": rng.choice([unit.district_code, unit.district_code, DISTRICTS[unit.district_code]]),
            "企业类型": rng.choice(_CHEM_TYPES[kind]),
            "评估日期": cn_date(day, rng),
            "评估机构": rng.choice(_ASSESSORS),
            "评估结论": rng.choice(CLASS_SPELLINGS[batch]),
            # 一企一策: every enterprise put in a batch has its plan; an enterprise that passed needs none
            "一企一策措施": rng.choice(_PLANS[batch]) if batch in _PLANS else None,
            "整改（退出）期限": cn_date(deadline, rng),
            "报送批次": f"EMB-WHPG-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _class_of(rec: dict) -> str:
    return next(c for c, spellings in CLASS_SPELLINGS.items() if rec["评估结论"] in spellings)


def _suspended_without_plan(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if _class_of(rec) != "停业整改":
        return False
    rec["一企一策措施"] = None
    return True


def _deadline_batch_without_plan(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if _class_of(rec) != "限期整改":
        return False
    rec["一企一策措施"] = rng.choice([None, ""])
    return True


def _deadline_batch_without_deadline(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if _class_of(rec) != "限期整改":
        return False
    rec["整改（退出）期限"] = None
    return True


def _deadline_before_assessment(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["整改（退出）期限"] is None:
        return False
    rec["整改（退出）期限"] = (day - dt.timedelta(days=rng.randrange(1, 60))).isoformat()
    return True


CHEM_ASSESSMENT = register(DatasetSpec(
    feed_id="emb_chem_assessment", build=chem_assessments, volume=22,
    delivery=CsvDrop("emb", "危化企业排查评估_{date:%Y%m%d}.csv", "gb18030"),
    key="评估编号", uscc="统一社会信用代码", name="企业名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("评估日期", "assess_date"), ("评估结论", "classification"), ("企业类型", "chem_type")),
    date_order=None,
    rule_defects=(
        RuleDefect("suspended_without_plan", "measure_plan.required_if_suspended", _suspended_without_plan),
        RuleDefect("deadline_batch_without_plan", "measure_plan.required_if_deadline", _deadline_batch_without_plan),
        RuleDefect("deadline_batch_without_deadline", "deadline.required_if_deadline", _deadline_batch_without_deadline),
        RuleDefect("deadline_before_assessment", "assess_date<=deadline", _deadline_before_assessment),
    ),
    optional=("评估机构", "一企一策措施", "整改（退出）期限", "报送批次"),
    filled_if=(("一企一策措施", value_in("评估结论", "停业整改", "停业整改一批", "停产整改", "限期整改", "限期整改一批")), ("整改（退出）期限", value_in("评估结论", "限期整改", "限期整改一批"))),
    rule_defect_each_day=True,
))


# --- 安全风险分析及防范措施 (regional risk tasks) ----------------------------------------------------

# (risk area after the district's name, category, the task, the responsible department)
_RISKS = [
    ("化工园区", "危险化学品", "开展化工园区安全风险评估，落实重大危险源包保责任", "应急管理局"),
    ("老旧小区燃气管网", "城镇燃气", "完成老旧燃气管道更新改造和用户端安全装置加装", "城市管理委员会"),
    ("在建工程深基坑", "建筑施工", "对深基坑、高支模等危大工程开展专项检查", "住房和城乡建设委员会"),
    ("危险货物运输通道", "交通运输", "落实危货车辆限行通道管控和动态监控", "交通运输委员会"),
    ("涉爆粉尘企业集中区", "工贸", "完成涉爆粉尘企业除尘系统改造", "应急管理局"),
    ("大型商业综合体", "人员密集场所", "开展消防通道、疏散设施专项整治", "应急管理局"),
]
_CITY_RISKS = [
    ("南港工业区", "危险化学品", "南港工业区危化品储罐区安全风险管控提升"),
    ("天津港危险货物集中作业区", "危险化学品", "港区危险货物堆存总量和分区管控"),
    ("中心城区燃气主干管网", "城镇燃气", "燃气主干管网第三方施工破坏防范"),
    ("京津塘高速危货运输通道", "交通运输", "危货运输车辆通行时段和路线管控"),
]
RISK_YEAR = 2026


@functools.lru_cache(maxsize=1)
def risk_task_plan() -> tuple[dict, ...]:
    """This year's tasks: the same areas, dates and outcome for every day (the committees' plan)."""
    from safety_hub_dev.simulator.datasets.emb_measure import _CITY_SEAT, department

    rng = random.Random(f"risk-tasks:{RISK_YEAR}")
    items = [(None, area, cat, task, "应急管理局") for area, cat, task in _CITY_RISKS]
    for district in sorted(DISTRICTS):
        items += [(district, f"{DISTRICTS[district]}{area}", cat, task, dept) for area, cat, task, dept in rng.sample(_RISKS, 2)]
    plan = []
    for seq, (district, area, cat, task, dept) in enumerate(items, start=1):
        unit = department(dept if district is not None or dept in _CITY_SEAT else "应急管理局", district)
        assigned = dt.date(RISK_YEAR, 3, 1) + dt.timedelta(days=rng.randrange(0, 240))
        deadline = assigned + dt.timedelta(days=rng.randrange(30, 120))
        roll = rng.random()
        if roll < 0.5:
            done = deadline - dt.timedelta(days=rng.randrange(0, 25))
        elif roll < 0.7:
            done = deadline + dt.timedelta(days=rng.randrange(3, 40))
        else:
            done = None
        plan.append({"seq": seq, "district": district, "area": area, "category": cat, "task": task, "unit": unit,
                     "assigned": assigned, "deadline": deadline, "done": max(done, assigned) if done else None})
    return tuple(plan)


def task_progress(task: dict, on: dt.date, warn: int = 7) -> str:
    """红 overdue and not done, 黄 fewer than ``warn`` days left, 绿 done or on track (reporting/progress.py)."""
    done = task["done"] is not None and task["done"] <= on
    if done:
        return "绿"
    if task["deadline"] < on:
        return "红"
    return "黄" if (task["deadline"] - on).days < warn else "绿"


def risk_tasks(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The whole list as known on ``day``: the tasks assigned by then, each done once its day has come."""
    out = []
    for t in risk_task_plan()[:n]:
        if t["assigned"] > day:
            continue
        done = t["done"] is not None and t["done"] <= day
        unit: Enterprise = t["unit"]
        progress = task_progress(t, day)
        out.append({
            "任务编号": f"FXFF-{RISK_YEAR}-{t['seq']:03d}",
            "风险区域": t["area"],
            "风险类别": t["category"],
            "风险描述": f"{t['area']}{t['category']}安全风险较高",
            "防范措施任务": t["task"],
            "责任单位": unit.name,
            "责任单位统一社会信用代码": unit.uscc,
            "所在区": rng.choice([unit.district_code, unit.district_code, DISTRICTS[unit.district_code]]),
            "下达日期": cn_date(t["assigned"], rng),
            "完成时限": cn_date(t["deadline"], rng),
            "完成日期": cn_date(t["done"], rng) if done else None,
            "进展": rng.choice([progress, progress, f"{progress}色"]),
            "报送批次": f"AWB-FX-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _red_on_track(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    from safety_hub.domain.dates import parse_date

    if rec["完成日期"] is not None or parse_date(rec["完成时限"]) < day:
        return False
    rec["进展"] = "红"  # reported overdue before its deadline
    return True


RISK_TASK = register(DatasetSpec(
    feed_id="emb_risk_task", build=risk_tasks, volume=len(_CITY_RISKS) + 2 * len(DISTRICTS),
    delivery=XlsxDrop("emb", "安全风险防范任务_{date:%Y%m%d}.xlsx", "天津市安全风险分析及防范措施任务清单"),
    key="任务编号", uscc="责任单位统一社会信用代码", name="责任单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("风险区域", "risk_area"), ("防范措施任务", "task"), ("完成时限", "deadline")),
    date_order=("下达日期", "完成时限", "assigned_date<=deadline"),
    mode="snapshot",
    rule_defects=(RuleDefect("red_on_track", "progress.red_only_when_overdue", _red_on_track),),
    optional=("风险描述", "完成日期", "报送批次"),
    rule_defect_each_day=True,
))
