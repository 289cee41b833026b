"""get_engine keeps one engine per URL; one dropped from the cache is disposed (its DuckDB writer lock released).

Was: an ``lru_cache(maxsize=8)`` dropped the ninth-oldest URL's engine with its idle pooled
connection still open and its writer lock held; the next ``get_engine`` of that URL built a new
engine, whose lock then waited (``SAFETY_HUB_DUCKDB_WAIT_SECONDS``) on the process itself and
failed with ``WarehouseBusy`` (seen when one pytest process ran every end-to-end module).
"""

from __future__ import annotations

import sqlalchemy as sa

from safety_hub.warehouse.engine import ENGINES_KEPT, get_engine


def _touch(url: str) -> int:
    with get_engine(url).connect() as conn:  # the connection goes back to the pool, still open: the lock stays held
        return conn.execute(sa.text("SELECT 1")).scalar()


def test_an_engine_dropped_from_the_cache_releases_its_writer_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_DUCKDB_WAIT_SECONDS", "1")
    first = f"duckdb:///{tmp_path / 'first.duckdb'}"
    engine = get_engine(first)
    assert _touch(first) == 1 and get_engine(first) is engine  # one engine per URL
    for i in range(ENGINES_KEPT):
        _touch(f"duckdb:///{tmp_path / f'other{i}.duckdb'}")
    again = get_engine(first)
    assert again is not engine, "the first URL's engine dropped out of the cache"
    assert _touch(first) == 1  # a new engine on the same file gets the lock at once
