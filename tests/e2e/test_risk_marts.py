"""The risk marts the warehouse_build DAG filled in the session's run (week 2026-W45, whose
Monday to Wednesday are the simulated days: an unfinished week, so its partition, keyed by the
Sunday, is computed as of Wednesday 11-04, the week's data date), held against the simulator's
own records and against plain computations over the core tables, independently of the marts' SQL:

- mart_district_week: hazards from the simulator's ledgers (test_hazards.expected_hazards),
  enforcement from fact_enforcement and from the simulator;
- mart_enterprise_risk: the population from the registry the simulator delivered, every
  component recomputed in Python from the core tables and include/risk.yaml, every score
  the sum of its components and every grade the band its score falls in;
- mart_supervised_hazard: the listed hazards and their 红/黄/绿 flags from their deadlines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from conftest import DAYS, detected, query
from safety_hub.domain import industry_sector, map_district, normalise_uscc, parse_date, to_halfwidth
from safety_hub.risk import GRADES, load_risk_config, week_end, week_label
from safety_hub_dev.simulator.datasets.emb_extra import REGISTRY, employees_of, key_enterprises
from safety_hub_dev.simulator.enterprises import enterprise_pool
from safety_hub_dev.simulator.generate import DEFAULT_SEED, generate_day
from safety_hub_dev.simulator.spec import SPECS
from test_hazards import expected_hazards

pytestmark = pytest.mark.e2e
END = week_end(DAYS[-1])  # 2026-11-08: the partition
AS_OF = DAYS[-1]  # 2026-11-04: the week's data date, what every figure is computed as of
START = END - dt.timedelta(days=6)
COMPONENTS = ["inherent_industry", "inherent_major_source", "inherent_headcount", "open_hazards", "overdue_hazards",
              "open_major", "overdue_major", "accidents", "enforcement", "insurance_lapsed", "insurance_unseen"]


def _dec(value) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def closed_by(h: dict, day: dt.date) -> bool:
    return h["rank"] == 3 and h["closed"] is not None and h["closed"] <= day


def test_the_marts_hold_the_loaded_week(run):
    """warehouse_build computed the week of the loaded days; every partition is a week's end (Sunday).
    (Other weeks may be present: a report can build a past week's partitions.)"""
    week = query(run, "SELECT DISTINCT week_label, week_start, week_end, data_through FROM mart_district_week WHERE week_end = :e", e=END)
    assert week.to_dict("records") == [{"week_label": "2026-W45", "week_start": START, "week_end": END, "data_through": DAYS[-1]}]
    assert len(query(run, "SELECT * FROM mart_district_week WHERE week_end = :e", e=END)) == 16  # every district, zeros included
    for table in ("mart_enterprise_risk", "mart_supervised_hazard"):
        dates = query(run, f"SELECT DISTINCT data_through FROM {table} WHERE as_of_date = :e", e=END)
        assert dates["data_through"].tolist() == [DAYS[-1]], table
    weeks = query(run, "SELECT DISTINCT week_label, week_start, week_end FROM mart_district_week")
    for w in weeks.itertuples():
        assert w.week_end.weekday() == 6 and w.week_start == w.week_end - dt.timedelta(days=6) and w.week_label == week_label(w.week_end)
    for table in ("mart_enterprise_risk", "mart_supervised_hazard"):
        assert all(d.weekday() == 6 for d in query(run, f"SELECT DISTINCT as_of_date FROM {table}")["as_of_date"]), table


# --- mart_district_week ---------------------------------------------------------------------

def test_district_week_hazards_equal_the_simulator_truth(run):
    expected: dict[str, dict[str, int]] = {}
    for h in expected_hazards(tuple(sorted(run.truth))).values():
        if h["found"] > AS_OF:
            continue
        c = expected.setdefault(h["district"], dict.fromkeys(
            ("hazards_found", "hazards_closed", "hazards_open", "overdue", "major_hazards", "supervised",
             "found_total", "closed_total", "due_total", "closed_on_time_total"), 0))
        closed, due = closed_by(h, AS_OF), h["deadline"] is not None and h["deadline"] < AS_OF
        c["hazards_found"] += START <= h["found"] <= AS_OF
        c["hazards_closed"] += closed and h["closed"] >= START
        c["hazards_open"] += not closed
        c["overdue"] += not closed and due
        c["major_hazards"] += not closed and h["major"]
        c["supervised"] += not closed and h["listed"]
        c["found_total"] += 1
        c["closed_total"] += closed
        c["due_total"] += due
        c["closed_on_time_total"] += due and closed and h["closed"] <= h["deadline"]
    mart = query(run, "SELECT * FROM mart_district_week WHERE week_end = :e", e=END).set_index("district_code")
    got = {d: {k: int(mart.loc[d, k]) for k in expected[next(iter(expected))]} for d in mart.index if mart.loc[d, "found_total"] > 0}
    assert got == expected
    totals = {k: sum(c[k] for c in expected.values()) for k in ("hazards_found", "hazards_closed", "overdue", "major_hazards", "supervised")}
    assert all(totals.values()), f"every figure must be non-zero somewhere for the check to mean anything: {totals}"
    for d, row in mart.iterrows():
        rate = None if row.found_total == 0 else round(Decimal(int(row.closed_total)) / int(row.found_total), 6)
        on_time = None if row.due_total == 0 else round(Decimal(int(row.closed_on_time_total)) / int(row.due_total), 6)
        assert (row.dynamic_rate, row.on_time_rate) == (rate, on_time), d


def test_district_week_enforcement_equals_sql_over_the_facts_and_the_simulator(run):
    facts = query(run, "SELECT district_code, action_type, fine_wan FROM fact_enforcement "
                       "WHERE decision_date BETWEEN :s AND :e AND business_date <= :e", s=START, e=END)
    assert len(facts) > 0
    mart = query(run, "SELECT * FROM mart_district_week WHERE week_end = :e", e=END).set_index("district_code")
    columns = {"罚款": "fines", "警告": "warnings", "停产整顿": "suspensions", "吊销": "revocations", "关闭取缔": "closures",
               "联合惩戒": "joint_punishments", "约谈": "interviews"}
    for district, row in mart.iterrows():
        mine = facts[facts["district_code"] == district]
        assert row.enforcement_actions == len(mine), district
        assert row.penalty_amount_wan == sum((_dec(v) for v in mine["fine_wan"] if v is not None and not pd.isna(v)), Decimal(0)), district
        for action, column in columns.items():
            assert row[column] == int((mine["action_type"] == action).sum()), (district, column)
    # the simulator: every valid enforcement record decided in the week, by the district it was delivered with
    spec, decided = SPECS["emb_enforcement"], {}
    for day in sorted(run.truth):
        data = generate_day(day)
        t = data.truth["feeds"]["emb_enforcement"]
        valid = set(t["valid_keys"]) | {d["key"] for d in t["defects"] if d["expected_rule"] and not detected(d, run.truth)}
        for rec in data.records["emb_enforcement"]:
            key = to_halfwidth(str(rec[spec.key])).strip()
            if key in valid and START <= parse_date(rec["CF_JDRQ"]) <= END:
                decided[key] = map_district(rec[spec.district])
    per_district = pd.Series(list(decided.values())).value_counts().to_dict()
    assert {d: int(n) for d, n in mart["enforcement_actions"].items() if n} == per_district


# --- mart_enterprise_risk -------------------------------------------------------------------

def test_every_score_is_the_sum_of_its_components_and_its_grade_the_band(run):
    config = load_risk_config()
    rows = query(run, "SELECT * FROM mart_enterprise_risk WHERE as_of_date = :e", e=END)
    assert len(rows) > 50 and rows["uscc"].is_unique
    bands = config.bands
    for r in rows.to_dict("records"):
        assert r["score"] == sum(r[c] for c in COMPONENTS), r["uscc"]
        rank = 1 if r["score"] >= bands.red_min else 2 if r["score"] >= bands.orange_min else 3 if r["score"] >= bands.yellow_min else 4
        assert (r["grade_rank"], r["grade"]) == (rank, GRADES[rank - 1]), r
        assert r["config_sha"] == config.sha
    assert rows["grade"].nunique() >= 3, f"the simulated week should spread over the grades: {rows['grade'].value_counts().to_dict()}"
    expected_rank = rows["score"].astype(float).rank(method="min", ascending=False).astype(int)
    assert (rows["risk_rank"] == expected_rank).all()


def test_the_scored_enterprises_are_the_registry_the_simulator_delivered(run):
    """The members of the last snapshot delivered by the week's end that loaded at some point;
    their headcount and sector as the simulator made them."""
    last = max(d for d in run.truth if d <= END)
    delivered = {normalise_uscc(r["统一社会信用代码"]) for r in generate_day(last).records["emb_ent_registry"]}
    loaded = {k for t in run.truth.values() for k in t["feeds"]["emb_ent_registry"]["valid_keys"]}
    rows = query(run, "SELECT uscc, employees, sector, industry_code FROM mart_enterprise_risk WHERE as_of_date = :e", e=END)
    assert set(rows["uscc"]) == delivered & loaded
    pool = {e.uscc: e for e in key_enterprises(enterprise_pool(DEFAULT_SEED), REGISTRY.volume)}
    for r in rows.itertuples():
        assert r.employees == employees_of(pool[r.uscc]) and r.sector == pool[r.uscc].sector, r.uscc


def test_enterprise_components_equal_an_independent_computation(run):
    """Each component recomputed in Python from the core tables (plain SELECTs) and include/risk.yaml."""
    c = load_risk_config()
    registry = query(run, """
        SELECT r.uscc, r.industry_code, r.major_hazard_level, r.employees FROM fact_ent_registry r
        WHERE r.uscc IN (SELECT record_key FROM snapshot_member WHERE feed_id = 'emb_ent_registry' AND business_date =
                         (SELECT MAX(business_date) FROM snapshot_member WHERE feed_id = 'emb_ent_registry' AND business_date <= :e))""", e=END)
    hazards = query(run, "SELECT uscc, is_major, is_closed, closed_date, deadline, found_date FROM hazard")
    accidents = query(run, "SELECT uscc, grade, occurred_date, business_date FROM fact_accident")
    actions = query(run, "SELECT uscc, action_type, decision_date, business_date FROM fact_enforcement")
    policies = query(run, "SELECT uscc, start_date, end_date, business_date FROM fact_liability_insurance")
    got = query(run, "SELECT * FROM mart_enterprise_risk WHERE as_of_date = :e", e=END).set_index("uscc")

    def capped(points: Decimal, cap) -> Decimal:
        return points if cap is None else min(points, cap)

    def band_points(employees: int) -> Decimal:
        return max((b.points for b in c.inherent.headcount if employees >= b.min_employees), default=Decimal(0))

    acc_from = AS_OF - dt.timedelta(days=c.accidents.lookback_days - 1)
    enf_from = AS_OF - dt.timedelta(days=c.enforcement.lookback_days - 1)
    seen = {name: 0 for name in COMPONENTS}
    statuses: dict[tuple[str, bool], int] = {}
    for e in registry.itertuples():
        sector = industry_sector(e.industry_code)
        h = hazards[(hazards["uscc"] == e.uscc) & (hazards["found_date"] <= AS_OF)]
        is_open = ~(h["is_closed"].astype(bool) & h["closed_date"].map(lambda d: d is not None and not pd.isna(d) and d <= AS_OF))
        overdue = is_open & h["deadline"].map(lambda d: d is not None and not pd.isna(d) and d < AS_OF)
        major = h["is_major"].astype(bool)
        a = accidents[(accidents["uscc"] == e.uscc) & (accidents["business_date"] <= AS_OF)
                      & accidents["occurred_date"].between(acc_from, AS_OF)]
        x = actions[(actions["uscc"] == e.uscc) & (actions["business_date"] <= AS_OF) & actions["decision_date"].between(enf_from, AS_OF)]
        p = policies[(policies["uscc"] == e.uscc) & (policies["business_date"] <= AS_OF)]
        started = p[p["start_date"] <= AS_OF]
        covered = started[started["end_date"] >= AS_OF - dt.timedelta(days=c.insurance.grace_days)]
        status = "在保" if len(covered) else "脱保" if len(p) else "未见保单"  # no policy seen is not a lapse
        mandatory = sector in c.insurance.mandatory_sectors
        statuses[(status, mandatory)] = statuses.get((status, mandatory), 0) + 1
        hz = c.hazards
        expected = {
            "inherent_industry": c.inherent.industry.points.get(sector, c.inherent.industry.default),
            "inherent_major_source": c.inherent.major_source.points.get(e.major_hazard_level, c.inherent.major_source.default),
            "inherent_headcount": band_points(int(e.employees)),
            "open_hazards": capped(int((is_open & ~major).sum()) * hz.open_points, hz.max_points),
            "overdue_hazards": capped(int((overdue & ~major).sum()) * hz.overdue_points, hz.max_points),
            "open_major": capped(int((is_open & major).sum()) * hz.open_points * hz.major_weight, hz.max_points),
            "overdue_major": capped(int((overdue & major).sum()) * hz.overdue_points * hz.major_weight, hz.max_points),
            "accidents": capped(sum((c.accidents.points.get(g, Decimal(0)) for g in a["grade"]), Decimal(0)), c.accidents.max_points),
            "enforcement": capped(sum((c.enforcement.points.get(t, Decimal(0)) for t in x["action_type"]), Decimal(0)), c.enforcement.max_points),
            "insurance_lapsed": c.insurance.points if mandatory and status == "脱保" else Decimal(0),
            "insurance_unseen": c.insurance.no_policy_seen_points if mandatory and status == "未见保单" else Decimal(0),
        }
        row = got.loc[e.uscc]
        assert {k: row[k] for k in COMPONENTS} == {k: round(v, 2) for k, v in expected.items()}, e.uscc
        assert (row.n_open_hazards + row.n_open_major, row.n_accidents, row.n_enforcement) == (int(is_open.sum()), len(a), len(x)), e.uscc
        assert (row.insurance_status, row.insurance_mandatory, row.sector) == (status, mandatory, sector), e.uscc
        for k, v in expected.items():
            seen[k] += v > 0
    assert len(registry) == len(got)
    # As of Wednesday no 重大 hazard is past its deadline yet and no policy seen has lapsed, and 未见保单
    # scores 0 as shipped (see the last test): those components are held by hand-computed cases in
    # tests/unit/test_risk.py; every other one must score for some enterprise here.
    scoring = {k: v for k, v in seen.items() if k not in ("overdue_major", "insurance_lapsed", "insurance_unseen")}
    assert all(scoring.values()), f"every component must score for some enterprise in the simulated week: {seen}"
    assert statuses.get(("未见保单", True)), f"some enterprise obliged to insure must have no policy seen: {statuses}"


# --- mart_supervised_hazard -----------------------------------------------------------------

def test_supervised_hazards_and_their_flags_follow_the_deadlines(run):
    n = load_risk_config().supervised.yellow_days_left
    listed = {k: h for k, h in expected_hazards(tuple(sorted(run.truth))).items() if h["listed"] and h["found"] <= AS_OF}
    rows = query(run, "SELECT * FROM mart_supervised_hazard WHERE as_of_date = :e", e=END)
    assert set(rows["identity_key"]) == set(listed)
    for r in rows.itertuples():
        h = listed[r.identity_key]
        closed = closed_by(h, AS_OF)
        days_left = None if h["deadline"] is None or closed else (h["deadline"] - AS_OF).days
        flag = "绿" if closed else "黄" if days_left is None else "红" if days_left < 0 else "黄" if days_left < n else "绿"
        assert (r.deadline, None if pd.isna(r.days_left) else r.days_left, bool(r.is_closed), r.progress) == (
            h["deadline"], days_left, closed, flag), r.identity_key
        assert r.grade == "重大隐患" and r.district_code == h["district"]
    assert set(rows["progress"]) == {"红", "黄", "绿"}, "the simulated week should show every flag"
    open_listed = query(run, "SELECT SUM(supervised) AS n FROM mart_district_week WHERE week_end = :e", e=END).n[0]
    assert open_listed == int((~rows["is_closed"].astype(bool)).sum())


def test_no_policy_seen_is_not_scored_as_a_lapse(run):
    """An enterprise obliged to insure whose policy the warehouse never received is 未见保单, scored
    no_policy_seen_points (0 as shipped), not 脱保 (+points); only a policy seen and not in force is."""
    c = load_risk_config()
    rows = query(run, """
        SELECT insurance_status, insurance_mandatory, insurance_lapsed, insurance_unseen, uscc FROM mart_enterprise_risk
        WHERE as_of_date = :e AND insurance_mandatory""", e=END)
    unseen = rows[rows["insurance_status"] == "未见保单"]
    assert len(unseen) > 0
    assert (unseen["insurance_lapsed"] == 0).all() and (unseen["insurance_unseen"] == c.insurance.no_policy_seen_points).all()
    policies = set(query(run, "SELECT DISTINCT uscc FROM fact_liability_insurance WHERE business_date <= :d", d=AS_OF)["uscc"])
    assert not set(unseen["uscc"]) & policies, "未见保单 means no policy of the enterprise was loaded"
    lapsed = rows[rows["insurance_status"] == "脱保"]
    assert (lapsed["insurance_lapsed"] == c.insurance.points).all() and set(lapsed["uscc"]) <= policies
