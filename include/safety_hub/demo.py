"""``make demo``: the whole platform end to end on the embedded defaults.

Simulates the last N business days, runs every DAG for them through Airflow
(SQLite metadata in ``.airflow/``, DuckDB warehouse in ``data/``), then prints
the warehouse path, row counts, quarantined rows per feed and the report paths,
ending with the week's 一情况两清单 workbook and HTML report.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

from safety_hub import settings
from safety_hub.localairflow import DEFAULT_SIM_PORT, DEFAULT_TOKEN, airflow_env


def _sim_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def local_env(sim_port: int = DEFAULT_SIM_PORT) -> dict[str, str]:
    """The environment of the project-local Airflow (also used by ``make airflow``)."""
    return airflow_env(
        airflow_home=settings.PROJECT_DIR / ".airflow",
        hub_home=settings.home(),
        sim_url=_sim_url(sim_port),
        token=DEFAULT_TOKEN,
        dropzone=settings.data_dir() / "dropzone",
    )


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def run_demo(days: int = 3, end: dt.date | None = None) -> int:
    import os

    from safety_hub import localairflow
    from safety_hub.simulator import generate_day, write_day
    from safety_hub.simulator.server import start_in_thread

    started = time.monotonic()
    end = end or (settings.beijing_today() - dt.timedelta(days=1))
    business_days = [end - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    port = _free_port(DEFAULT_SIM_PORT)
    server = start_in_thread(port=port, token=DEFAULT_TOKEN)
    env = local_env(port)
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    dropzone = settings.data_dir() / "dropzone"
    print(f"[1/4] agency simulator on {server.url}; writing deliveries for {business_days[0]} .. {business_days[-1]}", flush=True)
    for day in business_days:
        write_day(generate_day(day), dropzone)
    print(f"[2/4] Airflow metadata DB and pools in {env['AIRFLOW_HOME']}", flush=True)
    localairflow.prepare()
    print("[3/4] running every DAG through Airflow (dag.test: real DAG runs in the metadata DB)", flush=True)
    states = localairflow.run_days(business_days, progress=lambda line: print(line, flush=True))
    failed = {k: v for k, v in states.items() if v != "success"}
    print("[4/4] summary", flush=True)
    print_summary()
    server.shutdown()
    print(f"\ndone in {time.monotonic() - started:.0f}s; inspect the runs with `make airflow` (UI on http://localhost:8080)")
    if failed:
        print(f"FAILED runs: {failed}")
    print_weekly_reports(business_days[-1])
    return 1 if failed else 0


def print_summary() -> None:
    from safety_hub.pipeline import table_counts
    from safety_hub.report import latest_as_of
    from safety_hub.warehouse.engine import get_engine
    from safety_hub.warehouse.quarantine import FAILURES, RECORDS, ROWS, quarantine_counts

    engine = get_engine()
    print(f"\nwarehouse: {engine.url.render_as_string(hide_password=True)}")
    print("rows per table:")
    for table, count in table_counts(engine).items():
        print(f"  {table:<28} {count:>7}")
    print(f"quarantine per feed, every business date ({ROWS} / {RECORDS} / {FAILURES}):")
    with engine.connect() as conn:
        counts = quarantine_counts(conn, by=("feed_id",))
    for (feed_id,), c in sorted(counts.items()):
        print(f"  {feed_id:<28} {c.text()}")
    as_of = latest_as_of(engine)
    report = settings.reports_dir() / f"district_hazard_{as_of}.html"
    print(f"report: {report if report.exists() else 'not written'}")
    docs = settings.reports_dir() / "data_docs" / "index.html"
    print(f"data docs: {docs if docs.exists() else 'not built'}")


def print_weekly_reports(day: dt.date) -> None:
    """The weekly report files of ``day``'s week (what the report_weekly DAG wrote): the demo's last lines."""
    from safety_hub.reporting.archive import ReportWeek, html_path, workbook_path

    week = ReportWeek.containing(day)
    print(f"\nweekly reports for {week.label} ({week.start} .. {week.end}), in {html_path(week).parent}:")
    for label, path in (("workbook (一情况两清单)", workbook_path(week)), ("HTML report (安全生产周报)", html_path(week))):
        print(f"  {label}: {path if path.exists() else 'not written'}")
