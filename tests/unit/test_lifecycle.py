"""Hazard lifecycle rules on a small DuckDB warehouse: versions, regressions, one hazard per identity."""

from __future__ import annotations

import datetime as dt

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from safety_hub.config.registry import get_feed
from safety_hub.config.settings import business_tz
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.lifecycle import WHITESPACE_RE2, identity_keys, normalise_descriptions, refresh
from safety_hub.warehouse.load import load_frame

CN = business_tz()
D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)


def version(key: str, status: str, day: dt.date, hour: int, *, uscc="91120116697415782C", description="消防通道堵塞",
            closed: dt.date | None = None) -> dict:
    return {
        "hazard_id": key, "uscc": uscc, "org_name": "天津某化工有限公司", "district_code": "120116", "found_date": D1,
        "grade": "一般隐患", "description": description, "deadline": D1 + dt.timedelta(days=10), "status": status,
        "fixed_date": closed, "accepted_date": closed, "closed_date": closed, "listed_supervision": False,
        "updated_at": dt.datetime.combine(day, dt.time(hour), tzinfo=CN), "report_batch": f"B{day:%d}",
    }


@pytest.fixture()
def warehouse(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    md = ensure_schema(engine)
    feed = get_feed("emb_hazard")

    def load(day: dt.date, rows: list[dict]) -> None:
        with engine.begin() as conn:
            load_frame(conn, md, feed, pd.DataFrame(rows), day, batch_id=f"run-{day}", raw_file=f"raw/{day}",
                       loaded_at=dt.datetime.now(dt.timezone.utc))

    def build():
        with engine.begin() as conn:
            return refresh(conn, md, D3)

    def q(sql: str) -> pd.DataFrame:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.text(sql)).mappings().all())

    yield load, build, q
    engine.dispose()


def test_identity_ignores_spacing_and_width():
    descriptions = pa.array([" 消防 通道　堵塞 ", "消防通道堵塞", "消防\t通道\u00a0堵塞\n", "ＡＢ１２（消防）", None])
    assert normalise_descriptions(descriptions).to_pylist() == ["消防通道堵塞"] * 3 + ["AB12(消防)", ""]
    keys = identity_keys(pa.array(["U", "U", None]), pa.array(["消防通道堵塞", "消防 通道堵塞", None]),
                         pa.array([dt.date(2026, 11, 2), dt.date(2026, 11, 2), None]))
    assert keys.to_pylist() == ["U|消防通道堵塞|2026-11-02", "U|消防通道堵塞|2026-11-02", "||"]
    # a timestamp found date is the calendar day where it was recorded
    stamped = pa.array([pd.Timestamp("2026-11-02 07:00", tz="Asia/Shanghai")], pa.timestamp("us", "Asia/Shanghai"))
    assert identity_keys(pa.array(["U"]), pa.array(["x"]), stamped).to_pylist() == ["U|x|2026-11-02"]


def test_whitespace_class_is_what_python_strips():
    """The RE2 class removes exactly the characters Python's ``\\s`` matches in a str (the reference spelling)."""
    chars = [chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000]
    arrow = pc.match_substring_regex(pa.array(chars), pattern=f"^{WHITESPACE_RE2}$").to_pylist()
    assert [c for c, hit in zip(chars, arrow) if hit] == [c for c in chars if re.fullmatch(r"\s", c)]


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


def test_two_connections_to_one_duckdb_file_both_load_hazards(tmp_path):
    """The identity function DuckDB runs lives in the database instance's catalog, which every
    connection to the file in this process shares: loads on two pooled connections must not clash."""
    from safety_hub.warehouse.load import load_parquet

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    first, second = sa.create_engine(url), sa.create_engine(url)
    md = ensure_schema(first)
    feed = get_feed("emb_hazard")
    path = tmp_path / "valid.parquet"
    pd.DataFrame([version("YH1", "待整改", D1, 9), version("YH2", "整改中", D1, 10, description="配电箱 未接地")]).to_parquet(path, index=False)
    held = second.connect()  # keeps a second connection to the same instance open
    try:
        for engine, batch in ((first, "a"), (second, "b"), (first, "c")):
            with engine.begin() as conn:
                result = load_parquet(conn, md, feed, path, D1, batch_id=batch, raw_file="raw", loaded_at=dt.datetime.now(dt.timezone.utc))
            assert result.loaded == 2
        keys = sorted(r[0] for r in held.execute(sa.text("SELECT identity_key FROM hazard_version")))
        assert keys == ["91120116697415782C|消防通道堵塞|2026-11-02", "91120116697415782C|配电箱未接地|2026-11-02"]
        functions = held.execute(sa.text("SELECT COUNT(*) FROM duckdb_functions() WHERE function_name LIKE '_safety_hub_identity%'")).scalar_one()
        assert functions == 0, "each load removes the function it registered"
    finally:
        held.close()
        first.dispose()
        second.dispose()
