"""End to end: enterprise resolution held against the simulator's truth (DuckDB and, when
SAFETY_HUB_TEST_POSTGRES_URL is set, PostgreSQL): one current row per true enterprise,
renames kept as history (SCD2), and records quarantined for a broken USCC matched to the
true enterprise by name and district."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import query
from safety_hub.domain.text import canonical_org_name
from safety_hub.domain.places import map_district

pytestmark = pytest.mark.e2e

def _date(v) -> dt.date | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


def test_distinct_current_enterprises_equal_the_truth(run):
    current = query(run, "SELECT uscc FROM dim_enterprise WHERE is_current")
    every = query(run, "SELECT uscc, COUNT(*) AS versions, SUM(CASE WHEN is_current THEN 1 ELSE 0 END) AS current FROM dim_enterprise GROUP BY uscc")
    expected = {u for day in run.truth.values() for u in day["valid_usccs"]}
    assert current["uscc"].is_unique and set(current["uscc"]) == expected
    assert set(every["uscc"]) == expected and (every["current"] == 1).all()


def test_spelling_variants_do_not_make_versions(run):
    """Every enterprise that was not renamed has one version, whatever the agencies' spellings."""
    renamed = {r["uscc"] for day in run.truth.values() for r in day["renames"]}
    dim = query(run, "SELECT uscc, version, name_variants, valid_to, is_current FROM dim_enterprise")
    others = dim[~dim["uscc"].isin(renamed)]
    assert (others["version"] == 1).all() and others["is_current"].astype(bool).all() and others["valid_to"].isna().all()
    assert (others["name_variants"] > 1).any(), "the simulator spells some names in several ways"


def test_renamed_enterprises_have_two_versions(run):
    renames = {r["uscc"]: r for day in run.truth.values() for r in day["renames"]}
    assert renames, "the simulator renames some enterprises"
    dim = query(run, "SELECT uscc, version, canonical_name, org_name, valid_from, valid_to, is_current, first_seen, last_seen "
                     "FROM dim_enterprise ORDER BY uscc, version")
    two = 0
    for uscc, r in renames.items():
        rows = dim[dim["uscc"] == uscc]
        if rows.empty:
            continue  # never delivered valid in the window
        renamed_on = dt.date.fromisoformat(r["renamed_on"])
        old, new = canonical_org_name(r["former_name"]), canonical_org_name(r["name"])
        assert set(rows["canonical_name"]) <= {old, new}, uscc
        if len(rows) == 2:
            two += 1
            v1, v2 = rows.iloc[0], rows.iloc[1]
            assert (v1["canonical_name"], v2["canonical_name"]) == (old, new), uscc
            assert _date(v1["valid_from"]) < renamed_on <= _date(v2["valid_from"]), uscc
            assert _date(v1["valid_to"]) == _date(v2["valid_from"]) and _date(v2["valid_to"]) is None, uscc
            assert not bool(v1["is_current"]) and bool(v2["is_current"]), uscc
            assert canonical_org_name(v2["org_name"]) == new
    assert two == len(renames), "every renamed enterprise reports both names in the simulated window (seed-dependent)"


def test_records_with_a_broken_uscc_are_matched_to_the_true_enterprise(run):
    truth = [d for day in run.truth.values() for d in day["uscc_defects"]]
    assert truth, "the simulator breaks some USCC check characters"
    matches = query(run, "SELECT feed_id, record_key, raw_uscc, matched_uscc, match_method, district_code, canonical_name FROM enterprise_match")
    got = {(m["feed_id"], m["record_key"]): m for m in matches.to_dict("records")}
    versions = query(run, "SELECT uscc, canonical_name, district_code FROM dim_enterprise")
    known = set(zip(versions["uscc"], versions["canonical_name"], versions["district_code"]))
    matched = 0
    for d in truth:
        m = got.get((d["feed_id"], d["key"]))
        assert m is not None, f"quarantined for its USCC but not listed: {d}"  # listed, never dropped
        assert m["raw_uscc"] == d["delivered_uscc"]
        assert m["match_method"] in ("name_district", "unmatched"), d  # simulated names are unique: never ambiguous
        if m["match_method"] == "name_district":
            assert m["matched_uscc"] == d["uscc"], f"matched to the wrong enterprise: {d}"
            matched += 1
        else:
            assert m["matched_uscc"] is None or pd.isna(m["matched_uscc"]), d
        if (d["uscc"], canonical_org_name(d["org_name"]), map_district(d["district"])) in known:
            assert m["match_method"] == "name_district", f"the enterprise's name and district are in dim_enterprise: {d}"
    assert matched >= 0.8 * len(truth), f"only {matched} of {len(truth)} broken-USCC records matched"
    assert set(matches["match_method"]) <= {"name_district", "unmatched", "ambiguous"}


def test_match_listing_covers_only_uscc_problems(run):
    listed = query(run, "SELECT feed_id, record_key, rule_id FROM enterprise_match")
    assert not listed.empty
    assert listed["rule_id"].str.split(",").map(lambda rules: set(rules) <= {"uscc.valid_uscc", "uscc.required"}).all()
    expected = {(d["feed_id"], d["key"]) for day in run.truth.values() for d in day["uscc_defects"]}
    assert set(zip(listed["feed_id"], listed["record_key"])) == expected
