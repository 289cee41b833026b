"""应急管理局 (emergency management bureau) datasets."""

from __future__ import annotations

import datetime as dt
import functools
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import Api, DatasetSpec, RuleDefect, knob, register, stamp, value_in

def hazard_lifecycle(rng: random.Random, day: dt.date, found: dt.date, major: bool) -> tuple:
    """(deadline, status, fixed, accepted, closed) of a hazard found on ``found``, as known on ``day``."""
    deadline = found + dt.timedelta(days=rng.randrange(3, 31) if not major else rng.randrange(30, 91))
    status = rng.choices(["待整改", "整改中", "待验收", "验收销号"], weights=knob("hazard_status_weights", [2, 3, 1, 4]))[0]
    fixed = accepted = closed = None
    if status in ("待验收", "验收销号"):
        fixed = min(day, found + dt.timedelta(days=rng.randrange(0, 25)))
    if status == "验收销号":
        accepted = closed = min(day, fixed + dt.timedelta(days=rng.randrange(0, 3)))
    return deadline, status, fixed, accepted, closed


def hazards(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    categories = ["设备设施", "作业环境", "安全管理", "人员操作", "消防安全", "危化品储存"]
    problems = ["安全阀未定期校验", "消防通道堵塞", "配电箱未接地", "有限空间无警示标识", "气体报警器失效", "特种作业人员无证上岗",
                "储罐区防火堤破损", "应急预案未演练", "安全培训记录缺失", "防爆电器损坏", "动火作业未审批", "安全出口指示灯损坏"]
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(pool)
        found = day - dt.timedelta(days=rng.randrange(0, 21))
        major = rng.random() < knob("emb_major_share", 0.03)
        deadline, status, fixed, accepted, closed = hazard_lifecycle(rng, day, found, major)
        status_spelling = status if status != "验收销号" else rng.choice(["验收销号", "验收销号", "已销号", "完成", "√"])
        out.append({
            "yhbh": f"YH{day:%Y%m%d}{seq:04d}",
            "tyshxydm": ent.uscc,
            "dwmc": ent.name_variant(rng, day),
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
            "gpdb": "是" if major and rng.random() < knob("listed_share", 0.5) else "否",
            "bsbc": f"EMB-{day:%Y%m%d}-01",
            "gxsj": stamp(day, rng),
        })
        if major:
            _major_deadline(out[-1])
    return out


def _major_deadline(rec: dict) -> None:
    """A 重大 hazard's deadline is the one its 治理方案 or the supervising authority (挂牌督办) sets,
    often tighter than the default, so some fall due within days or are already past (overdue
    重大 hazards, the 红/黄 progress flags). Its own rng per record: the rest of the day is unchanged."""
    r = random.Random(f"{rec['yhbh']}:supervision")
    if r.random() < 0.6:
        rec["zgqx"] = (dt.date.fromisoformat(rec["fxrq"]) + dt.timedelta(days=r.randrange(3, 15))).isoformat()


_OPEN = ("待整改", "整改中", "待验收")


def hazard_progress(rng: random.Random, rec: dict, day: dt.date) -> dict | None:
    """An open hazard moves forward (never back): fixed, accepted and closed by ``day``."""
    if rec["zgzt"] not in _OPEN:
        return None
    found = dt.date.fromisoformat(rec["fxrq"])
    fixed = dt.date.fromisoformat(rec["wcrq"]) if rec["wcrq"] else min(day, found + dt.timedelta(days=rng.randrange(0, 20)))
    if rng.random() < 0.7:
        closed = min(day, max(fixed, day - dt.timedelta(days=rng.randrange(0, 3))))
        rec.update(zgzt=rng.choice(["验收销号", "已销号"]), wcrq=fixed.isoformat(), ysrq=closed.isoformat(), xhrq=closed.isoformat())
    elif rec["zgzt"] != "待验收":
        rec.update(zgzt="待验收", wcrq=fixed.isoformat())
    else:
        return None
    rec.update(bsbc=f"EMB-{day:%Y%m%d}-02", gxsj=stamp(day, rng))
    return rec


_CLOSED_SPELLINGS = ("验收销号", "已销号", "完成", "√")


def hazard_regression(rng: random.Random, rec: dict, day: dt.date) -> dict | None:
    """A closed hazard reported again as 整改中 (销号 → 整改中): a status moving backwards."""
    if rec["zgzt"] not in _CLOSED_SPELLINGS:
        return None
    rec.update(zgzt="整改中", wcrq=None, ysrq=None, xhrq=None, bsbc=f"EMB-{day:%Y%m%d}-03", gxsj=stamp(day, rng))
    return rec


def _supervised_general(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["yhdj"] != "一般隐患":
        return False
    rec["gpdb"] = "是"  # 挂牌督办 is for 重大 hazards only
    return True


def _closed_without_date(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if rec["zgzt"] not in _CLOSED_SPELLINGS:
        return False
    rec["xhrq"] = None
    return True


def _major_without_measures(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec.update(yhdj="重大隐患", zgcs=None)
    return True


def _fixed_after_accepted(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if not rec["ysrq"]:
        return False
    accepted = dt.date.fromisoformat(rec["ysrq"])
    rec["wcrq"] = (accepted + dt.timedelta(days=rng.randrange(1, 5))).isoformat()
    return True


HAZARD = register(DatasetSpec(
    feed_id="emb_hazard", build=hazards, volume=160, delivery=Api("hazards"),
    key="yhbh", uscc="tyshxydm", name="dwmc", district="ssq", batch="bsbc", updated="gxsj",
    required=(("yhms", "description"), ("yhdj", "grade"), ("fxrq", "found_date")),
    date_order=("fxrq", "zgqx", "found_date<=deadline"),
    late_update=hazard_progress, late_update_share=0.04,
    resubmit_key=lambda key: key + "B", regress=hazard_regression, regress_share=0.03,
    rule_defects=(
        RuleDefect("supervised_general_hazard", "listed_supervision=>major", _supervised_general),
        RuleDefect("closed_without_date", "closed_date.required_if_closed", _closed_without_date),
        RuleDefect("major_without_measures", "measures.required_if_major", _major_without_measures),
        RuleDefect("fixed_after_accepted", "fixed_date<=accepted_date", _fixed_after_accepted),
    ),
    optional=("yhly", "yhlb", "zgcs", "zgqx", "zrr", "wcrq", "ysrq", "xhrq", "gpdb", "bsbc"),
    filled_if=(
        ("zgcs", value_in("yhdj", "重大", "重大隐患")),
        ("zgqx", value_in("yhdj", "重大", "重大隐患")),
        ("xhrq", value_in("zgzt", "验收销号", "已销号", "销号", "完成", "已完成", "√")),
    ),
))


# --- The city profile's lifecycle (``simulate --profile city``) --------------------------------
#
# A hazard open when first reported is closed once, on a day drawn from its own number (so every
# later delivery agrees and a status never moves back), or stays open (long-running 治理): the
# ledger re-delivers it closed on the first working day on or after that day. ``CLOSE_DELAYS``:
# (share, fewest days, most days) after the day it was first delivered.
CLOSE_DELAYS = ((0.6, 1, 10), (0.3, 11, 30), (0.1, 31, 45))
CLOSE_LOOKBACK = 60  # calendar days a ledger looks back for hazards closing today (45 days + the longest holiday)


@functools.lru_cache(maxsize=200_000)
def close_due(key: str, delivered_on: dt.date) -> dt.date | None:
    """The day the hazard ``key`` (first delivered open on ``delivered_on``) is closed, or None: it stays open."""
    r = random.Random(f"{key}:closes")
    if r.random() < knob("hazard_stays_open", 0.0):
        return None
    roll, acc = r.random(), 0.0
    for share, low, high in CLOSE_DELAYS:
        acc += share
        if roll < acc:
            break
    return delivered_on + dt.timedelta(days=r.randint(low, high))


def closes_today(key: str, delivered_on: dt.date, day: dt.date) -> dt.date | None:
    """The closing day of ``key`` when today's delivery is the one that reports it (the first working day on or after it)."""
    from safety_hub.domain.workdays import previous_business_day

    due = close_due(key, delivered_on)
    if due is None or due > day or due <= previous_business_day(day):
        return None
    return due


def hazard_closes(rng: random.Random, rec: dict, day: dt.date) -> dict | None:
    """City profile: an open hazard delivered again on the working day it is closed (验收销号); ``rec`` is left as it is."""
    if rec["zgzt"] not in _OPEN:
        return None
    key = rec["yhbh"]
    closed = closes_today(key, dt.date(int(key[2:6]), int(key[6:8]), int(key[8:10])), day)
    if closed is None:
        return None
    rec = dict(rec)  # the day's build is shared: change a copy
    found = dt.date.fromisoformat(rec["fxrq"])
    fixed = dt.date.fromisoformat(rec["wcrq"]) if rec["wcrq"] else max(found, closed - dt.timedelta(days=rng.randrange(0, 4)))
    rec.update(zgzt=rng.choice(["验收销号", "已销号"]), wcrq=fixed.isoformat(), ysrq=closed.isoformat(), xhrq=closed.isoformat(),
               bsbc=f"EMB-{day:%Y%m%d}-02", gxsj=stamp(day, rng))
    return rec
