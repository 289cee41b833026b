"""bulk_insert's PostgreSQL COPY path round-trips awkward values; the load's SQL dedupe equals the plain pandas one.

The PostgreSQL tests need a server at 127.0.0.1:5432 (user postgres, trust auth; override with
SAFETY_HUB_TEST_PG_ADMIN_URL). They create a scratch database ``test_bulk_<pid>``, drop it at the
end, and are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pg_scratch import scratch_database

from safety_hub.config.settings import business_tz
from safety_hub.warehouse import bulk
from safety_hub.warehouse.bulk import bulk_insert

UTC = dt.timezone.utc
CST = business_tz()

# Text that CSV, COPY or the old na_rep="\N" could get wrong.
AWKWARD_TEXT = [
    "plain", "a,b,c", 'say "hi"', '"', '""', "line1\nline2", "cr\r\nlf", "\n", "back\\slash", "\\", "\\N", "\\.", "N",
    "", " ", "  padded  ", "天津市滨海新区安全隐患，整改中", "全角，逗号“引号”", "tab\there", "emoji 🚧", "NULL", "null",
]


@pytest.fixture(scope="module")
def pg_engine():
    with scratch_database("test_bulk") as engine:
        yield engine


def _table(md: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, md,
        sa.Column("id", sa.BigInteger),
        sa.Column("txt", sa.Text),
        sa.Column("code", sa.String(18)),
        sa.Column("day", sa.Date),
        sa.Column("day_obj", sa.Date),
        sa.Column("ts", sa.DateTime(timezone=True)),
        sa.Column("ts_cst", sa.DateTime(timezone=True)),
        sa.Column("flag", sa.Boolean),
        sa.Column("amount", sa.Numeric(18, 3)),
        sa.Column("amount_dec", sa.Numeric(18, 3)),
        sa.Column("ratio", sa.Float),
        sa.Column("count", sa.BigInteger),
        sa.Column("grade", sa.Text),
        sa.Column("not_in_frame", sa.Text),
    )


def _awkward_frame() -> tuple[pd.DataFrame, list[tuple]]:
    """A frame typed as ``normalise`` and ``run_load`` type it, and the rows PostgreSQL should return."""
    n = len(AWKWARD_TEXT) + 1  # the last row is NULL in every column but id
    texts = [*AWKWARD_TEXT, None]
    base = dt.datetime(2026, 11, 5, 8, 30, 15, 123456, tzinfo=UTC)
    ts = [base + dt.timedelta(days=i, microseconds=i) for i in range(n - 1)] + [None]
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=40 * i) for i in range(n - 1)] + [None]
    flags = [[True, False, None][i % 3] for i in range(n - 1)] + [None]
    amounts = [[1.5, 0.1, -2.25, 1234567.891, 0.0, None][i % 6] for i in range(n - 1)] + [None]
    decs = [[Decimal("1.230"), Decimal("-0.001"), Decimal("999999999999999.999"), None][i % 4] for i in range(n - 1)] + [None]
    ratios = [[0.1, 1 / 3, -1e-300, 1e300, None][i % 5] for i in range(n - 1)] + [None]
    counts = [[0, 9_007_199_254_740_993, -5, None][i % 4] for i in range(n - 1)] + [None]
    grades = [["一般隐患", "重大隐患", None][i % 3] for i in range(n - 1)] + [None]
    frame = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "txt": pd.array(texts, dtype="string"),
        "code": pd.Series(["91120116697415782C" if t else None for t in texts], dtype="str"),
        "day": pd.to_datetime(pd.Series(days)).astype("datetime64[s]"),  # normalise's date columns
        "day_obj": pd.Series(days, dtype=object),  # run_load's business_date
        "ts": pd.to_datetime(pd.Series(ts), utc=True),
        "ts_cst": pd.to_datetime(pd.Series(ts), utc=True).dt.tz_convert("Asia/Shanghai"),
        "flag": pd.array(flags, dtype="boolean"),
        "amount": pd.Series(amounts, dtype="float64"),
        "amount_dec": pd.Series(decs, dtype=object),
        "ratio": pd.Series(ratios, dtype="float64"),
        "count": pd.array(counts, dtype="Int64"),
        "grade": pd.Categorical(grades),
        "not_a_column": "ignored",
    })
    expected = [
        (i, texts[i], "91120116697415782C" if texts[i] else None, days[i], days[i], ts[i], ts[i], flags[i],
         None if amounts[i] is None else Decimal(str(amounts[i])).quantize(Decimal("0.001")),
         decs[i], ratios[i], counts[i], grades[i], None)
        for i in range(n)
    ]
    return frame, expected


def _csv_workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("bulk-csv")]


def _read(conn: sa.Connection, table: sa.Table) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]


def _assert_rows(got: list[tuple], expected: list[tuple]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g == e, (g, e)
        for value in g:  # timestamps come back tz-aware (same instant, compared above)
            if isinstance(value, dt.datetime):
                assert value.tzinfo is not None


def test_round_trip_awkward_values(pg_engine):
    md = sa.MetaData()
    table = _table(md, "bulk_awkward")
    frame, expected = _awkward_frame()
    with pg_engine.begin() as conn:
        table.create(conn)
        assert bulk_insert(conn, table, frame) == len(frame)
        _assert_rows(_read(conn, table), expected)
    with pg_engine.connect() as conn:  # committed with the caller's transaction
        _assert_rows(_read(conn, table), expected)
        # NULL and empty string stay apart; "\N" and "NULL" are text.
        txt = dict(conn.execute(sa.select(table.c.txt, sa.func.count()).group_by(table.c.txt)).all())
        assert txt[None] == 1 and txt[""] == 1 and txt["\\N"] == 1 and txt["NULL"] == 1
        nulls = conn.execute(sa.text(
            "SELECT " + ", ".join(f'count(*) FILTER (WHERE "{c.name}" IS NULL)' for c in table.columns if c.name != "id")
            + f' FROM "{table.name}" WHERE id = :last'), {"last": len(frame) - 1}).one()
        assert all(v == 1 for v in nulls)


def test_chunks_stream_into_one_copy(pg_engine, monkeypatch):
    """Chunk boundaries (here every 3 rows) fall between records, also multi-line ones."""
    monkeypatch.setattr(bulk, "COPY_CHUNK_ROWS", 3)
    md = sa.MetaData()
    table = _table(md, "bulk_chunks")
    frame, expected = _awkward_frame()
    frame = frame.iloc[::-1]  # index not in order: rows go in frame order, read back by id
    chunks = list(bulk._csv_chunks(frame[[c.name for c in table.columns if c.name in frame.columns]],
                                   [c.type for c in table.columns if c.name in frame.columns]))
    assert len(chunks) == -(-len(frame) // 3)
    with pg_engine.begin() as conn:
        table.create(conn)
        bulk_insert(conn, table, frame)
        _assert_rows(_read(conn, table), expected)


def test_copy_stays_in_the_callers_transaction(pg_engine):
    md = sa.MetaData()
    table = _table(md, "bulk_tx")
    frame, _ = _awkward_frame()
    with pg_engine.begin() as conn:
        table.create(conn)
    with pytest.raises(RuntimeError, match="roll back"):
        with pg_engine.begin() as conn:
            conn.execute(table.insert().values(id=-1, txt="before"))
            bulk_insert(conn, table, frame)
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == len(frame) + 1
            raise RuntimeError("roll back")
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    # A value PostgreSQL rejects fails the COPY (psycopg2's error: COPY runs on the raw cursor),
    # and the whole transaction with it.
    import psycopg2

    bad = frame.assign(count=pd.Series(["1"] * (len(frame) - 1) + ["not a number"], dtype=object))
    with pytest.raises(psycopg2.DataError, match="bigint"):
        with pg_engine.begin() as conn:
            conn.execute(table.insert().values(id=-1, txt="before"))
            bulk_insert(conn, table, bad)
    assert not _csv_workers()
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_an_error_making_a_chunk_aborts_the_copy(pg_engine, monkeypatch):
    """A chunk made in the worker thread that fails: the error reaches the caller, nothing is kept."""
    monkeypatch.setattr(bulk, "COPY_CHUNK_ROWS", 4)
    md = sa.MetaData()
    table = _table(md, "bulk_err")
    frame, _ = _awkward_frame()
    real = bulk._arrow_column
    calls = []

    def failing(values, target):
        calls.append(values.index[0])
        if values.index[0] >= 8:  # the third chunk
            raise ValueError("cannot convert this chunk")
        return real(values, target)

    monkeypatch.setattr(bulk, "_arrow_column", failing)
    with pg_engine.begin() as conn:
        table.create(conn)
    with pytest.raises(ValueError, match="cannot convert this chunk"):
        with pg_engine.begin() as conn:
            bulk_insert(conn, table, frame)
    assert not _csv_workers()
    monkeypatch.setattr(bulk, "_arrow_column", real)
    with pg_engine.begin() as conn:  # the connection is usable again, the table empty
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
        bulk_insert(conn, table, frame.head(3))
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 3


def test_single_column_and_mixed_object_columns(pg_engine):
    md = sa.MetaData()
    one = sa.Table("bulk_one", md, sa.Column("v", sa.Text))
    mixed = sa.Table("bulk_mixed", md, sa.Column("id", sa.Integer), sa.Column("v", sa.Text), sa.Column("ns", sa.DateTime(timezone=True)))
    ns = pd.Series(pd.to_datetime(["2026-11-05 01:02:03.123456789", "1969-12-31 23:59:59.999999999", None], utc=True)).astype("datetime64[ns, UTC]")
    with pg_engine.begin() as conn:
        md.create_all(conn)
        bulk_insert(conn, one, pd.DataFrame({"v": pd.array([None, "", "x", None], dtype="string")}))
        assert [r[0] for r in conn.execute(sa.text("SELECT v FROM bulk_one ORDER BY v NULLS LAST"))] == ["", "x", None, None]
        bulk_insert(conn, mixed, pd.DataFrame({"id": [1, 2, 3], "v": pd.Series([7, "seven", None], dtype=object), "ns": ns}))
        rows = conn.execute(sa.text("SELECT id, v, ns FROM bulk_mixed ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        (1, "7", dt.datetime(2026, 11, 5, 1, 2, 3, 123456, tzinfo=UTC)),  # nanoseconds truncated, as %f did
        (2, "seven", dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (3, None, None),
    ]


# --- dedupe (in SQL, at load) ----------------------------------------------------------------

def _reference_dedupe(feed, valid: pd.DataFrame) -> tuple[list[int], int]:
    """The straightforward version: stable sort, keep the last row per key; the kept ``row`` values."""
    order = [c for c in ("updated_at", "report_batch") if c in valid.columns]
    ranked = valid.sort_values(order, kind="stable", na_position="first") if order else valid
    kept = ranked.drop_duplicates(subset=feed.key, keep="last")
    return sorted(kept["row"].tolist()), len(valid) - len(kept)


LOADED_AT = dt.datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def _fact(md: sa.MetaData, columns: list[str]) -> sa.Table:
    types = {"updated_at": sa.DateTime(timezone=True), "row": sa.BigInteger}
    return sa.Table(
        "fact_dd", md, *[sa.Column(c, types.get(c, sa.Text)) for c in columns],
        sa.Column("feed_id", sa.Text), sa.Column("batch_id", sa.Text), sa.Column("business_date", sa.Date),
        sa.Column("raw_file", sa.Text), sa.Column("loaded_at", sa.DateTime(timezone=True)))


def _change_log(md: sa.MetaData) -> sa.Table:
    """The warehouse's ``build_change`` (every load logs the keys it changed there) in ``md``."""
    from safety_hub.warehouse.schema import BUILD_CHANGE, build_metadata

    return build_metadata().tables[BUILD_CHANGE].to_metadata(md)


def _sql_dedupe(target, feed, frame: pd.DataFrame) -> tuple[list[int], int]:
    """Load ``frame`` into an empty fact table through the load path; the kept ``row`` values and duplicates."""
    from safety_hub.warehouse.load import load_frame, load_parquet

    engine, via, tmp = target
    md = sa.MetaData()
    fact = _fact(md, list(frame.columns))
    lineage = {"batch_id": "b", "raw_file": "raw", "loaded_at": LOADED_AT}
    with engine.begin() as conn:
        fact.drop(conn, checkfirst=True)
        fact.create(conn)
        _change_log(md).create(conn, checkfirst=True)
        if via == "parquet":  # what run_load reads: valid.parquet, in several row groups
            path = tmp / "valid.parquet"
            frame.to_parquet(path, index=False, row_group_size=max(len(frame) // 3, 1))
            result = load_parquet(conn, md, feed, path, dt.date(2026, 11, 5), **lineage)
        else:
            result = load_frame(conn, md, feed, frame, dt.date(2026, 11, 5), **lineage)
        kept = sorted(r[0] for r in conn.execute(sa.text("SELECT row FROM fact_dd")))
    assert result.staged == len(frame) and result.loaded == len(kept) and result.stale == 0
    return kept, result.duplicates


@pytest.fixture(params=["duckdb-frame", "duckdb-parquet", "postgresql-frame", "postgresql-parquet"])
def engine(request, tmp_path):
    """(engine, how the rows arrive, a temp dir): DuckDB stages Parquet in SQL, frames and PostgreSQL through Arrow batches."""
    backend, via = request.param.split("-")
    if backend == "postgresql":
        yield request.getfixturevalue("pg_engine"), via, tmp_path
        return
    eng = sa.create_engine(f"duckdb:///{tmp_path / 'dd.duckdb'}")
    yield eng, via, tmp_path
    eng.dispose()


def _assert_same_dedupe(engine, feed, frame: pd.DataFrame) -> int:
    got = _sql_dedupe(engine, feed, frame)
    assert got == _reference_dedupe(feed, frame)
    return got[1]


def _feed(key=("hazard_id",)):
    return SimpleNamespace(feed_id="t_dd", target_table="fact_dd", key=list(key), lifecycle=None, columns=[], version_table=None)


def _hazards(n: int, seed: int, keys: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    updated = pd.Series(pd.to_datetime("2026-11-01", utc=True) + pd.to_timedelta(rng.integers(0, 4, n), unit="h"))
    updated[rng.random(n) < 0.15] = pd.NaT
    batch = pd.Series([f"EMB-2026110{d}-0{k}" for d, k in zip(rng.integers(1, 3, n), rng.integers(1, 3, n))], dtype="str")
    batch[rng.random(n) < 0.15] = None
    hazard = pd.Series([f"H{k:05d}" for k in rng.integers(0, keys, n)], dtype="str")
    hazard[rng.random(n) < 0.02] = None  # missing keys collapse together, as in drop_duplicates
    return pd.DataFrame({
        "hazard_id": hazard, "updated_at": updated, "report_batch": batch,
        "row": np.arange(n), "status": pd.Series(rng.choice(["整改中", "验收销号", None], n), dtype="str"),
    })


def test_dedupe_ties_nats_and_duplicates(engine):
    t = pd.Timestamp("2026-11-05 08:00", tz="UTC")
    frame = pd.DataFrame({
        "hazard_id": pd.Series(["A", "A", "A", "B", "B", "C", "D", "D", "D", "E", "E"], dtype="str"),
        "updated_at": pd.Series([t, pd.NaT, t, pd.NaT, pd.NaT, t, t + pd.Timedelta(1, "s"), t, t, t, t], dtype="datetime64[us, UTC]"),
        "report_batch": pd.Series(["b1", "b9", "b1", None, "b1", "b1", None, "b9", "b9"] + ["b2", None], dtype="str"),
        "row": range(11),
    })
    # A: a tie on (t, b1) keeps the later row; B: NaT ties, None first; D: the latest time beats a
    # later batch; E: a batch beats a missing one.
    assert _sql_dedupe(engine, _feed(), frame) == ([2, 4, 5, 6, 9], 6)
    _assert_same_dedupe(engine, _feed(), frame)


def test_dedupe_compares_batches_by_code_point(engine):
    """report_batch ties are broken in code-point order on both engines (not PostgreSQL's locale collation)."""
    t = pd.Timestamp("2026-11-05 08:00", tz="UTC")
    frame = pd.DataFrame({"hazard_id": ["A", "A", "B", "B"], "updated_at": [t] * 4, "report_batch": ["b", "B", "a-2", "a_1"], "row": range(4)})
    assert _assert_same_dedupe(engine, _feed(), frame) == 2
    assert _sql_dedupe(engine, _feed(), frame)[0] == [0, 3]


@pytest.mark.parametrize("seed", [0, 1])
def test_dedupe_equals_reference_on_random_batches(engine, seed):
    feed = _feed()
    frame = _hazards(3_000, seed, keys=900)
    assert _assert_same_dedupe(engine, feed, frame) > 0
    assert _assert_same_dedupe(engine, feed, frame.sample(frac=1, random_state=seed)) > 0  # positions shuffled
    assert _assert_same_dedupe(engine, feed, frame.drop(columns=["report_batch"])) > 0
    assert _assert_same_dedupe(engine, feed, frame.drop(columns=["updated_at", "report_batch"]).assign(updated_at=pd.NaT)) > 0
    # a two-column key, and a batch with no repeated key at all
    assert _assert_same_dedupe(engine, _feed(("hazard_id", "status")), frame) > 0
    assert _assert_same_dedupe(engine, feed, frame.drop_duplicates("hazard_id")) == 0


def test_dedupe_empty_and_naive_times(engine):
    feed = _feed()
    frame = _hazards(300, 7, keys=50)
    _assert_same_dedupe(engine, feed, frame.iloc[:0])
    _assert_same_dedupe(engine, feed, frame.assign(updated_at=frame["updated_at"].dt.tz_localize(None)))
    _assert_same_dedupe(engine, feed, frame.assign(updated_at=frame["updated_at"].astype(object), report_batch=frame["report_batch"].astype(object)))


def test_load_raises_work_mem_only_for_itself(pg_engine, monkeypatch):
    """The load's SET LOCAL work_mem is put back before it returns, inside the caller's transaction."""
    from safety_hub.warehouse import load

    md = sa.MetaData()
    sa.Table("fact_wm", md, sa.Column("k", sa.Text), sa.Column("v", sa.Text), sa.Column("updated_at", sa.DateTime(timezone=True)),
             sa.Column("feed_id", sa.Text), sa.Column("batch_id", sa.Text), sa.Column("business_date", sa.Date),
             sa.Column("raw_file", sa.Text), sa.Column("loaded_at", sa.DateTime(timezone=True)))
    feed = SimpleNamespace(feed_id="t_wm", target_table="fact_wm", key=["k"], lifecycle=None, columns=[], version_table=None)
    t = pd.Timestamp("2026-11-05 08:00", tz="UTC")
    rows = pd.DataFrame({"k": ["a", "b"], "v": ["1", "2"], "updated_at": [t, t]})
    lineage = {"batch_id": "b", "raw_file": "raw", "loaded_at": LOADED_AT}
    monkeypatch.setattr(load, "MERGE_WORK_MEM_PER_ROW", 32 * 1024 * 1024)  # 2 rows -> 64 MB
    seen = []
    real = load._dedupe

    def spy(conn, stg, feed):  # the work_mem the merge's statements run with
        seen.append(conn.execute(sa.text("SHOW work_mem")).scalar_one())
        return real(conn, stg, feed)

    monkeypatch.setattr(load, "_dedupe", spy)
    day = dt.date(2026, 11, 5)
    _change_log(md)
    with pg_engine.begin() as conn:
        md.create_all(conn)
        conn.execute(sa.text("SET LOCAL work_mem = '4MB'"))
        assert load.load_frame(conn, md, feed, rows, day, **lineage) == load.LoadResult(staged=2, duplicates=0, loaded=2, stale=0, touched=(day,))
        assert conn.execute(sa.text("SHOW work_mem")).scalar_one() == "4MB"
        conn.execute(sa.text("SET LOCAL work_mem = '1GB'"))  # never lowered
        assert load.load_frame(conn, md, feed, rows.assign(v=["3", "4"]), day, **lineage).loaded == 2
        assert conn.execute(sa.text("SHOW work_mem")).scalar_one() == "1GB"
        assert sorted(r[1] for r in conn.execute(sa.text("SELECT k, v FROM fact_wm"))) == ["3", "4"]
    assert seen == ["64MB", "1GB"]


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_insert_parquet_round_trips_in_chunks(backend, tmp_path, request):
    """``insert_parquet`` (the load's quality records): DuckDB reads the file in SQL, PostgreSQL in COPY
    chunks of ``batch_rows``; either way the rows come back as ``bulk_insert`` of the frame gives them."""
    engine = request.getfixturevalue("pg_engine") if backend == "postgresql" else sa.create_engine(f"duckdb:///{tmp_path / 'q.duckdb'}")
    frame, _ = _awkward_frame()
    if backend == "duckdb":  # sa.Float is DuckDB's 4-byte FLOAT there: values it holds
        frame["ratio"] = frame["ratio"].clip(-1e30, 1e30)
    path = tmp_path / "quarantine.parquet"
    frame.to_parquet(path, index=False, row_group_size=7)
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    md = sa.MetaData()
    table, reference = _table(md, f"t_parquet_{backend}"), _table(md, f"t_reference_{backend}")
    with engine.begin() as conn:
        md.create_all(conn)
        assert bulk.insert_parquet(conn, table, path, batch_rows=5) == len(frame)
        assert bulk.insert_parquet(conn, table, tmp_path / "empty.parquet") == 0
        bulk_insert(conn, reference, frame)
        got, want = _read(conn, table), _read(conn, reference)
        assert len(got) == len(frame) and got == want
        assert any(v is not None for row in got for v in row[1:-1])  # the values themselves, not only NULLs
        md.drop_all(conn)
    if backend == "duckdb":
        engine.dispose()
