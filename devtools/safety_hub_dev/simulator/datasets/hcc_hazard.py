"""住建委 施工现场隐患台账 (construction-site hazards found by the commission's inspections).

Mostly hazards on construction enterprises' sites; about one record in ten is a
hazard the EMB ledger also reports that day (the same enterprise, description and
found date, taken from the EMB builder's records for the day), written the
commission's way: its own number, status spellings and date styles, sometimes a
stray space in the description. In the warehouse both are one hazard.
"""

from __future__ import annotations

import datetime as dt
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.datasets import emb
from safety_hub_dev.simulator.enterprises import Enterprise, pool_seed
from safety_hub_dev.simulator.spec import CsvDrop, DatasetSpec, RuleDefect, cn_date, knob, register, stamp, value_in

SHARED_SHARE = 0.1  # records that are a hazard EMB reports the same day
_CATEGORIES = ["高处作业", "临时用电", "脚手架", "基坑工程", "起重机械", "模板支撑", "消防安全", "文明施工"]
_PROBLEMS = ["脚手架连墙件缺失", "临边洞口防护缺失", "塔吊限位装置失效", "基坑支护变形未监测", "施工用电未做到一机一闸一漏",
             "高处作业未系安全带", "模板支撑体系未验收", "安全网破损", "施工升降机防坠安全器过期", "基坑周边堆载超限",
             "外电防护不符合要求", "卸料平台未设限载标识"]
_INSPECTORS = ["周建国", "吴海涛", "郑立新", "冯晓东", "韩志强", "曹文军"]
# canonical status -> how the commission writes it (first spelling most often)
_SPELLING = {"待整改": ["未整改"], "整改中": ["整改中"], "待验收": ["已整改", "已整改", "待复查"], "验收销号": ["已销号", "已销号", "复查销号"]}
_EMB_STATUS = {"待整改": "待整改", "未整改": "待整改", "整改中": "整改中", "待验收": "待验收", "已整改": "待验收",
               "验收销号": "验收销号", "已销号": "验收销号", "销号": "验收销号", "完成": "验收销号", "已完成": "验收销号", "√": "验收销号"}
_CLOSED_SPELLINGS = tuple(_SPELLING["验收销号"])


def emb_same_day(day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """The first ``n`` hazards the EMB ledger reports on ``day`` (its builder's records, before defects)."""
    seed = pool_seed(pool)
    if seed is None:
        return []
    return emb.hazards(random.Random(f"{seed}:{day.isoformat()}:emb_hazard"), day, pool, n)


def _spaced(rng: random.Random, text: str) -> str:
    """The same description as another clerk types it: a stray (full-width) space, or none."""
    if rng.random() < 0.5 or len(text) < 2:
        return text
    at = rng.randrange(1, len(text))
    return text[:at] + rng.choice([" ", "　"]) + text[at:]


def hazards(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    builders = [e for e in pool if e.sector == "建筑"] or pool
    by_uscc = {e.uscc: e for e in pool}
    shared = emb_same_day(day, pool, n)
    out = []
    for seq in range(1, n + 1):
        if shared and rng.random() < SHARED_SHARE:
            src = shared.pop(rng.randrange(len(shared)))
            ent = by_uscc[src["tyshxydm"]]
            found, description = dt.date.fromisoformat(src["fxrq"]), _spaced(rng, src["yhms"])
            major = src["yhdj"] == "重大隐患"
            deadline = dt.date.fromisoformat(src["zgqx"])
            status = _EMB_STATUS[src["zgzt"]]
            fixed, accepted, closed = (dt.date.fromisoformat(src[f]) if src[f] else None for f in ("wcrq", "ysrq", "xhrq"))
            listed = src["gpdb"] == "是"
            category = src["yhlb"]
        else:
            ent = rng.choice(builders)
            found = day - dt.timedelta(days=rng.randrange(0, 21))
            description = rng.choice(_PROBLEMS)
            major = rng.random() < knob("hcc_major_share", 0.05)
            deadline, status, fixed, accepted, closed = emb.hazard_lifecycle(rng, day, found, major)
            listed = major and rng.random() < knob("listed_share", 0.5)
            category = rng.choice(_CATEGORIES)
        out.append({
            "隐患编号": f"ZJ-{day:%Y%m%d}-{seq:04d}",
            "项目名称": f"{DISTRICTS[ent.district_code]}{rng.choice(['海河', '津塘', '新城', '中新', '金街'])}{rng.choice(['住宅', '商业综合体', '学校', '厂房'])}项目",
            "施工单位统一社会信用代码": ent.uscc,
            "施工单位名称": ent.name_variant(rng, day),
            "所在区": rng.choice([ent.district_code, DISTRICTS[ent.district_code]]),
            "检查日期": cn_date(found, rng),
            "隐患级别": rng.choice(["重大隐患", "重大事故隐患"]) if major else rng.choice(["一般隐患", "一般"]),
            "隐患类别": category,
            "隐患描述": description,
            "整改要求": "停工整改，制定治理方案" if major else "限期整改并报复查",
            "整改期限": cn_date(deadline, rng),
            "检查人员": rng.choice(_INSPECTORS),
            "整改状态": rng.choice(_SPELLING[status]),
            "整改完成日期": cn_date(fixed, rng),
            "复查日期": cn_date(accepted, rng),
            "销号日期": cn_date(closed, rng),
            "是否挂牌督办": "是" if listed else "否",
            "报送批次": f"HCC-YH-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _supervised_general(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["隐患级别"] not in ("一般隐患", "一般"):
        return False
    rec["是否挂牌督办"] = "是"  # 挂牌督办 is for 重大 hazards only
    return True


def _closed_without_date(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec.update({"整改状态": rng.choice(_CLOSED_SPELLINGS), "销号日期": None})  # 销号 reported, the date left blank
    return True


HAZARD = register(DatasetSpec(
    feed_id="hcc_hazard", build=hazards, volume=40, delivery=CsvDrop("hcc", "施工现场隐患台账_{date:%Y%m%d}.csv", "gbk"),
    key="隐患编号", uscc="施工单位统一社会信用代码", name="施工单位名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("隐患描述", "description"), ("隐患级别", "grade"), ("检查日期", "found_date")),
    date_order=("检查日期", "整改期限", "found_date<=deadline"),
    rule_defects=(
        RuleDefect("supervised_general_hazard", "listed_supervision=>major", _supervised_general),
        RuleDefect("closed_without_date", "closed_date.required_if_closed", _closed_without_date),
    ),
    optional=("项目名称", "隐患类别", "整改要求", "整改期限", "检查人员", "整改完成日期", "复查日期", "销号日期", "是否挂牌督办", "报送批次"),
    filled_if=(("整改期限", value_in("隐患级别", "重大", "重大隐患", "重大事故隐患")), ("销号日期", value_in("整改状态", "已销号", "验收销号", "复查销号"))),
))


_OPEN_SPELLINGS = tuple(s for status in ("待整改", "整改中", "待验收") for s in _SPELLING[status])


def _parse_cn_date(text: str) -> dt.date:
    """A date as ``spec.cn_date`` writes it: ISO, 2026.3.5 or 2026年3月5日."""
    parts = text.replace("年", "-").replace("月", "-").replace("日", "").replace(".", "-").split("-")
    return dt.date(*(int(p) for p in parts))


def hazard_closes(rng: random.Random, rec: dict, day: dt.date) -> dict | None:
    """City profile: an open site hazard delivered again on the working day it is closed (复查销号); ``rec`` is left as it is."""
    if rec["整改状态"] not in _OPEN_SPELLINGS:
        return None
    key = rec["隐患编号"]
    closed = emb.closes_today(key, dt.date(int(key[3:7]), int(key[7:9]), int(key[9:11])), day)
    if closed is None:
        return None
    rec = dict(rec)  # the day's build is shared: change a copy
    found = _parse_cn_date(rec["检查日期"])
    fixed = _parse_cn_date(rec["整改完成日期"]) if rec["整改完成日期"] else max(found, closed - dt.timedelta(days=rng.randrange(0, 4)))
    rec.update({"整改状态": rng.choice(_CLOSED_SPELLINGS), "整改完成日期": cn_date(fixed, rng), "复查日期": cn_date(closed, rng),
                "销号日期": cn_date(closed, rng), "报送批次": f"HCC-YH-{day:%Y%m%d}", "更新时间": stamp(day, rng)})
    return rec
