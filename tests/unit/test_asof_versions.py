"""A figure of a past date is what the warehouse knew then: the as-of reads go through version tables.

A fact table keeps each record's newest version. A report or a mart of a past date that read it
would change when a later version arrives (a 督导检查 problem rectified later, a fine corrected) or
when a record rejected on its day is corrected and loaded later. So a feed whose records an as-of
query reads keeps every delivered version per business date (its ``version_table``), and those
queries read the feed through ``{asof_<feed_id>}`` (``sqltext.versions_asof``): each record's latest
update loaded for business dates up to the date. Here: the class (no as-of query reads a fact table
itself), the semantics through the real load on DuckDB, the seeding of a version table added later,
and the registry's checks.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from registry_copy import copy_registry, edit_feed
from safety_hub.config.registry import RegistryError, load_registry
from safety_hub.warehouse.changes import MART_SQL
from safety_hub.warehouse.sqltext import asof_reads, format_asof, sql_file

FEED = "emb_supervision"
D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)


def _asof_queries() -> dict[str, str]:
    """Every query that reads the warehouse as of a date: the report queries and the marts' SQL."""
    reports = resources.files("safety_hub.reporting").joinpath("sql")
    out = {f"reporting/sql/{p.name}": p.read_text(encoding="utf-8") for p in reports.iterdir() if p.name.endswith(".sql")}
    out |= {f"warehouse/sql/{name}": sql_file(name) for name in MART_SQL}
    return {name: sql for name, sql in out.items() if ":as_of" in sql}


def _code(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def test_no_asof_query_reads_a_fact_table_itself():
    queries = _asof_queries()
    assert len(queries) >= 10
    for name, sql in queries.items():
        direct = sorted(set(re.findall(r"\bfact_[a-z0-9_]+\b", _code(sql))))
        assert not direct, (f"{name} reads {direct} itself: a later version of a record would change a past date's figure; "
                            "read the feed through {asof_<feed_id>} and give it a version_table")


def test_every_asof_source_names_a_feed_that_keeps_versions():
    feeds = load_registry()
    used = set()
    for name, sql in _asof_queries().items():
        used |= set(asof_reads(sql, feeds))
    assert {"asof_emb_enforcement", "asof_emb_supervision", "asof_emb_ent_registry", "asof_emb_risk_task"} <= used
    with pytest.raises(ValueError, match="hcc_project keeps no versions"):
        asof_reads("SELECT * FROM {asof_hcc_project} p", feeds)
    with pytest.raises(ValueError, match="no feed 'emb_nothing'"):
        asof_reads("SELECT * FROM {asof_emb_nothing} p", feeds)


# --- through the real load ----------------------------------------------------------------------

def _row(inspection_id: str, updated: str, status: str, inspect_date: dt.date = D1, rectified: dt.date | None = None) -> dict:
    feed = load_registry()[FEED]
    row = {c.name: None for c in feed.columns}
    return row | {"inspection_id": inspection_id, "inspect_date": inspect_date, "inspect_form": "明查", "leader": "张三",
                  "org_name": "天津某化工有限公司", "uscc": "91120116MA05JXXX0A", "district_code": "120116", "problems_found": 2,
                  "problem_id": f"DB-{inspection_id}", "deadline": D1 + dt.timedelta(days=30), "status": status,
                  "rectified_date": rectified, "updated_at": pd.Timestamp(updated, tz="UTC")}


def _load(engine: sa.Engine, day: dt.date, rows: list[dict]) -> None:
    from safety_hub.warehouse.engine import ensure_schema
    from safety_hub.warehouse.load import load_frame

    md = ensure_schema(engine)
    feed = load_registry()[FEED]
    frame = pd.DataFrame(rows, columns=[c.name for c in feed.columns])
    for c in feed.columns:
        if c.type == "date":
            frame[c.name] = pd.to_datetime(frame[c.name]).dt.date
    frame["problems_found"] = frame["problems_found"].astype("Int64")
    with engine.begin() as conn:
        load_frame(conn, md, feed, frame, day, batch_id=f"run-{day}", raw_file=f"raw/{day}",
                   loaded_at=dt.datetime(2026, 11, 5, tzinfo=dt.timezone.utc))


def _known(engine: sa.Engine, as_of: dt.date) -> dict[str, str]:
    sql = format_asof("SELECT inspection_id, status FROM {asof_emb_supervision} s", load_registry())
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(sql), {"as_of": as_of}).all())


def test_a_date_reads_the_versions_loaded_by_then(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    _load(engine, D1, [_row("A", "2026-11-02 09:00", "未整改")])  # B's report was rejected on D1
    _load(engine, D2, [_row("A", "2026-11-03 09:00", "已整改", rectified=D2)])
    _load(engine, D3, [_row("A", "2026-11-01 09:00", "整改中"),  # an older update of A, delivered late (stale)
                       _row("B", "2026-11-04 09:00", "未整改")])  # B corrected: inspected on D1, first loaded on D3
    expected = {D1: {"A": "未整改"}, D2: {"A": "已整改"}, D3: {"A": "已整改", "B": "未整改"}}
    assert {d: _known(engine, d) for d in expected} == expected
    with engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT inspection_id, status FROM fact_supervision")).all()) == {"A": "已整改", "B": "未整改"}
        assert conn.execute(sa.text("SELECT COUNT(*) FROM fact_supervision_version")).scalar() == 4, "every version, the stale one too"
    _load(engine, D2, [_row("A", "2026-11-03 09:00", "已整改", rectified=D2)])  # a replay changes nothing
    assert {d: _known(engine, d) for d in expected} == expected


def test_a_version_table_added_later_starts_from_the_fact_table(tmp_path):
    from safety_hub.warehouse import engine as engine_module

    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    _load(engine, D1, [_row("A", "2026-11-02 09:00", "未整改")])
    _load(engine, D2, [_row("A", "2026-11-03 09:00", "已整改", rectified=D2), _row("B", "2026-11-03 10:00", "未整改")])
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE fact_supervision_version"))  # as before the feed named its version_table
    engine_module._ensured.clear()
    engine_module.ensure_schema(engine)
    with engine.connect() as conn:
        seeded = conn.execute(sa.text("SELECT inspection_id, business_date, status FROM fact_supervision_version ORDER BY 1")).all()
    assert [tuple(r) for r in seeded] == [("A", D2, "已整改"), ("B", D2, "未整改")]
    assert _known(engine, D1) == {} and _known(engine, D2) == {"A": "已整改", "B": "未整改"}


# --- the registry --------------------------------------------------------------------------------

def _registry_with(target: Path, changes: dict[str, dict]) -> Path:
    feeds = copy_registry(target / "feeds")
    for name, update in changes.items():
        edit_feed(feeds / f"{name}.yaml", update)
    return feeds


def test_a_version_table_keeps_one_fact_tables_versions(tmp_path):
    feeds = _registry_with(tmp_path, {"emb_outreach": {"version_table": "fact_supervision_version"}})
    with pytest.raises(RegistryError, match="fact_supervision_version is named for both"):
        load_registry(feeds)
    feeds = _registry_with(tmp_path / "b", {"emb_outreach": {"target_table": "fact_supervision", "key": ["activity_id"]}})
    with pytest.raises(RegistryError, match="feeds of fact_supervision name different version tables"):
        load_registry(feeds)
    feeds = _registry_with(tmp_path / "c", {"emb_outreach": {"version_table": "outreach_history"}})
    with pytest.raises(RegistryError, match="version_table"):
        load_registry(feeds)
