"""Tests for the agency simulator: determinism, truth manifest, deliveries and the EMB API."""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from collections import Counter

import pytest
import requests

from safety_hub.domain.uscc import is_valid_uscc, normalise_uscc
from safety_hub.domain.dates import parse_date
from safety_hub_dev.simulator import generate_day, write_day
from safety_hub_dev.simulator.generate import DEFECT_RATES, REPAIRABLE, SPECS  # noqa: F401

DAY = dt.date(2026, 11, 2)
WEEK = [DAY + dt.timedelta(days=i) for i in range(7)]
KEY = {feed_id: spec.key for feed_id, spec in SPECS.items()}
USCC_FIELD = {feed_id: spec.uscc for feed_id, spec in SPECS.items()}


def key_of(feed: str, record: dict) -> str:
    """A record's key as the truth (and the warehouse) holds it: half-width, trimmed."""
    from safety_hub.domain.text import to_halfwidth

    return to_halfwidth(str(record[KEY[feed]])).strip()


@pytest.fixture(scope="module")
def week():
    return {d: generate_day(d) for d in WEEK}


# --- determinism ----------------------------------------------------------------------


def test_same_day_is_deterministic():
    a, b = generate_day(DAY), generate_day(DAY)
    assert a.records == b.records
    assert a.truth == b.truth
    assert json.dumps(a.truth, ensure_ascii=False, sort_keys=True) == json.dumps(b.truth, ensure_ascii=False, sort_keys=True)


def test_different_day_differs():
    a, b = generate_day(DAY), generate_day(DAY + dt.timedelta(days=1))
    for feed in KEY:
        assert a.records[feed] != b.records[feed], feed
    assert a.truth != b.truth


def test_different_seed_differs():
    assert generate_day(DAY, seed=1).records != generate_day(DAY, seed=2).records


# --- truth vs. records ----------------------------------------------------------------


def test_truth_covers_every_feed(week):
    for data in week.values():
        assert set(data.truth["feeds"]) == set(KEY)
        assert set(data.records) == set(KEY)
        assert data.truth["date"] == data.day.isoformat()


def test_truth_consistent_with_records(week):
    for day, data in week.items():
        for feed, truth in data.truth["feeds"].items():
            rows = data.records[feed]
            keys = [key_of(feed, r) for r in rows]
            assert truth["rows_delivered"] == len(rows), (day, feed)
            assert truth["distinct_valid"] == len(truth["valid_keys"]), (day, feed)
            assert len(set(truth["valid_keys"])) == len(truth["valid_keys"]), (day, feed)
            for defect in truth["defects"]:
                assert defect["key"] in keys, (day, feed, defect)
                assert (defect["kind"] in DEFECT_RATES or defect["kind"] == "status_regression"
                        or defect["kind"] in {d.kind for d in SPECS[feed].rule_defects}), (day, feed, defect)
            # every delivered key is either valid or carries a defect with an expected rule
            invalid = {d["key"] for d in truth["defects"] if d["expected_rule"]}
            assert set(truth["valid_keys"]) | invalid == set(keys), (day, feed)
            assert not set(truth["valid_keys"]) & invalid, (day, feed)
            # duplicates: delivered once more than the distinct keys, once per duplicate defect
            dup_count = sum(1 for d in truth["defects"] if d["kind"] == "duplicate")
            assert truth["duplicates"] == dup_count
            assert len(rows) - len(set(keys)) == dup_count, (day, feed)
            # repairable defects, duplicates and warnings never have an expected rule (the row stays valid);
            # a warning names the rule expected to flag it instead
            for d in truth["defects"]:
                if d["kind"] in REPAIRABLE or d["kind"] in ("duplicate", "resubmitted"):
                    assert d["expected_rule"] is None and not d.get("expected_flag"), d
                else:
                    assert bool(d["expected_rule"]) != bool(d.get("expected_flag")), d


def test_truth_usccs_match_records(week):
    for data in week.values():
        all_usccs = set()
        for feed, truth in data.truth["feeds"].items():
            valid = set(truth["valid_keys"])
            rows = [r for r in data.records[feed] if key_of(feed, r) in valid]
            usccs = {normalise_uscc(r[USCC_FIELD[feed]]) for r in rows}
            assert usccs == set(truth["valid_usccs"]), feed
            assert all(is_valid_uscc(u) for u in usccs), feed
            bad = {d["key"] for d in truth["defects"] if d["kind"] == "invalid_uscc"}
            for r in data.records[feed]:
                if key_of(feed, r) in bad:
                    assert not is_valid_uscc(r[USCC_FIELD[feed]]), r
            all_usccs |= usccs
        assert set(data.truth["valid_usccs"]) == all_usccs


def test_defect_kinds_occur_each_week(week):
    for feed in KEY:
        kinds = Counter(d["kind"] for data in week.values() for d in data.truth["feeds"][feed]["defects"])
        for kind in ("invalid_uscc", "missing_required", "duplicate"):
            assert kinds[kind] >= 1, (feed, kind, kinds)


def test_defect_share_is_plausible(week):
    for feed in KEY:
        defects = sum(len(data.truth["feeds"][feed]["defects"]) for data in week.values())
        source_records = sum(
            data.truth["feeds"][feed]["rows_delivered"] - data.truth["feeds"][feed]["duplicates"] for data in week.values()
        )
        share = defects / source_records
        assert 0.05 <= share <= 0.40, (feed, share)


def test_missing_required_blanks_a_field(week):
    for data in week.values():
        for feed, truth in data.truth["feeds"].items():
            missing = {d["key"] for d in truth["defects"] if d["kind"] == "missing_required"}
            for r in data.records[feed]:
                if key_of(feed, r) in missing:
                    assert any(r[field] in (None, "") for field, _ in SPECS[feed].required), r


def test_every_optional_item_is_left_empty_and_filled_over_the_demo_days():
    """信息缺失: over the demo's days every optional data item of every feed is empty on some delivered record
    and filled on another, in the truth's ``filled`` counts, which count the records as delivered."""
    from safety_hub.config.registry import load_registry
    from safety_hub_dev.demo import DEMO_DAYS

    registry = load_registry()
    days = [generate_day(d) for d in DEMO_DAYS]
    never_empty, never_filled = [], []
    for feed_id, feed in registry.items():
        optional = [c.source for c in feed.columns if not c.required]
        assert list(SPECS[feed_id].optional) == optional, feed_id  # the simulator blanks the registry's optional items
        for item in optional:
            rows = sum(d.truth["feeds"][feed_id]["rows_delivered"] for d in days)
            filled = sum(d.truth["feeds"][feed_id]["filled"].get(item, 0) for d in days)
            assert filled == sum(1 for d in days for r in d.records[feed_id] if r.get(item) not in (None, ""))
            if filled == rows:
                never_empty.append((feed_id, item))
            if filled == 0:
                never_filled.append((feed_id, item))
    assert not never_empty and not never_filled, (never_empty, never_filled)


def test_blanked_items_leave_required_items_and_defects_alone(week):
    """An optional item left empty never blanks a required one: a valid record fills every required field of
    ``spec.required``, and every record the truth holds as valid keeps the items a rule requires of it."""
    for data in week.values():
        for feed_id, truth in data.truth["feeds"].items():
            spec, valid = SPECS[feed_id], set(truth["valid_keys"])
            keep = dict(spec.filled_if)
            for r in data.records[feed_id]:
                if key_of(feed_id, r) not in valid:
                    continue
                assert all(r[f] not in (None, "") for f, _ in spec.required), (feed_id, r)
                assert all(r.get(f) not in (None, "") for f, needed in keep.items() if needed(r)), (feed_id, r)


def test_date_order_defects_match_records(week):
    """Valid rows have their (earlier, later) dates in order, or one of them an optional item left empty
    (信息缺失: the rule ignores the row); date_order defects do not."""
    for data in week.values():
        for feed, truth in data.truth["feeds"].items():
            if SPECS[feed].date_order is None:
                continue
            early, late, rule = SPECS[feed].date_order
            swapped = {d["key"] for d in truth["defects"] if d["kind"] == "date_order"}
            assert all(d["expected_rule"] == rule for d in truth["defects"] if d["kind"] == "date_order")
            valid = set(truth["valid_keys"])
            for r in data.records[feed]:
                a, b = parse_date(r[early]), parse_date(r[late])
                if key_of(feed, r) in swapped:
                    assert a > b, (feed, r)
                elif key_of(feed, r) in valid:
                    blank = [f for f, v in ((early, a), (late, b)) if v is None]
                    assert set(blank) <= set(SPECS[feed].optional), (feed, r)
                    assert blank or a <= b, (feed, r)


def test_enterprises_overlap_across_agencies(week):
    def overlaps(data):
        feeds = data.truth["feeds"]
        seen: dict[str, set[str]] = {}
        for feed, truth in feeds.items():
            for u in truth["valid_usccs"]:
                seen.setdefault(u, set()).add(feed)
        return [u for u, fs in seen.items() if len(fs) >= 2]

    assert any(overlaps(data) for data in week.values())
    assert overlaps(week[DAY])  # already on the first day


# --- file deliveries ------------------------------------------------------------------


def test_write_day_outputs(tmp_path):
    data = generate_day(DAY)
    paths = write_day(data, tmp_path)
    assert set(paths) >= {"hcc_project", "tc_dg_vehicle", "truth"}

    # HCC: GBK CSV with Chinese headers
    raw = paths["hcc_project"].read_bytes()
    assert paths["hcc_project"].name == "在建项目_20261102.csv"
    try:
        as_utf8 = raw.decode("utf-8")
    except UnicodeDecodeError:
        as_utf8 = None
    text = raw.decode("gbk")
    assert as_utf8 != text
    header = text.splitlines()[0].split(",")
    assert "项目编号" in header
    assert len(text.strip().splitlines()) == 1 + len(data.records["hcc_project"])

    # TC: SQLite database with that day's rows
    with sqlite3.connect(paths["tc_dg_vehicle"]) as db:
        count = db.execute("SELECT count(*) FROM t_wxhy_cl").fetchone()[0]
        plates = sorted(r[0] for r in db.execute("SELECT CPHM FROM t_wxhy_cl"))
    assert count == len(data.records["tc_dg_vehicle"])
    assert plates == sorted(r["CPHM"] for r in data.records["tc_dg_vehicle"])

    # Truth JSON
    assert json.loads(paths["truth"].read_text(encoding="utf-8")) == data.truth


def test_rewriting_a_day_does_not_duplicate_rows(tmp_path):
    data = generate_day(DAY)
    write_day(data, tmp_path)
    path = write_day(data, tmp_path)["tc_dg_vehicle"]
    with sqlite3.connect(path) as db:
        count = db.execute("SELECT count(*) FROM t_wxhy_cl").fetchone()[0]
    assert count == len(data.records["tc_dg_vehicle"])


def test_two_days_accumulate_in_tc_database(tmp_path):
    a, b = generate_day(DAY), generate_day(DAY + dt.timedelta(days=1))
    write_day(a, tmp_path)
    path = write_day(b, tmp_path)["tc_dg_vehicle"]
    write_day(a, tmp_path)  # re-export of the first day replaces only that day
    with sqlite3.connect(path) as db:
        count = db.execute("SELECT count(*) FROM t_wxhy_cl").fetchone()[0]
    assert count == len(a.records["tc_dg_vehicle"]) + len(b.records["tc_dg_vehicle"])


# --- the EMB HTTP API -----------------------------------------------------------------

TOKEN = "unit-test-token"
ENDPOINT = "/api/v1/hazards"
WINDOW = "updated_since=2026-11-02T00:00:00%2B08:00&updated_until=2026-11-03T00:00:00%2B08:00"


@pytest.fixture(scope="module")
def server():
    from safety_hub_dev.simulator.server import start_in_thread

    srv = start_in_thread(port=0, token={"emb": TOKEN, "tc": "unit-test-tc-token"})  # each agency its own token
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _get(server, query: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{server.url}{ENDPOINT}?{query}", headers=headers, timeout=10)


def test_api_requires_token(server):
    assert _get(server, f"{WINDOW}&page=1&page_size=50", token=None).status_code == 401
    assert _get(server, f"{WINDOW}&page=1&page_size=50", token="wrong").status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "page=1&page_size=50",  # no updated_since
        "updated_since=yesterday&page=1",
        f"{WINDOW}&page=abc",
        f"{WINDOW}&page=0",
        f"{WINDOW}&page_size=0",
        f"{WINDOW}&page_size=100000",
        "updated_since=2026-01-01T00:00:00%2B08:00&updated_until=2026-11-03T00:00:00%2B08:00",  # window too long
    ],
)
def test_api_rejects_bad_query(server, query):
    resp = _get(server, query)
    assert resp.status_code == 400
    assert resp.json()["code"] == 400


def test_api_pages_reassemble_the_day(server):
    expected = generate_day(DAY).records["emb_hazard"]
    first = _get(server, f"{WINDOW}&page=1&page_size=50")
    assert first.status_code == 200
    body = first.json()
    assert body["code"] == 0
    total, pages = body["data"]["total"], body["data"]["pages"]
    assert total == len(expected)
    assert pages == math.ceil(total / 50)
    records = list(body["data"]["records"])
    for page in range(2, pages + 1):
        resp = _get(server, f"{WINDOW}&page={page}&page_size=50")
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert data["page"] == page and data["total"] == total
        assert len(data["records"]) <= 50
        records.extend(data["records"])
    pair = lambda r: (r["yhbh"], r["bsbc"])  # noqa: E731
    assert Counter(map(pair, records)) == Counter(map(pair, expected))
    assert len(records) == len(expected)
    # The records themselves are unchanged by the trip over HTTP.
    assert sorted(records, key=pair) == sorted(expected, key=pair)
    # A page past the end is empty, not an error.
    beyond = _get(server, f"{WINDOW}&page={pages + 1}&page_size=50")
    assert beyond.status_code == 200 and beyond.json()["data"]["records"] == []


def test_api_unknown_path_is_404(server):
    resp = requests.get(f"{server.url}/api/v1/nothing", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert resp.status_code == 404


def test_api_serves_the_city_profile_when_asked():
    """``simulator serve --profile city``: the APIs serve the city profile's day (what ``simulate
    --profile city`` writes and bench-city extracts), not the demo's."""
    from safety_hub_dev.simulator.server import start_in_thread

    srv = start_in_thread(port=0, token={"emb": TOKEN, "tc": "unit-test-tc-token"})
    srv.profile = "city"
    try:
        # A city day is generated on the first request (~1 s of a core; longer on a busy machine).
        body = requests.get(f"{srv.url}{ENDPOINT}?{WINDOW}&page=1&page_size=50", headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=300).json()["data"]
    finally:
        srv.shutdown()
        srv.server_close()
    city, demo = generate_day(DAY, profile="city").records["emb_hazard"], generate_day(DAY).records["emb_hazard"]
    assert body["total"] == len(city) > 2 * len(demo)
