"""农业农村委 (agriculture and rural affairs commission) datasets: fishing vessels.

渔业船舶 are registered and surveyed by the agriculture commission, not the
transport commission (DOMAIN.md §7), so they arrive as a fourth source: a GBK
CSV per business day listing the vessels whose records changed that day.
"""

from __future__ import annotations

import datetime as dt
import random

from safety_hub_dev.simulator.datasets._units import fishery_units
from safety_hub_dev.simulator.enterprises import Enterprise
from safety_hub_dev.simulator.spec import CsvDrop, DatasetSpec, RuleDefect, cn_date, register, stamp

# 船名 prefixes: 津 + home port (汉沽, 塘沽, 大港, 北塘) + 渔.
_PORTS = [("汉", "汉沽"), ("塘", "塘沽"), ("大", "大港"), ("北", "北塘"), ("", "天津")]
_METHODS = {"拖网": ["拖网", "单拖", "双拖"], "刺网": ["刺网", "流刺网"], "张网": ["张网"], "围网": ["围网"], "笼壶": ["笼壶"], "钓具": ["钓具", "延绳钓"]}
_OWNERS = "王李张刘陈杨赵黄周吴徐孙马朱"
_INSURERS = ["中国渔业互保协会天津办事处", "中国人民财产保险股份有限公司天津市分公司", "中国太平洋财产保险股份有限公司天津分公司"]


def _one_year_on(d: dt.date) -> dt.date:
    return d.replace(year=d.year + 1) if (d.month, d.day) != (2, 29) else dt.date(d.year + 1, 3, 1)


def fishing_vessels(rng: random.Random, day: dt.date, pool: list[Enterprise], n: int) -> list[dict]:
    units = fishery_units(pool)
    base = (day.toordinal() % 1000) * 100  # a vessel appears on one day of the feed only
    out = []
    for seq in range(1, n + 1):
        unit = rng.choice(units)
        short, port = rng.choice(_PORTS)
        method = rng.choices(list(_METHODS), weights=[6, 5, 2, 1, 2, 1])[0]
        loa = round(rng.uniform(8, 45), 1)
        power = round(min(441, max(8.8, loa * rng.uniform(3, 10))), 1)
        built = rng.randrange(2000, 2025)
        start = day - dt.timedelta(days=rng.randrange(0, 330))
        surveyed = day - dt.timedelta(days=rng.randrange(0, 700))
        out.append({
            "船名号": f"津{short}渔{base + seq:05d}",
            "船籍港": port,
            "渔船登记证书编号": f"（津）船登（籍）（{built}）HY-{rng.randrange(200000, 209999)}号",
            "捕捞许可证编号": f"（津）船捕（{rng.randrange(max(built, 2021), day.year + 1)}）HY-{rng.randrange(200000, 209999)}号",
            "作业类型": rng.choice(_METHODS[method]),
            "船长（米）": f"{loa:.1f}",
            "主机功率（千瓦）": f"{power:.1f}",
            "总吨位": f"{loa * rng.uniform(1.2, 4):.0f}",
            "船体材质": rng.choice(["钢质", "钢质", "木质", "玻璃钢"]),
            "检验日期": cn_date(surveyed, rng),
            # clean vessels hold a current certificate (an expired one is an injected defect)
            "检验有效期至": cn_date(surveyed + dt.timedelta(days=max(rng.choice([365, 730, 1460]), 730 if (day - surveyed).days >= 365 else 0)), rng),
            # 渤海伏季休渔: 5月1日至9月1日
            "营运状态": rng.choice(["休渔", "休渔", "休渔", "停航"] if 5 <= day.month <= 8 else ["营运", "营运", "营运", "停航"]),
            "船东": rng.choice(_OWNERS) + rng.choice(["某", "**"]),
            "所属单位": unit.name_variant(rng, day),
            "统一社会信用代码": unit.uscc,
            "所在区": unit.district_code,
            "保单号": f"YH12{start:%Y%m%d}{rng.randrange(0, 10 ** 6):06d}",
            "保险公司": rng.choice(_INSURERS),
            "保险起期": cn_date(start, rng),
            "保险止期": cn_date(_one_year_on(start) - dt.timedelta(days=1), rng),
            "每人死亡限额（万元）": str(rng.choice([40, 50, 60, 80])),
            "报送批次": f"AGRI-YC-{day:%Y%m%d}",
            "更新时间": stamp(day, rng),
        })
    return out


def _survey_expired(rng: random.Random, rec: dict, day: dt.date, partner: dict | None) -> bool:
    """Still operating a month after its survey certificate ran out."""
    expiry = day - dt.timedelta(days=rng.randrange(1, 90))
    rec.update({"营运状态": "营运", "检验日期": (expiry - dt.timedelta(days=365)).isoformat(), "检验有效期至": expiry.isoformat()})
    return True


FISHING_VESSEL = register(DatasetSpec(
    feed_id="agri_fishing_vessel", build=fishing_vessels, volume=30, delivery=CsvDrop("agri", "渔船_{date:%Y%m%d}.csv", "gbk"),
    key="船名号", uscc="统一社会信用代码", name="所属单位", district="所在区", batch="报送批次", updated="更新时间",
    required=(("捕捞许可证编号", "fishing_license_no"), ("主机功率（千瓦）", "power_kw"), ("检验有效期至", "survey_expiry")),
    date_order=("保险起期", "保险止期", "insurance_start<insurance_end"),
    rule_defects=(RuleDefect("survey_expired_operating", "survey_expiry.valid_while_operating", _survey_expired, severity="warning"),),
    optional=("船籍港", "渔船登记证书编号", "作业类型", "船长（米）", "总吨位", "船体材质", "检验日期", "营运状态", "船东", "保单号", "保险公司", "保险起期", "保险止期", "每人死亡限额（万元）", "报送批次"),
))
