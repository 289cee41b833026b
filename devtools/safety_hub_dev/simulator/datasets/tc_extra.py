"""交通运输委 (transport commission) datasets beyond the vehicle register:
危险货物道路运输电子运单 (waybills, in the commission's database next to the
vehicles), the 铁路沿线双段长 roster (an Excel snapshot) and the hazards found
along the railway (the commission's API)."""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.datasets._units import railway_units
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import CN_TZ, Api, DatasetSpec, RuleDefect, SqliteTable, XlsxDrop, cn_date, register, stamp, value_in

_PLATE_LETTERS = "ABCDEFGHJKLMNPQR"
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ".replace("I", "").replace("O", "")

# --- 危险货物道路运输电子运单 (waybills) ------------------------------------------------------

# (UN number, 品名, 危险货物类别) from the UN Model Regulations / JT/T 617.
_GOODS = [
    ("1203", "汽油", "3"), ("1202", "柴油", "3"), ("1230", "甲醇", "3"), ("1114", "苯", "3"), ("1090", "丙酮", "3"),
    ("1170", "乙醇", "3"), ("1075", "液化石油气", "2"), ("1005", "无水氨", "2"), ("1017", "氯", "2"), ("1073", "冷冻液态氧", "2"),
    ("1977", "冷冻液态氮", "2"), ("1350", "硫", "4"), ("1428", "钠", "4"), ("1942", "硝酸铵", "5"), ("2014", "过氧化氢水溶液", "5"),
    ("1593", "二氯甲烷", "6"), ("1830", "硫酸", "8"), ("1789", "盐酸", "8"), ("1823", "氢氧化钠（固态）", "8"), ("2031", "硝酸", "8"),
    ("3082", "对环境有害的液态物质，未另作规定的", "9"),
]
_CLASS_SPELLINGS = {
    "2": ["第2类", "2类", "2"], "3": ["第3类", "3类", "3"], "4": ["第4类", "4.1"], "5": ["第5类", "5.1"],
    "6": ["第6类", "6.1"], "8": ["第8类", "8类", "8"], "9": ["第9类", "9类", "9"],
}
_PLACES = ["天津市滨海新区南港工业区", "天津市滨海新区临港经济区", "天津市东丽区", "天津市西青区", "天津市静海区", "河北省沧州市", "北京市大兴区", "河北省唐山市", "山东省德州市"]


def _plate(rng: random.Random, length: int = 5) -> str:
    return f"津{rng.choice(_PLATE_LETTERS)}" + "".join(rng.choice(_PLATE_CHARS[:10] if i < 2 else _PLATE_CHARS) for i in range(length))


def _cert(rng: random.Random) -> str:
    """A driver / escort qualification certificate number (18-digit ID-style, masked)."""
    return f"12{rng.randrange(1000, 9999)}********{rng.randrange(1000, 9999)}"


def waybills(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    carriers = [e for e in pool if e.sector == "危货运输"] or pool
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(carriers)
        un, goods, dg_class = rng.choice(_GOODS)
        tractor = rng.random() < 0.5
        rated = rng.choice([25000, 30000, 32000, 33000]) if tractor else rng.choice([8000, 10000, 15000, 18000, 20000])
        load = round(rated * rng.uniform(0.5, 1.0), -1)
        depart = dt.datetime.combine(day, dt.time(rng.randrange(5, 20), rng.randrange(0, 60)), tzinfo=CN_TZ)
        # 电子运单 is filled before departure, on an earlier day (so the two never share a calendar date).
        issued = dt.datetime.combine(day - dt.timedelta(days=rng.choice([1, 1, 2])), dt.time(rng.randrange(8, 22), rng.randrange(0, 60)), tzinfo=CN_TZ)
        driver, escort = _cert(rng), _cert(rng)
        while escort == driver:
            escort = _cert(rng)
        out.append({
            "YDBH": f"YD{day:%Y%m%d}{ent.district_code}{seq:04d}",
            "CPHM": _plate(rng),
            "GCHM": (_plate(rng, 4) + "挂") if tractor else None,
            "HPYS": "黄色",
            "DLYSZH": f"津交运管字120{rng.randrange(100000000, 999999999)}",
            "YHTYDM": ent.uscc,
            "YHMC": ent.name_variant(rng, day),
            "XZQH": ent.district_code,
            "JYXKZH": f"津交运管许可{rng.choice(['滨', '津', '西', '东', '静'])}字{ent.district_code}{rng.randrange(1, 9999):06d}号",
            "HDZZL": str(rated),
            "ZZL": f"{load:.0f}",
            "UNH": un,
            "HWMC": goods,
            "WXLB": rng.choice(_CLASS_SPELLINGS[dg_class]),
            "JSYZGZ": driver,
            "YYYZGZ": escort,
            "QYD": rng.choice(_PLACES[:5]),
            "MDD": rng.choice(_PLACES),
            "KDSJ": issued.isoformat(timespec="seconds"),
            "CCSJ": depart.isoformat(timespec="seconds"),
            "BSPC": f"TC-YD-{day:%Y%m%d}",
            "GXSJ": stamp(day, rng),
        })
    return out


def _bad_un(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec["UNH"] = rng.choice(["0000", rec["UNH"] + "0", rec["UNH"][:3], "9999"])
    return True


def _wrong_class(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    declared = next(cls for un, _, cls in _GOODS if un == rec["UNH"])
    rec["WXLB"] = rng.choice(_CLASS_SPELLINGS[rng.choice([c for c in _CLASS_SPELLINGS if c != declared])])
    return True


def _overload(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    rec["ZZL"] = round(float(rec["HDZZL"]) * rng.uniform(1.05, 1.4), -1)
    return True


def _trailer_without_gua(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    if not rec["GCHM"]:
        return False
    rec["GCHM"] = rec["GCHM"].removesuffix("挂") + rng.choice(["", "G"])
    return True


WAYBILL = register(DatasetSpec(
    feed_id="tc_dg_waybill", build=waybills, volume=70, delivery=SqliteTable("tc", "tc_agency.sqlite", "t_wxhy_yd"),
    key="YDBH", uscc="YHTYDM", name="YHMC", district="XZQH", batch="BSPC", updated="GXSJ",
    required=(("CPHM", "plate"), ("UNH", "un_no"), ("ZZL", "load_kg")),
    date_order=("KDSJ", "CCSJ", "waybill_at<=depart_at"),
    rule_defects=(
        RuleDefect("un_no_invalid", "un_no.format", _bad_un),
        RuleDefect("un_no_wrong_class", "un_no.matches_dg_class", _wrong_class),
        RuleDefect("overload", "load_kg<=rated_load_kg", _overload),
        RuleDefect("trailer_plate_invalid", "trailer_plate.format", _trailer_without_gua),
    ),
    optional=("GCHM", "HPYS", "DLYSZH", "JYXKZH", "HWMC", "WXLB", "JSYZGZ", "YYYZGZ", "QYD", "MDD", "KDSJ", "BSPC"),
))

# --- 铁路沿线双段长 (railway-side segment chiefs, an Excel snapshot) -----------------------------


@dataclass(frozen=True)
class Segment:
    segment_id: str
    line: str
    km_from: int  # metres from the line's zero point
    km_to: int
    district: str
    unit: Enterprise


# Railway lines through Tianjin: (name, code, first km, districts in order along the line).
_LINES = [
    ("京沪铁路", "JH", 112, ["120114", "120113", "120106", "120111", "120118"]),
    ("京山铁路", "JS", 120, ["120114", "120113", "120105", "120102", "120110", "120116"]),
    ("京津城际铁路", "JJ", 60, ["120114", "120113", "120105", "120110", "120116"]),
    ("津秦高速铁路", "JQ", 0, ["120110", "120116", "120117"]),
    ("京沪高速铁路", "JHG", 100, ["120114", "120111", "120118"]),
    ("津蓟铁路", "JJX", 0, ["120113", "120115", "120119"]),
]


@functools.lru_cache(maxsize=8)
def _segments(seed_key: str, units: tuple[Enterprise, ...]) -> tuple[Segment, ...]:
    rng = random.Random(f"{seed_key}:rail-segments")
    out = []
    for line, code, first_km, districts in _LINES:
        pos = first_km * 1000 + rng.randrange(0, 1000)
        for district in districts:
            for n in range(rng.choice([1, 2, 2])):
                length = rng.randrange(2500, 9000)
                unit = units[4] if "城际" in line or "高速" in line else rng.choice(units[:4])
                out.append(Segment(f"TJ-{code}-{len(out) + 1:03d}", line, pos, pos + length, district, unit))
                pos += length
    return tuple(out)


def rail_segments(pool: list[Enterprise]) -> list[Segment]:
    """The rostered segments, contiguous along each line; the same for every day of one seed."""
    return list(_segments(pool[0].uscc, tuple(railway_units(pool))))


def mileage(metres: int) -> str:
    """Railway mileage as written in the field: K123+456."""
    return f"K{metres // 1000}+{metres % 1000:03d}"


_OFFICIALS = ["张志刚", "李明华", "王德利", "刘新民", "陈国栋", "杨建华", "赵永胜", "孙立军", "周海波", "吴长青", "郑宏", "冯玉林"]
_LOCAL_TITLES = ["副区长", "街道办事处主任", "镇长", "副镇长", "街道党工委书记"]
_RAIL_TITLES = ["段长", "副段长", "线路车间主任", "桥隧车间主任"]


def segment_chiefs(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    """One row per segment: the local chief and the railway chief (paired), the same every day."""
    out = []
    for seg in rail_segments(pool)[:n]:
        sr = random.Random(f"{seg.segment_id}:{seg.unit.uscc}")  # stable per segment
        appointed = dt.date(2024, 1, 1) + dt.timedelta(days=sr.randrange(0, 600))
        patrolled = day - dt.timedelta(days=7 + sr.randrange(0, 20))
        out.append({
            "段编号": seg.segment_id,
            "线路名称": seg.line,
            "起点里程": mileage(seg.km_from),
            "终点里程": mileage(seg.km_to),
            "所在区": seg.district,
            "地方段长": sr.choice(_OFFICIALS),
            "地方段长职务": f"{DISTRICTS[seg.district]}{sr.choice(_LOCAL_TITLES)}",
            "铁路段长": sr.choice(_OFFICIALS),
            "铁路段长职务": f"{seg.unit.name.removeprefix('中国铁路北京局集团有限公司')}{sr.choice(_RAIL_TITLES)}",
            "铁路站段": seg.unit.name,
            "统一社会信用代码": seg.unit.uscc,
            "任命日期": cn_date(appointed, sr),
            "最近巡查日期": cn_date(patrolled - dt.timedelta(days=patrolled.toordinal() % 7), sr),
            "报送批次": f"TC-SDZ-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _second_chief_pair(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    """This segment claims another segment's stretch of line: two chief pairs on it."""
    if (rec["地方段长"], rec["铁路段长"]) == (partner["地方段长"], partner["铁路段长"]):
        return False
    rec.update({k: partner[k] for k in ("线路名称", "起点里程", "终点里程")})
    return True


SEGMENT_CHIEF = register(DatasetSpec(
    feed_id="tc_rail_segment_chief", build=segment_chiefs, volume=80,
    delivery=XlsxDrop("tc", "铁路双段长_{date:%Y%m%d}.xlsx", "天津市铁路沿线安全环境治理双段长名册"),
    key="段编号", uscc="统一社会信用代码", name="铁路站段", district="所在区", batch="报送批次", updated="更新时间",
    required=(("线路名称", "line"), ("地方段长", "local_chief"), ("铁路段长", "rail_chief")),
    date_order=("任命日期", "最近巡查日期", "appointed_date<=last_patrol_date"),
    mode="snapshot",
    rule_defects=(RuleDefect("stretch_two_chief_pairs", "stretch.one_chief_pair", _second_chief_pair, pair=True),),
    optional=("地方段长职务", "铁路段长职务", "任命日期", "最近巡查日期", "报送批次"),
))

# --- 铁路沿线安全环境隐患 (hazards along the railway) -------------------------------------------

_HAZARDS = {
    "彩钢瓦": ["彩钢瓦", "彩钢板"],
    "大棚": ["大棚", "塑料大棚", "农用大棚"],
    "轻飘物": ["轻飘物", "防尘网", "塑料薄膜"],
    "违建": ["违建", "违章建筑"],
    "施工": ["施工", "邻近营业线施工"],
    "树木侵限": ["树木侵限", "树木超高"],
    "烧荒": ["烧荒", "焚烧秸秆"],
}
_HAZARD_TEXT = {
    "彩钢瓦": "线路防护栅栏外{d}米彩钢瓦屋面未加固",
    "大棚": "线路{d}米范围内塑料大棚棚膜破损未固定",
    "轻飘物": "线路两侧{d}米内防尘网、地膜等轻飘物未清理",
    "违建": "铁路线路安全保护区内{d}米处违章搭建",
    "施工": "邻近营业线{d}米处施工未办理审批手续",
    "树木侵限": "线路外侧{d}米处树木超高可能侵入限界",
    "烧荒": "线路{d}米范围内烧荒",
}


def rail_hazards(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    segments = rail_segments(pool)
    out = []
    for seq in range(1, n + 1):
        seg = rng.choice(segments)
        local = [e for e in pool if e.district_code == seg.district] or pool
        ent = rng.choice(local)  # the unit responsible for the hazard, located in the segment's district
        kind = rng.choices(list(_HAZARDS), weights=[5, 3, 6, 3, 2, 3, 1])[0]
        found = day - dt.timedelta(days=rng.randrange(0, 30))
        reported = min(day, found + dt.timedelta(days=rng.choice([0, 0, 1, 2])))
        deadline = reported + dt.timedelta(days=rng.randrange(7, 45))
        status = rng.choice(["待整治", "整治中", "已整治", "已整治", "已销号"])
        fixed = min(day, reported + dt.timedelta(days=rng.randrange(1, 20))) if status in ("已整治", "已销号") else None
        out.append({
            "yhbh": f"TL{day:%Y%m%d}{seq:04d}",
            "dbh": seg.segment_id,
            "xlmc": seg.line,
            "lc": mileage(rng.randrange(seg.km_from, seg.km_to)),
            "yhlx": rng.choice(_HAZARDS[kind]),
            "yhms": _HAZARD_TEXT[kind].format(d=rng.randrange(5, 500)),
            "tyshxydm": ent.uscc,
            "zrdw": ent.name_variant(rng, day),
            "ssq": seg.district,
            "fxly": rng.choice(["双段长巡查", "无人机巡查", "铁路部门移交", "群众举报"]),
            "fxrq": found.isoformat(),
            "sbrq": reported.isoformat(),
            "zzqx": deadline.isoformat(),
            "zzrq": fixed.isoformat() if fixed else None,
            "zt": status,
            "bsbc": f"TC-TL-{day:%Y%m%d}",
            "gxsj": stamp(day, rng),
        })
    return out


def _off_roster(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    """A hazard at a mileage no rostered segment of its line covers (seen only beside the roster)."""
    rec["lc"] = mileage(rng.randrange(9_000_000, 9_999_000))
    return True


RAIL_HAZARD = register(DatasetSpec(
    feed_id="tc_rail_hazard", build=rail_hazards, volume=40, delivery=Api("rail-hazards"),
    key="yhbh", uscc="tyshxydm", name="zrdw", district="ssq", batch="bsbc", updated="gxsj",
    required=(("yhlx", "hazard_type"), ("lc", "mileage"), ("fxrq", "found_date")),
    date_order=("fxrq", "sbrq", "found_date<=reported_date"),
    rule_defects=(RuleDefect("hazard_off_roster", "rail_hazard.within_roster", _off_roster, severity="warning", stage="warehouse"),),
    optional=("dbh", "xlmc", "yhms", "fxly", "sbrq", "zzqx", "zzrq", "bsbc"),
    filled_if=(("zzrq", value_in("zt", "已整治", "整治完成", "已销号", "销号")),),
))
