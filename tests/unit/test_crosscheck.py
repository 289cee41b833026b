"""Cross-feed rules: configuration checks and the flags they write."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub.config import settings
from safety_hub.config.registry import RegistryError, load_cross_rules
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.crosscheck import run_cross_rules
from safety_hub.warehouse.engine import ensure_schema


def test_the_shipped_rules_load():
    assert {"insured_headcount>=employees", "rail_hazard.within_roster", "insurance_cover.no_overlap", "insurance_cover.no_gap",
            "doc_no.unique_across_batches"} <= {r.id for r in load_cross_rules()}


def test_a_rule_on_an_unknown_feed_is_rejected(tmp_path):
    feeds = tmp_path / "feeds"
    shutil.copytree(settings.feeds_dir(), feeds)
    (feeds / "_cross_rules.yaml").write_text("rules:\n  - {id: x, feed: nope, description: d, sql: SELECT 1}\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="unknown feed 'nope'"):
        load_cross_rules(feeds)


def test_headcount_below_employees_is_flagged_once_and_rebuilt(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    day, now = dt.date(2026, 11, 2), dt.datetime.now(dt.timezone.utc)
    lineage = {"feed_id": "x", "batch_id": "run-1", "business_date": day, "raw_file": "raw", "loaded_at": now}
    with engine.begin() as conn:
        bulk_insert(conn, md.tables["fact_ent_registry"], pd.DataFrame([
            {"uscc": "U1", "org_name": "甲", "district_code": "120116", "employees": 300, **lineage},
            {"uscc": "U2", "org_name": "乙", "district_code": "120116", "employees": 50, **lineage},
        ]))
        bulk_insert(conn, md.tables["fact_liability_insurance"], pd.DataFrame([
            {"policy_no": "P1", "uscc": "U1", "insured_headcount": 120, **lineage},   # 180 staff uninsured
            {"policy_no": "P2", "uscc": "U2", "insured_headcount": 50, **lineage},    # covers all
            {"policy_no": "P3", "uscc": "U9", "insured_headcount": 5, **lineage},     # not in the registry: cannot tell
        ]))
        assert run_cross_rules(conn, md)["insured_headcount>=employees"] == 1
        assert run_cross_rules(conn, md)["insured_headcount>=employees"] == 1  # replaces, never duplicates
        flags = pd.DataFrame(conn.execute(sa.text("SELECT feed_id, record_key, rule_id, original_values FROM quality_flag")).mappings().all())
    assert flags[["feed_id", "record_key", "rule_id"]].values.tolist() == [["emb_insurance", "P1", "insured_headcount>=employees"]]
    assert '"employees": "300"' in flags["original_values"][0]
    engine.dispose()


def test_rail_hazard_off_every_rostered_segment_is_flagged(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    lineage = {"feed_id": "x", "batch_id": "run-1", "business_date": dt.date(2026, 11, 2), "raw_file": "raw",
               "loaded_at": dt.datetime.now(dt.timezone.utc)}
    with engine.begin() as conn:
        bulk_insert(conn, md.tables["fact_rail_segment_chief"], pd.DataFrame([
            {"segment_id": "TJ-JH-001", "line": "京沪线", "km_from": 100.0, "km_to": 110.0, **lineage},
        ]))
        bulk_insert(conn, md.tables["fact_rail_hazard"], pd.DataFrame([
            {"hazard_id": "H1", "line": "京沪线", "mileage": "K105+000", "km": 105.0, **lineage},   # inside
            {"hazard_id": "H2", "line": "京沪线", "mileage": "K110+000", "km": 110.0, **lineage},   # on the end: inside
            {"hazard_id": "H3", "line": "京沪线", "mileage": "K111+000", "km": 111.0, **lineage},   # off the roster
            {"hazard_id": "H4", "line": "津山线", "mileage": "K105+000", "km": 105.0, **lineage},   # another line
        ]))
        assert run_cross_rules(conn, md)["rail_hazard.within_roster"] == 2
        keys = [r[0] for r in conn.execute(sa.text("SELECT record_key FROM quality_flag WHERE rule_id = 'rail_hazard.within_roster' ORDER BY 1"))]
    assert keys == ["H3", "H4"]
    engine.dispose()


# --- over history: 安责险 cover per enterprise, penalty document numbers across batches -------------

def _warehouse(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    return engine, ensure_schema(engine)


def _lineage(day: dt.date, batch: str) -> dict:
    return {"feed_id": "x", "batch_id": batch, "business_date": day, "raw_file": f"raw/{batch}", "loaded_at": dt.datetime.now(dt.timezone.utc)}


def _flags(conn, rule_id: str) -> dict[str, dict]:
    rows = conn.execute(sa.text("SELECT record_key, feed_id, row_number, original_values FROM quality_flag WHERE rule_id = :r"), {"r": rule_id})
    return {r.record_key: {"feed_id": r.feed_id, "row_number": r.row_number, **json.loads(r.original_values)} for r in rows}


D = dt.date.fromisoformat
DAY1, DAY2 = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
# (uscc, policy_no, start, end, business date): each enterprise one case
POLICIES = [
    ("U1", "P1a", "2025-01-01", "2025-12-31", DAY1), ("U1", "P1b", "2026-01-01", "2026-12-31", DAY1),  # renewed the day after: clean
    ("U2", "P2a", "2025-01-01", "2025-12-31", DAY1), ("U2", "P2b", "2025-12-31", "2026-12-30", DAY1),  # starts on the last day: overlap
    ("U3", "P3a", "2026-01-01", "2026-12-31", DAY2), ("U3", "P3b", "2026-01-01", "2026-12-31", DAY1),  # same start: the later batch
    ("U4", "P4a", "2026-01-01", "2026-12-31", DAY1), ("U4", "P4b", "2026-01-01", "2026-06-30", DAY1),  # same start, same batch: greater number
    ("U5", "P5a", "2025-01-01", "2025-12-31", DAY1), ("U5", "P5b", "2026-01-05", "2027-01-04", DAY2),  # 4 days uninsured: a gap
    ("U6", "P6a", "2025-01-01", "2026-12-31", DAY1), ("U6", "P6b", "2025-06-01", "2025-12-31", DAY1),  # inside a longer one: overlap,
    ("U6", "P6c", "2027-01-01", "2027-12-31", DAY2),                                                   # and the next follows the longer
    ("U7", "P7a", "2025-01-01", None, DAY1), ("U7", "P7b", "2025-06-01", "2026-05-31", DAY1),          # no end date: cover unknown,
    ("U7", "P7c", "2026-08-01", "2027-07-31", DAY2),                                                   # neither overlap nor gap after it
    ("U8", "P8a", "2025-01-01", "2025-12-31", DAY1), ("U8", "P8b", "2026-02-01", None, DAY2),          # no end date, after a gap: flagged
    ("U9", "P9a", "2026-03-01", "2027-02-28", DAY2),                                                   # an enterprise's first policy
]


def _newest(rows, key: int) -> list:
    """The rows the warehouse keeps: the newest version (the latest batch day, last field) of each key."""
    kept = {}
    for r in sorted(rows, key=lambda r: r[-1]):
        kept[r[key]] = r
    return list(kept.values())


def _load_policies(conn, md, rows=POLICIES):
    rows = _newest(rows, key=1)
    bulk_insert(conn, md.tables["fact_liability_insurance"], pd.DataFrame([
        {"policy_no": no, "uscc": uscc, "org_name": "甲", "district_code": "120116", "insurer": "测试保险",
         "start_date": D(start), "end_date": D(end) if end else None, "death_limit_wan": 50, "insured_headcount": 10,
         **_lineage(day, f"run-{day}")} for uscc, no, start, end, day in rows]))


def test_overlapping_policies_flag_the_later_one(tmp_path):
    engine, md = _warehouse(tmp_path)
    with engine.begin() as conn:
        _load_policies(conn, md)
        counts = run_cross_rules(conn, md)
        flags = _flags(conn, "insurance_cover.no_overlap")
    assert set(flags) == {"P2b", "P3a", "P4b", "P6b"}, flags
    assert counts["insurance_cover.no_overlap"] == 4
    assert flags["P2b"]["overlapped_policy_no"] == "P2a" and flags["P2b"]["overlapped_until"] == "2025-12-31"
    assert flags["P3a"]["overlapped_policy_no"] == "P3b"  # same start: the one of the later business date
    assert flags["P4b"]["overlapped_policy_no"] == "P4a"  # same start and batch: the greater policy number
    assert {f["feed_id"] for f in flags.values()} == {"emb_insurance"} and {f["row_number"] for f in flags.values()} == {0}
    engine.dispose()


def test_a_renewal_after_a_gap_is_flagged(tmp_path):
    engine, md = _warehouse(tmp_path)
    with engine.begin() as conn:
        _load_policies(conn, md)
        run_cross_rules(conn, md)
        flags = _flags(conn, "insurance_cover.no_gap")
    assert set(flags) == {"P5b", "P8b"}, flags
    assert flags["P5b"]["previous_cover_end"] == "2025-12-31" and flags["P5b"]["start_date"] == "2026-01-05"
    assert flags["P8b"]["end_date"] is None  # its own end does not matter: its start follows a known end
    engine.dispose()


def test_a_policy_in_two_batches_overlaps_nothing(tmp_path):
    """The same policy re-delivered (its newest version is the one the warehouse keeps) is one policy."""
    engine, md = _warehouse(tmp_path)
    with engine.begin() as conn:
        _load_policies(conn, md, [("U1", "P1", "2026-01-01", "2026-12-31", DAY1), ("U1", "P1", "2026-01-01", "2026-12-31", DAY2)])
        counts = run_cross_rules(conn, md)
    assert counts["insurance_cover.no_overlap"] == counts["insurance_cover.no_gap"] == 0
    engine.dispose()


# (record_id, doc_no as typed, uscc, decision date, batch day)
CASES = [
    ("CF1", "(津和)应急罚[2026]1号", "U1", "2026-10-20", DAY1), ("CF2", "（津和）应急罚〔2026〕1号", "U2", "2026-10-25", DAY2),  # reused
    ("CF3", "津应急罚［2026］2号", "U3", "2026-10-20", DAY1), ("CF3", "津应急罚[2026]2号", "U3", "2026-10-20", DAY2),  # resubmitted
    ("CF5", "津应急罚[2026]3号", "U5", "2026-10-21", DAY1), ("CF6", "津应急罚〔2026〕3号", "U5", "2026-10-21", DAY2),  # same case,
    # a new record number: the same party and decision date
    ("CF7", "津应急罚[2026]4号", "U7", "2026-10-21", DAY1), ("CF8", "津应急罚[2026]4号", "U7", "2026-10-28", DAY2),  # same party,
    # another decision: reused
    ("CF9", None, "U9", "2026-10-21", DAY1), ("CF10", None, "U9", "2026-10-22", DAY2),                        # no number: no reuse
    ("CF11", "津应急罚[2026]5号", "U1", "2026-10-21", DAY1),                                                    # used once
]


def test_a_document_number_used_by_another_case_in_another_batch_flags_both(tmp_path):
    from safety_hub.domain.codes import normalise_doc_no

    engine, md = _warehouse(tmp_path)
    with engine.begin() as conn:
        bulk_insert(conn, md.tables["fact_enforcement"], pd.DataFrame([
            {"record_id": rid, "doc_no": doc, "doc_no_norm": normalise_doc_no(doc), "uscc": uscc, "org_name": "甲", "district_code": "120101",
             "penalty_category": "罚款", "action_type": "罚款", "decision_date": D(decided), "inspect_date": D(decided) - dt.timedelta(days=20),
             **_lineage(day, f"run-{day}")} for rid, doc, uscc, decided, day in _newest(CASES, key=0)]))
        counts = run_cross_rules(conn, md)
        flags = _flags(conn, "doc_no.unique_across_batches")
    assert set(flags) == {"CF1", "CF2", "CF7", "CF8"}, flags
    assert counts["doc_no.unique_across_batches"] == 4
    assert (flags["CF1"]["also_used_by"], flags["CF2"]["also_used_by"]) == ("CF2", "CF1")
    assert flags["CF2"]["doc_no"] == "（津和）应急罚〔2026〕1号"  # as delivered
    assert {f["feed_id"] for f in flags.values()} == {"emb_enforcement"}
    engine.dispose()
