"""Validation throughput of one hazard batch against a raw DuckDB read of the same file.

    make bench-validate                       # 1,000,000 rows
    .venv/bin/python bench/bench_validate.py --rows 100000 --profile

Generates an ``emb_hazard`` CSV (UTF-8, agency column names) from the simulator,
then, each in a fresh interpreter so peak RSS is per stage, times (median of
``--repeat``):

  raw       DuckDB ``SELECT * FROM read_csv(path, all_varchar=true)`` into Arrow
            (the baseline; into a pandas DataFrame is printed for information);
  validate  the platform's path: the landing read (the file's bytes through
            ``landing.parse_files``, as for a CSV file drop: ``_parse_csv`` reads
            it with pyarrow, all columns text) + ``check_batch`` with the feed's
            full suite.

It prints the ratio validate / raw and PASS/MISS against the target "within 3x",
where the time goes inside ``check_batch`` (normalise per column, GX validate),
and the vectorised USCC check against the scalar one on the same column.
``--profile`` adds one cProfile run of ``check_batch`` (top functions).
Not a test: it always exits 0 unless a stage crashes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hazard_data import FEED_ID, machine, median_time, peak_rss_mb, run_stage, verdict, versions  # noqa: E402

TARGET = 3.0


# --- stages (each runs in its own interpreter) ---------------------------------------------
# Linux carries a parent's peak RSS across fork+exec into the child's getrusage, so the
# driver stays small and even the data generation runs as a stage.

def stage_gen(rows: int, csv: Path) -> dict:
    from hazard_data import hazard_table, write_csv

    table, day = hazard_table(rows)
    return {"day": day.isoformat(), "bytes": write_csv(table, csv), "peak_rss_mb": peak_rss_mb()}


def stage_raw(csv: Path, repeat: int) -> dict:
    import duckdb
    import pandas  # noqa: F401  (imported before timing: .df() would import it in the first run)

    con = duckdb.connect()
    path = str(csv).replace("'", "''")
    query = f"SELECT * FROM read_csv('{path}', all_varchar=true)"
    t_arrow, runs_arrow, table = median_time(lambda: con.sql(query).to_arrow_table(), repeat)
    rows = table.num_rows
    del table
    rss_arrow = peak_rss_mb()
    t_df, runs_df, _ = median_time(lambda: con.sql(query).df(), repeat)
    return {"rows": rows, "arrow_s": t_arrow, "arrow_runs": runs_arrow, "df_s": t_df, "df_runs": runs_df,
            "peak_rss_mb": rss_arrow, "df_peak_rss_mb": peak_rss_mb()}


def _csv_feed():
    """The hazard feed as a CSV file drop (its registry delivery is the REST API)."""
    from safety_hub.config.registry import FileDropDelivery, get_feed

    feed = get_feed(FEED_ID)
    drop = FileDropDelivery(kind="file_drop", conn_id="bench", pattern="emb_hazard_{date:%Y%m%d}.csv", format="csv", encoding="auto")
    return feed.model_copy(update={"delivery": drop})


def _read_landing(csv: Path, feed=None):
    """The landing read of a delivered CSV: the file's bytes -> ``landing.parse_files``."""
    from safety_hub.ingest.delivery import RawFile
    from safety_hub.ingest.landing import parse_files

    return parse_files(feed or _csv_feed(), [RawFile(csv.name, csv.read_bytes())]).frame


def stage_validate(csv: Path, day: dt.date, repeat: int) -> dict:
    import safety_hub.quality.engine as engine_mod
    import safety_hub.quality.normalise as norm_mod
    import safety_hub.quality.validate as validate_mod
    from safety_hub.config.registry import get_feed

    feed = get_feed(FEED_ID)
    # Phase timers: wrap the names check_batch/normalise look up (no change to them).
    # check_batch types the columns in worker threads while GX validates the groups whose
    # columns are ready (TypedColumns): the typing span and the per-column times overlap GX.
    phases: dict[str, float] = {}
    span: dict[str, float] = {}
    real_normalise, real_typed, real_validate = validate_mod.normalise, norm_mod._typed, engine_mod.Engine.validate

    def timed_normalise(*a, **k):
        t0 = time.perf_counter()
        try:
            return real_normalise(*a, **k)
        finally:
            phases["normalise"] = phases.get("normalise", 0.0) + time.perf_counter() - t0

    def timed_typed(column, raw):
        t0 = time.perf_counter()
        span.setdefault("start", t0)
        try:
            return real_typed(column, raw)
        finally:
            key = f"normalise {column.name} ({column.type})"
            t1 = time.perf_counter()
            phases[key] = phases.get(key, 0.0) + t1 - t0
            span["end"] = max(span.get("end", t1), t1)

    def timed_validate(*a, **k):
        t0 = time.perf_counter()
        try:
            return real_validate(*a, **k)
        finally:
            phases["gx Engine.validate (waits for the columns it needs)"] = time.perf_counter() - t0

    validate_mod.normalise, norm_mod._typed, engine_mod.Engine.validate = timed_normalise, timed_typed, timed_validate

    csv_feed = _csv_feed()
    t0 = time.perf_counter()
    records = _read_landing(csv, csv_feed)
    engine = engine_mod.Engine()  # options from the environment (SAFETY_HUB_GX_PATH, SAFETY_HUB_GX_OVERLAP)
    validate_mod.check_batch(feed, records.head(2000), day, engine=engine)  # imports GX, builds the context
    warmup = time.perf_counter() - t0
    del records

    runs = []
    check = None
    for _ in range(repeat):
        phases.clear()
        span.clear()
        check = None
        t0 = time.perf_counter()
        records = _read_landing(csv, csv_feed)
        t1 = time.perf_counter()
        check = validate_mod.check_batch(feed, records, day, engine=engine)
        t2 = time.perf_counter()
        if span:
            phases["typing, all columns (threads, overlaps gx)"] = span["end"] - span["start"]
        runs.append({"read": t1 - t0, "check": t2 - t1, "total": t2 - t0, "phases": dict(phases)})
        del records
    runs.sort(key=lambda r: r["total"])
    med = runs[len(runs) // 2]
    if "normalise" in med["phases"]:  # check_batch typing all columns before GX
        med["phases"]["gx_validate (check_batch - normalise)"] = med["check"] - med["phases"].get("normalise", 0.0)
    else:
        med["phases"]["rest of check_batch (suite, decisions)"] = med["check"] - med["phases"].get("gx Engine.validate (waits for the columns it needs)", 0.0)

    # The USCC check alone, old (per value) against new (vectorised), on the typed column GX sees.
    from safety_hub.domain.uscc import is_valid_uscc, uscc_valid_mask

    column = check.typed["uscc"].dropna()
    t_old, _, old = median_time(lambda: column.map(is_valid_uscc).astype(bool), 1)
    t_new, _, new = median_time(lambda: uscc_valid_mask(column), 3)
    return {
        "rows": check.rows, "warmup_s": warmup,
        "read_s": med["read"], "check_s": med["check"], "total_s": med["total"],
        "runs_total": [r["total"] for r in runs], "phases": med["phases"],
        "quarantined": check.quarantined, "rule_counts": {k: v for k, v in check.rule_counts.items() if v},
        "uscc_rows": len(column), "uscc_scalar_s": t_old, "uscc_vector_s": t_new,
        "uscc_agree": bool((old.to_numpy() == new.to_numpy()).all()), "uscc_invalid": int((~new).sum()),
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_profile(csv: Path, day: dt.date, top: int) -> dict:
    import cProfile
    import io
    import pstats

    from safety_hub.quality.validate import check_batch
    from safety_hub.config.registry import get_feed

    feed = get_feed(FEED_ID)
    records = _read_landing(csv)
    check_batch(feed, records.head(2000), day)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(check_batch, feed, records, day)
    wall = time.perf_counter() - t0
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"safety_hub|great_expectations/(validator|expectations/metrics)", top)
    return {"wall_s": wall, "text": out.getvalue(), "peak_rss_mb": peak_rss_mb()}


# --- driver --------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also one cProfile run of check_batch (slower)")
    ap.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    ap.add_argument("--workdir", help="keep the generated CSV here (default: a temp dir, removed)")
    ap.add_argument("--stage", choices=["gen", "raw", "validate", "profile"], help=argparse.SUPPRESS)
    ap.add_argument("--rows-out", help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--day", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.stage:
        csv = Path(args.csv)
        day = dt.date.fromisoformat(args.day) if args.day else None
        result = {"gen": lambda: stage_gen(args.rows, csv),
                  "raw": lambda: stage_raw(csv, args.repeat),
                  "validate": lambda: stage_validate(csv, day, args.repeat),
                  "profile": lambda: stage_profile(csv, day, args.top)}[args.stage]()
        print(json.dumps(result, ensure_ascii=False))
        return

    started = dt.datetime.now().astimezone()
    print(f"bench-validate  {started:%Y-%m-%d %H:%M %Z}  rows={args.rows:,}  repeat={args.repeat} (median)")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    print("GX: path {} (SAFETY_HUB_GX_PATH), overlap {} (SAFETY_HUB_GX_OVERLAP)".format(
        os.environ.get("SAFETY_HUB_GX_PATH") or "fast", os.environ.get("SAFETY_HUB_GX_OVERLAP") or "on"))
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-validate-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        csv = work / f"{FEED_ID}_{args.rows}.csv"
        gen = run_stage(Path(__file__), ["--stage", "gen", "--rows", str(args.rows), "--csv", str(csv)])
        day = dt.date.fromisoformat(gen["day"])
        print(f"data: {csv} ({gen['bytes'] / 1e6:.0f} MB, UTF-8), business date {day}, generated in {time.perf_counter() - t0:.1f} s")
        print(f"(each stage runs in a fresh interpreter; this driver's RSS is {peak_rss_mb():.0f} MB, a floor for the peaks below)")

        raw = run_stage(Path(__file__), ["--stage", "raw", "--csv", str(csv), "--repeat", str(args.repeat)])
        val = run_stage(Path(__file__), ["--stage", "validate", "--csv", str(csv), "--day", day.isoformat(), "--repeat", str(args.repeat)])
        rows = raw["rows"]
        assert rows == val["rows"] == args.rows, (rows, val["rows"], args.rows)

        def line(name: str, seconds: float, rss: float | None = None, extra: str = "") -> None:
            rss_text = f"  peak RSS {rss:7.0f} MB" if rss is not None else ""
            print(f"  {name:<46} {seconds:8.2f} s  {rows / seconds:>11,.0f} rows/s{rss_text}{extra}")

        print("\nresults (median of %d, seconds)" % args.repeat)
        line("(a) raw: DuckDB read_csv all_varchar -> Arrow", raw["arrow_s"], raw["peak_rss_mb"])
        line("    info: DuckDB read_csv all_varchar -> pandas", raw["df_s"], raw["df_peak_rss_mb"])
        line("(b) validate: landing read + check_batch", val["total_s"], val["peak_rss_mb"])
        line("    of which landing read (parse_files, CSV)", val["read_s"])
        line("    of which check_batch (normalise + GX)", val["check_s"])
        ratio = val["total_s"] / raw["arrow_s"]
        print(f"\n  ratio validate / raw read = {ratio:.1f}x   (check_batch alone {val['check_s'] / raw['arrow_s']:.1f}x; "
              f"against the raw read into pandas {val['total_s'] / raw['df_s']:.1f}x)")
        print(f"  target: within {TARGET:.0f}x of the raw read -> {verdict(ratio <= TARGET)}")
        print(f"  all runs (s): raw {', '.join(f'{t:.2f}' for t in raw['arrow_runs'])}; "
              f"validate {', '.join(f'{t:.2f}' for t in val['runs_total'])}; GX import + warm-up {val['warmup_s']:.1f} s (not timed)")

        print("\nwhere check_batch spends its time (median run, seconds, share of check_batch; typing overlaps gx)")
        phases = sorted(val["phases"].items(), key=lambda kv: -kv[1])
        for name, seconds in phases:
            if name == "normalise" or seconds >= 0.005 * val["check_s"]:
                print(f"  {name:<52} {seconds:7.2f}  {seconds / val['check_s']:6.1%}")
        print("\nUSCC check on the typed column GX validates (%s non-null values, %s invalid)" % (f"{val['uscc_rows']:,}", f"{val['uscc_invalid']:,}"))
        print(f"  scalar  column.map(is_valid_uscc)  {val['uscc_scalar_s']:7.3f} s")
        print(f"  vector  uscc_valid_mask(column)     {val['uscc_vector_s']:7.3f} s   "
              f"({val['uscc_scalar_s'] / val['uscc_vector_s']:.0f}x faster; same answers: {val['uscc_agree']})")
        print(f"\nquarantined {val['quarantined']:,} of {rows:,} rows; rule counts: {json.dumps(val['rule_counts'], ensure_ascii=False)}")

        if args.profile:
            prof = run_stage(Path(__file__), ["--stage", "profile", "--csv", str(csv), "--day", day.isoformat(), "--top", str(args.top)])
            print(f"\ncProfile of one check_batch ({prof['wall_s']:.1f} s under the profiler, peak RSS {prof['peak_rss_mb']:.0f} MB)")
            print(prof["text"])
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
