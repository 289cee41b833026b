"""Each registry rule of the feeds catches what it is meant to, and only that.

A clean record of the day is changed so that exactly one rule should break;
validated alongside clean records, only the changed record is quarantined and
only under that rule. Rules the injector exercises (``date_order`` and each
dataset's ``rule_defects``) are covered by ``test_feeds_truth`` and
``test_quality_precision_recall``; every other rule must appear here.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

import pandas as pd
import pytest

from safety_hub.quality.validate import check_batch
from safety_hub.config.registry import load_registry
from safety_hub_dev.simulator.generate import generate_day
from safety_hub_dev.simulator.spec import SPECS

DAY = dt.date(2026, 11, 3)
LEGACY = ("emb_hazard", "hcc_project", "tc_dg_vehicle")  # rules of the first feeds are tested elsewhere


@functools.lru_cache(maxsize=None)
def clean_records(feed_id: str) -> tuple[dict, ...]:
    data = generate_day(DAY)
    spec, truth = SPECS[feed_id], data.truth["feeds"][feed_id]
    valid = set(truth["valid_keys"])
    touched = {d["key"] for d in truth["defects"]}
    return tuple(r for r in data.records[feed_id] if r[spec.key] in valid and r[spec.key] not in touched)


def _find(feed_id: str, predicate) -> dict:
    return dict(next(r for r in clean_records(feed_id) if predicate(r)))


def _shift(text: str, days: int) -> str:
    from safety_hub.domain.dates import parse_date

    return (parse_date(text) + dt.timedelta(days=days)).isoformat()


# (feed, rule id, record chooser, change) - the change returns the fields to overwrite.
CASES = [
    ("emb_ent_registry", "industry_code.format", None, lambda r: {"行业代码": r["行业代码"][1:]}),  # unprefixed code
    ("emb_ent_registry", "license_no.format", lambda r: r["安全生产许可证号"], lambda r: {"安全生产许可证号": "津WH安许2024-0123"}),
    ("emb_ent_registry", "employees>=1", None, lambda r: {"从业人员数": "0"}),
    ("emb_enforcement", "notice_date<=decision_date", None, lambda r: {"CF_JDRQ": _shift(r["GZRQ"], -1)}),
    ("emb_enforcement", "decision_date<=publicity_end", None, lambda r: {"CF_GSJZQ": _shift(r["CF_JDRQ"], -1)}),
    ("emb_enforcement", "doc_no.format", None, lambda r: {"CF_WSH": "津应急罚2026-12"}),
    ("emb_enforcement", "fine_wan.range", lambda r: r["CSLX"] == "罚款", lambda r: {"CF_NR_FK": "50000"}),
    ("emb_enforcement", "fine_wan.required_for_fine", lambda r: r["CSLX"] == "罚款", lambda r: {"CF_NR_FK": None}),
    ("emb_enforcement", "fine_wan>0_for_fine", lambda r: r["CSLX"] == "罚款", lambda r: {"CF_NR_FK": "0"}),
    ("emb_enforcement", "fine_wan=0_without_fine", lambda r: r["CSLX"] == "警告", lambda r: {"CF_NR_FK": "5"}),
    ("emb_accident", "grade=grade_derived", None,
     lambda r: {"死亡人数": "3", "重伤人数": "0", "直接经济损失（万元）": "10.00", "事故等级": "一般事故"}),
    ("emb_accident", "grade=grade_derived", None,  # loss decides: 1200万元 is 较大 even without casualties
     lambda r: {"死亡人数": "0", "重伤人数": "0", "直接经济损失（万元）": "1200.00", "事故等级": "一般"}),
    ("emb_accident", "deaths>=0", None, lambda r: {"死亡人数": "-1", "重伤人数": "0", "直接经济损失（万元）": "1", "事故等级": "一般"}),
    ("emb_accident", "serious_injuries>=0", None, lambda r: {"死亡人数": "0", "重伤人数": "-2", "直接经济损失（万元）": "1", "事故等级": "一般"}),
    ("emb_accident", "direct_loss_wan>=0", None, lambda r: {"死亡人数": "0", "重伤人数": "0", "直接经济损失（万元）": "-5", "事故等级": "一般"}),
    ("emb_insurance", "death_limit_wan>=30", None,
     lambda r: {"起保日期": "2024-06-01", "终保日期": "2025-05-31", "每人死亡伤残责任限额（万元）": "20"}),
    ("emb_insurance", "death_limit_wan>=40_since_2025", None, lambda r: {"每人死亡伤残责任限额（万元）": "35"}),
    ("emb_insurance", "insured_headcount>=1", None, lambda r: {"参保人数": "0"}),
    ("emb_insurance", "premium>0", None, lambda r: {"保费（元）": "0"}),
    ("hcc_major_hazard_work", "expert_review<=start", None,
     lambda r: {"是否超过一定规模": "是", "专项方案审批日期": "2026-09-20", "专家论证日期": "2026-10-05", "开始施工日期": "2026-10-01", "验收日期": None}),
    ("hcc_major_hazard_work", "expert_review.required_if_over_scale", None,
     lambda r: {"是否超过一定规模": "是", "专家论证日期": None}),
    ("hcc_major_hazard_work", "start<=accepted", None,
     lambda r: {"是否超过一定规模": "否", "专项方案审批日期": "2026-09-20", "专家论证日期": None, "开始施工日期": "2026-10-01", "验收日期": "2026-09-25"}),
    ("hcc_gas_inspection", "inspect_date<=fixed_date", None,
     lambda r: {"SCJCRQ": "2025-01-01", "JCRQ": "2026-11-01", "ZGZT": "已整改", "YHX": "无报警器", "ZGRQ": "2026-10-30"}),
    ("hcc_gas_inspection", "fixed_date.required_if_fixed", None, lambda r: {"ZGZT": "已整改", "YHX": "无报警器", "ZGRQ": None}),
    ("hcc_gas_inspection", "defect_items.vocabulary", None, lambda r: {"YHX": "燃气灶老化"}),
    ("hcc_gas_inspection", "customer_phone.masked", None, lambda r: {"LXDH": "13812345678"}),
    ("hcc_gas_inspection", "customer_name.masked", None, lambda r: {"YHXM": "王小明"}),
    ("hcc_hazard", "fixed_date<=accepted_date", None,
     lambda r: {"整改状态": "已销号", "整改完成日期": "2026-10-20", "复查日期": "2026-10-18", "销号日期": "2026-10-21"}),
    ("hcc_hazard", "accepted_date<=closed_date", None,
     lambda r: {"整改状态": "已销号", "整改完成日期": "2026-10-18", "复查日期": "2026-10-20", "销号日期": "2026-10-19"}),
    ("hcc_hazard", "deadline.required_if_major", lambda r: r["是否挂牌督办"] == "否", lambda r: {"隐患级别": "重大隐患", "整改期限": None}),
    ("tc_dg_waybill", "load_kg<=rated_load_kg", None, lambda r: {"ZZL": str(int(r["HDZZL"]) + 1000)}),
    ("tc_dg_waybill", "load_kg>0", None, lambda r: {"ZZL": "0"}),
    ("tc_dg_waybill", "un_no.format", None, lambda r: {"UNH": "UN" + r["UNH"]}),
    ("tc_dg_waybill", "plate.format", None, lambda r: {"CPHM": "津I12345"}),
    ("tc_dg_waybill", "trailer_plate.format", lambda r: r["GCHM"], lambda r: {"GCHM": r["GCHM"].removesuffix("挂")}),
    ("tc_dg_waybill", "transport_cert_no.format", None, lambda r: {"DLYSZH": "津交运管字12345"}),
    ("tc_dg_waybill", "driver_cert<>escort_cert", None, lambda r: {"YYYZGZ": r["JSYZGZ"]}),
    ("tc_rail_segment_chief", "mileage_from.format", None, lambda r: {"起点里程": "123.456"}),
    ("tc_rail_segment_chief", "mileage_to.format", None, lambda r: {"终点里程": "K12+3456"}),
    ("tc_rail_segment_chief", "km_from<km_to", None, lambda r: {"起点里程": r["终点里程"]}),
    ("tc_rail_segment_chief", "segment_id.format", None, lambda r: {"段编号": "京沪段001"}),
    ("tc_rail_hazard", "found_date<=fixed_date", None,
     lambda r: {"fxrq": "2026-10-01", "sbrq": "2026-10-01", "zzqx": "2026-10-20", "zzrq": "2026-09-30", "zt": "已整治"}),
    ("tc_rail_hazard", "reported_date<=deadline", None,
     lambda r: {"fxrq": "2026-10-01", "sbrq": "2026-10-02", "zzqx": "2026-10-01", "zzrq": None, "zt": "待整治"}),
    ("tc_rail_hazard", "fixed_date.required_if_fixed", None, lambda r: {"zt": "已销号", "zzrq": None}),
    ("tc_rail_hazard", "mileage.format", None, lambda r: {"lc": "123+456"}),
    ("agri_fishing_vessel", "survey_date<=survey_expiry", lambda r: r["营运状态"] != "营运",  # an operating vessel would also be flagged
     lambda r: {"检验日期": "2026-10-01", "检验有效期至": "2026-09-01"}),
    ("agri_fishing_vessel", "death_limit_wan>=30", None,
     lambda r: {"保险起期": "2025-01-01", "保险止期": "2025-12-31", "每人死亡限额（万元）": "20"}),
    ("agri_fishing_vessel", "death_limit_wan>=40_since_2025", None,
     lambda r: {"保险起期": "2026-01-01", "保险止期": "2026-12-31", "每人死亡限额（万元）": "35"}),
    ("agri_fishing_vessel", "power_kw>0", None, lambda r: {"主机功率（千瓦）": "0"}),
    ("agri_fishing_vessel", "loa_m.range", None, lambda r: {"船长（米）": "150"}),
    ("agri_fishing_vessel", "vessel_name.format", None, lambda r: {"船名号": "TJ" + r["船名号"][-5:]}),
    ("agri_fishing_vessel", "fishing_license_no.format", None, lambda r: {"捕捞许可证编号": "津船捕2022HY200076"}),
    ("emb_supervision", "rectified_date.only_if_done", lambda r: r["整改状态"] in ("未整改", "未开始整改"),
     lambda r: {"整改完成日期": "2026-11-03"}),  # a done date, but still reported 未整改
]


@pytest.mark.parametrize("feed_id", sorted({c[0] for c in CASES}))
def test_each_rule_catches_exactly_its_case(feed_id):
    """One batch per feed (GX runs take a second): clean records plus one changed record per case."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed, key = load_registry()[feed_id], SPECS[feed_id].key
    cases = [(rule, choose, change) for f, rule, choose, change in CASES if f == feed_id]
    used: set[str] = set()
    broken, expected = [], {}
    for rule, choose, change in cases:
        target = _find(feed_id, lambda r: r[key] not in used and (choose is None or choose(r)))
        used.add(target[key])
        expected[len(broken)] = [rule]
        broken.append({**target, **change(target)})
    clean = [dict(r) for r in clean_records(feed_id) if r[key] not in used][:10]
    check = check_batch(feed, pd.DataFrame([*broken, *clean]).astype("string"), DAY)
    # error rules quarantine (failures), warning rules flag (flags): both must catch exactly their case
    got = {i: sorted(rules) for i, rules in check.failures.items()}
    for i, rules in check.flags.items():
        got.setdefault(i, []).extend(rules)
    for i, rules in got.items():
        for rule in rules:
            assert (rule in check.flags.get(i, [])) == (feed.validation.severity(rule) == "warning"), rule
    wrong = {cases[i][0] if i < len(cases) else f"clean row {i}": got.get(i) for i in set(got) | set(expected) if got.get(i) != expected.get(i)}
    assert not wrong, f"case -> rules broken (expected exactly the case's rule): {wrong}"


@pytest.mark.parametrize("feed_id", [f for f in sorted(SPECS) if f not in LEGACY])
def test_every_registry_rule_is_exercised(feed_id):
    """A rule nobody tests is a rule nobody knows works: each one is in CASES or the injector's date_order."""
    covered = {rule for f, rule, _, _ in CASES if f == feed_id}
    if SPECS[feed_id].date_order:
        covered.add(SPECS[feed_id].date_order[2])
    covered |= {d.rule for d in SPECS[feed_id].rule_defects}  # test_quality_precision_recall
    assert {r.id for r in load_registry()[feed_id].validation.rules} <= covered
