"""One delivery through extract, land, validate, load (and the warehouse build) against a raw DuckDB read.

    make bench-e2e                                   # 2,000,000-row CSV file drop
    make bench-e2e ARGS="--rows 10000000"            # the memory target at 10M rows
    make bench-e2e ARGS="--rows 200000 --warm"       # also: every stage in one warm process

The ``emb_hazard`` ledger (simulator records with its defects, tiled to ``--rows``
with a unique ``yhbh``) is written as a UTF-8 CSV and declared as a **file drop**
(a copy of the feed registry whose ``emb_hazard`` delivery is ``kind: file_drop``),
in a scratch home (``SAFETY_HUB_HOME``, DuckDB warehouse). Then each stage runs as
Airflow runs its tasks, **in a fresh interpreter** (``pipeline.run_extract``,
``run_land``, ``run_validate``, ``run_load``; then the incremental ``build`` for the
load's business date, what the ``warehouse_build`` DAG's tasks run), and prints per stage:

  work      seconds inside the stage function (the stage's own modules are imported
            there: ``safety_hub.pipeline`` imports no data library);
  process   seconds of the whole interpreter (imports, set-up and work);
  peak RSS  the process's own peak (``getrusage``; the driver stays ~20 MB).

The baseline is DuckDB ``read_csv`` (``all_varchar``) of the same file into Arrow,
measured in the same run. Targets (issue 20), printed PASS/MISS:

  * extract through load within 3x the raw read (process seconds; stretch 2x);
  * peak RSS of every stage below 1 GB (compare a ``--rows 10000000`` run: flat within 20%);
  * ``--warm``: fixed cost per stage below 1 s in a warm process (a 1,000-row delivery
    through every stage after the warm-up imports of a Celery worker).

Not a test: it exits 0 unless a stage crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hazard_data import FEED_ID, machine, peak_rss_mb, run_stage, verdict, versions  # noqa: E402

TARGET_RATIO = 3.0
STRETCH_RATIO = 2.0
TARGET_RSS_MB = 1024
TARGET_FIXED_S = 1.0
CONN_ID = "bench_drop"
PATTERN = "emb_hazard_{date:%Y%m%d}.csv"
STAGES = ("extract", "land", "validate", "load")
# Libraries whose import costs a task process noticeable time; each stage reports the ones it loaded.
HEAVY = ("great_expectations", "pandas", "pyarrow", "sqlalchemy", "duckdb", "alembic", "openpyxl", "requests")


def scratch_env(work: Path) -> dict[str, str]:
    """The environment every stage process runs in: a scratch home, a file-drop registry, a DuckDB warehouse."""
    return {
        "SAFETY_HUB_HOME": str(work / "home"),
        "SAFETY_HUB_FEEDS_DIR": str(work / "feeds"),
        "SAFETY_HUB_WAREHOUSE_URL": f"duckdb:///{work / 'home' / 'warehouse.duckdb'}",
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps({"conn_type": "fs", "extra": {"path": str(work / "drop")}}),
        "AIRFLOW_HOME": str(work / "airflow"),  # Connection.get outside a task reads the environment's connections
    }


def prepare(work: Path) -> None:
    """Copy the registry with ``emb_hazard`` delivered as a CSV file drop."""
    import yaml

    from safety_hub.config import settings

    shutil.copytree(os.environ.get("BENCH_SOURCE_FEEDS") or settings.feeds_dir(), work / "feeds")
    path = work / "feeds" / f"{FEED_ID}.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["delivery"] = {"kind": "file_drop", "conn_id": CONN_ID, "pattern": PATTERN, "encoding": "auto", "settle_seconds": 0}
    # A 10M-row drop is ~3 GB: over the default limits.max_file_mb (2048), so the feed raises its limits, as the README shows.
    spec["limits"] = {**(spec.get("limits") or {}), "max_file_mb": 16384, "max_rows": 30_000_000}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for name in ("home", "drop", "airflow"):
        (work / name).mkdir(parents=True, exist_ok=True)


# --- stages (each in its own interpreter) ---------------------------------------------------

def stage_gen(rows: int, drop: Path) -> dict:
    from hazard_data import hazard_table, write_csv

    table, day = hazard_table(rows)
    path = drop / PATTERN.format(date=day)
    return {"day": day.isoformat(), "path": str(path), "bytes": write_csv(table, path), "peak_rss_mb": peak_rss_mb()}


def stage_raw(csv: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    query = "SELECT * FROM read_csv('%s', all_varchar=true)" % str(csv).replace("'", "''")
    t0 = time.perf_counter()
    rows = con.sql(query).to_arrow_table().num_rows
    return {"work_s": time.perf_counter() - t0, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _run(stage: str, day, batch_id: str):
    import datetime as dt

    from safety_hub import pipeline

    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    if stage == "extract":
        return pipeline.run_extract(FEED_ID, day, batch_id, force=True)
    if stage == "land":
        return pipeline.run_land(FEED_ID, day)
    if stage == "validate":
        return pipeline.run_validate(FEED_ID, day, batch_id)
    if stage == "load":
        return pipeline.run_load(FEED_ID, day, batch_id)
    if stage == "build":
        from safety_hub.warehouse.engine import get_engine
        from safety_hub.warehouse.build import build

        result = build(get_engine(), [day])  # incremental, for the date the load touched (warehouse_build's run)
        return {"enterprises": result["enterprises"], "mart_dates": len(result["as_of"])}
    raise ValueError(stage)


def stage_pipeline(stage: str, day: str, batch_id: str) -> dict:
    t0 = time.perf_counter()
    from safety_hub import pipeline  # noqa: F401  (what a task imports before it works)

    t1 = time.perf_counter()
    summary = _run(stage, day, batch_id)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "work_s": t2 - t1, "summary": summary, "peak_rss_mb": peak_rss_mb(),
            "imported": sorted(m for m in HEAVY if m in sys.modules)}


def stage_warm(day: str, batch_id: str) -> dict:
    """Every stage in one process after a Celery worker's imports (Airflow, ``safety_hub.ops.warmup``)."""
    t0 = time.perf_counter()
    import airflow.sdk  # noqa: F401  (a Celery worker has Airflow imported before it forks a task)
    import safety_hub.ops.warmup  # noqa: F401

    out = {"warmup_s": time.perf_counter() - t0, "stages": {}}
    for stage in (*STAGES, "build"):
        t = time.perf_counter()
        _run(stage, day, f"{batch_id}_{stage}")
        out["stages"][stage] = time.perf_counter() - t
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# --- driver ---------------------------------------------------------------------------------

def main() -> None:
    from safety_hub.config import settings

    os.environ.setdefault("BENCH_SOURCE_FEEDS", str(settings.feeds_dir()))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--warm", action="store_true", help="also run a 1,000-row delivery through every stage in one warm process")
    ap.add_argument("--workdir", type=Path, help="keep the scratch home here (default: a temporary directory, removed)")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--day", help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--batch", default="bench_e2e", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.stage:  # a child interpreter: one stage, one JSON line
        if args.stage == "gen":
            out = stage_gen(args.rows, args.path)
        elif args.stage == "raw":
            out = stage_raw(args.path)
        elif args.stage == "warm":
            out = stage_warm(args.day, args.batch)
        else:
            out = stage_pipeline(args.stage, args.day, args.batch)
        print(json.dumps(out, ensure_ascii=False, default=str))
        return

    here = Path(__file__)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepare(work)
        os.environ.update(scratch_env(work))
        print(f"machine: {machine()}\nversions: {versions()}")
        t0 = time.perf_counter()
        gen = run_stage(here, ["--stage", "gen", "--rows", str(args.rows), "--path", str(work / "drop")])
        day, csv = gen["day"], Path(gen["path"])
        print(f"delivery: {csv.name}, {args.rows:,} rows, {gen['bytes'] / 1e6:.0f} MB UTF-8 CSV, business date {day} "
              f"(generated in {time.perf_counter() - t0:.1f} s); scratch home {work}")
        print("each stage runs in a fresh interpreter, as Airflow runs a task\n")

        def timed(stage_args: list[str]) -> tuple[dict, float]:
            t = time.perf_counter()
            result = run_stage(here, stage_args)
            return result, time.perf_counter() - t

        raw, raw_proc = timed(["--stage", "raw", "--path", str(csv)])
        assert raw["rows"] == args.rows, (raw["rows"], args.rows)
        results = {}
        for stage in (*STAGES, "build"):
            results[stage] = timed(["--stage", stage, "--day", day])
            if stage == "load":
                summary = results[stage][0]["summary"]
                print(f"  loaded {summary['loaded']:,}, quarantined {summary['quarantined']:,}, duplicates {summary['duplicates']:,}, "
                      f"stale {summary['stale']:,} of {summary['rows']:,} rows\n")

        rows = args.rows
        print(f"{'stage':<34} {'work s':>8} {'process s':>10} {'rows/s':>12} {'peak RSS MB':>12}")
        print(f"{'raw: DuckDB read_csv -> Arrow':<34} {raw['work_s']:8.2f} {raw_proc:10.2f} {rows / raw['work_s']:12,.0f} {raw['peak_rss_mb']:12.0f}")
        for stage, (res, proc) in results.items():
            print(f"{stage:<34} {res['work_s']:8.2f} {proc:10.2f} {rows / proc:12,.0f} {res['peak_rss_mb']:12.0f}")
        e2e = sum(results[s][1] for s in STAGES)
        e2e_work = sum(results[s][0]["work_s"] for s in STAGES)
        build = results["build"][1]
        print(f"{'extract..load':<34} {e2e_work:8.2f} {e2e:10.2f} {rows / e2e:12,.0f}")
        ratio = e2e / raw["work_s"]
        print(f"\nratio extract..load / raw read = {ratio:.1f}x (process seconds; work only {e2e_work / raw['work_s']:.1f}x; "
              f"with the build {(e2e + build) / raw['work_s']:.1f}x)")
        print(f"  target within {TARGET_RATIO:.0f}x -> {verdict(ratio <= TARGET_RATIO)}   stretch {STRETCH_RATIO:.0f}x -> {verdict(ratio <= STRETCH_RATIO)}")
        peak = max(res["peak_rss_mb"] for res, _ in results.values())
        worst = max(results, key=lambda s: results[s][0]["peak_rss_mb"])
        print(f"  peak RSS of every stage below {TARGET_RSS_MB} MB -> {verdict(peak < TARGET_RSS_MB)} (highest: {worst}, {peak:.0f} MB)")
        print("  fixed cost (import of the pipeline in a fresh process): "
              + ", ".join(f"{s} {results[s][0]['import_s']:.1f} s" for s in results))
        print("  heavy libraries each stage's process imported (the import of the stage's own modules is in its work s):")
        for stage, (res, _) in results.items():
            print(f"    {stage:<9} {', '.join(res['imported']) or '-'}")

        if args.warm:
            small = work / "warm"
            small.mkdir(exist_ok=True)
            prepare(small)
            os.environ.update(scratch_env(small))
            g = run_stage(here, ["--stage", "gen", "--rows", "1000", "--path", str(small / "drop")])
            warm = run_stage(here, ["--stage", "warm", "--day", g["day"]])
            print(f"\nwarm process (warm-up imports {warm['warmup_s']:.1f} s, not counted), a 1,000-row delivery:")
            for stage, seconds in warm["stages"].items():
                print(f"  {stage:<10} {seconds:6.2f} s  fixed cost below {TARGET_FIXED_S:.0f} s -> {verdict(seconds < TARGET_FIXED_S)}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
