"""住建委 (housing and construction commission) datasets."""

from __future__ import annotations

import datetime as dt
import random

from safety_hub.domain.places import DISTRICTS
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import CsvDrop, DatasetSpec, RuleDefect, cn_date, register, stamp

def projects(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
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
            "施工单位名称": ent.name_variant(rng, day),
            "所在区": rng.choice([ent.district_code, DISTRICTS[ent.district_code]]),
            "开工日期": cn_date(start, rng),
            "计划竣工日期": cn_date(planned_end, rng),
            "项目状态": rng.choice(["在建", "在建", "在建", "停工", "竣工验收"]),
            "报送批次": f"HCC-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out



def _started_before_permit(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    """Work started before the permit was issued (the date inside the permit number)."""
    permit = rec["施工许可证号"]
    issued = dt.date(int(permit[6:10]), int(permit[10:12]), int(permit[12:14]))
    rec["开工日期"] = cn_date(issued - dt.timedelta(days=rng.randrange(1, 60)), rng)
    return True


def _bad_permit(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    permit = rec["施工许可证号"]
    if rng.random() < 0.5:
        rec["施工许可证号"] = "13" + permit[2:]  # a 河北 region prefix
    else:
        rec["施工许可证号"] = permit[:10] + "13" + permit[12:]  # month 13: no such issue date
    return True


PROJECT = register(DatasetSpec(
    feed_id="hcc_project", build=projects, volume=60, delivery=CsvDrop("hcc", "在建项目_{date:%Y%m%d}.csv", "gbk"),
    key="项目编号", uscc="施工单位统一社会信用代码", name="施工单位名称", district="所在区", batch="报送批次", updated="更新时间",
    required=(("项目名称", "project_name"), ("施工许可证号", "permit_no"), ("开工日期", "start_date")),
    date_order=("开工日期", "计划竣工日期", "start_date<=planned_end"),
    rule_defects=(
        RuleDefect("permit_no_invalid", "permit_no.format", _bad_permit),
        RuleDefect("started_before_permit", "permit_date<=start_date", _started_before_permit),
    ),
    optional=("计划竣工日期", "项目状态", "报送批次"),
))
