"""``make demo``: the whole platform end to end on the embedded defaults.

Simulates the demo's fixed window of business days (``DEMO_DAYS``, the days the
README's examples use and the end-to-end tests run), runs every DAG for them
through Airflow (SQLite metadata in ``.airflow/``, DuckDB warehouse in ``data/``),
then prints the warehouse path, row counts, quarantined rows per feed and the
report paths, ending with the week's 一情况两清单 workbook and HTML report.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import time
from pathlib import Path

from safety_hub import settings
from safety_hub_dev.localairflow import DEFAULT_SIM_PORT, DEFAULT_TOKEN, airflow_env


# The demo's window: three business days, Monday 2026-11-02 to Wednesday 2026-11-04 (ISO week
# 2026-W45). Fixed, so the README's example dates are always inside it; the end-to-end tests
# simulate the same days (tests/conftest.py DAYS).
DEMO_END = dt.date(2026, 11, 4)
DEMO_LENGTH = 3


def demo_days(days: int = DEMO_LENGTH, end: dt.date | None = None) -> list[dt.date]:
    """The business days the demo runs: ``days`` consecutive days ending ``end`` (default ``DEMO_END``)."""
    end = end or DEMO_END
    return [end - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]


DEMO_DAYS = demo_days()


def _sim_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def local_env(sim_port: int = DEFAULT_SIM_PORT) -> dict[str, str]:
    """The environment of the local Airflow of the demo home (``SAFETY_HUB_HOME``, default the project
    dir: ``.airflow/``, ``data/``): what ``make demo`` and ``make airflow`` give Airflow, and the CLI
    reads its connections from when none are set (``cli_environment``)."""
    return airflow_env(
        airflow_home=settings.home() / ".airflow",
        hub_home=settings.home(),
        sim_url=_sim_url(sim_port),
        token=DEFAULT_TOKEN,
        dropzone=settings.data_dir() / "dropzone",
    )


def uses_local_airflow() -> bool:
    """No Airflow home and no connection in the environment: commands use the demo home's."""
    return not os.environ.get("AIRFLOW_HOME") and not any(k.startswith("AIRFLOW_CONN_") for k in os.environ)


def cli_environment(agencies: bool = False):
    """The environment of a CLI command run where no Airflow is configured (a fresh clone after
    ``make demo``): the demo home's, as ``local_env`` gives it to Airflow, so the CLI and Airflow
    read the same connection definitions. With ``agencies`` (a command that extracts, e.g.
    ``backfill``) the agencies are the built-in simulator, started here as the demo starts it.

    Returns the simulator server to shut down, or None. A configured environment (AIRFLOW_HOME or
    any ``AIRFLOW_CONN_*`` set, as in docker compose, the native stack and the tests) is left as it is.
    """
    if not uses_local_airflow():
        return None
    server = None
    port = DEFAULT_SIM_PORT
    if agencies:
        from safety_hub_dev.simulator.server import start_in_thread

        port = _free_port(DEFAULT_SIM_PORT)
        server = start_in_thread(port=port, token=DEFAULT_TOKEN)
    env = local_env(port)
    # The command's own console, not a task log: Airflow's log lines at the CLI's level (SAFETY_HUB_LOG).
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("SAFETY_HUB_LOG", "WARNING").upper()
    for key, value in env.items():
        os.environ.setdefault(key, value)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    print(f"no Airflow connections set: using the demo home's ({env['AIRFLOW_HOME']})"
          + (f", agencies simulated on {server.url}" if server else ""), file=sys.stderr, flush=True)
    return server


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def run_demo(days: int = DEMO_LENGTH, end: dt.date | None = None) -> int:
    from safety_hub_dev import localairflow
    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub_dev.simulator.server import start_in_thread

    started = time.monotonic()
    business_days = demo_days(days, end)
    port = _free_port(DEFAULT_SIM_PORT)
    server = start_in_thread(port=port, token=DEFAULT_TOKEN)
    env = local_env(port)
    os.environ.update(env)
    # The demo's console shows its own progress lines: dag.test() runs tasks in this process and
    # would print every task's INFO lines here (the local Airflow's task logs stay at INFO).
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
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
