"""Risk marts on a tiny hand-built warehouse: the enterprise grade against hand-computed cases
(each component alone, band edges, ties, caps, windows), a weight change in the YAML, as-of
reproducibility, the district week and the 挂牌督办 progress flags, and config errors.

Every warehouse case runs on DuckDB and on PostgreSQL (a scratch database ``test_risk_<pid>`` on
127.0.0.1:5432, user postgres; override with SAFETY_HUB_TEST_PG_ADMIN_URL; skipped with the
reason when unreachable), since the marts' SQL must give the same figures on both.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from pg_scratch import scratch_database

from safety_hub.config import settings
from safety_hub.config.registry import load_registry
from safety_hub.config.settings import business_tz
from safety_hub.domain.uscc import make_uscc
from safety_hub.config.risk import RiskConfigError, load_risk_config
from safety_hub.warehouse.risk import build_risk_marts, week_end, week_label
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.build import build_dimensions

CN = business_tz()
SUN = dt.date(2026, 11, 8)  # the week's end (2026-W45: 2026-11-02 .. 2026-11-08)
MON = dt.date(2026, 11, 2)
LOADED = dt.date(2026, 11, 4)  # the registry snapshot and most facts are loaded on this day
NEXT_WEEK = dt.date(2026, 11, 9)
COMPONENTS = ["inherent_industry", "inherent_major_source", "inherent_headcount", "open_hazards", "overdue_hazards",
              "open_major", "overdue_major", "accidents", "enforcement", "insurance_lapsed", "insurance_unseen"]

# Round numbers, owned by these tests (the shipped include/risk.yaml may be tuned freely).
CONFIG = {
    "bands": {"red_min": 60, "orange_min": 40, "yellow_min": 20},
    "inherent": {
        "industry": {"points": {"危化": 20, "工贸": 5}, "default": 1},
        "major_source": {"points": {"一级": 30, "二级": 20, "无": 0}, "default": 0},
        "headcount": [{"min_employees": 100, "points": 4}, {"min_employees": 1000, "points": 12}],
    },
    "hazards": {"open_points": 1, "overdue_points": 2, "major_weight": 5, "max_points": 20},
    "accidents": {"lookback_days": 365, "points": {"重大": 50, "较大": 30, "一般": 10}, "max_points": 60},
    "enforcement": {"lookback_days": 30, "points": {"罚款": 2, "停产整顿": 8}, "max_points": 20},
    "insurance": {"points": 10, "mandatory_sectors": ["危化"], "grace_days": 3, "no_policy_seen_points": 10},
    "supervised": {"yellow_days_left": 7},
}
TRADE, CHEM, MINE = "C3411", "C2614", "B0911"  # 工贸 (5 points), 危化 (20, insurance mandatory), 非煤矿山 (default 1)
_bodies = (f"{i:08d}" for i in itertools.count(10000001))


def identity_key(uscc: str, description: str, found: dt.date) -> str:
    """A hazard's identity as the lifecycle builds it (the descriptions here have no spaces to remove)."""
    return f"{uscc}|{description}|{found.isoformat()}"


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def merged(**changes) -> dict:
    """CONFIG with ``section={...}`` entries merged one level deep."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in CONFIG.items()}
    for section, values in changes.items():
        out[section] = {**out[section], **values} if isinstance(values, dict) else values
    return out


class Warehouse:
    """A DuckDB warehouse with just the rows a case needs (lineage filled in)."""

    def __init__(self, engine: sa.Engine, config_path: Path):
        self.engine = engine
        self.md = ensure_schema(self.engine)
        with engine.begin() as conn:  # a PostgreSQL database is shared by the module's cases: start empty
            for table in reversed(self.md.sorted_tables):
                if not table.name.startswith("dim_district") and table.name != "alembic_version":
                    conn.execute(table.delete())
        self.config_path = config_path
        self.rows: dict[str, list[dict]] = {}
        self.names: dict[str, str] = {}  # one name per enterprise in every fact (no accidental renames)
        self.seq = itertools.count(1)

    def _add(self, table: str, row: dict, day: dt.date) -> dict:
        feed = {"fact_ent_registry": "emb_ent_registry", "fact_accident": "emb_accident", "fact_enforcement": "emb_enforcement",
                "fact_liability_insurance": "emb_insurance", "hazard_version": "emb_hazard"}[table]
        row = {"feed_id": feed, "batch_id": f"run-{day}", "business_date": day, "raw_file": f"raw/{feed}/{day}",
               "loaded_at": dt.datetime(2026, 11, 9, tzinfo=dt.timezone.utc), **row}
        self.rows.setdefault(table, []).append(row)
        return row

    def enterprise(self, industry=TRADE, level="无", employees=50, district="120116", *, snapshots=(LOADED,), uscc=None) -> str:
        uscc = uscc or make_uscc("91", district, next(_bodies))
        self.names[uscc] = f"天津测试{uscc[-4:]}有限公司"
        self._add("fact_ent_registry", {"uscc": uscc, "org_name": self.names[uscc], "district_code": district,
                                        "industry_code": industry, "supervision_category": "工贸", "major_hazard_level": level,
                                        "risk_level": "低风险", "employees": employees,
                                        "updated_at": dt.datetime.combine(max(snapshots), dt.time(9), tzinfo=CN)}, max(snapshots))
        for day in snapshots:
            self.rows.setdefault("snapshot_member", []).append({"feed_id": "emb_ent_registry", "business_date": day, "record_key": uscc})
        return uscc

    def snapshot(self, uscc: str, day: dt.date) -> None:
        """``uscc`` is in the registry's snapshot of ``day`` too; its stored row becomes that day's (as the merge does)."""
        self.rows["snapshot_member"].append({"feed_id": "emb_ent_registry", "business_date": day, "record_key": uscc})
        row = next(r for r in self.rows["fact_ent_registry"] if r["uscc"] == uscc)
        row.update(business_date=day, batch_id=f"run-{day}", updated_at=dt.datetime.combine(day, dt.time(9), tzinfo=CN))

    def hazard(self, uscc, *, found=MON, deadline=SUN + dt.timedelta(days=20), closed=None, major=False, listed=False,
               loaded=LOADED, district="120116", description=None, regression=False) -> str:
        description = description or f"隐患{next(self.seq)}"
        status = "验收销号" if closed else "整改中"
        self._add("hazard_version", {
            "record_key": f"YH{next(self.seq)}", "identity_key": identity_key(uscc, description, found), "uscc": uscc,
            "org_name": self.names[uscc], "district_code": district, "description": description, "found_date": found,
            "grade": "重大隐患" if major else "一般隐患", "is_major": major, "deadline": deadline, "fixed_date": closed,
            "accepted_date": closed, "closed_date": closed, "listed_supervision": listed, "status": status,
            "status_rank": 3 if closed else 1, "is_closed": closed is not None,
            "updated_at": dt.datetime.combine(loaded, dt.time(10), tzinfo=CN), "is_regression": regression}, loaded)
        return identity_key(uscc, description, found)

    def accident(self, uscc, grade, *, occurred=MON, loaded=LOADED):
        self._add("fact_accident", {"accident_id": f"SG{next(self.seq)}", "uscc": uscc, "org_name": self.names[uscc],
                                    "district_code": "120116", "occurred_date": occurred, "accident_type": "其他伤害", "deaths": 0,
                                    "serious_injuries": 0, "direct_loss_wan": Decimal("1"), "grade": grade,
                                    "updated_at": dt.datetime.combine(loaded, dt.time(9), tzinfo=CN)}, loaded)

    def action(self, uscc, action_type, *, decided=MON, fine=None, loaded=LOADED, district="120116"):
        self._add("fact_enforcement", {"record_id": f"CF{next(self.seq)}", "uscc": uscc, "org_name": self.names[uscc],
                                       "district_code": district, "doc_no": f"津应急罚[2026]{next(self.seq)}号", "penalty_category": "罚款",
                                       "inspect_date": decided, "decision_date": decided, "action_type": action_type,
                                       "fine_wan": None if fine is None else Decimal(str(fine)),
                                       "updated_at": dt.datetime.combine(loaded, dt.time(9), tzinfo=CN)}, loaded)

    def policy(self, uscc, start, end, *, loaded=LOADED):
        self._add("fact_liability_insurance", {"policy_no": f"P{next(self.seq)}", "uscc": uscc, "org_name": self.names[uscc],
                                               "district_code": "120116", "insurer": "测试保险", "start_date": start, "end_date": end,
                                               "death_limit_wan": Decimal("50"),
                                               "updated_at": dt.datetime.combine(loaded, dt.time(9), tzinfo=CN)}, loaded)

    def build(self, weeks=(SUN,), config: dict | None = None, through: dt.date | None = SUN) -> list[dt.date]:
        """Write the rows, the load audit and the dimensions, then the risk marts for ``weeks``.

        ``through``: a (rowless) load of that business date too, by default the week's Sunday, so
        the week is complete and computed as of its Sunday; None: the week as its rows leave it."""
        # What the loads write beside the facts: the registry's rows of each snapshot day (registry_version)
        # and the (USCC, name, district) each fact row reports (enterprise_observation, the dimensions' input).
        registry = {r["uscc"]: r for r in self.rows.get("fact_ent_registry", [])}
        derived = {
            "registry_version": [{**registry[m["record_key"]], "business_date": m["business_date"], "batch_id": f"run-{m['business_date']}"}
                                 for m in self.rows.get("snapshot_member", []) if m["record_key"] in registry],
        }
        for feed in load_registry().values():  # a feed's version table: each fact row at its business date
            if feed.version_table and feed.target_table in self.rows and feed.version_table not in derived:
                derived[feed.version_table] = self.rows[feed.target_table]
        derived["enterprise_observation"] = [
            {k: r[k] for k in ("feed_id", "business_date", "uscc", "org_name", "district_code", "updated_at")}
            for name in ("registry_version", "fact_accident", "fact_enforcement", "fact_liability_insurance")
            for r in (derived.get(name) or self.rows.get(name, []))]
        with self.engine.begin() as conn:
            for name in [*self.rows, *derived, "load_audit"]:
                conn.execute(self.md.tables[name].delete())
            for name, rows in [*self.rows.items(), *derived.items()]:
                if rows:
                    conn.execute(self.md.tables[name].insert(), rows)
            days = sorted({r["business_date"] for rows in self.rows.values() for r in rows} | ({through} if through else set()))
            conn.execute(self.md.tables["load_audit"].insert(), [
                {"feed_id": "emb_hazard", "batch_id": f"run-{d}", "business_date": d, "raw_file": "raw", "raw_sha256": "0",
                 "rows_extracted": 0, "rows_valid": 0, "rows_quarantined": 0, "rows_duplicate": 0, "rows_stale": 0, "rows_loaded": 0,
                 "status": "success", "loaded_at": dt.datetime(2026, 11, 9, tzinfo=dt.timezone.utc)} for d in days])
        build_dimensions(self.engine)
        if config is not None:
            write_config(self.config_path, config)
        return build_risk_marts(self.engine, list(weeks), load_risk_config(self.config_path))

    def q(self, sql: str, **params) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(sql), params).mappings().all())

    def risk(self, uscc: str, as_of: dt.date = SUN) -> dict:
        rows = self.q("SELECT * FROM mart_enterprise_risk WHERE uscc = :u AND as_of_date = :d", u=uscc, d=as_of)
        assert len(rows) == 1, f"{uscc} on {as_of}: {len(rows)} rows"
        row = rows.iloc[0].to_dict()
        return {k: (float(v) if isinstance(v, Decimal) else v) for k, v in row.items()}


@pytest.fixture(scope="module")
def pg_engine():
    with scratch_database("test_risk") as engine:
        yield engine


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request, tmp_path):
    if request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    else:
        engine = request.getfixturevalue("pg_engine")
    w = Warehouse(engine, write_config(tmp_path / "risk.yaml", CONFIG))
    yield w
    if request.param == "duckdb":
        engine.dispose()


def points(row: dict) -> dict:
    return {c: row[c] for c in COMPONENTS if row[c]}


# --- the grade against hand-computed cases -------------------------------------------------

def test_inherent_risk_alone(wh):
    plain = wh.enterprise()  # 工贸, no major hazard source, 50 staff
    chem = wh.enterprise(CHEM, "一级", 1200)
    wh.policy(chem, SUN - dt.timedelta(days=100), SUN + dt.timedelta(days=265))  # insured: inherent risk only
    wh.build()
    assert points(wh.risk(plain)) == {"inherent_industry": 5}
    p = wh.risk(plain)
    assert (p["score"], p["grade"], p["grade_rank"], p["sector"], p["insurance_status"]) == (5, "蓝", 4, "工贸", "未见保单")
    c = wh.risk(chem)
    assert points(c) == {"inherent_industry": 20, "inherent_major_source": 30, "inherent_headcount": 12}
    assert (c["score"], c["grade"], c["grade_rank"], c["insurance_status"]) == (62, "红", 1, "在保")


def test_an_unlisted_sector_takes_the_default_points(wh):
    mine = wh.enterprise(MINE, "二级")
    wh.build()
    assert points(wh.risk(mine)) == {"inherent_industry": 1, "inherent_major_source": 20}


@pytest.mark.parametrize(("employees", "expected"), [(1, 0), (99, 0), (100, 4), (999, 4), (1000, 12), (50000, 12)])
def test_headcount_bands_include_their_lower_limit(wh, employees, expected):
    ent = wh.enterprise(employees=employees)
    wh.build()
    assert wh.risk(ent)["inherent_headcount"] == expected


def test_hazards_alone(wh):
    """3 open 一般 (one overdue; one due on the week's end itself, not overdue yet), 1 open overdue 重大;
    hazards closed by then, found after it, or first loaded after it do not count."""
    ent = wh.enterprise()
    wh.hazard(ent)
    wh.hazard(ent, deadline=SUN - dt.timedelta(days=1))  # overdue
    wh.hazard(ent, deadline=SUN)  # due today: open, not overdue
    wh.hazard(ent, major=True, deadline=SUN - dt.timedelta(days=3))  # 重大, overdue
    wh.hazard(ent, closed=dt.date(2026, 11, 3), deadline=SUN - dt.timedelta(days=1))  # closed by then
    wh.hazard(ent, found=NEXT_WEEK, loaded=NEXT_WEEK)  # found after the week
    wh.hazard(ent, found=MON, loaded=NEXT_WEEK)  # found in the week but not known until the next one
    wh.build()
    r = wh.risk(ent)
    assert (r["n_open_hazards"], r["n_overdue_hazards"], r["n_open_major"], r["n_overdue_major"]) == (3, 1, 1, 1)
    # open 3 x 1; overdue 1 x 2; open 重大 1 x 1 x 5; overdue 重大 1 x 2 x 5
    assert points(r) == {"inherent_industry": 5, "open_hazards": 3, "overdue_hazards": 2, "open_major": 5, "overdue_major": 10}
    assert (r["score"], r["grade"]) == (25, "黄")


def test_a_hazard_closed_after_the_week_is_open_in_that_week(wh):
    ent = wh.enterprise()
    wh.hazard(ent, description="消防通道堵塞")  # loaded open on 11-04
    wh.hazard(ent, description="消防通道堵塞", closed=NEXT_WEEK, loaded=NEXT_WEEK)  # the same hazard closed next week
    wh.build(weeks=(SUN, SUN + dt.timedelta(days=7)))
    assert wh.risk(ent, SUN)["n_open_hazards"] == 1
    assert wh.risk(ent, SUN + dt.timedelta(days=7))["n_open_hazards"] == 0


def test_hazard_points_are_capped_per_column(wh):
    ent = wh.enterprise()
    for _ in range(25):
        wh.hazard(ent)
    wh.build()
    r = wh.risk(ent)
    assert r["n_open_hazards"] == 25 and r["open_hazards"] == 20  # max_points
    wh.build(config=merged(hazards={"max_points": None}))
    assert wh.risk(ent)["open_hazards"] == 25


def test_accidents_alone_by_grade_in_the_lookback_window(wh):
    ent = wh.enterprise()
    wh.accident(ent, "一般")
    wh.accident(ent, "较大", occurred=SUN - dt.timedelta(days=364))  # first day of the 365-day window
    wh.accident(ent, "重大", occurred=SUN - dt.timedelta(days=365))  # a day too old
    wh.accident(ent, "重大", occurred=SUN, loaded=NEXT_WEEK)  # not known by the week's end
    wh.build()
    r = wh.risk(ent)
    assert r["n_accidents"] == 2 and points(r) == {"inherent_industry": 5, "accidents": 40}
    assert (r["score"], r["grade"]) == (45, "橙")


def test_accident_points_are_capped(wh):
    ent = wh.enterprise()
    wh.accident(ent, "重大")
    wh.accident(ent, "较大")
    wh.build()
    assert wh.risk(ent)["accidents"] == 60  # 50 + 30, capped at 60


def test_enforcement_alone_by_action_type_in_the_lookback_window(wh):
    ent = wh.enterprise()
    wh.action(ent, "罚款", fine=3)
    wh.action(ent, "停产整顿", decided=SUN - dt.timedelta(days=29))  # first day of the 30-day window
    wh.action(ent, "停产整顿", decided=SUN - dt.timedelta(days=30))  # too old
    wh.action(ent, "约谈")  # not weighted: 0 points, still counted
    wh.build()
    r = wh.risk(ent)
    assert r["n_enforcement"] == 3 and points(r) == {"inherent_industry": 5, "enforcement": 10}


@pytest.mark.parametrize(("policies", "status", "scored"), [
    ([], "未见保单", {"insurance_unseen": 10}),  # CONFIG scores no policy seen (no_policy_seen_points: 10)
    ([(SUN - dt.timedelta(days=300), SUN + dt.timedelta(days=65))], "在保", {}),
    ([(SUN - dt.timedelta(days=365), SUN - dt.timedelta(days=3))], "在保", {}),  # ended 3 days ago: within grace_days
    ([(SUN - dt.timedelta(days=365), SUN - dt.timedelta(days=4))], "脱保", {"insurance_lapsed": 10}),
    ([(SUN + dt.timedelta(days=1), SUN + dt.timedelta(days=366))], "脱保", {"insurance_lapsed": 10}),  # not in force yet
], ids=["no-policy-seen", "covered", "grace", "lapsed", "future-start"])
def test_insurance_alone(wh, policies, status, scored):
    chem = wh.enterprise(CHEM)
    for start, end in policies:
        wh.policy(chem, start, end)
    wh.build()
    r = wh.risk(chem)
    assert (r["insurance_mandatory"], r["insurance_status"]) == (True, status)
    assert points(r) == {"inherent_industry": 20, **scored}


def test_insurance_only_counts_where_it_is_mandatory(wh):
    trade = wh.enterprise()
    wh.build()
    r = wh.risk(trade)
    assert (r["insurance_mandatory"], r["insurance_status"], r["insurance_lapsed"], r["insurance_unseen"]) == (False, "未见保单", 0, 0)


def test_no_policy_seen_is_not_a_lapse(wh, tmp_path):
    """未见保单 (no policy loaded at all) is unknown, not 脱保: it scores no_policy_seen_points, which
    defaults to 0 (as shipped), while a policy that ended still scores as lapsed."""
    never = wh.enterprise(CHEM)
    ended = wh.enterprise(CHEM)
    wh.policy(ended, SUN - dt.timedelta(days=400), SUN - dt.timedelta(days=35))
    config = {**CONFIG, "insurance": {k: v for k, v in CONFIG["insurance"].items() if k != "no_policy_seen_points"}}
    wh.build(config=config)
    assert load_risk_config(wh.config_path).insurance.no_policy_seen_points == 0
    n, e = wh.risk(never), wh.risk(ended)
    assert (n["insurance_status"], n["insurance_lapsed"], n["insurance_unseen"], n["score"]) == ("未见保单", 0, 0, 20)
    assert (e["insurance_status"], e["insurance_lapsed"], e["insurance_unseen"], e["score"]) == ("脱保", 10, 0, 30)
    assert load_risk_config(settings.PROJECT_DIR / "include" / "risk.yaml").insurance.no_policy_seen_points == 0


@pytest.mark.parametrize(("score", "grade", "rank"), [
    ("0", "蓝", 4), ("19.99", "蓝", 4), ("20", "黄", 3), ("39.99", "黄", 3), ("40", "橙", 2),
    ("59.99", "橙", 2), ("60", "红", 1), ("60.01", "红", 1), ("250", "红", 1),
])
def test_band_limits_are_inclusive(wh, score, grade, rank):
    """The score is set exactly by a one-band headcount table (the only non-zero component)."""
    ent = wh.enterprise(MINE, employees=10)
    config = merged(inherent={**CONFIG["inherent"], "industry": {"points": {}, "default": 0},
                              "headcount": [{"min_employees": 1, "points": score}]})
    wh.build(config=config)
    r = wh.risk(ent)
    assert r["score"] == float(score) and (r["grade"], r["grade_rank"]) == (grade, rank)


def test_ties_share_grade_and_rank(wh):
    a, b = wh.enterprise(CHEM, "二级"), wh.enterprise(CHEM, "二级")  # 20 + 20 + 10 no policy seen = 50
    top = wh.enterprise(CHEM, "一级")  # 60
    low = wh.enterprise()  # 5
    wh.build()
    rows = wh.q("SELECT uscc, score, grade, risk_rank FROM mart_enterprise_risk ORDER BY risk_rank, uscc")
    got = {r.uscc: (float(r.score), r.grade, r.risk_rank) for r in rows.itertuples()}
    assert got == {top: (60, "红", 1), a: (50, "橙", 2), b: (50, "橙", 2), low: (5, "蓝", 4)}


def test_every_score_is_the_sum_of_its_components(wh):
    ents = [wh.enterprise(CHEM, "一级", 5000), wh.enterprise(), wh.enterprise(MINE, "二级", 300)]
    for i, ent in enumerate(ents):
        for _ in range(i * 4):
            wh.hazard(ent, deadline=SUN - dt.timedelta(days=i))
        wh.accident(ent, "一般")
        wh.action(ent, "罚款", fine=1)
    wh.build()
    rows = wh.q("SELECT * FROM mart_enterprise_risk")
    assert len(rows) == 3
    for r in rows.to_dict("records"):
        assert r["score"] == sum(r[c] for c in COMPONENTS), r


def test_a_weight_change_in_the_yaml_changes_the_grade_on_rerun(wh, monkeypatch):
    ent = wh.enterprise(CHEM, "二级")  # 20 + 20 + 10 no policy seen = 50: 橙
    wh.build()
    before = wh.risk(ent)
    assert (before["score"], before["grade"]) == (50, "橙")
    # the file named by SAFETY_HUB_RISK_CONFIG, read again by the rebuild
    path = write_config(wh.config_path.with_name("tuned.yaml"), merged(bands={"red_min": 50, "orange_min": 40, "yellow_min": 20}))
    monkeypatch.setenv("SAFETY_HUB_RISK_CONFIG", str(path))
    assert settings.risk_config_path() == path.resolve()
    build_risk_marts(wh.engine, [SUN])
    after = wh.risk(ent)
    assert (after["score"], after["grade"], after["grade_rank"]) == (50, "红", 1)
    assert after["config_sha"] != before["config_sha"]
    assert len(wh.q("SELECT * FROM mart_enterprise_risk")) == 1, "the partition is replaced, not appended to"


def test_rebuilding_is_idempotent(wh):
    ent = wh.enterprise(CHEM)
    wh.hazard(ent, listed=True, major=True)
    wh.action(ent, "罚款", fine=2)
    wh.build()
    tables = {"mart_enterprise_risk": "uscc", "mart_district_week": "district_code", "mart_supervised_hazard": "identity_key"}
    first = {t: wh.q(f"SELECT * FROM {t} ORDER BY {key}") for t, key in tables.items()}
    assert len(first["mart_supervised_hazard"]) == 1 and len(first["mart_district_week"]) == 16
    build_risk_marts(wh.engine, [MON, LOADED, SUN], load_risk_config(wh.config_path))  # any day of the week: that week
    for t, key in tables.items():
        pd.testing.assert_frame_equal(wh.q(f"SELECT * FROM {t} ORDER BY {key}"), first[t])


def test_a_past_week_is_reproducible_after_later_loads(wh):
    """The W44 partition rebuilt after W45's data arrived equals the one computed in W44."""
    w44 = dt.date(2026, 11, 1)
    stays = wh.enterprise(CHEM, snapshots=(w44,))
    leaves = wh.enterprise(snapshots=(w44,))  # leaves the registry during W45
    wh.hazard(stays, found=dt.date(2026, 10, 28), deadline=dt.date(2026, 10, 31), loaded=w44)
    wh.accident(stays, "一般", occurred=dt.date(2026, 10, 30), loaded=w44)
    wh.build(weeks=(w44,))
    before = wh.q("SELECT * FROM mart_enterprise_risk WHERE as_of_date = :d ORDER BY uscc", d=w44)
    assert set(before["uscc"]) == {stays, leaves}
    # W45: the registry no longer lists `leaves`, the hazard is closed, another accident, a policy
    wh.snapshot(stays, LOADED)
    wh.hazard(stays, found=dt.date(2026, 10, 28), deadline=dt.date(2026, 10, 31), loaded=LOADED,
              description=wh.rows["hazard_version"][0]["description"], closed=dt.date(2026, 11, 3))
    wh.accident(stays, "较大", occurred=dt.date(2026, 11, 3))
    wh.policy(stays, dt.date(2026, 11, 3), dt.date(2027, 11, 2))
    wh.build(weeks=(w44, SUN))
    pd.testing.assert_frame_equal(wh.q("SELECT * FROM mart_enterprise_risk WHERE as_of_date = :d ORDER BY uscc", d=w44), before)
    now = wh.q("SELECT * FROM mart_enterprise_risk WHERE as_of_date = :d", d=SUN)
    assert list(now["uscc"]) == [stays]
    r = wh.risk(stays, SUN)
    assert (r["n_overdue_hazards"], r["n_accidents"], r["insurance_status"]) == (0, 2, "在保")


def test_status_regressions_do_not_reopen_a_hazard(wh):
    ent = wh.enterprise()
    wh.hazard(ent, description="配电箱未接地", closed=dt.date(2026, 11, 3), loaded=dt.date(2026, 11, 3))
    wh.hazard(ent, description="配电箱未接地", loaded=LOADED, regression=True)  # 销号 -> 整改中, quarantined
    wh.build()
    assert wh.risk(ent)["n_open_hazards"] == 0


def test_name_and_district_are_the_versions_in_force(wh):
    ent = wh.enterprise(district="120101")
    wh.build()
    r = wh.risk(ent)
    assert (r["district_code"], r["district_name"], r["org_name"]) == ("120101", "和平区", f"天津测试{ent[-4:]}有限公司")
    assert r["data_through"] == SUN and r["reported_risk_level"] == "低风险"


# --- mart_district_week ---------------------------------------------------------------------

def test_district_week_against_hand_counts(wh):
    a = wh.enterprise(district="120116")
    b = wh.enterprise(district="120101")
    wh.hazard(a, found=MON)  # found this week, open
    wh.hazard(a, found=dt.date(2026, 10, 20), deadline=dt.date(2026, 11, 1))  # earlier week, open, overdue
    wh.hazard(a, found=dt.date(2026, 10, 20), deadline=dt.date(2026, 11, 5), closed=dt.date(2026, 11, 4))  # closed this week, on time
    wh.hazard(a, found=dt.date(2026, 10, 20), deadline=dt.date(2026, 10, 25), closed=dt.date(2026, 10, 30))  # closed last week, late
    wh.hazard(a, found=dt.date(2026, 11, 3), major=True, listed=True)  # 重大, 挂牌督办, open
    wh.hazard(a, found=dt.date(2026, 11, 3), loaded=NEXT_WEEK)  # not known at the week's end
    wh.hazard(b, found=dt.date(2026, 11, 7), district="120101", closed=SUN, deadline=SUN)  # found and closed this week, due on Sunday
    wh.action(a, "罚款", fine=2.5)
    wh.action(a, "停产整顿", fine=1)
    wh.action(b, "约谈", district="120101")
    wh.action(a, "警告", decided=dt.date(2026, 11, 1))  # the week before
    wh.action(a, "罚款", fine=9, loaded=NEXT_WEEK)  # loaded after the week's end
    wh.build()
    rows = wh.q("SELECT * FROM mart_district_week")
    assert len(rows) == 16 and set(rows["week_label"]) == {"2026-W45"}
    assert set(rows["week_start"]) == {MON} and set(rows["week_end"]) == {SUN}
    by = rows.set_index("district_code")
    bh = by.loc["120116"]
    assert (bh.hazards_found, bh.hazards_closed, bh.hazards_open, bh.overdue, bh.major_hazards, bh.supervised) == (2, 1, 3, 1, 1, 1)
    assert (bh.found_total, bh.closed_total, bh.due_total, bh.closed_on_time_total) == (5, 2, 3, 1)
    assert (bh.dynamic_rate, bh.on_time_rate) == (Decimal("0.400000"), Decimal("0.333333"))
    assert (bh.enforcement_actions, bh.penalty_amount_wan, bh.fines, bh.suspensions, bh.warnings) == (2, Decimal("3.5"), 1, 1, 0)
    hp = by.loc["120101"]
    assert (hp.hazards_found, hp.hazards_closed, hp.hazards_open, hp.overdue, hp.due_total) == (1, 1, 0, 0, 0)
    assert (hp.dynamic_rate, hp.on_time_rate, hp.enforcement_actions, hp.interviews, hp.penalty_amount_wan) == (1, None, 1, 1, 0)
    quiet = by.loc["120119"]
    assert (quiet.district_name, quiet.found_total, quiet.enforcement_actions, quiet.dynamic_rate) == ("蓟州区", 0, 0, None)


def test_district_week_rates_agree_with_mart_district_hazard_for_the_same_day(wh):
    """动态整改率 and 按期整改率 at a week's end are those of mart_district_hazard as of that Sunday."""
    from safety_hub.warehouse.sqltext import sql_file

    ent = wh.enterprise()
    for i in range(6):
        wh.hazard(ent, found=dt.date(2026, 10, 20 + i), deadline=dt.date(2026, 11, 1 + i),
                  closed=dt.date(2026, 11, 2 + i) if i % 2 else None)
    wh.build()
    with wh.engine.begin() as conn:
        conn.execute(sa.text(sql_file("mart_district_hazard.sql").format(hazard_asof=sql_file("hazard_asof.sql"))), {"as_of": SUN})
    hazard = wh.q("SELECT SUM(hazards_found) AS f, SUM(hazards_closed) AS c, SUM(hazards_due) AS d, SUM(hazards_closed_on_time) AS o "
                  "FROM mart_district_hazard WHERE as_of_date = :d AND district_code = '120116'", d=SUN).iloc[0]
    week = wh.q("SELECT * FROM mart_district_week WHERE district_code = '120116'").iloc[0]
    assert (week.found_total, week.closed_total, week.due_total, week.closed_on_time_total) == (hazard.f, hazard.c, hazard.d, hazard.o)
    assert week.found_total == 6 and week.due_total == 6


# --- mart_supervised_hazard -----------------------------------------------------------------

@pytest.mark.parametrize(("deadline", "closed", "days_left", "progress"), [
    (SUN - dt.timedelta(days=1), None, -1, "红"),
    (SUN, None, 0, "黄"),
    (SUN + dt.timedelta(days=6), None, 6, "黄"),
    (SUN + dt.timedelta(days=7), None, 7, "绿"),
    (SUN + dt.timedelta(days=30), None, 30, "绿"),
    (SUN - dt.timedelta(days=10), dt.date(2026, 11, 3), None, "绿"),  # closed, even after its deadline: no days left shown
    (None, None, None, "黄"),
], ids=["overdue", "due-today", "6-left", "7-left", "on-track", "closed", "no-deadline"])
def test_supervised_progress_flag(wh, deadline, closed, days_left, progress):
    ent = wh.enterprise()
    key = wh.hazard(ent, found=dt.date(2026, 10, 1), deadline=deadline, closed=closed, major=True, listed=True)
    wh.hazard(ent, major=True)  # not listed: not in the mart
    wh.build()
    rows = wh.q("SELECT * FROM mart_supervised_hazard")
    assert list(rows["identity_key"]) == [key]
    r = rows.iloc[0]
    assert (None if pd.isna(r.days_left) else r.days_left, r.progress, r.is_closed) == (days_left, progress, closed is not None)
    assert r.as_of_date == SUN and r.district_name == "滨海新区"


def test_supervised_yellow_threshold_comes_from_the_yaml(wh):
    ent = wh.enterprise()
    wh.hazard(ent, deadline=SUN + dt.timedelta(days=7), major=True, listed=True)
    wh.build()
    assert wh.q("SELECT progress FROM mart_supervised_hazard")["progress"].tolist() == ["绿"]
    wh.build(config=merged(supervised={"yellow_days_left": 8}))
    assert wh.q("SELECT progress FROM mart_supervised_hazard")["progress"].tolist() == ["黄"]


# --- weeks and config -----------------------------------------------------------------------

def test_week_end_and_label():
    assert [week_end(dt.date(2026, 11, d)) for d in (2, 4, 8)] == [SUN] * 3
    assert week_end(dt.date(2026, 11, 9)) == dt.date(2026, 11, 15)
    assert week_label(SUN) == "2026-W45" and week_label(dt.date(2027, 1, 3)) == "2026-W53"


def test_the_shipped_config_is_valid():
    config = load_risk_config(settings.PROJECT_DIR / "include" / "risk.yaml")
    b = config.bands
    assert b.red_min > b.orange_min > b.yellow_min
    assert config.supervised.yellow_days_left > 0


@pytest.mark.parametrize(("change", "field", "message"), [
    (lambda c: c["bands"].update(purple_min=80), "bands.purple_min", "Extra inputs are not permitted"),
    (lambda c: c.update(weights={}), "weights", "Extra inputs are not permitted"),
    (lambda c: c["bands"].pop("red_min"), "bands.red_min", "Field required"),
    (lambda c: c["bands"].update(orange_min=70), "bands.orange_min", "must be below red_min"),
    (lambda c: c["bands"].update(yellow_min=40), "bands.yellow_min", "must be below orange_min"),
    (lambda c: c["hazards"].update(open_points=-1), "hazards.open_points", "greater than or equal to 0"),
    (lambda c: c["hazards"].update(major_weight="1.005"), "hazards.major_weight", "decimal places"),
    (lambda c: c["accidents"].update(lookback_days=0), "accidents.lookback_days", "greater than 0"),
    (lambda c: c["accidents"]["points"].update(特大=90), "accidents.points", "unknown values ['特大']"),
    (lambda c: c["enforcement"]["points"].update(罚没=1), "enforcement.points", "unknown values ['罚没']"),
    (lambda c: c["inherent"]["industry"]["points"].update(化工=5), "inherent.industry.points", "unknown values ['化工']"),
    (lambda c: c["inherent"]["major_source"]["points"].update(五级=1), "inherent.major_source.points", "unknown values"),
    (lambda c: c["inherent"].update(headcount=[{"min_employees": 300, "points": 1}, {"min_employees": 100, "points": 2}]),
     "inherent.headcount", "must increase strictly"),
    (lambda c: c["insurance"].update(mandatory_sectors=["危化品"]), "insurance.mandatory_sectors", "unknown values"),
    (lambda c: c["supervised"].update(yellow_days_left=0), "supervised.yellow_days_left", "greater than 0"),
])
def test_config_errors_name_the_file_and_field(tmp_path, change, field, message):
    config = merged(inherent={k: (dict(v) if isinstance(v, dict) else v) for k, v in CONFIG["inherent"].items()})
    config["inherent"]["industry"] = {"points": dict(CONFIG["inherent"]["industry"]["points"]), "default": 1}
    config["inherent"]["major_source"] = {"points": dict(CONFIG["inherent"]["major_source"]["points"])}
    for section in ("accidents", "enforcement"):
        config[section]["points"] = dict(CONFIG[section]["points"])
    change(config)
    path = write_config(tmp_path / "bad.yaml", config)
    with pytest.raises(RiskConfigError) as err:
        load_risk_config(path)
    text = str(err.value)
    assert str(path) in text and f"field '{field}'" in text and message in text, text


def test_a_missing_or_malformed_file_is_named(tmp_path):
    with pytest.raises(RiskConfigError, match="risk configuration not found"):
        load_risk_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(RiskConfigError, match=r"list\.yaml: expected a mapping"):
        load_risk_config(tmp_path / "list.yaml")


def test_build_marts_fills_the_risk_marts(wh, monkeypatch):
    """warehouse/transform.build_marts (the warehouse_build DAG's task) builds the weeks of the loaded days."""
    from safety_hub.warehouse.build import build_marts

    ent = wh.enterprise(CHEM)
    wh.hazard(ent, major=True, listed=True, deadline=SUN + dt.timedelta(days=3))
    wh.build(weeks=())
    assert wh.q("SELECT COUNT(*) AS n FROM mart_enterprise_risk").n[0] == 0
    monkeypatch.setenv("SAFETY_HUB_RISK_CONFIG", str(wh.config_path))
    assert build_marts(wh.engine) == [LOADED, SUN]
    assert wh.risk(ent)["open_major"] == 5
    assert wh.q("SELECT progress FROM mart_supervised_hazard WHERE as_of_date = :d", d=SUN)["progress"].tolist() == ["黄"]
    assert wh.q("SELECT SUM(major_hazards) AS n FROM mart_district_week WHERE week_end = :d", d=SUN).n[0] == 1


def test_a_bad_config_leaves_the_marts_as_they_were(wh, monkeypatch):
    ent = wh.enterprise()
    wh.build()
    before = wh.q("SELECT * FROM mart_enterprise_risk")
    monkeypatch.setenv("SAFETY_HUB_RISK_CONFIG", str(write_config(wh.config_path, merged(bands={"red_min": 10, "orange_min": 40, "yellow_min": 20}))))
    with pytest.raises(RiskConfigError, match="bands.orange_min"):
        build_risk_marts(wh.engine, [SUN])
    pd.testing.assert_frame_equal(wh.q("SELECT * FROM mart_enterprise_risk"), before)
    assert wh.risk(ent)["score"] == 5


def test_cli_validates_the_config_and_rebuilds_the_marts(tmp_path, monkeypatch, capsys):
    """`python -m safety_hub warehouse risk`: the rerun after a change of weights."""
    from safety_hub.cli import main
    from safety_hub.warehouse.engine import get_engine

    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    w = Warehouse(get_engine(url), write_config(tmp_path / "risk.yaml", CONFIG))
    monkeypatch.setenv("SAFETY_HUB_RISK_CONFIG", str(w.config_path))
    ent = w.enterprise(CHEM, "二级")
    w.build(weeks=())
    assert main(["warehouse", "risk", "--check"]) == 0
    assert "valid" in capsys.readouterr().out and w.q("SELECT COUNT(*) AS n FROM mart_enterprise_risk").n[0] == 0
    assert main(["warehouse", "risk"]) == 0
    assert "rebuilt for 1 week(s): 2026-11-08" in capsys.readouterr().out
    assert (w.risk(ent)["score"], w.risk(ent)["grade"]) == (50, "橙")
    write_config(w.config_path, merged(bands={"red_min": 50, "orange_min": 40, "yellow_min": 20}))
    assert main(["warehouse", "risk", "--as-of", "2026-11-04"]) == 0
    assert w.risk(ent)["grade"] == "红"
    write_config(w.config_path, merged(supervised={"yellow_days_left": -1}))
    assert main(["warehouse", "risk"]) == 2
    err = capsys.readouterr().err
    assert str(w.config_path) in err and "field 'supervised.yellow_days_left'" in err
    assert w.risk(ent)["grade"] == "红", "an invalid file changes nothing"


# --- the as-of date of a week ---------------------------------------------------------------

def test_an_unfinished_week_is_computed_as_of_its_data_date(wh):
    """Data loaded up to Wednesday 11-04: the week's partition (keyed by its Sunday) counts overdue and
    days left against 11-04, not the future Sunday; once Sunday is loaded, against Sunday."""
    ent = wh.enterprise()
    wh.hazard(ent, deadline=dt.date(2026, 11, 3))  # overdue on Wednesday already
    wh.hazard(ent, deadline=dt.date(2026, 11, 6))  # due Friday: not overdue on Wednesday, overdue on Sunday
    listed = wh.hazard(ent, deadline=dt.date(2026, 11, 5), major=True, listed=True)
    assert wh.build(through=None) == [SUN]
    r = wh.risk(ent, SUN)
    assert (r["n_overdue_hazards"], r["n_overdue_major"], r["data_through"]) == (1, 0, LOADED)
    s = wh.q("SELECT * FROM mart_supervised_hazard WHERE as_of_date = :d", d=SUN).set_index("identity_key").loc[listed]
    assert (s.days_left, s.progress, s.data_through) == (1, "黄", LOADED)
    week = wh.q("SELECT SUM(overdue) AS overdue, MAX(data_through) AS through FROM mart_district_week WHERE week_end = :d", d=SUN).iloc[0]
    assert (week.overdue, week.through) == (1, LOADED)

    wh.build()  # Sunday loaded: the week is complete
    r = wh.risk(ent, SUN)
    assert (r["n_overdue_hazards"], r["n_overdue_major"], r["data_through"]) == (2, 1, SUN)
    s = wh.q("SELECT * FROM mart_supervised_hazard WHERE as_of_date = :d", d=SUN).iloc[0]
    assert (s.days_left, s.progress) == (-3, "红")
    assert wh.q("SELECT SUM(overdue) AS n FROM mart_district_week WHERE week_end = :d", d=SUN).n[0] == 3


def test_a_week_without_data_gets_no_rows_and_stale_empty_weeks_are_removed(wh):
    ent = wh.enterprise()
    wh.hazard(ent)
    w44, w46 = dt.date(2026, 11, 1), dt.date(2026, 11, 15)
    assert wh.build(weeks=(w44, SUN, w46), through=None) == [SUN]  # only W45 holds a load
    wh.hazard(ent, major=True, listed=True)
    wh.build(weeks=(w44, SUN, w46), through=None)
    for table, column in (("mart_district_week", "week_end"), ("mart_enterprise_risk", "as_of_date"),
                          ("mart_supervised_hazard", "as_of_date")):
        assert wh.q(f"SELECT DISTINCT {column} AS d FROM {table}")["d"].tolist() == [SUN], table
    # partitions of an empty week left by an older build (16 empty district rows) go at the next build
    with wh.engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO mart_district_week SELECT '2026-W46', CAST(:s AS DATE), CAST(:e AS DATE), district_code,
                                district_name, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL
                                FROM dim_district"""), {"s": w46 - dt.timedelta(days=6), "e": w46})
    assert wh.q("SELECT COUNT(*) AS n FROM mart_district_week WHERE week_end = :d", d=w46).n[0] == 16
    wh.build(through=None)
    assert wh.q("SELECT COUNT(*) AS n FROM mart_district_week WHERE week_end = :d", d=w46).n[0] == 0
    assert wh.q("SELECT COUNT(*) AS n FROM mart_district_week WHERE week_end = :d", d=SUN).n[0] == 16
