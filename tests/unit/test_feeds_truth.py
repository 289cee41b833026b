"""Every simulated feed, delivered as its agency delivers it, validated against the truth.

For each dataset in ``spec.SPECS`` and three business days: the day's records go
through the real delivery bytes (CSV in the agency's encoding, office-style
XLSX, API JSON pages, rows of the agency's SQLite table read back as JSON
lines), are parsed by ``landing.parse_files`` and validated by ``check_batch``
with the feed's registry definition. The quarantined rows must be exactly the
injected defects that carry an expected rule, each under that rule, and no
clean row may be quarantined.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import random
import sqlite3

import pandas as pd
import pytest

from safety_hub.domain.uscc import normalise_uscc
from safety_hub.ingest.delivery import RawFile
from safety_hub.ingest.landing import parse_files, unmapped_columns
from safety_hub.quality.validate import check_batch
from safety_hub.config.registry import get_feed
from safety_hub_dev.simulator import deliver
from safety_hub_dev.simulator.enterprises import enterprise_pool
from safety_hub_dev.simulator.generate import DEFAULT_SEED, generate_day
from safety_hub_dev.simulator.spec import CN_TZ, SPECS, Api, CsvDrop, SqliteTable, XlsxDrop

DAYS = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(2)]  # the e2e tests cover 3 days
FEEDS = sorted(SPECS)


@functools.lru_cache(maxsize=None)
def day_data(day: dt.date):
    return generate_day(day)


def delivered_frame(feed_id: str, day: dt.date, tmp_path) -> tuple[pd.DataFrame, list[RawFile]]:
    """The day's records through the real delivery bytes and back, as the pipeline lands them."""
    spec, feed = SPECS[feed_id], get_feed(feed_id)
    rows = day_data(day).records[feed_id]
    d = spec.delivery
    if isinstance(d, CsvDrop):
        files = [RawFile(d.filename.format(date=day), deliver.csv_bytes(rows, d.encoding))]
    elif isinstance(d, XlsxDrop):
        files = [RawFile(d.filename.format(date=day), deliver.xlsx_bytes(rows, d.title))]
    elif isinstance(d, Api):
        # What the server returns for the Beijing calendar day, page by page.
        since = dt.datetime.combine(day, dt.time(), tzinfo=CN_TZ)
        until = since + dt.timedelta(days=1)
        window = [r for r in rows if since <= dt.datetime.fromisoformat(r[spec.updated]) < until]
        window.sort(key=lambda r: (r[spec.updated], r[spec.key], r[spec.batch]))
        size = feed.delivery.page_size
        pages = max(1, -(-len(window) // size))
        files = [RawFile(f"page-{p:04d}.json", json.dumps(deliver.api_page(window, p, size), ensure_ascii=False).encode("utf-8"))
                 for p in range(1, pages + 1)]
    elif isinstance(d, SqliteTable):
        # Another day in the same table first: the extract must window on the update day.
        path = tmp_path / d.folder / d.db
        other = day - dt.timedelta(days=1)
        deliver.write_sqlite(day_data(other).records[feed_id], path, d.table, spec.updated, other.isoformat())
        deliver.write_sqlite(rows, path, d.table, spec.updated, day.isoformat())
        with sqlite3.connect(path) as db:
            db.row_factory = sqlite3.Row
            cur = db.execute(f"SELECT * FROM {feed.delivery.table} WHERE substr({feed.delivery.updated_column}, 1, 10) = ?", (day.isoformat(),))
            lines = [json.dumps(dict(r), ensure_ascii=False, default=str).encode("utf-8") for r in cur]
        files = [RawFile("extract.jsonl", b"\n".join(lines) + b"\n")]
    else:  # pragma: no cover
        raise AssertionError(d)
    parsed = parse_files(feed, files)
    assert not parsed.rejects and all(c.reconciles() for c in parsed.files), (parsed.rejects[:3], parsed.files)
    return parsed.frame, files


# One day through every delivery format: validation over a week is test_quality_precision_recall.
@pytest.mark.parametrize("day", DAYS[:1], ids=str)
@pytest.mark.parametrize("feed_id", FEEDS)
def test_quarantine_matches_the_truth_through_the_delivery(feed_id, day, tmp_path):
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    feed = get_feed(feed_id)
    truth = day_data(day).truth["feeds"][feed_id]
    frame, _ = delivered_frame(feed_id, day, tmp_path)
    assert len(frame) == truth["rows_delivered"]
    assert unmapped_columns(feed, frame) == [], "every delivered column is mapped in the registry"

    check = check_batch(feed, frame, day)
    key = feed.key[0]
    keys = check.typed[key].astype(str)
    failures: dict[str, set[str]] = {}
    for idx, rules in check.failures.items():
        failures.setdefault(keys[idx], set()).update(rules)

    # a status regression is found by the warehouse (against the earlier version), not in one batch
    expected = {d["key"]: d for d in truth["defects"] if d["expected_rule"] and d.get("stage") != "warehouse"}
    later = {d["key"] for d in truth["defects"] if d.get("stage") == "warehouse"}
    assert set(failures) == set(expected), (
        f"not quarantined: {sorted(set(expected) - set(failures))}; clean but quarantined: "
        f"{ {k: failures[k] for k in set(failures) - set(expected)} }"
    )
    for k, defect in expected.items():
        extra = failures[k] - {defect["expected_rule"]}
        if defect["kind"] == "date_order":  # the earlier field now holds the later date, which may be in the future
            extra = {r for r in extra if not r.endswith(".not_future")}
        assert defect["expected_rule"] in failures[k] and not extra, (k, defect, failures[k])

    valid = {k for i, k in keys.items() if i not in check.failures}
    assert valid == set(truth["valid_keys"]) | later


@pytest.mark.parametrize("feed_id", FEEDS)
def test_every_feed_gets_quarantinable_defects(feed_id):
    """The end-to-end check needs at least one per feed over its three days (a small feed may have none on a day)."""
    defects = [d for day in DAYS for d in day_data(day).truth["feeds"][feed_id]["defects"] if d["expected_rule"]]
    assert len(defects) >= 2, feed_id


@pytest.mark.parametrize("feed_id", FEEDS)
def test_records_are_updated_on_the_beijing_business_day(feed_id):
    spec = SPECS[feed_id]
    for day in DAYS:
        for r in day_data(day).records[feed_id]:
            ts = dt.datetime.fromisoformat(r[spec.updated])
            assert ts.utcoffset() == dt.timedelta(hours=8), r[spec.updated]
            assert ts.astimezone(CN_TZ).date() == day, r[spec.updated]


@pytest.mark.parametrize("feed_id", FEEDS)
def test_keys_unique_per_day_and_across_days_or_stable_for_snapshots(feed_id):
    spec = SPECS[feed_id]
    per_day = []
    for day in DAYS:
        truth = day_data(day).truth["feeds"][feed_id]
        keys = set(truth["valid_keys"]) | {d["key"] for d in truth["defects"]}
        # distinct records per day = delivered rows minus the resubmitted duplicates
        assert len(keys) == truth["rows_delivered"] - truth["duplicates"], "keys must be unique within a day"
        # an earlier day's rejected record delivered again corrected repeats its key on purpose
        per_day.append(keys - {c["key"] for c in truth["corrections"]})
    if spec.mode == "snapshot":  # the clean records, before any defect is injected
        pool = enterprise_pool(DEFAULT_SEED)
        built = [[r[spec.key] for r in spec.build(random.Random(f"{day}"), day, pool, spec.volume)] for day in DAYS]
        assert all(keys == built[0] for keys in built), "a snapshot delivers the same keys every day"
        assert len(set(built[0])) == len(built[0])
    elif getattr(spec, "late_update", None) is None:  # late updates re-deliver earlier days' keys on purpose
        assert not set.intersection(*per_day), "incremental keys must not repeat across days"


@pytest.mark.parametrize("feed_id", FEEDS)
def test_usccs_come_from_valid_codes_and_overlap_other_agencies(feed_id):
    spec = SPECS[feed_id]
    data = day_data(DAYS[0])
    mine = set(data.truth["feeds"][feed_id]["valid_usccs"])
    agency = get_feed(feed_id).agency
    others = {u for f, t in data.truth["feeds"].items() if get_feed(f).agency != agency for u in t["valid_usccs"]}
    assert mine, feed_id
    # railway units report only to the transport commission; the measures list's leading units, the
    # organisers of talks and training and the units responsible for risk tasks are government
    # departments, which no agency reports on; fishery units reach another agency only
    # when the EMB's 安责险 feed delivers their yearly renewal, not on any given day
    if feed_id not in ("tc_rail_segment_chief", "emb_policy_measure", "agri_fishing_vessel", "emb_outreach", "emb_risk_task"):
        assert mine & others, "some enterprise should also be reported by another agency"
    for r in data.records[feed_id]:
        assert normalise_uscc(r[spec.uscc]) is not None


# --- the truth names keys as delivered -------------------------------------------------------


@pytest.mark.parametrize("feed_id", [f for f in FEEDS if SPECS[f].key == SPECS[f].uscc])
def test_truth_key_is_the_delivered_key(feed_id):
    """Keyed by the USCC itself (a snapshot registry), an ``invalid_uscc`` defect changes the key:
    the truth must name the code as delivered, which is the key the quarantine records."""
    spec = SPECS[feed_id]
    for day in DAYS:
        data = day_data(day)
        delivered = {normalise_uscc(r[spec.key]) for r in data.records[feed_id]}
        truth = data.truth["feeds"][feed_id]
        assert {d["key"] for d in truth["defects"]} <= delivered
        assert set(truth["valid_keys"]) <= delivered


# --- every API dataset is served by the simulator ---------------------------------------------


def test_simulator_serves_every_api_dataset():
    import requests

    from safety_hub_dev.simulator.server import agency_tokens, start_in_thread

    token, day = "feeds-test-token", DAYS[0]
    server = start_in_thread(port=0, token=token)
    tokens = agency_tokens(token)  # each agency's API takes its own token, derived from the master
    try:
        for feed_id in FEEDS:
            spec, feed = SPECS[feed_id], get_feed(feed_id)
            if not isinstance(spec.delivery, Api):
                continue
            params = {"updated_since": f"{day}T00:00:00+08:00", "updated_until": f"{day + dt.timedelta(days=1)}T00:00:00+08:00", "page_size": 25}
            records, page, pages = [], 1, 1
            while page <= pages:
                resp = requests.get(server.url + feed.delivery.endpoint, params={**params, "page": page},
                                    headers={"Authorization": f"Bearer {tokens[feed.agency]}"}, timeout=10)
                assert resp.status_code == 200, (feed_id, resp.text[:200])
                body = resp.json()["data"]
                records.extend(body["records"])
                pages, page = body["pages"], page + 1
            expected = day_data(day).records[feed_id]
            order = lambda r: (r[spec.updated], r[spec.key], r[spec.batch])  # noqa: E731
            assert sorted(records, key=order) == sorted(expected, key=order), feed_id
    finally:
        server.shutdown()
        server.server_close()
