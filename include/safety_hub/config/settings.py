"""Where things live. Every path and URL comes from the environment with a
project-local default, so the same code runs in tests, the demo and docker."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # include/safety_hub
PROJECT_DIR = PACKAGE_DIR.parents[1]
BUSINESS_TZ = "Asia/Shanghai"  # the IANA name (Airflow's timetables); China keeps UTC+8 all year
ZONE_LABEL = "北京时间"  # how a time shown to a person names its zone
_BEIJING = dt.timezone(dt.timedelta(hours=8), ZONE_LABEL)


def business_tz() -> dt.timezone:
    """Beijing time (UTC+08:00, no daylight saving): the zone of business dates and of every time a person reads."""
    return _BEIJING


def beijing_now() -> dt.datetime:
    """The current time in Beijing time (aware)."""
    return dt.datetime.now(_BEIJING)


def beijing_today() -> dt.date:
    """Today's date in Beijing (the business calendar's today)."""
    return beijing_now().date()


def beijing_time(ts: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M", *, label: bool = True, missing: str = "-") -> str:
    """``ts`` as a person reads it: in Beijing time, the zone named (``2026-11-03 09:15 北京时间``).

    A naive ``ts`` is taken as UTC (the warehouse's and Airflow's times are UTC); ``label=False``
    leaves the zone out where a column header names it; ``missing`` is shown for ``None``.
    """
    if ts is None:
        return missing
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    text = ts.astimezone(_BEIJING).strftime(fmt)
    return f"{text} {ZONE_LABEL}" if label else text


def home() -> Path:
    """Root of data/ and reports/ (``SAFETY_HUB_HOME``, default: the project dir)."""
    return Path(os.environ.get("SAFETY_HUB_HOME", PROJECT_DIR)).resolve()


def data_dir() -> Path:
    return home() / "data"


def raw_dir() -> Path:
    return data_dir() / "raw"


def staging_dir() -> Path:
    return data_dir() / "staging"


def reports_dir() -> Path:
    return home() / "reports"


def feeds_dir() -> Path:
    return Path(os.environ.get("SAFETY_HUB_FEEDS_DIR", PROJECT_DIR / "include" / "feeds")).resolve()


def risk_config_path() -> Path:
    """The risk weights and grade bands (``SAFETY_HUB_RISK_CONFIG``, default: include/risk.yaml)."""
    return Path(os.environ.get("SAFETY_HUB_RISK_CONFIG", PROJECT_DIR / "include" / "risk.yaml")).resolve()


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse (``SAFETY_HUB_WAREHOUSE_URL``)."""
    url = os.environ.get("SAFETY_HUB_WAREHOUSE_URL")
    if url:
        return url
    return f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


def cores() -> int:
    """The cores this process may run on (its CPU affinity): threads for one large read or batch."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def duckdb_memory_limit() -> str:
    """Memory a DuckDB warehouse connection may use before spilling to disk (``SAFETY_HUB_DUCKDB_MEMORY_LIMIT``).

    DuckDB's own default is 80% of the machine's RAM, per process: too much for an Airflow
    worker running several tasks. Loads stream their batch and spill, so a modest limit
    bounds a task's memory whatever the batch size (bench/README.md, bench-load at 10M rows).
    """
    return os.environ.get("SAFETY_HUB_DUCKDB_MEMORY_LIMIT", "512MB")


def duckdb_load_memory_limit() -> str:
    """DuckDB's ``memory_limit`` while a load runs (``SAFETY_HUB_DUCKDB_LOAD_MEMORY_LIMIT``; else
    ``SAFETY_HUB_DUCKDB_MEMORY_LIMIT`` when set; else 256MB).

    Every statement of a load spills (staging, dedupe, versions, merge, the 退回台账), so its memory
    is DuckDB's limit plus what the process holds: a delivery small enough to stay under the limit
    peaks lower than one that reaches it. Under 256MB a 2M-row and a 10M-row hazard delivery both
    reach it and peak within 7% of each other (503 and 536 MB) in the same time as under 512MB at 2M;
    the warehouse build keeps the larger limit (its hazard aggregate holds each hazard's sources).
    """
    return os.environ.get("SAFETY_HUB_DUCKDB_LOAD_MEMORY_LIMIT") or os.environ.get("SAFETY_HUB_DUCKDB_MEMORY_LIMIT") or "256MB"


# The hand-off of validated rows to the load: valid.parquet is written in row groups of this many
# rows (quality/stream.py) and the load reads and stages that many at a time (warehouse/load.py).
STAGE_BATCH_ROWS = 100_000


def validate_batch_rows() -> int:
    """Records validated at a time (``SAFETY_HUB_VALIDATE_BATCH_ROWS``, default 200,000).

    Validation reads a landed delivery batch by batch (``quality.stream``), so its memory is
    bounded by this, whatever the delivery's size; the decisions do not depend on it.
    """
    value = int(os.environ.get("SAFETY_HUB_VALIDATE_BATCH_ROWS", "200000"))
    if value < 1:
        raise ValueError(f"SAFETY_HUB_VALIDATE_BATCH_ROWS must be at least 1, not {value}")
    return value
