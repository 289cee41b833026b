"""Cross-feed rules: configuration checks and the flags they write."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub import settings
from safety_hub.registry import RegistryError, load_cross_rules
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.crosscheck import run_cross_rules
from safety_hub.warehouse.engine import ensure_schema


def test_the_shipped_rules_load():
    assert "insured_headcount>=employees" in {r.id for r in load_cross_rules()}


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
