"""One hazard per real hazard, its lifecycle, and the rectification rates, against the simulator.

The expected figures are computed here in plain Python from the simulator's own
records (what each agency delivered, which records were valid), independently of
the warehouse SQL: distinct hazards after resubmissions under a new number and
across agencies (the same hazard in the EMB and HCC ledgers), the status each
hazard ends in (regressions ignored), and per district 动态整改率 (closed / found)
and 按期整改率 (closed by the deadline / deadline passed).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re

import pytest

from conftest import detected, query
from safety_hub.domain import map_district, normalise_uscc, parse_date, to_halfwidth
from safety_hub.registry import load_registry
from safety_hub_dev.simulator.generate import generate_day
from safety_hub_dev.simulator.spec import SPECS

pytestmark = pytest.mark.e2e
FEED = "emb_hazard"
# Every hazard ledger, in the agency's own field names and status spellings (rank 0 待整改 .. 3 验收销号).
LEDGERS = {
    "emb_hazard": {
        "fields": {"description": "yhms", "found": "fxrq", "deadline": "zgqx", "closed": "xhrq", "status": "zgzt",
                   "grade": "yhdj", "listed": "gpdb"},
        "rank": {"待整改": 0, "未整改": 0, "整改中": 1, "待验收": 2, "已整改": 2,
                 "验收销号": 3, "已销号": 3, "销号": 3, "完成": 3, "已完成": 3, "√": 3},
    },
    "hcc_hazard": {
        "fields": {"description": "隐患描述", "found": "检查日期", "deadline": "整改期限", "closed": "销号日期", "status": "整改状态",
                   "grade": "隐患级别", "listed": "是否挂牌督办"},
        "rank": {"未整改": 0, "待整改": 0, "整改中": 1, "已整改": 2, "待复查": 2, "已销号": 3, "验收销号": 3, "复查销号": 3},
    },
}
BOTH = {"emb_hazard", "hcc_hazard"}
MAJOR = {"重大隐患", "重大", "重大事故隐患"}  # the ledgers' spellings of a 重大 grade


def _date(text):
    return parse_date(text) if text else None


def _description(text: str) -> str:
    """Half-width, whitespace removed: two clerks' spellings of one description."""
    return re.sub(r"\s+", "", to_halfwidth(text))


def test_every_hazard_ledger_is_checked_here():
    assert set(LEDGERS) == {f for f, feed in load_registry().items() if feed.lifecycle is not None}


@functools.lru_cache(maxsize=None)
def latest_versions(days: tuple[dt.date, ...]) -> dict[tuple[str, str], dict]:
    """(feed, key) -> the latest valid version of each hazard ledger record delivered on ``days``."""
    truth = {d: generate_day(d).truth for d in days}
    latest: dict[tuple[str, str], dict] = {}
    for day in days:
        data = generate_day(day)
        for feed_id, ledger in LEDGERS.items():
            spec, f, rank = SPECS[feed_id], ledger["fields"], ledger["rank"]
            t = data.truth["feeds"][feed_id]
            valid = set(t["valid_keys"]) | {d["key"] for d in t["defects"] if d["expected_rule"] and not detected(d, truth)}
            for rec in data.records[feed_id]:
                key = to_halfwidth(str(rec[spec.key])).strip()
                if key not in valid:
                    continue
                found = _date(rec[f["found"]])
                version = {
                    "feed": feed_id, "key": key, "updated": dt.datetime.fromisoformat(rec[spec.updated]),
                    "uscc": normalise_uscc(rec[spec.uscc]), "district": map_district(rec[spec.district]),
                    "description": _description(rec[f["description"]]), "as_delivered": rec[f["description"]], "found": found,
                    "deadline": _date(rec[f["deadline"]]), "closed": _date(rec[f["closed"]]), "rank": rank[rec[f["status"]].strip()],
                    "major": str(rec[f["grade"]]).strip() in MAJOR, "listed": str(rec[f["listed"]]).strip() == "是",
                }
                version["identity"] = f"{version['uscc']}|{version['description']}|{found.isoformat()}"
                # the latest update wins; on a tie, the later business day (as the warehouse orders them)
                if (feed_id, key) not in latest or version["updated"] >= latest[feed_id, key]["updated"]:
                    latest[feed_id, key] = version
    return latest


@functools.lru_cache(maxsize=None)
def expected_hazards(days: tuple[dt.date, ...]) -> dict[str, dict]:
    """identity -> the hazard as the simulator knows it, from every valid version of every ledger delivered on ``days``.

    Per identity, the most advanced status wins, then the latest update, then the first source by
    ``feed:key``; ``sources`` holds every ``feed_id:record_key`` that reported it."""
    hazards: dict[str, dict] = {}
    for v in latest_versions(days).values():
        source = f"{v['feed']}:{v['key']}"
        best = hazards.get(v["identity"])
        sources = (best["sources"] if best else set()) | {source}
        if best is None or (-v["rank"], -v["updated"].timestamp(), source) < (-best["rank"], -best["updated"].timestamp(), best["source"]):
            best = {**v, "source": source}
        best["sources"] = sources
        hazards[v["identity"]] = best
    return hazards


def test_one_row_per_real_hazard(run):
    expected = expected_hazards(tuple(sorted(run.truth)))
    got = query(run, "SELECT identity_key, sources, n_sources, status, district_code FROM hazard")
    assert got["identity_key"].is_unique
    assert set(got["identity_key"]) == set(expected)
    resubmitted = [(feed_id, d) for day in run.truth.values() for feed_id in LEDGERS
                   for d in day["feeds"][feed_id]["defects"] if d["kind"] == "resubmitted"]
    assert resubmitted, "the simulator resubmitted no hazard under a new number"
    by_source = {s: row for row in got.itertuples() for s in row.sources.split(",")}
    for feed_id, d in resubmitted:  # the resubmission and the original are one hazard with both sources
        row = by_source[f"{feed_id}:{d['key']}"]
        assert f"{feed_id}:{d['same_as']}" in row.sources.split(",") and row.n_sources >= 2
    for row in got.itertuples():
        e = expected[row.identity_key]
        assert set(row.sources.split(",")) == e["sources"] and row.n_sources == len(e["sources"])
        assert row.district_code == e["district"]


def test_a_hazard_reported_by_two_agencies_is_one_row_with_both_sources(run):
    """EMB and HCC report some of the same hazards (same USCC, description up to spaces and
    full-width characters, found date) under their own numbers and spellings: one row each."""
    versions = latest_versions(tuple(sorted(run.truth)))
    by_identity: dict[str, set[str]] = {}
    for v in versions.values():
        by_identity.setdefault(v["identity"], set()).add(f"{v['feed']}:{v['key']}")
    shared = {i: s for i, s in by_identity.items() if {x.split(":", 1)[0] for x in s} == BOTH}
    assert len(shared) >= 3, "the simulator must report some hazards in both ledgers"
    spellings = {versions[tuple(s.split(":", 1))]["as_delivered"] for sources in shared.values() for s in sources}
    assert any(_description(d) != d for d in spellings), "no shared hazard is spelled differently by the two agencies"
    got = query(run, "SELECT identity_key, sources, n_sources FROM hazard")
    rows = {s: row for row in got.itertuples() for s in row.sources.split(",")}
    for identity, sources in shared.items():
        hit = {rows[s].identity_key for s in sources}
        assert hit == {identity}, (identity, sources, hit)  # every source lands in the same single row
        row = rows[next(iter(sources))]
        assert set(row.sources.split(",")) == sources and row.n_sources == len(sources)


def test_status_regressions_are_quarantined_and_ignored(run):
    regressions = [d for day in run.truth.values() for d in day["feeds"][FEED]["defects"]
                   if d["kind"] == "status_regression" and detected(d, run.truth)]
    assert regressions, "no regression in the loaded days: the check would be vacuous"
    q = query(run, "SELECT record_key, rule_description, original_values FROM quarantine WHERE rule_id = 'status.no_regression'")
    assert set(q["record_key"]) == {d["key"] for d in regressions}
    assert q["rule_description"].str.contains("→ 整改中").all()
    assert all(json.loads(v)["status"] == "整改中" for v in q["original_values"])
    # the hazard keeps its closed state; the history keeps both versions
    closed = query(run, "SELECT h.status FROM hazard h JOIN hazard_version v ON v.identity_key = h.identity_key "
                        "WHERE v.is_regression")
    assert (closed["status"] == "验收销号").all() and len(closed) == len(regressions)
    history = query(run, "SELECT record_key, COUNT(*) AS n FROM hazard_version WHERE feed_id = :f GROUP BY record_key", f=FEED)
    assert history.set_index("record_key").loc[[d["key"] for d in regressions], "n"].ge(2).all()


def test_statuses_never_move_backwards_in_the_hazard_table(run):
    """The status a hazard holds is the furthest any non-regressed version reached."""
    rows = query(run, """
        SELECT h.identity_key, h.status_rank, MAX(v.status_rank) AS furthest
        FROM hazard h JOIN hazard_version v ON v.identity_key = h.identity_key AND NOT v.is_regression
        GROUP BY h.identity_key, h.status_rank""")
    assert (rows["status_rank"] == rows["furthest"]).all()


def test_rectification_rates_per_district_equal_the_truth(run):
    days = tuple(sorted(run.truth))
    as_of = days[-1]
    per_district: dict[str, dict[str, int]] = {}
    for h in expected_hazards(days).values():
        c = per_district.setdefault(h["district"], {"found": 0, "closed": 0, "due": 0, "on_time": 0})
        closed = h["rank"] == 3 and h["closed"] is not None and h["closed"] <= as_of
        due = h["deadline"] is not None and h["deadline"] < as_of
        c["found"] += 1
        c["closed"] += closed
        c["due"] += due
        c["on_time"] += due and closed and h["closed"] <= h["deadline"]
    mart = query(run, """
        SELECT district_code, SUM(hazards_found) AS found, SUM(hazards_closed) AS closed,
               SUM(hazards_due) AS due, SUM(hazards_closed_on_time) AS on_time
        FROM mart_district_hazard WHERE as_of_date = :d GROUP BY district_code""", d=as_of)
    got = {r.district_code: {"found": int(r.found), "closed": int(r.closed), "due": int(r.due), "on_time": int(r.on_time)}
           for r in mart.itertuples()}
    assert got == per_district
    assert any(c["due"] for c in got.values()), "some deadline must have passed for 按期整改率 to mean anything"
    rates = query(run, "SELECT district_code, rectification_rate, on_time_rate, hazards_found, hazards_closed, hazards_due, "
                       "hazards_closed_on_time FROM mart_district_hazard WHERE as_of_date = :d", d=as_of)
    assert (rates["rectification_rate"] - rates["hazards_closed"] / rates["hazards_found"]).abs().max() < 1e-6  # FLOAT is 32-bit on DuckDB
    due = rates[rates["hazards_due"] > 0]
    assert (due["on_time_rate"] - due["hazards_closed_on_time"] / due["hazards_due"]).abs().max() < 1e-6
