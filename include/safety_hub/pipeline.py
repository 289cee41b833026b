"""The per-feed flow as plain functions: extract -> land -> validate -> load.

Each function takes a feed id, a business date and a batch id, does one stage,
and returns a small JSON-able summary (what Airflow passes between tasks).
DAG files call these; so do the CLI and the tests.

What a stage needs is imported in the stage function, so a task pays only for its own
stage: importing this module loads the registry's models and the raw zone's paths, no pandas,
SQLAlchemy, warehouse or Great Expectations (``tests/unit/test_stage_imports.py``); extract
and land never import Great Expectations, load and the build neither.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from safety_hub.config import settings
from safety_hub.config.files import file_lock, write_atomic
from safety_hub.domain.errors import DuplicateDelivery, FeedError, FeedQualityError
from safety_hub.ingest.extract import extract
from safety_hub.ingest.kinds import kind_of
from safety_hub.ingest.raw import RECORDS, land_raw, partition_dir, read_sidecar
from safety_hub.config.registry import get_feed

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger(__name__)


def staging_partition(feed_id: str, day: dt.date) -> Path:
    return settings.staging_dir() / feed_id / f"dt={day.isoformat()}"


PARTITION_WAIT_SECONDS = 1800.0  # how long a stage waits for another run of the same feed and day


def partition_lock(feed_id: str, day: dt.date):
    """One stage of a feed's day at a time, across processes (``data/locks/<feed>/dt=<day>.lock``).

    The ingest DAG runs one run of a feed at a time, but a CLI ``replay``, ``backfill`` or
    ``returns`` of the same day can run beside it: without the lock, two validations write one
    staging folder (``valid.parquet`` of one batch beside another's quarantine) and two landings
    swap one pending delivery. ``run_feed`` and ``run_replay`` hold it over all their stages.
    """
    return file_lock(settings.data_dir() / "locks" / feed_id / f"dt={day.isoformat()}.lock",
                     f"feed {feed_id} {day.isoformat()}", wait_seconds=PARTITION_WAIT_SECONDS)


def one_at_a_time(stage):
    """Run ``stage(feed_id, day, ...)`` under ``partition_lock(feed_id, day)``."""
    @functools.wraps(stage)
    def locked(feed_id: str, day: dt.date, *args, **kwargs):
        with partition_lock(feed_id, day):
            return stage(feed_id, day, *args, **kwargs)
    return locked


@one_at_a_time
def run_extract(feed_id: str, day: dt.date, batch_id: str | None = None, force: bool = False) -> dict:
    """Fetch the delivery and land its original bytes.

    For a kind that dedupes by digest (``DeliveryKind.dedupe_by_digest``: a dropped file),
    a delivery whose sha256 was already loaded is not processed again (unless ``force``):
    the audit records it and ``DuplicateDelivery`` is raised.
    """
    feed = get_feed(feed_id)
    ex = extract(feed, day)
    check = None
    if kind_of(feed).dedupe_by_digest and not force:
        def check(digest: str) -> None:  # hashed while landing copies the file: each byte is read once
            earlier = _loaded_sha(feed_id, digest)
            if earlier is not None:
                _audit_skip(feed_id, day, batch_id or f"manual__{feed_id}__{day}", ex.source, digest)
                raise DuplicateDelivery(f"feed {feed_id}: {ex.source}: same content (sha256 {digest[:12]}...) already loaded for {earlier}; skipped")
    part = land_raw(ex, check_digest=check)
    sidecar = read_sidecar(part)
    log.info("feed %s: landed %d file(s), %d bytes from %s into %s", feed_id, len(sidecar["files"]), sum(f["bytes"] for f in sidecar["files"]), ex.source, part)
    return {"raw_dir": str(part), "sha256": sidecar["sha256"], "files": [f["name"] for f in sidecar["files"]]}


def _loaded_sha(feed_id: str, digest: str) -> dt.date | None:
    import sqlalchemy as sa

    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine()
    md = ensure_schema(engine)
    audit = md.tables["load_audit"]
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.max(audit.c.business_date)).where(audit.c.feed_id == feed_id, audit.c.raw_sha256 == digest, audit.c.status == "loaded")
        ).scalar()


def _audit_skip(feed_id: str, day: dt.date, batch_id: str, source: str, digest: str) -> None:
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine()
    audit = ensure_schema(engine).tables["load_audit"]
    with engine.begin() as conn:  # a new row, never a rewrite: the run's own "loaded" row stays
        conn.execute(audit.insert().values(
            feed_id=feed_id, batch_id=batch_id, business_date=day, raw_file=source, raw_sha256=digest,
            rows_extracted=0, rows_valid=0, rows_quarantined=0, rows_duplicate=0, rows_loaded=0,
            status="skipped_duplicate_file", loaded_at=dt.datetime.now(dt.timezone.utc),
        ))


@one_at_a_time
def run_land(feed_id: str, day: dt.date) -> dict:
    """Parse the landed bytes into records.parquet (fails cleanly on unreadable input)."""
    from safety_hub.ingest.landing import land_records  # the parsers: pandas, pyarrow

    sidecar = land_records(get_feed(feed_id), day)
    log.info("feed %s: %d rows parsed for %s", feed_id, sidecar["rows"], day)
    return {"rows": sidecar["rows"], "raw_dir": str(partition_dir(feed_id, day))}


QUALITY_TABLES = ("quarantine", "quality_flag", "validation_result", "snapshot_member", "report_receipt")


@one_at_a_time
def run_validate(feed_id: str, day: dt.date, batch_id: str, batch_rows: int | None = None) -> dict:
    """Validate the landed batch; stage its valid rows and its quality records (quarantine, flags, results).

    The delivery is read and validated ``batch_rows`` records at a time
    (``settings.validate_batch_rows()``; ``quality.stream``), with the decisions of one run
    over all of it. The quality records are staged as parquet beside ``valid.parquet`` and
    written by ``run_load`` in the load's transaction. A batch over the feed's threshold
    (decided on the whole delivery's totals) loads nothing: its quality records are
    committed here and ``FeedQualityError`` is raised.
    """
    from safety_hub.quality.stream import validate_delivery

    feed = get_feed(feed_id)
    part = partition_dir(feed_id, day)
    if not (part / RECORDS).exists():
        raise FeedError(feed_id, str(part), "no parsed records (run land first)")
    stage = staging_partition(feed_id, day)
    check = validate_delivery(feed, part, day, batch_id=batch_id, stage=stage, batch_rows=batch_rows)
    accounted = read_sidecar(part).get("accounting") or {}
    summary = {
        "feed_id": feed_id, "business_date": day.isoformat(), "batch_id": batch_id,
        # physical rows of the delivery = rows (records: valid + quarantined) + set aside (title, header, blank, note)
        "physical": accounted.get("physical"), "set_aside": accounted.get("set_aside", {}),
        "rows": check.rows, "valid": check.valid, "quarantined": check.quarantined,
        "flagged": check.flagged,
        "invalid_share": round(check.invalid_share, 4), "threshold": feed.validation.max_invalid_share,
        "rule_counts": {k: v for k, v in check.rule_counts.items() if v},
    }
    write_atomic(stage / "validation.json", json.dumps(summary, ensure_ascii=False, indent=1))
    if check.gx_result is not None:
        from safety_hub.quality.docs import store_result

        store_result(feed_id, check.suite, check.gx_result, batch_id, day)
    for rule, count in summary["rule_counts"].items():
        log.info("feed %s %s: %d row(s) quarantined by rule %s", feed_id, day, count, rule)
    if check.invalid_share > feed.validation.max_invalid_share:
        # Nothing will load: the rejected rows are committed here, so they can be seen and fixed.
        from safety_hub.warehouse.engine import ensure_schema, feed_transaction, get_engine

        engine = get_engine()
        md = ensure_schema(engine)
        with feed_transaction(engine, feed_id) as conn:
            write_quality(conn, md, feed_id, day, stage, batch_id)
            record_returns(conn, feed, day, batch_id, None, part)  # these rows were returned, nothing loaded
        raise FeedQualityError(
            f"feed {feed_id} {day}: {check.quarantined}/{check.rows} rows invalid "
            f"({check.invalid_share:.1%} > threshold {feed.validation.max_invalid_share:.0%}); "
            f"nothing loaded, rejected rows are in the quarantine table; rules: {summary['rule_counts']}"
        )
    return summary


@one_at_a_time
def run_load(feed_id: str, day: dt.date, batch_id: str) -> dict:
    """Dedupe the staged valid rows, merge them into the fact table, write the audit row; then the kind's ``after_load``."""
    import sqlalchemy as sa

    from safety_hub.warehouse.engine import duckdb_refusal, ensure_schema, get_engine

    feed = get_feed(feed_id)
    stage = staging_partition(feed_id, day)
    summary = json.loads((stage / "validation.json").read_text(encoding="utf-8"))
    part = partition_dir(feed_id, day)
    sidecar = read_sidecar(part)
    now = dt.datetime.now(dt.timezone.utc)

    engine = get_engine()
    md = ensure_schema(engine)
    volume_note = volume_anomaly(engine, md, feed, day, summary["rows"])
    if volume_note:
        log.warning("feed %s %s: %s", feed_id, day, volume_note)
    try:
        loaded, stale, duplicates, touched = _load_in_one_transaction(engine, md, feed, day, batch_id, stage, summary, part, sidecar, now, volume_note)
    except sa.exc.DBAPIError as exc:
        refused = duckdb_refusal(engine, exc)
        if refused is None:
            raise
        raise FeedError(feed_id, feed.target_table, refused) from exc
    log.info("feed %s %s: loaded %d rows into %s (%d duplicates removed)", feed_id, day, loaded, feed.target_table, duplicates)
    kind_of(feed).after_load(feed, day)  # e.g. a dropped file moves to _archive/
    return {"loaded": loaded, "duplicates": duplicates, "stale": stale, "quarantined": summary["quarantined"], "rows": summary["rows"],
            "business_dates": [d.isoformat() for d in touched]}  # what the incremental warehouse build recomputes from


def _load_in_one_transaction(engine: sa.Engine, md: sa.MetaData, feed, day: dt.date, batch_id: str, stage: Path, summary: dict,
                             part: Path, sidecar: dict, now: dt.datetime, volume_note: str | None) -> tuple[int, int, int, tuple]:
    """The batch's quality records, facts (and hazard versions) and audit row, committed together;
    (loaded, stale, duplicates, the business dates touched)."""
    from safety_hub.config.settings import duckdb_load_memory_limit
    from safety_hub.warehouse.engine import duckdb_memory_limit, feed_transaction
    from safety_hub.warehouse.load import load_parquet

    feed_id = feed.feed_id
    # A concurrent load of this feed waits for this one; on DuckDB the load's own memory_limit (settings).
    with duckdb_memory_limit(engine, duckdb_load_memory_limit()), feed_transaction(engine, feed_id) as conn:
        # The batch's quarantine, flags, rule results and snapshot members: committed with its facts, or not at all.
        write_quality(conn, md, feed_id, day, stage, summary["batch_id"])
        # Streamed from valid.parquet: staged, de-duplicated and merged in SQL (hazard ledgers: versions too).
        result = load_parquet(conn, md, feed, stage / "valid.parquet", day, batch_id=batch_id, raw_file=str(part), loaded_at=now)
        loaded, stale, duplicates = result.loaded, result.stale, result.duplicates
        if result.staged != summary["valid"]:
            raise RuntimeError(f"feed {feed_id} {day}: valid.parquet holds {result.staged} rows, validation passed {summary['valid']}")
        if feed.mode == "snapshot":
            from safety_hub.warehouse.load import detect_snapshot_deletions

            detect_snapshot_deletions(conn, feed)
        audit = md.tables["load_audit"]
        # One row per feed run: re-running the same run (same batch id) replaces it.
        conn.execute(audit.delete().where(audit.c.feed_id == feed_id, audit.c.batch_id == batch_id))
        conn.execute(audit.insert().values(
            feed_id=feed_id, batch_id=batch_id, business_date=day, raw_file=str(part), raw_sha256=sidecar["sha256"],
            rows_extracted=summary["rows"], rows_valid=summary["valid"], rows_quarantined=summary["quarantined"],
            rows_duplicate=duplicates, rows_stale=stale, rows_loaded=loaded, status="loaded", volume_note=volume_note, loaded_at=now,
            rows_physical=summary.get("physical"), rows_set_aside=sum((summary.get("set_aside") or {}).values()),
        ))
        record_returns(conn, feed, day, summary["batch_id"], batch_id, part)
        # Until a warehouse build succeeds, its marts are stale from the earliest date this batch touched.
        from safety_hub.warehouse.watermark import record

        record(conn, feed_id, batch_id, min(result.touched))
        # Every row is accounted for, or the transaction (facts and audit) is rolled back.
        if summary["rows"] != loaded + summary["quarantined"] + duplicates + stale:
            raise RuntimeError(
                f"feed {feed_id} {day}: counts do not reconcile: {summary['rows']} extracted != {loaded} loaded + "
                f"{summary['quarantined']} quarantined + {duplicates} duplicates + {stale} stale"
            )
    return loaded, stale, duplicates, result.touched


def write_quality(conn: sa.Connection, md: sa.MetaData, feed_id: str, day: dt.date, stage: Path, batch_id: str) -> None:
    """Replace the day's staged quality records (``<table>.parquet`` in ``stage``) in the warehouse, in ``conn``'s transaction.

    Each file is inserted as it is read (``bulk.insert_parquet``: DuckDB reads it in SQL, PostgreSQL
    receives it in COPY chunks), so a quarantine of any size is never held whole in memory.
    """
    from safety_hub.warehouse.bulk import insert_parquet

    for name in QUALITY_TABLES:
        path = stage / f"{name}.parquet"
        if not path.exists():
            continue
        table = md.tables[name]
        if name == "validation_result":
            conn.execute(table.delete().where(table.c.batch_id == batch_id, table.c.feed_id == feed_id))
        else:
            conn.execute(table.delete().where(table.c.feed_id == feed_id, table.c.business_date == day))
        insert_parquet(conn, table, path)


def record_returns(conn: sa.Connection, feed, day: dt.date, batch_id: str, loaded_batch: str | None, part: Path) -> None:
    """What the batch says about its agency's reporting, in the transaction that commits its quarantine:
    the 退回台账 (its rejections opened, earlier ones its corrected records pass closed as 已整改) and
    the day's field quality (records filling each item, records a rule of the item rejected)."""
    from safety_hub.warehouse import fieldquality, rejections

    rejections.track(conn, feed, day, batch_id, loaded_batch)
    fieldquality.record(conn, feed, day, batch_id, part / RECORDS)


@one_at_a_time
def run_returns(feed_id: str, day: dt.date, batch_id: str) -> dict:
    """The batch's 退回清单 in its agency's outbox (``reporting.returns``), from what validation staged for ``batch_id``.

    Runs after validate whatever its outcome (a batch over its quality threshold is returned too);
    ``FeedError`` when no validation of this batch was staged (land or validate did not get that far).
    """
    from safety_hub.config.registry import agencies
    from safety_hub.reporting.returns import write_return_list

    feed = get_feed(feed_id)
    stage = staging_partition(feed_id, day)
    summary_path = stage / "validation.json"
    staged = json.loads(summary_path.read_text(encoding="utf-8")).get("batch_id") if summary_path.exists() else None
    if staged != batch_id:
        raise FeedError(feed_id, str(stage), f"no validation of batch {batch_id} staged (found {staged}): nothing to return")
    result = write_return_list(feed, day, batch_id, stage, agency_name=agencies()[feed.agency].name)
    if result.path:
        log.info("feed %s %s: 退回清单 of %d rejected and %d flagged row(s) written to %s", feed_id, day, result.rejected, result.flagged, result.path)
    return {"path": str(result.path) if result.path else None, "agency": result.agency, "rejected": result.rejected,
            "flagged": result.flagged, "lines": result.lines}


def volume_anomaly(engine: sa.Engine, md: sa.MetaData, feed, day: dt.date, rows: int) -> str | None:
    """A note when ``rows`` is outside the band around the trailing median of earlier loads."""
    import statistics

    import sqlalchemy as sa

    audit = md.tables["load_audit"]
    with engine.connect() as conn:
        history = conn.execute(
            sa.select(audit.c.business_date, sa.func.max(audit.c.rows_extracted))
            .where(audit.c.feed_id == feed.feed_id, audit.c.status == "loaded", audit.c.business_date < day)
            .group_by(audit.c.business_date).order_by(audit.c.business_date.desc()).limit(feed.validation.volume_window)
        ).all()
    if len(history) < 3:
        return None  # too little history to judge
    median = statistics.median(r[1] for r in history)
    band = feed.validation.volume_band
    if median and not (median * (1 - band) <= rows <= median * (1 + band)):
        return f"volume anomaly: {rows} rows vs trailing median {median:g} over {len(history)} runs (band ±{band:.0%})"
    return None


@one_at_a_time
def run_feed(feed_id: str, day: dt.date, batch_id: str | None = None, force: bool = False) -> dict:
    """All four stages in one call (CLI and tests; the DAGs run them as separate tasks)."""
    batch_id = batch_id or f"manual__{feed_id}__{day.isoformat()}"
    run_extract(feed_id, day, batch_id, force=force)
    return run_replay(feed_id, day, batch_id)


@one_at_a_time
def run_replay(feed_id: str, day: dt.date, batch_id: str | None = None) -> dict:
    """Reprocess a landed day from the raw zone (no call to the agency): land, validate, load."""
    batch_id = batch_id or f"replay__{feed_id}__{day.isoformat()}__{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    run_land(feed_id, day)
    run_validate(feed_id, day, batch_id)
    return run_load(feed_id, day, batch_id)


def table_counts(engine: sa.Engine) -> dict[str, int]:
    """Row count per warehouse table (for the demo summary and checks)."""
    import sqlalchemy as sa

    from safety_hub.warehouse.schema import build_metadata

    counts = {}
    with engine.connect() as conn:
        for name in build_metadata().tables:
            counts[name] = conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
    return counts
