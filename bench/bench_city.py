"""A city-profile span through the real stage functions, batch by batch, with the incremental build.

    make bench-city                                   # one quarter of working days (62), DuckDB
    make bench-city ARGS="--days 250"                 # a year of working days
    make bench-city ARGS="--backends duckdb,postgres" # also PostgreSQL (scratch database on 127.0.0.1:5432),
                                                      # and its end-to-end rate against DuckDB's (target 3x)

The simulator's city profile (``simulate --profile city``: the Chinese working-day calendar,
~12,000 rows a working day over 15 feeds) writes ``--days`` working days from ``--start`` into a
scratch drop zone (file drops, the agencies' SQLite databases, the truth manifest and the
period's figures), and serves the API feeds from a simulator process of the same profile
(``python -m safety_hub simulator serve --profile city``). Batches are the ISO weeks of the span.
For each batch, four fresh interpreters run what Airflow's tasks run, in the batch's day order,
for every feed and working day of the batch:

  land      ``pipeline.run_extract`` + ``run_land`` (extract is in this stage's figures);
  validate  ``run_validate``;
  load      ``run_load`` (the business dates each load touched are collected);
  build     ``warehouse.build.build(engine, touched)``: the incremental build ``warehouse_build`` runs
            (printed under the week: its first as-of date, the earliest reason for it, its steps' seconds).

A delivery a stage refuses (landing refusal, quality threshold) is counted and reported, and
the day goes on. Then, measured in the same run:

  * end-to-end rows/s (records landed / process seconds of land + validate + load + build),
    and its ratio to DuckDB reading the same delivered files (``read_csv`` / ``read_json``, in a
    fresh interpreter). DuckDB reads here only what it reads without an extension it would have
    to download: the UTF-8 CSV drops and the API pages (JSON); GBK/GB18030 CSV needs the
    ``encodings`` extension, XLSX ``excel``, SQLite ``sqlite``. So the ratio is of rates (rows/s
    of the pipeline over all files / rows/s of DuckDB over the files it reads), with the share
    of rows it covered printed;
  * flatness: the cost of the last batches against the first (``min(10, n // 3)`` each) at equal
    volume, from a least-squares fit of each batch's cost to its deliveries, records and the records
    loaded before it (``equal_volume_flatness``; the target is 1.3x); the cost per 1,000 records and
    per delivery of the same batches beside it;
  * peak RSS of each stage (the highest over the batches; target < 1.5 GB);
  * the weekly report (``reporting.produce.produce_week``) for the span's last ISO week, and the
    README's analyst queries (every SQL block of its "Three questions analysts ask" section);
  * the span's 动态整改率, 挂牌督办 count and enforcement totals from the warehouse against the
    simulator's period figures (``truth/period/<from>_<to>.json``) and against the same figures
    less the deliveries the pipeline refused (a delivery over its quality threshold loads nothing:
    an expected outcome, reported as such), added up from each delivery's share
    (``truth/figures/<day>.json``); the verdict is on the second;
  * the history import: one generated ``emb_hazard`` delivery of ``--history-rows`` records (a CSV
    file drop, bench_e2e's data) through extract, land, validate and load in a scratch warehouse of
    its own, with rows/s, peak RSS per stage and 150M records extrapolated from the rate
    (``--history-rows 10000000`` for the 10M-row delivery).
Not a test: it exits 0 unless a stage crashes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hazard_data import machine, peak_rss_mb, run_stage, verdict, versions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
SIM_TOKEN = "bench-city"
STAGES = ("land", "validate", "load", "build")
TARGET_RATIO, STRETCH_RATIO, TARGET_FLAT, TARGET_RSS_MB = 3.0, 2.0, 1.3, 1536
TARGET_REPORT_S, TARGET_QUERY_S = 10.0, 1.0
HISTORY_RECORDS, TARGET_HISTORY_H, STRETCH_HISTORY_H = 150_000_000, 2.0, 0.5
# The figures the warehouse must reproduce (names of the simulator's period figures).
ENFORCEMENT = {"停产整顿": "suspensions", "吊销": "revocations", "关闭取缔": "closures", "联合惩戒": "joint_punishments", "约谈": "warning_talks"}
PENALTIES = ("罚款", "警告", "停产整顿", "吊销", "关闭取缔")
CHECKED = ("hazards_found", "hazards_closed", "dynamic_rectification_rate", "listed_major_hazards", "penalties", *ENFORCEMENT.values())


def working_days(start: dt.date, n: int) -> list[dt.date]:
    from safety_hub.domain.workdays import is_business_day

    days, day = [], start
    while len(days) < n:
        if is_business_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def batches_of(days: list[dt.date]) -> list[list[dt.date]]:
    out: dict[tuple, list[dt.date]] = {}
    for d in days:
        out.setdefault(d.isocalendar()[:2], []).append(d)
    return list(out.values())


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- stages (each in its own interpreter) ---------------------------------------------------

def stage_batch(stage: str, days: list[dt.date], touched: list[dt.date]) -> dict:
    t0 = time.perf_counter()
    from safety_hub import pipeline
    from safety_hub.config.registry import load_registry
    from safety_hub.domain.errors import DuplicateDelivery, FeedError, FeedQualityError

    feeds = sorted(load_registry())
    t1 = time.perf_counter()
    out: dict = {"rows": 0, "deliveries": 0, "failed": [], "touched": [], "per_feed_s": {}}
    if stage == "build":
        from safety_hub.warehouse.build import build
        from safety_hub.warehouse.engine import get_engine

        result = build(get_engine(), touched)
        out["as_of"] = len(result["as_of"])
        out["as_of_from"] = min(result["as_of"]).isoformat() if result["as_of"] else None
        out["build_report"] = result["report"]  # seconds per build step, and why the marts went back to as_of_from
    else:
        drop = Path(os.environ["BENCH_CITY_DROP"])
        failed_file = Path(os.environ["SAFETY_HUB_HOME"]) / "bench_failed.json"  # a failed task's day goes no further, as in Airflow
        stopped = set(json.loads(failed_file.read_text(encoding="utf-8"))) if failed_file.exists() else set()
        for day in days:
            delivered = json.loads((drop / "truth" / f"{day}.json").read_text(encoding="utf-8"))["feeds"]
            for feed in [f for f in feeds if delivered.get(f, {}).get("rows_delivered")]:  # a feed may not deliver every day
                batch = f"city__{feed}__{day}"
                if batch in stopped:
                    continue
                t = time.perf_counter()
                out["deliveries"] += 1
                try:
                    if stage == "land":
                        pipeline.run_extract(feed, day, batch)
                        out["rows"] += pipeline.run_land(feed, day)["rows"]
                    elif stage == "validate":
                        pipeline.run_validate(feed, day, batch)
                    elif stage == "load":
                        out["touched"] += pipeline.run_load(feed, day, batch)["business_dates"]
                except (FeedError, FeedQualityError, DuplicateDelivery) as exc:  # a refused delivery, a breached threshold
                    out["failed"].append(f"{stage} {feed} {day}: {type(exc).__name__}: {str(exc)[:160]}")
                    stopped.add(batch)
                out["per_feed_s"][feed] = out["per_feed_s"].get(feed, 0.0) + time.perf_counter() - t
        failed_file.write_text(json.dumps(sorted(stopped)), encoding="utf-8")
    out.update(import_s=t1 - t0, work_s=time.perf_counter() - t1, cpu_s=cpu_seconds(), peak_rss_mb=peak_rss_mb())
    return out


def stage_raw(files: list[str]) -> dict:
    import duckdb

    con = duckdb.connect()
    rows, t0 = 0, time.perf_counter()
    for path in files:
        quoted = path.replace("'", "''")
        if path.endswith(".csv"):
            rows += con.sql(f"SELECT * FROM read_csv('{quoted}', all_varchar=true)").to_arrow_table().num_rows
        else:  # an API page: {"code", "data": {"records": [...]}}
            rows += con.sql(f"SELECT unnest(data.records, max_depth := 2) FROM read_json('{quoted}', maximum_object_size=268435456)"
                            ).to_arrow_table().num_rows
    return {"work_s": time.perf_counter() - t0, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def analyst_queries() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Three questions analysts", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def stage_report(last_day: str) -> dict:
    import sqlalchemy as sa

    from safety_hub.reporting.produce import produce_week
    from safety_hub.warehouse.engine import get_engine

    day = dt.date.fromisoformat(last_day)
    iso = day.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    engine = get_engine()
    t = time.perf_counter()
    produce_week(week, engine)
    report_s = time.perf_counter() - t
    queries = []
    with engine.connect() as conn:
        for sql in analyst_queries():
            t = time.perf_counter()
            n = len(conn.execute(sa.text(sql)).all())
            queries.append({"query": " ".join(sql.split())[:60], "rows": n, "s": time.perf_counter() - t})
    return {"week": week, "report_s": report_s, "queries": queries, "peak_rss_mb": peak_rss_mb()}


def stage_figures() -> dict:
    import sqlalchemy as sa

    from safety_hub.warehouse.engine import get_engine

    with get_engine().connect() as conn:
        found, closed, listed = conn.execute(sa.text(
            "SELECT COUNT(*), SUM(CASE WHEN is_closed THEN 1 ELSE 0 END), SUM(CASE WHEN listed_supervision THEN 1 ELSE 0 END) FROM hazard")).one()
        actions = dict(conn.execute(sa.text("SELECT action_type, COUNT(*) FROM fact_enforcement GROUP BY action_type")).all())
    figures = {"hazards_found": found, "hazards_closed": int(closed or 0),
               "dynamic_rectification_rate": round(100.0 * (closed or 0) / found, 1) if found else None,
               "listed_major_hazards": int(listed or 0), "penalties": sum(actions.get(a, 0) for a in PENALTIES),
               **{name: actions.get(action, 0) for action, name in ENFORCEMENT.items()}}
    return {"figures": figures, "peak_rss_mb": peak_rss_mb()}


# --- driver ---------------------------------------------------------------------------------

def start_simulator(env: dict, seed: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "safety_hub", "simulator", "serve", "--port", "0", "--profile", "city", "--seed", str(seed)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    found = re.search(r"(http://[\d.]+:\d+)", line)
    if not found:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line}")
    return proc, found.group(1)


def _utf8(path: Path) -> bool:
    head = path.read_bytes()[:1 << 16]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # cut inside a character at the end of the sample
    return True


def delivered_files(home: Path, days: list[dt.date]) -> tuple[list[str], list[str]]:
    """The landed originals of ``days`` DuckDB can read here (UTF-8 CSV, API pages) and those it cannot."""
    readable, other = [], []
    for part in sorted((home / "data" / "raw").glob("*/dt=*")):
        if dt.date.fromisoformat(part.name[3:]) not in days:
            continue
        sidecar = json.loads((part / "_sidecar.json").read_text(encoding="utf-8"))
        for f in sidecar["files"]:
            path = part / f["name"]
            if path.suffix == ".json" or (path.suffix == ".csv" and _utf8(path)):
                readable.append(str(path))
            else:
                other.append(str(path))
    return readable, other


def equal_volume_flatness(results: list[dict], k: int, cost=lambda r: r["cpu"]) -> dict:
    """The cost of the last ``k`` batches against the first ``k`` at equal volume.

    The span's batches differ in volume (a two-day week, the Spring Festival, the seasonal dip of the
    city profile), and a batch's cost is mostly per delivery, partly per record, plus a fixed part (the
    four fresh interpreters, the build's own). So each batch's cost is fitted, by least squares over
    all batches, as ``fixed + per_delivery * deliveries + per_record * records + per_history *
    records loaded before it``; the verdict is that model's cost of the batches' mean volume with the
    history of the last ``k`` against the same volume with the history of the first ``k``. The
    per-record and per-delivery ratios are printed beside it."""
    import numpy as np

    history, seen = [], 0
    for r in results:
        history.append(seen)
        seen += r["rows"]
    x = np.array([[1.0, r["deliveries"], r["rows"], h] for r, h in zip(results, history)])
    y = np.array([cost(r) for r in results])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    mean = x.mean(axis=0)
    at = lambda h: float(coef[0] + coef[1] * mean[1] + coef[2] * mean[2] + coef[3] * h)  # noqa: E731
    h_first, h_last = float(np.mean(history[:k])), float(np.mean(history[-k:]))
    per_delivery = lambda rs: sum(cost(r) for r in rs) / max(1, sum(r["deliveries"] for r in rs))  # noqa: E731
    return {"first": at(h_first), "last": at(h_last), "ratio": at(h_last) / at(h_first), "coef": [float(c) for c in coef],
            "deliveries": float(mean[1]), "records": float(mean[2]),
            "per_delivery_ratio": per_delivery(results[-k:]) / per_delivery(results[:k])}


FIT_MIN_BATCHES = 8  # four coefficients: at least twice as many batches


def print_equal_volume_flatness(results: list[dict], k: int) -> None:
    if len(results) < FIT_MIN_BATCHES:
        print(f"flatness at equal volume: not measured ({len(results)} batches; the fit of a batch's cost needs {FIT_MIN_BATCHES})")
        return
    for label, cost in (("CPU", lambda r: r["cpu"]), ("process wall", lambda r: r["cost"])):
        f = equal_volume_flatness(results, k, cost)
        c = f["coef"]
        print(f"flatness at equal volume ({label} seconds; the verdict): a batch of {f['deliveries']:.0f} deliveries and "
              f"{f['records']:,.0f} records costs {f['last']:.1f} s with the last {k} batches' history vs {f['first']:.1f} s with the "
              f"first {k}'s = {f['ratio']:.2f}x  target <= {TARGET_FLAT}x -> {verdict(f['ratio'] <= TARGET_FLAT)}")
        print(f"  fitted over the {len(results)} batches: {c[0]:.2f} s fixed + {c[1]:.3f} s per delivery + {1000 * c[2]:.3f} s per 1,000 "
              f"records + {1e6 * c[3]:.3f} s per million records of history; per delivery (unfitted) last / first = "
              f"{f['per_delivery_ratio']:.2f}x")


def run_backend(here: Path, args, backend: str, url: str, work: Path, sim_env: dict, days: list[dt.date], truth: dict) -> float:
    """The span through ``backend``, printed; returns its end-to-end records/s."""
    home = work / f"home-{backend}"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(sim_env)
    os.environ["SAFETY_HUB_HOME"] = str(home)
    os.environ["SAFETY_HUB_WAREHOUSE_URL"] = url
    batches = batches_of(days)
    print(f"\n== {backend}: {len(days)} working days {days[0]} .. {days[-1]} in {len(batches)} weekly batches ==")
    print(f"{'batch':<10} {'days':>4} {'records':>9} " + " ".join(f"{s + ' s':>10}" for s in STAGES) + f" {'s/1k rec':>9} {'cpu/1k':>9} {'build cpu':>8} {'as-of':>5} {'failed':>6}  load")
    results = []
    for n, batch in enumerate(batches):
        day_args = ["--days-list", ",".join(d.isoformat() for d in batch)]
        per: dict[str, tuple[dict, float]] = {}
        touched: list[str] = []
        for stage in STAGES:
            extra = ["--touched", ",".join(sorted(set(touched)))] if stage == "build" else []
            t = time.perf_counter()
            res = run_stage(here, ["--stage", stage, *day_args, *extra])
            per[stage] = (res, time.perf_counter() - t)
            touched += res["touched"]
        rows = per["land"][0]["rows"]
        cost = sum(p for _, p in per.values())
        cpu = sum(r["cpu_s"] for r, _ in per.values())
        failed = sum(len(r["failed"]) for r, _ in per.values())
        results.append({"days": batch, "rows": rows, "deliveries": per["land"][0]["deliveries"], "per": per, "cost": cost, "cpu": cpu})
        week = batch[0].isocalendar()
        print(f"{week[0]}-W{week[1]:02d}   {len(batch):>4} {rows:>9,} " + " ".join(f"{per[s][1]:>10.1f}" for s in STAGES)
              + f" {1000 * cost / max(rows, 1):>9.2f} {1000 * cpu / max(rows, 1):>9.2f} {per['build'][0]['cpu_s']:>8.1f} {per['build'][0]['as_of']:>5} {failed:>6}  "
              + Path("/proc/loadavg").read_text().split()[0], flush=True)
        build = per["build"][0]
        steps = build["build_report"]["steps"]
        print(f"    build: as-of dates from {build['as_of_from']} ({(build['build_report']['reach'] or ['-'])[0][:150]}); steps s: "
              + ", ".join(f"{k} {v:.2f}" for k, v in steps.items() if k not in ("dimensions", "marts")), flush=True)
        for r, _ in per.values():
            for line in r["failed"]:
                print(f"    refused: {line}")

    total_rows = sum(r["rows"] for r in results)
    total_s = sum(r["cost"] for r in results)
    stage_s = {s: sum(r["per"][s][1] for r in results) for s in STAGES}
    stage_work = {s: sum(r["per"][s][0]["work_s"] for r in results) for s in STAGES}
    stage_cpu = {s: sum(r["per"][s][0]["cpu_s"] for r in results) for s in STAGES}
    print(f"\nrecords landed {total_rows:,}; process seconds " + ", ".join(f"{s} {stage_s[s]:.0f}" for s in STAGES)
          + " (work " + ", ".join(f"{s} {stage_work[s]:.0f}" for s in STAGES) + "; CPU "
          + ", ".join(f"{s} {stage_cpu[s]:.0f}" for s in STAGES) + ")")
    slow = {}
    for r in results:
        for s in ("land", "validate", "load"):
            for feed, sec in r["per"][s][0]["per_feed_s"].items():
                slow[(s, feed)] = slow.get((s, feed), 0.0) + sec
    top = sorted(slow.items(), key=lambda kv: -kv[1])[:6]
    print("  where the work goes (stage feed: seconds): " + ", ".join(f"{s} {f} {sec:.0f}" for (s, f), sec in top))
    rate = total_rows / total_s
    print(f"end to end: {rate:,.0f} records/s (land + validate + load + build, process seconds); "
          f"{total_rows / sum(stage_cpu.values()):,.0f} records per CPU second")

    readable, other = delivered_files(home, days)
    listing = home / "bench_raw_files.json"
    listing.write_text(json.dumps(readable), encoding="utf-8")
    raw = run_stage(here, ["--stage", "raw", "--files-json", str(listing)])
    raw_rate = raw["rows"] / raw["work_s"] if raw["work_s"] else float("nan")
    ratio = raw_rate / rate
    print(f"raw DuckDB read of the delivered files it reads here: {raw['rows']:,} records ({len(readable)} files: UTF-8 CSV, API pages) "
          f"in {raw['work_s']:.1f} s = {raw_rate:,.0f} records/s; {len(other)} files it cannot read without an extension "
          f"(GBK/GB18030 CSV, XLSX, SQLite) not included")
    print(f"  ratio of rates raw / end to end = {ratio:.1f}x   target {TARGET_RATIO:.0f}x -> {verdict(ratio <= TARGET_RATIO)}   "
          f"stretch {STRETCH_RATIO:.0f}x -> {verdict(ratio <= STRETCH_RATIO)}")

    k = min(10, len(results) // 3)
    if k:
        def per_1k(batches: list[dict], cost) -> float:
            return 1000 * sum(cost(r) for r in batches) / sum(r["rows"] for r in batches)

        for label, cost in (("CPU", lambda r: r["cpu"]), ("process wall", lambda r: r["cost"])):
            first, last = per_1k(results[:k], cost), per_1k(results[-k:], cost)
            print(f"cost per 1,000 records ({label} seconds, not at equal volume): last {k} batches {last:.2f} s vs first {k} "
                  f"{first:.2f} s = {last / first:.2f}x")
        print_equal_volume_flatness(results, k)
        b_first, b_last = (per_1k(rs, lambda r: r["per"]["build"][0]["cpu_s"]) for rs in (results[:k], results[-k:]))
        print(f"  the build alone (CPU): {b_last:.3f} vs {b_first:.3f} s per 1,000 records = {b_last / b_first:.2f}x; "
              "the CPU figure is the verdict on a shared machine (wall time follows the other work's load)")
    else:
        print("flatness: not measured (fewer than 3 batches)")
    peaks = {s: max(r["per"][s][0]["peak_rss_mb"] for r in results) for s in STAGES}
    print("peak RSS per stage (highest batch): " + ", ".join(f"{s} {peaks[s]:.0f} MB" for s in STAGES)
          + f"   target < {TARGET_RSS_MB} MB -> {verdict(max(peaks.values()) < TARGET_RSS_MB)}")

    rep = run_stage(here, ["--stage", "report", "--last-day", days[-1].isoformat()])
    print(f"weekly report {rep['week']} (the span's last week): {rep['report_s']:.2f} s   target < {TARGET_REPORT_S:.0f} s -> "
          f"{verdict(rep['report_s'] < TARGET_REPORT_S)} (peak RSS {rep['peak_rss_mb']:.0f} MB)")
    for q in rep["queries"]:
        print(f"  analyst query {q['s']:.3f} s ({q['rows']} rows) -> {verdict(q['s'] < TARGET_QUERY_S)}   {q['query']}...")

    fig = run_stage(here, ["--stage", "figures"])["figures"]
    failed_file = home / "bench_failed.json"
    refused = {tuple(b.split("__")[1:]) for b in json.loads(failed_file.read_text(encoding="utf-8"))} if failed_file.exists() else set()
    expected, moved = expected_figures(Path(os.environ["BENCH_CITY_DROP"]), days, refused)
    print(f"the span's figures against the simulator's truth ({truth['from']} .. {truth['to']}): the truth as delivered, and less the "
          f"{len(refused)} deliveries the pipeline refused (a refused delivery is an expected outcome: nothing of it loads); "
          "the verdict is on the second")
    for name in CHECKED:
        print(f"  {name:<30} warehouse {fig.get(name)!s:>10}   truth {truth['figures'].get(name)!s:>10}   "
              f"less refused {expected.get(name)!s:>10}   {verdict(fig.get(name) == expected.get(name))}")
    if moved:
        print("  refused deliveries that change the figures: " + "; ".join(moved))
    return rate


def expected_figures(drop: Path, days: list[dt.date], refused: set[tuple[str, str]]) -> tuple[dict, list[str]]:
    """The period's figures from each delivery's share (``truth/figures/<day>.json``, written by the
    simulator), without the deliveries the pipeline refused; and the refused deliveries that carried
    a share of them (feed, day: what they held)."""
    from safety_hub_dev.simulator.profile import FIGURE_FEEDS, PeriodFigures, merge_day_figures

    period, moved = PeriodFigures(), []
    for day in days:
        shares = json.loads((drop / "truth" / "figures" / f"{day}.json").read_text(encoding="utf-8"))
        kept = [shares[f] for f in FIGURE_FEEDS if f in shares and (f, day.isoformat()) not in refused]
        for f in FIGURE_FEEDS:
            if f in shares and (f, day.isoformat()) in refused:
                share = shares[f]
                held = {"hazards": len(share["hazards"]), "cases": len(share["enforcement"]), "policyholders": len(share["insured"]),
                        "chemical enterprises": len(share["chemical"])}
                if any(held.values()):
                    moved.append(f"{f} {day}: " + ", ".join(f"{n} {k}" for k, n in held.items() if n))
        period.add(day, merge_day_figures(kept))
    return period.result()["figures"], moved


def run_history(rows: int, work: Path) -> None:
    """One generated hazard-ledger delivery of ``rows`` records (a CSV file drop of ``emb_hazard``, the
    simulator's records with their defects tiled: bench_e2e's data) through extract, land, validate and
    load, each stage in a fresh interpreter, into a scratch home and warehouse of its own; rows/s,
    peak RSS per stage, and 150M records extrapolated linearly from the rate."""
    import bench_e2e

    saved = dict(os.environ)
    try:
        bench_e2e.prepare(work, "csv")
        os.environ.update(bench_e2e.scratch_env(work))
        t = time.perf_counter()
        gen = run_stage(Path(bench_e2e.__file__), ["--stage", "gen", "--kind", "csv", "--rows", str(rows), "--path", str(work),
                                                   "--page-size", "1000", "--url", ""])
        gen_s = time.perf_counter() - t
        results = {stage: bench_e2e.timed(["--stage", stage, "--day", gen["day"]]) for stage in bench_e2e.STAGES}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    secs = sum(p for _, p in results.values())
    loaded = results["load"][0]["summary"]
    rate = gen["rows"] / secs
    hours = HISTORY_RECORDS / rate / 3600
    peak = max(r["peak_rss_mb"] for r, _ in results.values())
    print(f"history import: one {gen['rows']:,}-row emb_hazard delivery (CSV file drop, {gen['bytes'] / 1e6:.0f} MB, generated in {gen_s:.0f} s) "
          f"through extract, land, validate, load: {secs:.0f} process s = {rate:,.0f} rows/s (loaded {loaded['loaded']:,}, "
          f"quarantined {loaded['quarantined']:,}, duplicates {loaded['duplicates']:,})")
    print("  per stage (process s, peak RSS): " + ", ".join(f"{s} {p:.1f} s {r['peak_rss_mb']:.0f} MB" for s, (r, p) in results.items())
          + f"   peak RSS < {TARGET_RSS_MB} MB -> {verdict(peak < TARGET_RSS_MB)}")
    print(f"  {HISTORY_RECORDS / 1e6:.0f}M records at this rate: {hours:.2f} h on this machine   target < {TARGET_HISTORY_H:g} h -> "
          f"{verdict(hours < TARGET_HISTORY_H)}   stretch {60 * STRETCH_HISTORY_H:.0f} min -> {verdict(hours < STRETCH_HISTORY_H)}"
          + ("" if rows >= 10_000_000 else f"  (extrapolated from {gen['rows']:,} rows; --history-rows 10000000 measures the 10M delivery)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=62, help="working days (default 62, a quarter; 250: a year)")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 12, 1),
                    help="first calendar day (default %(default)s; chinese-calendar knows 2004-2026, so a year of 250 working days fits)")
    ap.add_argument("--seed", type=int, default=None, help="simulator seed (default: the simulator's)")
    ap.add_argument("--backends", default="duckdb", help="duckdb, postgres or duckdb,postgres")
    ap.add_argument("--pg-url", default=DEFAULT_PG, help="server for the PostgreSQL scratch database (default %(default)s)")
    ap.add_argument("--history-rows", type=int, default=1_000_000,
                    help="rows of the history import's one hazard-ledger delivery (default %(default)s; 10000000 for the issue's "
                         "10M-row delivery, ~10 min more on an idle machine; 0: not run)")
    ap.add_argument("--workdir", type=Path, help="keep the scratch files here, and the PostgreSQL scratch database (default: a temporary directory, removed, and the database dropped)")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--days-list", help=argparse.SUPPRESS)
    ap.add_argument("--touched", default="", help=argparse.SUPPRESS)
    ap.add_argument("--files-json", help=argparse.SUPPRESS)
    ap.add_argument("--last-day", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.stage:  # a child interpreter: one stage, one JSON line
        parse = lambda text: [dt.date.fromisoformat(d) for d in text.split(",") if d]  # noqa: E731
        if args.stage in STAGES:
            out = stage_batch(args.stage, parse(args.days_list or ""), parse(args.touched))
        elif args.stage == "raw":
            out = stage_raw(json.loads(Path(args.files_json).read_text(encoding="utf-8")))
        elif args.stage == "report":
            out = stage_report(args.last_day)
        elif args.stage == "figures":
            out = stage_figures()
        else:
            raise SystemExit(f"unknown stage {args.stage}")
        print(json.dumps(out, ensure_ascii=False, default=str))
        return

    from safety_hub_dev.simulator.generate import DEFAULT_SEED

    seed = DEFAULT_SEED if args.seed is None else args.seed
    here = Path(__file__)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_city_"))
    work.mkdir(parents=True, exist_ok=True)
    sim = None
    try:
        print(f"machine: {machine()}\nversions: {versions()}\nload average at start: {Path('/proc/loadavg').read_text().strip()}")
        days = working_days(args.start, args.days)
        drop = work / "drop"
        t = time.perf_counter()
        gen = subprocess.run([sys.executable, "-m", "safety_hub", "simulate", "--profile", "city", "--seed", str(seed),
                              "--date", days[0].isoformat(), "--days", str((days[-1] - days[0]).days + 1), "--out", str(drop)],
                             capture_output=True, text=True)
        if gen.returncode != 0:
            raise SystemExit(f"simulate failed: {gen.stderr[-2000:]}")
        truth = json.loads(next((drop / "truth" / "period").glob("*.json")).read_text(encoding="utf-8"))
        size = sum(p.stat().st_size for p in drop.rglob("*") if p.is_file())
        print(f"simulated: {len(days)} working days {days[0]} .. {days[-1]} (city profile, seed {seed}), "
              f"{size / 1e6:.0f} MB of deliveries, in {time.perf_counter() - t:.0f} s; scratch {work}")

        from safety_hub_dev.simulator.connections import simulator_connections

        env = {**os.environ, "SAFETY_HUB_SIMULATOR_TOKEN": SIM_TOKEN, "SAFETY_HUB_HOME": str(work / "sim-home")}
        sim, url = start_simulator(env, seed)
        sim_env = {**simulator_connections(url, SIM_TOKEN, drop), "AIRFLOW_HOME": str(work / "airflow"), "BENCH_CITY_DROP": str(drop)}
        print(f"simulator (city profile) serving the API feeds at {url}; each stage below runs in a fresh interpreter")

        rates = {}
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if backend == "duckdb":
                rates[backend] = run_backend(here, args, backend, f"duckdb:///{work / 'home-duckdb' / 'warehouse.duckdb'}", work, sim_env, days, truth)
            elif backend == "postgres":
                from bench_load import pg_scratch

                url_pg, reason, drop_db = pg_scratch(args.pg_url)
                if url_pg is None:
                    print(f"\n== postgres: skipped ({reason}) ==")
                    continue
                try:
                    rates[backend] = run_backend(here, args, backend, url_pg, work, sim_env, days, truth)
                finally:
                    if args.workdir:
                        print(f"PostgreSQL warehouse kept (--workdir): {url_pg}")
                    else:
                        drop_db()
            else:
                raise SystemExit(f"unknown backend {backend}")
        if {"duckdb", "postgres"} <= set(rates):
            ratio = rates["duckdb"] / rates["postgres"]
            print(f"\nPostgreSQL end to end {rates['postgres']:,.0f} records/s against DuckDB's {rates['duckdb']:,.0f}: {ratio:.2f}x slower   "
                  f"target <= {TARGET_RATIO:.0f}x -> {verdict(ratio <= TARGET_RATIO)}")
        if args.history_rows:
            print(f"\n== history import (load average {Path('/proc/loadavg').read_text().split()[0]}) ==")
            run_history(args.history_rows, work / "history")
        else:
            print("\nhistory import: not run (--history-rows 0)")
        print(f"\nload average at end: {Path('/proc/loadavg').read_text().strip()} (a shared machine: other work may have run)")
    finally:
        if sim is not None:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=30)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
