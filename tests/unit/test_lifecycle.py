"""Hazard lifecycle rules on a small DuckDB warehouse: versions, regressions, one hazard per identity."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub.registry import get_feed
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.lifecycle import identity_key, normalise_description, record_versions, refresh

CN = dt.timezone(dt.timedelta(hours=8))
D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)


def version(key: str, status: str, day: dt.date, hour: int, *, uscc="91120116697415782C", description="消防通道堵塞",
            closed: dt.date | None = None) -> dict:
    return {
        "hazard_id": key, "uscc": uscc, "org_name": "天津某化工有限公司", "district_code": "120116", "found_date": D1,
        "grade": "一般隐患", "description": description, "deadline": D1 + dt.timedelta(days=10), "status": status,
        "fixed_date": closed, "accepted_date": closed, "closed_date": closed, "listed_supervision": False,
        "updated_at": dt.datetime.combine(day, dt.time(hour), tzinfo=CN), "report_batch": f"B{day:%d}",
        "feed_id": "emb_hazard", "batch_id": f"run-{day}", "business_date": day, "raw_file": f"raw/{day}", "loaded_at": dt.datetime.now(dt.timezone.utc),
    }


@pytest.fixture()
def warehouse(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    feed = get_feed("emb_hazard")

    def load(day: dt.date, rows: list[dict]) -> None:
        with engine.begin() as conn:
            record_versions(conn, md, feed, pd.DataFrame(rows), day)

    def build():
        with engine.begin() as conn:
            return refresh(conn, md, D3)

    def q(sql: str) -> pd.DataFrame:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(sql)).mappings().all())

    yield load, build, q
    engine.dispose()


def test_identity_ignores_spacing_and_width():
    assert normalise_description(" 消防 通道　堵塞 ") == "消防通道堵塞"
    assert identity_key("U", "消防通道堵塞", pd.Timestamp("2026-11-02")) == identity_key("U", "消防 通道堵塞", dt.date(2026, 11, 2))


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)], ids=["forward", "backward", "mixed"])
def test_regression_is_quarantined_whatever_the_load_order(warehouse, order):
    load, build, q = warehouse
    days = [
        (D1, [version("YH1", "待整改", D1, 9)]),
        (D2, [version("YH1", "验收销号", D2, 9, closed=D2)]),
        (D3, [version("YH1", "整改中", D3, 9)]),  # 销号 -> 整改中: backwards
    ]
    for i in order:
        load(*days[i])
    result = build()
    assert result == {"regressions": 1, "hazards": 1}
    quarantined = q("SELECT record_key, rule_id, rule_description, business_date FROM quarantine")
    assert quarantined.to_dict("records") == [{"record_key": "YH1", "rule_id": "status.no_regression",
                                               "rule_description": "整改状态不得倒退：验收销号 → 整改中", "business_date": D3}]
    hazard = q("SELECT status, closed_date, n_versions FROM hazard").iloc[0]
    assert hazard["status"] == "验收销号" and hazard["closed_date"] == D2 and hazard["n_versions"] == 2
    assert build() == result, "rebuilding changes nothing"


def test_failed_acceptance_may_reopen(warehouse):
    load, build, q = warehouse
    load(D1, [version("YH1", "待验收", D1, 9)])
    load(D2, [version("YH1", "整改中", D2, 9)])  # acceptance failed: allowed by the feed's reopen
    assert build()["regressions"] == 0
    assert q("SELECT status FROM hazard")["status"].tolist() == ["整改中"]


def test_resubmission_under_a_new_number_is_one_hazard_with_both_sources(warehouse):
    load, build, q = warehouse
    load(D1, [version("YH1", "整改中", D1, 9), version("YH1B", "整改中", D1, 10, description="消防通道 堵塞"),
              version("YH2", "整改中", D1, 9, description="配电箱未接地")])
    assert build()["hazards"] == 2
    rows = q("SELECT sources, n_sources FROM hazard ORDER BY n_sources DESC")
    assert rows.iloc[0].to_dict() == {"sources": "emb_hazard:YH1,emb_hazard:YH1B", "n_sources": 2}


def test_the_most_advanced_source_wins(warehouse):
    """Two sources of one hazard disagree: the hazard holds the furthest status, not merely the latest report."""
    load, build, q = warehouse
    load(D1, [version("YH1", "验收销号", D1, 9, closed=D1), version("YH1B", "整改中", D1, 15)])
    build()
    assert q("SELECT status FROM hazard")["status"].tolist() == ["验收销号"]
