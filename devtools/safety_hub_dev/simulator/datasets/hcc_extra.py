"""住建委 (housing and construction commission) datasets beyond in-progress projects:
危大工程 (hazardous sub-projects, an Excel workbook per day) and 燃气入户安检
(gas safety inspections, rows in the commission's gas-supervision database)."""

from __future__ import annotations

import datetime as dt
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import DatasetSpec, SqliteTable, XlsxDrop, cn_date, register, stamp, value_in

# --- 危险性较大的分部分项工程 (住建部令第37号; 建办质〔2018〕31号) ------------------------------


def _scale(rng: random.Random, category: str) -> tuple[str, bool]:
    """A description of the work's size and whether it exceeds the 超规模 limits (DOMAIN.md §7)."""
    if category == "基坑":
        depth = round(rng.uniform(3, 16), 1)
        return f"开挖深度{depth}m", depth >= 5
    if category == "模板":
        height, span = round(rng.uniform(4, 12), 1), round(rng.uniform(8, 24), 1)
        return f"搭设高度{height}m，搭设跨度{span}m", height >= 8 or span >= 18
    if category == "起重":
        load = rng.choice([30, 60, 80, 100, 150, 300])
        return f"单件起吊重量{load}kN", load >= 100
    if category == "脚手架":
        if rng.random() < 0.6:
            height = rng.randrange(24, 80)
            return f"落地式钢管脚手架，搭设高度{height}m", height >= 50
        height = rng.randrange(12, 30)
        return f"悬挑式脚手架，悬挑高度{height}m", height >= 20
    if category == "拆除":
        return rng.choice([("建筑物拆除，高度12m", False), ("码头、桥梁拆除", True), ("可能影响行人、交通的拆除", False)])
    if category == "暗挖":
        return rng.choice([("盾构法隧道", True), ("矿山法暗挖通道", True), ("顶管法过路管道", True)])
    kind = rng.choice(["幕墙", "钢结构", "挖孔桩"])
    if kind == "幕墙":
        height = rng.randrange(20, 120)
        return f"建筑幕墙安装，高度{height}m", height >= 50
    if kind == "钢结构":
        span = rng.randrange(18, 60)
        return f"钢结构安装，跨度{span}m", span >= 36
    depth = rng.randrange(6, 25)
    return f"人工挖孔桩，开挖深度{depth}m", depth >= 16


_CATEGORY_SPELLINGS = {
    "基坑": ["基坑", "基坑工程", "深基坑工程"],
    "模板": ["模板", "模板工程及支撑体系"],
    "起重": ["起重", "起重吊装及起重机械安装拆卸工程"],
    "脚手架": ["脚手架", "脚手架工程"],
    "拆除": ["拆除", "拆除工程"],
    "暗挖": ["暗挖", "暗挖工程"],
    "其他": ["其他", "其它"],
}
_MANAGERS = ["王建军", "李红旗", "张海军", "刘振东", "陈立伟", "杨晓光", "赵春雷", "孙明辉"]


def major_hazard_works(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    builders = [e for e in pool if e.sector == "建筑"] or pool
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(builders)
        category = rng.choices(list(_CATEGORY_SPELLINGS), weights=[6, 5, 5, 6, 2, 1, 3])[0]
        scale, over = _scale(rng, category)
        # 专家论证 (超规模 only) <= 方案审批 <= 开始施工 <= 验收
        start = day - dt.timedelta(days=rng.randrange(0, 90))
        approved = start - dt.timedelta(days=rng.randrange(1, 30))
        review = approved - dt.timedelta(days=rng.randrange(2, 20)) if over else None
        accepted = start + dt.timedelta(days=rng.randrange(10, 60))
        if accepted > day:
            accepted = None
        project_day = start - dt.timedelta(days=rng.randrange(30, 400))
        out.append({
            "危大工程编号": f"WD{day:%Y%m%d}{seq:04d}",
            "项目编号": f"XM{project_day:%Y%m%d}{rng.randrange(1, 61):04d}",
            "项目名称": f"{DISTRICTS[ent.district_code]}{rng.choice(['海河', '津塘', '新城', '中新', '金街'])}{rng.choice(['住宅', '商业综合体', '学校', '医院', '地铁站'])}项目",
            "施工单位统一社会信用代码": ent.uscc,
            "施工单位名称": ent.name_variant(rng, day),
            "所在区": rng.choice([ent.district_code, DISTRICTS[ent.district_code]]),
            "工程类别": rng.choice(_CATEGORY_SPELLINGS[category]),
            "工程部位及规模": scale,
            "是否超过一定规模": "是" if over else "否",
            "专项方案审批日期": cn_date(approved, rng),
            "专家论证日期": cn_date(review, rng),
            "开始施工日期": cn_date(start, rng),
            "验收日期": cn_date(accepted, rng),
            "项目负责人": rng.choice(_MANAGERS),
            "报送批次": f"HCC-WD-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


MAJOR_HAZARD_WORK = register(DatasetSpec(
    feed_id="hcc_major_hazard_work", build=major_hazard_works, volume=40,
    delivery=XlsxDrop("hcc", "危大工程_{date:%Y%m%d}.xlsx", "天津市房屋建筑和市政基础设施工程危险性较大的分部分项工程清单"),
    key="危大工程编号", uscc="施工单位统一社会信用代码", name="施工单位名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("工程类别", "category"), ("项目编号", "project_id"), ("专项方案审批日期", "plan_approved")),
    date_order=("专项方案审批日期", "开始施工日期", "plan_approved<=start"),
    optional=("项目名称", "工程部位及规模", "是否超过一定规模", "专家论证日期", "开始施工日期", "验收日期", "项目负责人", "报送批次"),
    filled_if=(("专家论证日期", value_in("是否超过一定规模", "是")),),
))

# --- 燃气入户安全检查 (gas safety inspections) -------------------------------------------------

DEFECT_VOCABULARY = ["软管超期", "无熄火保护", "无报警器", "私改管道"]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_STREETS = ["友谊路", "卫津路", "黑牛城道", "红旗路", "中山路", "津塘路", "新华路", "东丽大道", "解放南路", "复康路"]


def gas_inspections(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    companies = [e for e in pool if e.sector == "燃气"] or pool
    out = []
    for seq in range(1, n + 1):
        ent = rng.choice(companies)
        resident = rng.random() < 0.8
        inspected = day - dt.timedelta(days=rng.randrange(0, 3))
        last = inspected - dt.timedelta(days=rng.randrange(300, 750) if resident else rng.randrange(150, 400))
        items = rng.sample(DEFECT_VOCABULARY, rng.choice([0, 0, 0, 1, 1, 2]))
        if items:
            status = rng.choice(["待整改", "已整改", "已整改"])
        else:
            status = "无隐患"
        fixed = inspected + dt.timedelta(days=rng.randrange(0, 3)) if status == "已整改" else None
        if fixed and fixed > day:
            fixed = day
        district = ent.district_code
        out.append({
            "YHBH": f"{day:%Y%m%d}{seq:05d}",
            "RQQY_TYDM": ent.uscc,
            "RQQY_MC": ent.name_variant(rng, day),
            "XZQH": district,
            "YHLX": rng.choice(["居民", "居民用户"]) if resident else rng.choice(["非居民", "工商户", "餐饮"]),
            "YHXM": rng.choice(_SURNAMES) + "**",  # personal data masked at source
            "LXDH": f"1{rng.choice('3578')}{rng.randrange(0, 10)}****{rng.randrange(0, 10000):04d}",
            "YHDZ": f"{DISTRICTS[district]}{rng.choice(_STREETS)}**号**室",
            "SCJCRQ": last.isoformat(),
            "JCRQ": inspected.isoformat(),
            "YHX": rng.choice(["、", "，", ";"]).join(items) if items else None,
            "ZGZT": status,
            "ZGRQ": fixed.isoformat() if fixed else None,
            "JCRY": rng.choice(_SURNAMES) + rng.choice(["师傅", "工"]) + f"({rng.randrange(100, 999)})",
            "BSPC": f"HCC-RQ-{day:%Y%m%d}",
            "GXSJ": stamp(day, rng),
        })
    return out


GAS_INSPECTION = register(DatasetSpec(
    feed_id="hcc_gas_inspection", build=gas_inspections, volume=60, delivery=SqliteTable("hcc", "hcc_gas.sqlite", "t_rqjc"),
    key="YHBH", uscc="RQQY_TYDM", name="RQQY_MC", district="XZQH", batch="BSPC", updated="GXSJ",
    required=(("YHLX", "customer_type"), ("JCRQ", "inspect_date"), ("ZGZT", "status")),
    date_order=("SCJCRQ", "JCRQ", "last_inspect_date<=inspect_date"),
    optional=("YHXM", "LXDH", "YHDZ", "SCJCRQ", "YHX", "ZGRQ", "JCRY", "BSPC"),
    filled_if=(("ZGRQ", value_in("ZGZT", "已整改", "整改完成", "已完成")),),
))
