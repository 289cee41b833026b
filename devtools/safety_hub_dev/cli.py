"""The development commands of ``python -m safety_hub``: simulate, simulator, demo, airflow.

The production CLI (``safety_hub.cli``) never imports this package: it adds the subcommands that
packages declare in the entry-point group ``safety_hub.cli`` (this package's ``pyproject.toml``),
each a function given the CLI's subparsers. Where this package is not installed (the production
image) these commands do not exist.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from safety_hub.config import settings
from safety_hub.cli import _date
from safety_hub_dev.simulator.generate import DEFAULT_SEED


def cmd_simulate(args) -> int:
    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub_dev.simulator.deliver import write_api_pages

    if args.profile != "demo":
        return _simulate_profile(args)
    for i in range(args.days):
        day = args.date + dt.timedelta(days=i)
        data = generate_day(day, args.seed)
        paths = write_day(data, args.out)
        paths.update(write_api_pages(data, args.out))
        for feed_id, truth in data.truth["feeds"].items():
            print(f"{day}  {feed_id:<24} rows={truth['rows_delivered']:<5} distinct_valid={truth['distinct_valid']:<5} defects={len(truth['defects'])}")
        for name, path in paths.items():
            print(f"{day}  wrote {name}: {path}")
    return 0


def _simulate_profile(args) -> int:
    """``simulate --profile city``: working days only, then the period's figures beside the days' truth."""
    import json

    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub_dev.simulator.deliver import write_api_pages
    from safety_hub_dev.simulator.profile import PeriodFigures, day_figures, delivery_figures

    period = PeriodFigures()
    try:
        for i in range(args.days):
            day = args.date + dt.timedelta(days=i)
            data = generate_day(day, args.seed, profile=args.profile)
            if not data.records:
                print(f"{day}  no deliveries ({data.truth.get('holiday') or 'weekend'})")
                continue
            write_day(data, args.out)
            write_api_pages(data, args.out)
            period.add(day, day_figures(data))
            figures = Path(args.out) / "truth" / "figures" / f"{day}.json"  # each delivery's share, for a run that refuses some
            figures.parent.mkdir(parents=True, exist_ok=True)
            figures.write_text(json.dumps(delivery_figures(data), ensure_ascii=False), encoding="utf-8")
            rows = sum(t["rows_delivered"] for t in data.truth["feeds"].values())
            defects = sum(len(t["defects"]) for t in data.truth["feeds"].values())
            print(f"{day}  rows={rows:<6} waybills={data.truth['feeds']['tc_dg_waybill']['rows_delivered']:<5} defects={defects}", flush=True)
    except ValueError as exc:  # a date outside the statutory calendar, an unknown profile
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    result = {"profile": args.profile, "seed": args.seed, **period.result()}
    if result["from"] is None:
        print("no working day in the period: nothing written")
        return 0
    path = Path(args.out) / "truth" / "period" / f"{result['from']}_{result['to']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    for name, value in result["figures"].items():
        target = result["targets"].get(name)
        print(f"{name:<32} {value if value is not None else 'no feed':>10}" + (f"   (annual target {target:g})" if target is not None else ""))
    print(f"wrote the period's figures: {path}")
    return 0


def _simulator_tokens(host: str, doing: str = "listening on") -> str | dict[str, str]:
    """The simulator's API tokens, from the environment (a command line is visible to every ``ps``).

    ``<AGENCY>_API_TOKEN`` (EMB_API_TOKEN, TC_API_TOKEN) per agency, as compose passes them; or
    one master secret in SAFETY_HUB_SIMULATOR_TOKEN each agency's token is derived from (the
    native stack). Without either, the demo's well-known master, on loopback only.
    """
    import ipaddress

    from safety_hub_dev.localairflow import DEFAULT_TOKEN
    from safety_hub_dev.simulator.server import MASTER_TOKEN_VAR, api_agencies

    names = {agency: f"{agency.upper()}_API_TOKEN" for agency in api_agencies()}
    given = {agency: os.environ[name] for agency, name in names.items() if os.environ.get(name)}
    master = os.environ.get(MASTER_TOKEN_VAR)
    if given:
        missing = [names[a] for a in names if a not in given]
        if missing and not master:
            raise ValueError(f"set {', '.join(missing)} too (each agency has its own token)")
        if missing:
            from safety_hub_dev.simulator.server import agency_token

            given |= {a: agency_token(master, a) for a in names if a not in given}
        return given
    if master:
        return master
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{doing} {host} needs real tokens: set {', '.join(names.values())} "
                         f"(or {MASTER_TOKEN_VAR}) in the environment; the demo token serves loopback only")
    return DEFAULT_TOKEN


def cmd_simulator(args) -> int:
    import time

    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub_dev.simulator.server import SimulatorServer

    if args.action == "connections":
        return _declare_connections(args)
    try:
        tokens = _simulator_tokens(args.host)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = SimulatorServer(args.host, args.port, tokens, args.seed, None if args.profile == "demo" else args.profile)
    from safety_hub_dev.simulator.server import ENDPOINTS

    print(f"agency simulator on {server.url}: " + ", ".join(f"/api/v1/{e}" for e in sorted(ENDPOINTS)) + f" (seed {args.seed}, profile {args.profile})", flush=True)
    if args.action == "serve":
        server.serve_forever()
        return 0
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    written: set[dt.date] = set()
    while True:  # write each finished business day's file drops, like the agencies do
        today = settings.beijing_today()
        for back in range(args.days, 0, -1):
            day = today - dt.timedelta(days=back)
            if day not in written:
                write_day(generate_day(day, args.seed), args.out)
                written.add(day)
                print(f"wrote deliveries for {day} to {args.out}", flush=True)
        time.sleep(600)


def _declare_connections(args) -> int:
    """``simulator connections``: every feed's connection, pointing at the simulator at ``--url``
    and its drops under ``--out``, created or replaced in the configured Airflow metadata DB."""
    from urllib.parse import urlsplit

    from safety_hub.ops.connections import connection_plan, declare_connections
    from safety_hub_dev.simulator.connections import simulator_connection_fields

    url = args.url or f"http://{args.host}:{args.port}"
    try:
        tokens = _simulator_tokens(urlsplit(url).hostname or "", doing="connections to a simulator on")
        conns = simulator_connection_fields(url, tokens, args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [spec.conn_id for spec in connection_plan() if spec.conn_id not in conns]
    if missing:
        print(f"error: no simulator data for the feeds of connection(s) {', '.join(missing)}: "
              "add the dataset (safety_hub_dev/simulator/datasets/) or define them yourself", file=sys.stderr)
        return 1
    declare_connections(conns)
    for cid, conn in sorted(conns.items()):
        where = conn.get("host") or conn["extra"].get("path") or conn["extra"].get("url")
        print(f"connection {cid}: {conn['conn_type']} {where}")  # never the token
    return 0


def cmd_demo(args) -> int:
    from safety_hub_dev.demo import run_demo

    return run_demo(days=args.days, end=args.end)


def cmd_airflow(args) -> int:
    """Run the ``airflow`` CLI against the project-local home (SQLite, project DAGs)."""
    from safety_hub_dev.demo import local_env

    os.environ.update(local_env())
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")  # standalone spawns `airflow`
    airflow = os.path.join(bin_dir, "airflow")
    os.execv(airflow, [airflow, *args.airflow_args])


def add_simulate(sub) -> None:
    s = sub.add_parser("simulate", help="write simulated agency deliveries and truth manifests")
    s.add_argument("--date", type=_date, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--days", type=int, default=1, help="number of consecutive days from --date")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED)
    s.add_argument("--profile", default="demo", choices=["demo", "city"],
                   help="demo (default): every feed its demo volume every day; city: a city's volumes on the statutory working days, "
                        "with the period's figures in <out>/truth/period/")
    s.set_defaults(func=cmd_simulate)


def add_simulator(sub) -> None:
    sim = sub.add_parser("simulator", help="run the agency simulator (EMB and TC APIs; 'run' also writes daily file drops), "
                         "or write the feeds' connections to it into Airflow's metadata DB ('connections'); "
                         "tokens from the environment: EMB_API_TOKEN, TC_API_TOKEN or SAFETY_HUB_SIMULATOR_TOKEN")
    sim.add_argument("action", choices=["serve", "run", "connections"])
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=DEFAULT_SEED)
    sim.add_argument("--out", type=Path, default=settings.data_dir() / "dropzone", help="where the file drops are written (and read)")
    sim.add_argument("--url", default=None, help="'connections': the simulator's URL as the workers reach it (default http://HOST:PORT)")
    sim.add_argument("--days", type=int, default=3, help="'run': keep the last N business days delivered")
    sim.add_argument("--profile", default="demo", choices=["demo", "city"],
                     help="'serve': the volume profile the APIs serve (city: the days of 'simulate --profile city')")
    sim.set_defaults(func=cmd_simulator)


def add_demo(sub) -> None:
    d = sub.add_parser("demo", help="simulate, run every DAG through Airflow for the demo's days, print a summary")
    d.add_argument("--days", type=int, default=3)
    d.add_argument("--end", type=_date, default=None, help="last business day (default: the demo's fixed window, 2026-11-02 .. 2026-11-04)")
    d.set_defaults(func=cmd_demo)


def add_airflow(sub) -> None:
    a = sub.add_parser("airflow", help="the airflow CLI on the project's local AIRFLOW_HOME")
    a.add_argument("airflow_args", nargs=argparse.REMAINDER)
    a.set_defaults(func=cmd_airflow)
