"""Incremental warehouse build == full build (issue 18).

One DuckDB warehouse takes a sequence of loads of the session's simulated days through the real
stage functions (land, validate, load): days out of order, a late day after later ones, replays
of earlier days (older versions arriving after newer ones). After each step it gets the
incremental build for the business dates the step's loads touched (what ``warehouse_build`` does
with the loads' Asset events); a copy of it then gets a full build, and every dimension and mart
table must be equal, row for row, in any order. The builds differ only in which as-of dates they
recompute, so a date the incremental build wrongly leaves alone shows as a difference.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import DAYS

pytestmark = pytest.mark.e2e

# The feeds the marts read: hazard ledgers, the registry snapshot, enforcement, accidents, 安责险, rail.
FEEDS = ["emb_hazard", "hcc_hazard", "emb_ent_registry", "emb_accident", "emb_enforcement", "emb_insurance", "tc_rail_hazard"]
D1, D2, D3 = DAYS
TABLES = ["dim_enterprise", "enterprise_match", "dim_date", "dim_industry", "hazard", "mart_district_hazard",
          "mart_enterprise_risk", "mart_district_week", "mart_supervised_hazard", "quality_flag"]
VOLATILE = {"quarantined_at", "loaded_at"}  # when a row was written, not what it says

# (feed, day, batch) in order: day 2 first, then day 3 for the registry and the ledgers'
# companions, then day 1 (a late delivery, older than what is stored), the rest of day 3,
# replays of day 2 and of day 1's hazard ledger (stale versions after newer ones).
LATER = ["emb_ent_registry", "emb_accident", "emb_enforcement"]
STEPS = [
    [(f, D2, "first") for f in FEEDS],
    [(f, D3, "first") for f in LATER],
    [(f, D1, "first") for f in FEEDS],
    [(f, D3, "first") for f in FEEDS if f not in LATER],
    [(f, D2, "replay") for f in ("emb_hazard", "emb_insurance", "emb_enforcement")],
    [("emb_hazard", D1, "replay"), ("hcc_hazard", D1, "replay"), ("emb_ent_registry", D1, "replay")],
]


@pytest.fixture(scope="module")
def raw_home(simulator, tmp_path_factory):
    """Every feed's delivery for the session's days, extracted, landed and validated once (the
    staged valid rows a load reads; a replay's land and validate give the same)."""
    from safety_hub.pipeline import run_extract, run_land, run_validate

    home = tmp_path_factory.mktemp("incremental-raw")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'unused.duckdb'}")
        for feed in FEEDS:
            for day in DAYS:
                batch = f"extract__{feed}__{day}"
                run_extract(feed, day, batch)
                run_land(feed, day)
                run_validate(feed, day, batch)
    return home


def tables(url: str) -> dict[str, pd.DataFrame]:
    from safety_hub.warehouse.engine import get_engine

    out = {}
    with get_engine(url).connect() as conn:
        for name in TABLES:
            frame = pd.DataFrame(conn.execute(sa.text(f'SELECT * FROM "{name}"')).mappings().all())
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            out[name] = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True) if len(frame) else frame
    return out


def full_build_of_copy(url: str, copy: Path) -> str:
    """A copy of the warehouse at ``url`` with a full build; returns its URL."""
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    get_engine(url).dispose()  # DuckDB writes its file when the last connection closes
    source = Path(url.removeprefix("duckdb:///"))
    for suffix in ("", ".wal"):
        target = copy.with_name(copy.name + suffix)
        target.unlink(missing_ok=True)
        if source.with_name(source.name + suffix).exists():
            shutil.copyfile(source.with_name(source.name + suffix), target)
    copy_url = f"duckdb:///{copy}"
    get_engine(copy_url).dispose()  # no pooled connection on the file it replaced
    build(get_engine(copy_url))
    return copy_url


def test_incremental_build_equals_the_full_build_after_every_step(raw_home, tmp_path, monkeypatch):
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(raw_home))
    url = f"duckdb:///{tmp_path / 'incremental.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    superseding = []
    for n, step in enumerate(STEPS):
        touched: set[dt.date] = set()
        for feed, day, batch in step:
            dates = [dt.date.fromisoformat(d) for d in run_load(feed, day, f"{batch}__{feed}__{day}")["business_dates"]]
            assert day in dates
            superseding += [(feed, day, d) for d in dates if d != day]
            touched |= set(dates)
        result = build(get_engine(url), sorted(touched))
        assert result["as_of"] and min(result["as_of"]) <= min(touched), f"step {n}: the touched dates were not recomputed"
        incremental = tables(url)
        full = tables(full_build_of_copy(url, tmp_path / "full.duckdb"))
        for name in TABLES:
            pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=f"step {n}: {name}")
        assert len(full["mart_district_hazard"]) and len(full["mart_enterprise_risk"]), f"step {n}: the marts are empty"
    # The sequence did exercise a load changing rows of an earlier business date (late updates).
    assert any(d < day for _, day, d in superseding), superseding


def test_an_incremental_build_leaves_earlier_as_of_dates_alone(raw_home, tmp_path, monkeypatch):
    """A replay of the latest day that changes nothing else recomputes that day's marts only:
    the earlier days' partitions are not rewritten."""
    from safety_hub.pipeline import run_load, run_replay
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(raw_home))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    for day in DAYS:
        run_load("hcc_hazard", day, f"b__{day}")
    engine = get_engine(url)
    build(engine)
    with engine.begin() as conn:  # a marker the incremental build must not overwrite
        conn.execute(sa.text("UPDATE mart_district_hazard SET hazards_found = -1 WHERE as_of_date < :d"), {"d": D3})
    touched = run_replay("hcc_hazard", D3, f"again__{D3}")["business_dates"]  # land, validate, load again
    assert touched == [D3.isoformat()]
    assert build(engine, [D3])["as_of"] == [D3]
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT COUNT(*) FROM mart_district_hazard WHERE as_of_date < :d AND hazards_found = -1"), {"d": D3}).scalar()
        fresh = conn.execute(sa.text("SELECT COUNT(*) FROM mart_district_hazard WHERE as_of_date = :d AND hazards_found >= 0"), {"d": D3}).scalar()
    assert kept > 0 and fresh > 0


def test_a_failed_build_keeps_its_dates_for_the_next_one(raw_home, tmp_path, monkeypatch):
    """A build that fails after a load loses nothing: the load's dates wait in the build watermark
    (written by the load, cleared only by a successful build), so the next incremental build,
    triggered by a load of a later date alone, recomputes the failed run's dates too."""
    import safety_hub.warehouse.build as build_module
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(raw_home))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    engine = get_engine(url)

    def watermark() -> list[tuple]:
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.text("SELECT feed_id, batch_id, dirty_since FROM build_watermark")))

    for feed in FEEDS:
        run_load(feed, D1, f"first__{feed}__{D1}")
    assert {r[2] for r in watermark()} == {D1}
    build(engine, [D1])
    assert watermark() == []

    earliest = {}  # what each load of D2 touched first (a snapshot's load also supersedes D1's rows)
    for feed in FEEDS:
        earliest[feed] = min(dt.date.fromisoformat(d) for d in run_load(feed, D2, f"first__{feed}__{D2}")["business_dates"])

    def broken(*args, **kwargs):
        raise RuntimeError("the build fails after writing the day's marts")

    with monkeypatch.context() as mp:
        mp.setattr(build_module, "refresh_risk_marts", broken)
        with pytest.raises(RuntimeError, match="fails after"):
            build(engine, [D2])
    kept = watermark()  # the loads' rows, and the dimension change's the failed run's first step committed, if any
    assert {(f, d) for f, b, d in kept if b != "dimensions"} == set(earliest.items()), "the failed build's dates are kept"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM mart_district_hazard WHERE as_of_date = :d"), {"d": D2}).scalar() == 0

    for feed in ("emb_hazard", "hcc_hazard"):  # the next run's events name the later date only
        run_load(feed, D3, f"first__{feed}__{D3}")
    assert {D2, D3} <= set(build(engine, [D3])["as_of"])
    assert watermark() == []
    incremental, full = tables(url), tables(full_build_of_copy(url, tmp_path / "full.duckdb"))
    for name in TABLES:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    assert len(full["mart_district_hazard"]) and len(full["mart_enterprise_risk"])
