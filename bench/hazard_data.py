"""Shared helpers for the benchmarks: hazard rows in the emb_hazard layout, timing, RSS.

Rows come from the simulator (``safety_hub_dev.simulator``'s ``hazards()`` builder and
its defect injector) for a few business days, then are tiled to the requested
size with a unique ``yhbh`` (hazard id) per row. Generating a million rows this
way takes seconds, not the minutes the per-record simulator would need.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FEED_ID = "emb_hazard"
FIRST_DAY = dt.date(2026, 11, 2)
SEED = 20261101


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_time(fn, repeat: int, setup=None) -> tuple[float, list[float], object]:
    """Median wall time of ``fn()`` over ``repeat`` runs (``setup()`` untimed before each)."""
    times, result = [], None
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()} | {os.cpu_count()} cores | {mem_gb:.0f} GB RAM | Python {platform.python_version()} | {platform.platform()}"


def versions() -> str:
    from importlib.metadata import version  # no imports: keeps the driver process small

    return ", ".join(f"{name} {version(name)}" for name in ("pandas", "pyarrow", "duckdb", "sqlalchemy", "numpy", "great_expectations", "psycopg2-binary"))


def agency_columns() -> list[str]:
    from safety_hub.config.registry import get_feed

    return [c.source for c in get_feed(FEED_ID).columns]


def simulated_records(base_rows: int, days: int = 4, seed: int = SEED) -> tuple[list[dict], dt.date]:
    """About ``base_rows`` delivered hazard records (defects injected) over ``days`` days."""
    from safety_hub_dev.simulator.enterprises import enterprise_pool
    from safety_hub_dev.simulator.generate import _inject  # the simulator's own defect injector
    from safety_hub_dev.simulator.spec import SPECS

    spec = SPECS[FEED_ID]
    pool = enterprise_pool(seed)
    per_day = max(1, -(-base_rows // days))
    records: list[dict] = []
    day = FIRST_DAY
    for d in range(days):
        day = FIRST_DAY + dt.timedelta(days=d)
        rng = random.Random(f"{seed}:{day.isoformat()}:{FEED_ID}:bench")
        built = spec.build(rng, day, pool, per_day)
        # The injector takes the business day since the simulator's date-aware defects.
        extra = (day,) if len(inspect.signature(_inject).parameters) > 3 else ()
        delivered, _truth = _inject(rng, spec, built, *extra)
        records.extend(delivered)
    return records, day


def unique_ids(n: int, prefix: str = "YH"):
    import pyarrow as pa

    return pa.array([f"{prefix}{i:012d}" for i in range(n)], type=pa.string())


def hazard_table(rows: int, base_rows: int = 40_000, seed: int = SEED):
    """``rows`` agency-layout records (all text, nulls for blanks), unique ``yhbh``; and the last business date."""
    import numpy as np
    import pyarrow as pa

    cols = agency_columns()
    records, last_day = simulated_records(min(rows, base_rows), seed=seed)
    base = pa.table({c: pa.array([r.get(c) for r in records], type=pa.string()) for c in cols})
    idx = np.arange(rows) % base.num_rows
    table = base.take(pa.array(idx))
    table = table.set_column(cols.index("yhbh"), "yhbh", unique_ids(rows))
    return table, last_day


def write_csv(table, path: Path) -> int:
    """UTF-8 CSV with a header; nulls as empty fields. Returns the file size in bytes."""
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, str(path))
    return path.stat().st_size


def run_stage(script: Path, args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter (clean peak RSS); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"stage {args} failed with exit code {proc.returncode}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def in_day_window(table, day: dt.date, column: str = "gxsj"):
    """The rows as a source that windows by update time serves them for ``day``: each ISO update time
    (``YYYY-MM-DD...``) moved to ``day`` (time of day kept); rows whose update time is not ISO are
    dropped (no day's window holds them). Used for the REST and SQL deliveries."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(column)
    iso = pc.fill_null(pc.match_substring_regex(col, r"^\d{4}-\d{2}-\d{2}"), False)
    table = table.filter(iso)
    moved = pc.binary_join_element_wise(pa.scalar(day.isoformat()), pc.utf8_slice_codeunits(table.column(column), 10), "")
    return table.set_column(table.schema.get_field_index(column), column, moved)


def pg_database(base_url: str, name: str) -> tuple[str | None, str | None, object]:
    """Create the scratch database ``name`` on ``base_url``'s server; return (its URL, skip reason, dropper)."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, missing driver, no rights
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", lambda: None
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, None, drop
