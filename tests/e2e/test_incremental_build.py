"""Incremental warehouse build == full build (issue 18).

One DuckDB warehouse takes a sequence of loads of the session's simulated days through the real
stage functions (land, validate, load): days out of order, a late day after later ones, replays
of earlier days (older versions arriving after newer ones). After each step it gets the
incremental build for the business dates the step's loads touched (what ``warehouse_build`` does
with the loads' Asset events); a copy of it then gets a full build, and every dimension and mart
table must be equal, row for row, in any order. The builds differ only in which as-of dates they
recompute, so a date the incremental build wrongly leaves alone shows as a difference. The
dimensions, the hazard lifecycle and the cross-feed rules are refreshed only for the keys the loads
changed (``warehouse/changes.py``): ``test_late_changes_to_keys`` changes an enterprise's name and
district late, resubmits a hazard under a new number, and makes a cross rule fire on a late row and
then stop, on DuckDB and on PostgreSQL, and holds the incremental build to the full one after each.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import DAYS
from pg_scratch import scratch_database

pytestmark = pytest.mark.e2e

# The feeds the marts read: hazard ledgers, the registry snapshot, enforcement, accidents, 安责险, rail.
FEEDS = ["emb_hazard", "hcc_hazard", "emb_ent_registry", "emb_accident", "emb_enforcement", "emb_insurance", "tc_rail_hazard"]
D1, D2, D3 = DAYS
TABLES = ["dim_enterprise", "enterprise_match", "dim_date", "dim_industry", "hazard", "hazard_version", "quarantine", "mart_district_hazard",
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
    # The sequence did supersede stored rows of an earlier business date: the registry snapshot's rows,
    # which each delivery gives again (its as-of rows are in registry_version, so only the delivery's
    # own date is touched), and any late update of a fact table the marts read (those dates touched).
    with get_engine(url).connect() as conn:
        moved = conn.execute(sa.text(
            "SELECT COUNT(*) FROM registry_version v JOIN fact_ent_registry f ON f.uscc = v.uscc AND v.business_date < f.business_date")).scalar()
    assert moved > 0
    assert all(d >= min(day for _, day, _ in superseding) for _, _, d in superseding) if superseding else True


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


# --- late changes to keys the incremental build refreshes one by one ------------------------------

def restage(feed: str, day: dt.date, change) -> pd.DataFrame:
    """Rewrite the staged valid rows of ``feed`` on ``day`` (in the current SAFETY_HUB_HOME) through
    ``change`` (a frame to a frame of as many rows): what a corrected delivery validated again stages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safety_hub.pipeline import staging_partition

    path = staging_partition(feed, day) / "valid.parquet"
    table = pq.read_table(path)
    frame = change(table.to_pandas())
    assert len(frame) == table.num_rows
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), path)
    return frame


def full_copy(url: str, name: str) -> str:
    """A copy of the warehouse at ``url`` (DuckDB file, or PostgreSQL database from it as template) with a full build."""
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    if url.startswith("duckdb"):
        return full_build_of_copy(url, Path(url.removeprefix("duckdb:///")).with_name(f"{name}.duckdb"))
    get_engine(url).dispose()
    source = sa.make_url(url)
    admin = sa.create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{source.database}_{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{source.database}_{name}" TEMPLATE "{source.database}"'))
    admin.dispose()
    copy_url = source.set(database=f"{source.database}_{name}").render_as_string(hide_password=False)
    get_engine(copy_url).dispose()
    build(get_engine(copy_url))
    get_engine(copy_url).dispose()
    return copy_url


def drop_copy(url: str) -> None:
    if url.startswith("duckdb"):
        return
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path):
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'late.duckdb'}"
        return
    with scratch_database("test_incremental_late") as engine:
        yield engine.url.render_as_string(hide_password=False)


def test_late_changes_to_keys(raw_home, warehouse_url, tmp_path, monkeypatch):
    """After each late change, the incremental build (for the dates the loads touched) equals a full
    build, and the change did what it is there for: an enterprise's name and district changed on an
    earlier day (dim_enterprise, the marts reading it), a hazard resubmitted under a new number (one
    hazard, two sources), a cross rule firing on a late row, and no longer once the row is corrected."""
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    home = tmp_path / "home"
    shutil.copytree(raw_home / "data", home / "data")  # the staged rows this test rewrites are its own
    monkeypatch.setenv("SAFETY_HUB_HOME", str(home))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", warehouse_url)
    engine = get_engine(warehouse_url)
    runs = {}

    def load(*jobs) -> None:
        touched: set[dt.date] = set()
        for feed, day in jobs:
            runs[(feed, day)] = runs.get((feed, day), 0) + 1
            touched |= {dt.date.fromisoformat(d) for d in run_load(feed, day, f"run{runs[(feed, day)]}__{feed}__{day}")["business_dates"]}
        build(engine, sorted(touched))

    def same_as_full(step: str) -> dict[str, pd.DataFrame]:
        incremental = tables(warehouse_url)
        copy = full_copy(warehouse_url, "full")
        try:
            full = tables(copy)
        finally:
            drop_copy(copy)
        for name in TABLES:
            pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=f"{step}: {name}")
        return incremental

    def query(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    load(*[(f, d) for d in DAYS for f in FEEDS])
    same_as_full("all days loaded")

    # 1. An enterprise's name and district change on the first day, delivered after the last one
    #    (the penalty decision of day 1 corrected): a new name version from day 1 on.
    case = restage("emb_enforcement", D1, lambda f: f.assign(
        org_name=[("天津市更名后测试化工有限公司" if i == 0 else v) for i, v in enumerate(f["org_name"])],
        district_code=[("120118" if i == 0 and v != "120118" else "120116" if i == 0 else v) for i, v in enumerate(f["district_code"])]))
    uscc, district = case["uscc"].iloc[0], case["district_code"].iloc[0]
    load(("emb_enforcement", D1))
    after = same_as_full("a name and district changed late")
    versions = after["dim_enterprise"][after["dim_enterprise"]["uscc"] == uscc]
    assert "天津市更名后测试化工有限公司" in set(versions["org_name"]) or (versions["canonical_name"].str.contains("更名后测试化工")).any(), versions
    assert district in set(versions["district_code"]), versions

    # 2. A hazard resubmitted under a new number on day 3: the same uscc, description and found date.
    ledger = restage("emb_hazard", D2, lambda f: f)
    first = ledger.iloc[0]
    restage("emb_hazard", D3, lambda f: f.assign(**{col: [first[col] if i == 0 else v for i, v in enumerate(f[col])]
                                                    for col in ("uscc", "org_name", "district_code", "description", "found_date")}))
    load(("emb_hazard", D3))
    after = same_as_full("a hazard resubmitted")
    identity = query("SELECT identity_key FROM hazard_version WHERE feed_id = 'emb_hazard' AND record_key = :k", k=str(first["hazard_id"]))[0][0]
    assert query("SELECT n_sources FROM hazard WHERE identity_key = :i", i=identity)[0][0] >= 2

    # 3. A cross rule fires on a late row: day 1's penalty decision reuses day 3's document number
    #    for another party; both cases are flagged. Then day 1 is corrected back: neither is.
    later = restage("emb_enforcement", D3, lambda f: f).iloc[0]
    original = restage("emb_enforcement", D1, lambda f: f)
    reused = original.assign(doc_no=[later["doc_no"] if i == 1 else v for i, v in enumerate(original["doc_no"])],
                             doc_no_norm=[later["doc_no_norm"] if i == 1 else v for i, v in enumerate(original["doc_no_norm"])])
    assert reused["uscc"].iloc[1] != later["uscc"]
    restage("emb_enforcement", D1, lambda f: reused)
    load(("emb_enforcement", D1))
    same_as_full("a document number reused late")
    flagged = {r[0] for r in query("SELECT record_key FROM quality_flag WHERE rule_id = 'doc_no.unique_across_batches'")}
    assert {str(later["record_id"]), str(reused["record_id"].iloc[1])} <= flagged
    restage("emb_enforcement", D1, lambda f: original)
    load(("emb_enforcement", D1))
    same_as_full("the reused number corrected")
    flagged = {r[0] for r in query("SELECT record_key FROM quality_flag WHERE rule_id = 'doc_no.unique_across_batches'")}
    assert str(later["record_id"]) not in flagged
    with engine.connect() as conn:  # every build step took the change log's rows
        assert conn.execute(sa.text("SELECT COUNT(*) FROM build_change")).scalar_one() == 0


def test_a_late_change_recomputes_from_its_own_date(raw_home, tmp_path, monkeypatch):
    """What a batch's changes can reach, and no more: (1) a registry record delivered again on the last
    day with a changed 从业人员数 (a snapshot feed: the fact table keeps only the latest row) recomputes
    the last day only, the earlier as-of views keep the value they knew (registry_version); (2) an
    enterprise renamed on the last day (a new name version late in the span) recomputes from the new
    version's first day only, and the earlier days still show the former name (dim_enterprise_asof).
    After each, the incremental build equals a full build."""
    from safety_hub.pipeline import run_load
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    home = tmp_path / "home"
    shutil.copytree(raw_home / "data", home / "data")
    url = f"duckdb:///{tmp_path / 'reach.duckdb'}"
    monkeypatch.setenv("SAFETY_HUB_HOME", str(home))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", url)
    engine = get_engine(url)
    runs: dict = {}

    def load(feed: str, day: dt.date) -> dict:
        runs[(feed, day)] = runs.get((feed, day), 0) + 1
        touched = [dt.date.fromisoformat(d) for d in run_load(feed, day, f"run{runs[(feed, day)]}__{feed}__{day}")["business_dates"]]
        return build(engine, touched)

    def same_as_full(step: str) -> dict[str, pd.DataFrame]:
        incremental, full = tables(url), tables(full_build_of_copy(url, tmp_path / "full.duckdb"))
        for name in TABLES:
            pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=f"{step}: {name}")
        return incremental

    def query(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    for day in DAYS:
        for feed in FEEDS:
            load(feed, day)
    same_as_full("all days loaded")

    # 1. The registry's record delivered again on the last day with another headcount.
    registry = restage("emb_ent_registry", D3, lambda f: f)
    uscc, employees = registry["uscc"].iloc[0], int(registry["employees"].iloc[0])
    assert query("SELECT COUNT(*) FROM registry_version WHERE uscc = :u AND business_date < :d", u=uscc, d=D3)[0][0] > 0
    restage("emb_ent_registry", D3, lambda f: f.assign(employees=[employees + 1000 if i == 0 else v for i, v in enumerate(f["employees"])]))
    result = load("emb_ent_registry", D3)
    assert result["as_of"] == [D3], result["report"]
    same_as_full("a registry record re-delivered")
    known = dict(query("SELECT business_date, employees FROM registry_version WHERE uscc = :u", u=uscc))
    assert known[D3] == employees + 1000 and all(v == employees for d, v in known.items() if d < D3), known
    assert query("SELECT employees FROM mart_enterprise_risk WHERE uscc = :u", u=uscc) == [(employees + 1000,)]

    # 2. The same enterprise renamed on the last day: a new name version from D3 on.
    former = query("SELECT org_name FROM dim_enterprise WHERE uscc = :u AND is_current", u=uscc)[0][0]
    first = query("SELECT MIN(valid_from) FROM dim_enterprise WHERE uscc = :u", u=uscc)[0][0]
    assert first < D3
    restage("emb_ent_registry", D3, lambda f: f.assign(org_name=["天津市晚改名测试新材料有限公司" if i == 0 else v for i, v in enumerate(f["org_name"])]))
    result = load("emb_ent_registry", D3)
    assert result["as_of"] == [D3], result["report"]
    after = same_as_full("an enterprise renamed late")
    versions = after["dim_enterprise"][after["dim_enterprise"]["uscc"] == uscc].sort_values("version")
    assert len(versions) == 2 and versions["valid_to"].iloc[0] == str(D3) and versions["valid_from"].iloc[1] == str(D3), versions
    shown = dict(query("SELECT valid_from, org_name FROM dim_enterprise_asof WHERE uscc = :u AND valid_from <= :d AND (valid_to IS NULL OR valid_to > :d)",
                       u=uscc, d=D2))
    assert list(shown.values()) == [former], shown
    assert query("SELECT org_name FROM mart_enterprise_risk WHERE uscc = :u", u=uscc) == [("天津市晚改名测试新材料有限公司",)]
