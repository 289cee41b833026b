"""制度措施清单 (rules and measures list) of the city work-safety committee office (市安委办, in the EMB).

The second list of 一情况两清单 (DOMAIN.md §8): the rules, standards and working
mechanisms the city and district departments committed to this year, with the
leading unit, planned and actual completion dates and the document number once
issued. The office keeps one Excel workbook and drops the whole list every
business day (a snapshot): the same measures every day, each one's status and
dates as known that day, so a measure completes on its own day and stays
completed. Leading units are government departments (USCC department code 11),
the same codes the enforcement feed gives the emergency management bureaus.
"""

from __future__ import annotations

import datetime as dt
import functools
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub.domain.uscc import make_uscc
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import DatasetSpec, RuleDefect, XlsxDrop, cn_date, register, stamp, value_in

# The measure types of the list and how offices write them.
TYPE_SPELLINGS = {
    "法规": ["法规", "地方性法规"],
    "规章": ["规章", "政府规章"],
    "规范性文件": ["规范性文件", "规范性文件"],
    "标准": ["标准", "地方标准"],
    "机制": ["机制", "工作机制"],
}
STATUS_SPELLINGS = {"推进中": ["推进中", "推进中", "进行中", "正在推进"], "已完成": ["已完成", "已完成", "已出台", "已印发", "完成"]}

# City-level measures: (title, type, leading department, document number form).
_CITY = [
    ("《天津市安全生产条例》修订", "法规", "应急管理局", "天津市人民代表大会常务委员会公告第{n}号"),
    ("天津市生产安全事故应急救援办法", "规章", "应急管理局", "天津市人民政府令第{n}号"),
    ("天津市城镇燃气安全管理规定", "规章", "城市管理委员会", "天津市人民政府令第{n}号"),
    ("天津市重大事故隐患判定标准实施细则", "规范性文件", "应急管理局", "津应急规〔{y}〕{n}号"),
    ("天津市有限空间作业安全技术规范", "标准", "市场监督管理局", "DB12/T {n}—{y}"),
    ("天津市危险化学品企业安全风险分级管控规范", "标准", "应急管理局", "DB12/T {n}—{y}"),
    ("天津市房屋市政工程重大事故隐患排查治理办法", "规范性文件", "住房和城乡建设委员会", "津住建规〔{y}〕{n}号"),
    ("天津市安全生产举报奖励工作机制", "机制", "应急管理局", "津安委办〔{y}〕{n}号"),
    ("天津市安全生产联合惩戒工作机制", "机制", "应急管理局", "津安委〔{y}〕{n}号"),
    ("天津市燃气安全隐患部门联动处置机制", "机制", "城市管理委员会", "津安委办〔{y}〕{n}号"),
]
# District-level measures: (title after the district's name, type, leading department, document number form).
_DISTRICT = [
    ("有限空间作业安全专项整治实施方案", "规范性文件", "应急管理局", "{p}应急发〔{y}〕{n}号"),
    ("重大事故隐患动态清零工作机制", "机制", "应急管理局", "{p}安委办〔{y}〕{n}号"),
    ("城镇燃气安全排查整治工作方案", "规范性文件", "城市管理委员会", "{p}政办发〔{y}〕{n}号"),
    ("建筑施工安全生产网格化监管机制", "机制", "住房和建设委员会", "{p}安委〔{y}〕{n}号"),
    ("特种设备安全隐患排查整治实施方案", "规范性文件", "市场监督管理局", "{p}市监发〔{y}〕{n}号"),
]
# Short names in district document numbers.
_DOC_PREFIX = {
    "120101": "和平", "120102": "东", "120103": "西", "120104": "南开", "120105": "北", "120106": "红",
    "120110": "丽", "120111": "青", "120112": "津南", "120113": "辰", "120114": "武", "120115": "宝",
    "120116": "滨", "120117": "宁", "120118": "静", "120119": "蓟",
}
# City departments are located in a district (所在区 is where the leading unit sits).
_CITY_SEAT = {"应急管理局": "120103", "城市管理委员会": "120103", "市场监督管理局": "120101", "住房和城乡建设委员会": "120103"}
YEAR = 2026


@functools.lru_cache(maxsize=None)
def department(dept: str, district: str | None) -> Enterprise:
    """A city (``district`` None) or district department, with a stable 机关 USCC.

    The name and code scheme are those of ``emb_extra._authority``: an emergency
    management bureau has the same USCC in the enforcement feed and here."""
    if district is None:
        name, region, seat = f"天津市{dept}", "120000", _CITY_SEAT[dept]
    else:
        name, region, seat = f"天津市{DISTRICTS[district]}{dept}", district, district
    rng = random.Random(f"authority:{name}")
    body = "".join(rng.choice("0123456789") for _ in range(8))
    return Enterprise(make_uscc("11", region, body), name, seat, "S9224", "机关")


@functools.lru_cache(maxsize=1)
def measure_plan() -> tuple[dict, ...]:
    """This year's list: the same measures, dates and outcome for every day (the office's plan)."""
    rng = random.Random(f"measures:{YEAR}")
    plan = []
    items = [(None, *m) for m in _CITY]
    for district in sorted(DISTRICTS):
        items += [(district, *m) for m in rng.sample(_DISTRICT, 2)]
    for seq, (district, title, kind, dept, doc_form) in enumerate(items, start=1):
        unit = department(dept, district)
        registered = dt.date(YEAR, 2, 1) + dt.timedelta(days=rng.randrange(0, 200))
        planned = max(registered + dt.timedelta(days=rng.randrange(60, 240)), dt.date(YEAR, 6, 30))
        roll = rng.random()
        # Most are done around plan; some late; some not done this year (overdue by December).
        if roll < 0.55:
            completed = planned - dt.timedelta(days=rng.randrange(0, 40))
        elif roll < 0.8:
            completed = planned + dt.timedelta(days=rng.randrange(5, 60))
        else:
            completed = None
        doc_no = doc_form.format(y=YEAR, n=rng.randrange(1, 40) if "DB12" not in doc_form else rng.randrange(1000, 1400),
                                 p=_DOC_PREFIX.get(district or "", "津"))
        plan.append({
            "seq": seq, "district": district, "title": f"{DISTRICTS[district]}{title}" if district else title,
            "kind": kind, "unit": unit, "registered": registered, "planned": planned, "completed": completed, "doc_no": doc_no,
        })
    return tuple(plan)


def measures(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The whole list as known on ``day``: registered measures, each completed once its day has come."""
    out = []
    for m in measure_plan()[:n]:
        if m["registered"] > day:
            continue
        done = m["completed"] is not None and m["completed"] <= day
        status = "已完成" if done else "推进中"
        unit: Enterprise = m["unit"]
        out.append({
            "措施编号": f"ZDCS-{YEAR}-{m['seq']:03d}",
            "措施名称": m["title"],
            "类型": rng.choice(TYPE_SPELLINGS[m["kind"]]),
            "牵头单位": unit.name,
            "牵头单位统一社会信用代码": unit.uscc,
            "所在区": rng.choice([unit.district_code, unit.district_code, DISTRICTS[unit.district_code]]),
            # An issued rule has its number; a mechanism may be set up without a document.
            "文号": m["doc_no"] if done and (m["kind"] != "机制" or m["seq"] % 2) else None,
            "立项日期": cn_date(m["registered"], rng),
            "计划完成日期": cn_date(m["planned"], rng),
            "实际完成日期": cn_date(m["completed"], rng) if done else None,
            "状态": rng.choice(STATUS_SPELLINGS[status]),
            "报送批次": f"AWB-ZD-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _done_without_date(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["实际完成日期"] is None:
        return False
    rec["实际完成日期"] = None  # reported 已完成 but the completion date left out
    return True


def _date_while_in_progress(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["实际完成日期"] is not None:
        return False
    rec["实际完成日期"] = cn_date(day - dt.timedelta(days=rng.randrange(0, 10)), rng)  # a date, but still 推进中
    return True


MEASURE = register(DatasetSpec(
    feed_id="emb_policy_measure", build=measures, volume=len(_CITY) + 2 * len(DISTRICTS),
    delivery=XlsxDrop("emb", "制度措施清单_{date:%Y%m%d}.xlsx", "天津市安全生产治本攻坚制度措施清单"),
    key="措施编号", uscc="牵头单位统一社会信用代码", name="牵头单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("措施名称", "title"), ("类型", "measure_type"), ("计划完成日期", "planned_date")),
    date_order=("立项日期", "计划完成日期", "registered_date<=planned_date"),
    mode="snapshot",
    rule_defects=(
        RuleDefect("done_without_date", "completed_date.required_if_done", _done_without_date),
        RuleDefect("date_while_in_progress", "completed_date.only_if_done", _date_while_in_progress),
    ),
    optional=("文号", "实际完成日期", "报送批次"),
    filled_if=(("实际完成日期", value_in("状态", "已完成", "已出台", "已印发", "完成")),),
))
