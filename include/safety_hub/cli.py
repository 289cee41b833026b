"""``python -m safety_hub``: feeds, validate, quarantine, health, replay, backfill, warehouse, report.

Installed packages add commands through the entry-point group ``safety_hub.cli`` (``add_commands``):
the development package ``safety_hub_dev`` adds simulate, simulator, demo and airflow. The package
itself never imports it, so in the production image those commands are simply absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from safety_hub.config import settings


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def schedule_table() -> str:
    """The ingest schedule as a Markdown table (Beijing and UTC), for dags/README.md."""
    from safety_hub.config.registry import agencies, load_registry

    names = agencies()
    lines = ["| DAG | feed | agency | delivery | Beijing (UTC+8) | UTC |", "|---|---|---|---|---|---|"]
    for f in load_registry().values():
        minute, hour, *rest = f.schedule.split()
        when = f.schedule
        utc = ""
        if minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]:
            when = f"{int(hour):02d}:{int(minute):02d} daily"
            utc = f"{(int(hour) - 8) % 24:02d}:{int(minute):02d} daily" + (" (previous day)" if int(hour) < 8 else "")
        lines.append(f"| `ingest_{f.feed_id}` | {f.title} | {names[f.agency].name} | {f.delivery.kind} | {when} | {utc} |")
    return "\n".join(lines)


def cmd_feeds(args) -> int:
    from safety_hub.config.registry import agencies, load_registry

    if args.markdown:
        print(schedule_table())
        return 0
    names = agencies()
    rows = [(f.feed_id, names[f.agency].name, f.delivery.kind, f.schedule, f.target_table, f.title) for f in load_registry().values()]
    header = ("feed", "agency", "delivery", "schedule (Beijing)", "table", "title")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


def cmd_check_secrets(args) -> int:
    """Exit 2, one line per problem on stderr, while a deployment secret is weak; 0 when all are fit."""
    from safety_hub.ops.deploy_secrets import DEPLOY_SECRETS, problems

    names = args.names or list(DEPLOY_SECRETS)
    found = problems({name: os.environ.get(name) for name in names})
    for problem in found:
        print(f"refused: {problem}", file=sys.stderr)
    if found:
        print(f"the stack does not start until {len(found)} secret(s) above are fixed (README, 'Production')", file=sys.stderr)
        return 2
    print(f"{len(names)} secrets checked: none empty, a placeholder, short or shared")
    return 0


def cmd_validate(args) -> int:
    """Exit 0 within the feed's threshold, 1 over it, 2 when the file is unreadable or refused; one line, never a traceback."""
    from safety_hub.domain.errors import FeedError, one_line
    from safety_hub.config.registry import RegistryError, get_feed

    try:
        feed = get_feed(args.feed)
    except RegistryError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        return _validate_file(feed, path, args)
    except OSError as exc:
        print(one_line(f"error: feed {feed.feed_id}: {path}: unreadable: {exc.strerror or exc}"), file=sys.stderr)
    except FeedError as exc:  # one line of at most 300 characters, the prefix included
        print(one_line(f"error: {exc.detail}"), file=sys.stderr)
        logging.getLogger("safety_hub.cli").info("validate refused: %s", exc.detail)
    except Exception as exc:  # a defect of ours: one line here, the traceback in the log
        logging.getLogger("safety_hub.cli").debug("validate failed", exc_info=True)
        print(one_line(f"error: feed {feed.feed_id}: {path}: internal error {exc.__class__.__name__}: {exc} "
                       "(rerun with SAFETY_HUB_LOG=DEBUG for the traceback)"), file=sys.stderr)
    return 2


def _validate_file(feed, path: Path, args) -> int:
    from safety_hub.domain.errors import FeedError, one_line
    from safety_hub.ingest.kinds import kind_of
    from safety_hub.ingest.landing import parse_files
    from safety_hub.ingest.landing.accounting import rejects_frame
    from safety_hub.quality.validate import check_batch

    if path.is_symlink():
        raise FeedError(feed.feed_id, str(path), "a symbolic link, refused: validate the file itself")
    if not path.exists():
        raise FeedError(feed.feed_id, str(path), "does not exist")
    # Read as the feed's kind delivers it: an API's folder of pages, a dropped file with its marker's count.
    local = kind_of(feed).read_local(feed, path, args.date)
    parsed = parse_files(feed, local.files, expected_rows=local.expected_rows)
    check = check_batch(feed, parsed.frame, args.date).add_landing_rejects(rejects_frame(parsed.rejects))
    print(f"feed {feed.feed_id}: {path}")
    aside = {}
    for c in parsed.files:
        for reason, n in c.set_aside.items():
            aside[reason] = aside.get(reason, 0) + n
    print(f"physical rows {parsed.physical}  = records {check.rows} + set aside {parsed.set_aside} "
          + (" ".join(f"{k} {v}" for k, v in sorted(aside.items())) if aside else "").strip())
    print(f"rows {check.rows}  valid {check.valid}  quarantined {check.quarantined}  invalid share {check.invalid_share:.1%} (threshold {feed.validation.max_invalid_share:.0%})")
    for rule, count in sorted(check.rule_counts.items()):
        if count:
            print(f"  {rule:<40} {count}")
    if args.show:
        from safety_hub.ingest.landing.accounting import LANDING_RULES
        from safety_hub.quality.expectations import rule_descriptions

        text = rule_descriptions(feed)
        shown = [(int(parsed.rows[idx]), "; ".join(f"{r} ({text.get(r, r)})" for r in rules)) for idx, rules in check.failures.items()]
        shown += [(r.row, f"{r.rule} ({LANDING_RULES.get(r.rule, r.rule)}: {r.detail})") for r in parsed.rejects]
        for row, why in sorted(shown)[: args.show]:
            print(one_line(f"  row {row}: {why}", 300))
    return 1 if check.invalid_share > feed.validation.max_invalid_share else 0


def _feed_ids(args) -> list[str]:
    from safety_hub.config.registry import load_registry

    feeds = load_registry()
    if args.feed == "all":
        return sorted(feeds)
    wanted = [f.strip() for f in args.feed.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in feeds]
    if unknown:
        raise SystemExit(f"error: unknown feed(s) {unknown}; registered: {', '.join(feeds)}")
    return wanted


def _rebuild(engine) -> None:
    """After replays or backfills: dimensions, marts and the Data Docs site."""
    from safety_hub.quality.docs import build_docs
    from safety_hub.warehouse.build import build_dimensions, build_marts

    build_dimensions(engine)
    build_marts(engine)
    print(f"data docs: {build_docs()}")


def _run_each(jobs: list[tuple[str, dt.date]], step) -> int:
    """Run ``step(feed_id, day)`` for each job, print one line per job, rebuild the warehouse.

    A failing day is reported in one line and the rest still run (whatever the error: a refused
    delivery, a quality breach or a warehouse that rejects the batch, whose quarantine then rolls
    back with it); the exit code says whether any failed. The traceback goes to the log (debug).
    """
    from safety_hub.domain.errors import DuplicateDelivery, FeedError, FeedQualityError, one_line
    from safety_hub.warehouse.engine import get_engine

    failures = 0
    for feed_id, day in jobs:
        try:
            r = step(feed_id, day)
            print(f"{feed_id:<24} {day}  rows {r['rows']:<6} loaded {r['loaded']:<6} quarantined {r['quarantined']:<5} "
                  f"duplicates {r['duplicates']:<4} stale {r['stale']}", flush=True)
        except DuplicateDelivery as exc:
            print(f"{feed_id:<24} {day}  skipped: {exc}")
        except (FeedError, FeedQualityError) as exc:
            failures += 1
            print(f"{feed_id:<24} {day}  FAILED: {exc}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 (any other failure of one day: reported, the next day runs)
            failures += 1
            logging.getLogger("safety_hub.cli").debug("%s %s failed", feed_id, day, exc_info=True)
            print(f"{feed_id:<24} {day}  FAILED: {one_line(_error_text(exc))}", file=sys.stderr, flush=True)
    _rebuild(get_engine())
    return 1 if failures else 0


def _error_text(exc: Exception) -> str:
    """``Type: message`` of an unexpected error; a database error by its driver's first line (no SQL, no row values)."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__} ({type(orig).__name__}): {first}"
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"


def cmd_replay(args) -> int:
    """Reprocess landed raw partitions (no call to the agency), then rebuild the warehouse."""
    from safety_hub.ingest.raw import landed_days
    from safety_hub.pipeline import run_replay

    jobs = [(f, day) for f in _feed_ids(args) for day in ([args.date] if args.date else landed_days(f))]
    return _run_each(jobs, run_replay)


def cmd_backfill(args) -> int:
    """Run the whole flow for a date range, forward or backward; same result either way."""
    from safety_hub.pipeline import run_feed

    days = [args.start + dt.timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    if args.reverse:
        days.reverse()
    jobs = [(f, day) for day in days for f in _feed_ids(args)]
    print("backfill: the stages run in this process, one day after another, on this machine (no scheduler, pools or UI); "
          "a history import goes through Airflow's backfill (docs/production.md, 'History import')", file=sys.stderr)
    simulator = _local_environment(agencies=True)  # no connections configured: the demo's, agencies simulated
    try:
        return _run_each(jobs, lambda f, day: run_feed(f, day, force=True))
    finally:
        if simulator is not None:
            simulator.shutdown()


def _local_environment(agencies: bool = False):
    """The environment a command that reads connections runs in where none is configured.

    Each entry point of the group ``safety_hub.environment`` (the development package's: the demo
    home's connections, agencies simulated) is called with ``agencies``; the first that returns
    something (a server to ``shutdown()``) wins. Without such a package, nothing changes.
    """
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=ENVIRONMENT_GROUP), key=lambda e: e.name):
        server = ep.load()(agencies=agencies)
        if server is not None:
            return server
    return None


def cmd_returns(args) -> int:
    """Write a validated batch's 退回清单 to its agency's outbox again."""
    from safety_hub.domain.errors import FeedError, one_line
    from safety_hub.pipeline import run_returns

    try:
        result = run_returns(args.feed, args.date, args.batch)
    except FeedError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    if result["path"] is None:
        print(f"{args.feed} {args.date}: nothing rejected or flagged in batch {args.batch}: no list")
    else:
        print(f"wrote {result['path']}: {result['rejected']} rejected and {result['flagged']} flagged row(s), {result['lines']} line(s)")
    return 0


def cmd_catalogue(args) -> int:
    """The data-item catalogue: docs/catalogue.md from the registry, or a workbook with the measured rates."""
    from safety_hub.reporting import catalogue

    if args.docs:
        stale = catalogue.DOC_PATH.read_text(encoding="utf-8") != catalogue.markdown() if catalogue.DOC_PATH.exists() else True
        if args.check:
            print(f"{catalogue.DOC_PATH}: {'STALE, run: python -m safety_hub catalogue --docs' if stale else 'up to date'}")
            return 1 if stale else 0
        print(f"wrote {catalogue.write_docs()}")
        return 0
    found = catalogue.items()
    if args.out is None:
        for item in found:
            print(f"{item.feed_id}\t{item.source}\t{item.label}\t{item.table}.{item.column}\t{item.type}")
        print(f"{len(found)} data items in {len({i.feed_id for i in found})} feeds", file=sys.stderr)
        return 0
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine()
    ensure_schema(engine)
    catalogue.measure(found, engine, days=args.days)
    dates = [i.as_of for i in found if i.as_of]
    path = catalogue.write_workbook(found, args.out)
    print(f"wrote {path}: {len(found)} data items, rates measured for {sum(1 for i in found if i.as_of)}"
          + (f", data up to {max(dates)}" if dates else " (no landed data)"))
    return 0


def cmd_quarantine(args) -> int:
    """What was rejected and why, grouped by rule, with a few example rows per rule.

    The values of the feed's personal columns are masked (``masking.mask_value``), and so is
    the raw text of a row refused at landing (``_raw``) when the feed has personal columns,
    unless ``--unmask`` (the data team, in the warehouse's own audit layer anyway).
    """
    import json

    import sqlalchemy as sa

    from safety_hub.domain.masking import MASK, mask_fields, personal_fields
    from safety_hub.config.registry import RegistryError, get_feed
    from safety_hub.config.settings import beijing_time
    from safety_hub.warehouse.engine import ensure_schema, get_engine
    from safety_hub.warehouse.quarantine import FAILURES, LABELS, counts_for

    try:
        feed = get_feed(args.feed)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    personal = set() if args.unmask else personal_fields(feed)
    key_masked = bool(personal & set(feed.key))
    engine = get_engine()
    q = ensure_schema(engine).tables["quarantine"]
    where = [q.c.feed_id == args.feed] + ([q.c.business_date == args.date] if args.date else [])
    with engine.connect() as conn:
        groups = conn.execute(
            sa.select(q.c.rule_id, q.c.rule_description, sa.func.count().label("n"), sa.func.count(sa.distinct(q.c.business_date)).label("days"))
            .where(*where).group_by(q.c.rule_id, q.c.rule_description).order_by(sa.desc("n"), q.c.rule_id)
        ).all()
        if not groups:
            print(f"feed {args.feed}: nothing in quarantine" + (f" for {args.date}" if args.date else ""))
            return 0
        counts = counts_for(conn, args.feed, args.date)
        latest = conn.execute(sa.select(sa.func.max(q.c.quarantined_at)).where(*where)).scalar()
        print(f"feed {args.feed}" + (f" {args.date}" if args.date else "") + f": {counts.text()}")
        print(f"  {LABELS['rows']}, {LABELS['records']}, {LABELS['failures']}; 最近隔离时间 last quarantined {beijing_time(latest)}")
        for rule_id, text, n, days in groups:
            print(f"\n{rule_id}  ({text})  {FAILURES} {n} over {days} day(s)")
            examples = conn.execute(
                sa.select(q.c.business_date, q.c.row_number, q.c.record_key, q.c.raw_file, q.c.original_values)
                .where(*where, q.c.rule_id == rule_id).order_by(q.c.business_date, q.c.row_number).limit(args.examples)
            ).all()
            for day, row, key, raw_file, original in examples:
                values = mask_fields(json.loads(original), personal)
                if personal and isinstance(values.get("_raw"), str):  # a refused row's text holds its personal values too
                    values["_raw"] = f"{MASK * 2} ({len(values['_raw'])} characters; --unmask shows them)"
                key = MASK * 4 if key_masked and key else key
                shown = ", ".join(f"{k}={v}" for k, v in list(values.items())[:6])
                print(f"  {day} row {row} key {key}: {shown}")
                print(f"    raw: {raw_file}")
    return 0


def _airflow_home_for_cli() -> bool:
    """Point this process at an Airflow metadata DB; False when there is none to read.

    ``AIRFLOW_HOME`` or ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from the environment, else the
    local Airflow of the demo home, ``make demo`` / ``make airflow`` (``.airflow/`` under
    ``SAFETY_HUB_HOME``, as the development package's ``demo.local_env`` has it) when it exists.
    """
    if os.environ.get("AIRFLOW_HOME") or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return True
    home = settings.home() / ".airflow"
    if not (home / "airflow.db").exists():
        return False
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    return True


def cmd_health(args) -> int:
    """Per feed: the last Airflow run (state, error), freshness by business date, volumes, quarantine, pass rates."""
    from safety_hub.ops.health import STATUS_OK, airflow_last_runs, feed_health
    from safety_hub.config.settings import beijing_now, beijing_time
    from safety_hub.warehouse.engine import get_engine
    from safety_hub.warehouse.quarantine import FAILURES, RECORDS, ROWS

    if _airflow_home_for_cli():
        runs, runs_error = airflow_last_runs()
    else:
        runs, runs_error = None, "no Airflow metadata DB: set AIRFLOW_HOME (make demo creates .airflow/)"
    rows = feed_health(get_engine(), runs=runs)
    print(f"feed health as of {beijing_time(beijing_now())} (times in 北京时间 UTC+08:00)")
    print(f"{'feed':<24} {'status':<11} {'last run':<10} {'run date':<10} {'last run at':<16} {'data to':<10} {'last load at':<16} "
          f"{'loaded':>7} {ROWS:>10} {RECORDS:>11} {FAILURES:>12} {'规则通过率':>11} {'行入库率':>10}")
    for h in rows:
        run = h.last_run
        state = run.state if run else ("unknown" if runs_error else "none")
        run_day = str(run.business_date or "-") if run else "-"
        run_at = beijing_time((run.ended_at or run.started_at) if run else None, label=False)
        rule = f"{h.rule_pass_rate:.0%}" if h.rule_pass_rate is not None else "-"
        load = f"{h.row_load_rate:.0%}" if h.row_load_rate is not None else "-"
        q = h.quarantine_last
        print(f"{h.feed_id:<24} {h.status_text:<11} {state:<10} {run_day:<10} {run_at:<16} {str(h.last_business_date or 'never'):<10} "
              f"{beijing_time(h.last_loaded_at, label=False):<16} {h.rows_loaded_last if h.rows_loaded_last is not None else '-':>7} "
              f"{q.rows:>10} {q.records:>11} {q.failures:>12} {rule:>11} {load:>10}"
              + (f"  {h.volume_note}" if h.volume_note else ""))
        if run is not None and run.error:
            print(f"  ! {run.dag_id} {run.run_id}: {run.error}")
    print(f"{ROWS}/{RECORDS}/{FAILURES}: of the latest business date loaded (rows set apart / distinct records / row x rule); "
          "规则通过率: rules passed in the last validation; 行入库率: rows loaded / rows extracted in the last load")
    if runs_error:
        print(f"Airflow run records unreadable (last run states unknown): {runs_error}")
    _print_closure(get_engine())
    failed = [h.feed_id for h in rows if h.status == "failed"]
    stale = [h.feed_id for h in rows if h.stale]
    if failed:
        print(f"failed (the last run of its ingest DAG failed): {', '.join(failed)}")
    if stale:
        print(f"stale (no business date loaded within the expected interval): {', '.join(stale)}")
    if not failed and not stale and not runs_error and all(h.status == STATUS_OK for h in rows):
        print("all feeds: last run succeeded, data fresh")
    return 1 if (stale or failed) and args.fail_on_stale else 0


def _print_closure(engine) -> None:
    """退回整改闭环 per agency as of the latest business date loaded (``warehouse.rejections``)."""
    import sqlalchemy as sa

    from safety_hub.config.registry import agencies
    from safety_hub.warehouse.rejections import closure

    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("load_audit"):
            return
        as_of = conn.execute(sa.text("SELECT MAX(business_date) FROM load_audit")).scalar()
        if as_of is None:
            return
        as_of = dt.date.fromisoformat(str(as_of)[:10])
        groups = closure(conn, as_of, by=("agency",))
    names = {code: a.name for code, a in agencies().items()}
    print(f"退回整改闭环 as of {as_of} (rejected records returned to their agency, and corrected by a later delivery that passed)")
    print(f"{'agency':<8} {'name':<14} {'退回':>6} {'已整改':>6} {'未整改':>6} {'整改闭环率':>8} {'平均整改工作日':>8}")
    for (agency,), c in sorted(groups.items()):
        rate = f"{c.rate:.0%}" if c.rate is not None else "-"
        days = f"{c.days_to_fix:.1f}" if c.days_to_fix is not None else "-"
        print(f"{agency:<8} {names.get(agency, agency):<14} {c.returned:>6} {c.corrected:>6} {c.open:>6} {rate:>8} {days:>8}")
    if not groups:
        print("  nothing returned")


def cmd_pools(args) -> int:
    """Create or update the Airflow pools (``ops/pools.py``) in the configured metadata DB."""
    from safety_hub.ops.pools import declare_pools

    for spec in declare_pools():
        print(f"pool {spec.name}: {spec.slots} slot(s) ({spec.description})")
    return 0


def cmd_connections(args) -> int:
    """List the Airflow connections the registered feeds need (``ops/connections.py``): what a
    deployment defines, in its secrets backend, the metadata DB or ``AIRFLOW_CONN_<ID>``."""
    from safety_hub.ops.connections import connection_plan

    for spec in connection_plan():
        print(f"{spec.conn_id:<12} {spec.conn_type:<8} agency {spec.agency:<6} feeds {', '.join(spec.feeds)}")
    return 0


def cmd_warehouse(args) -> int:
    """Warehouse administration: the analyst role, the generated data dictionary, the risk marts."""
    if args.action == "risk":
        return _warehouse_risk(args)
    if args.action == "build":
        return _warehouse_build(args)
    if args.action == "docs":
        from safety_hub.warehouse import docs

        if args.check:
            stale = docs.DOC_PATH.read_text(encoding="utf-8") != docs.render() if docs.DOC_PATH.exists() else True
            print(f"{docs.DOC_PATH}: {'STALE, run: python -m safety_hub warehouse docs' if stale else 'up to date'}")
            return 1 if stale else 0
        print(f"wrote {docs.write()}")
        return 0
    if args.action == "provision":
        return _warehouse_provision(args)
    if args.action == "migrate":
        return _warehouse_migrate()
    from safety_hub.domain.errors import one_line
    from safety_hub.warehouse.roles import grant_analyst
    from safety_hub.warehouse.engine import get_engine

    import sqlalchemy as sa

    try:
        summary = grant_analyst(get_engine(), args.role, adopt=args.adopt)
    except ValueError as exc:
        print(one_line(f"error: {exc}", 1000), file=sys.stderr)
        return 2
    except sa.exc.DBAPIError as exc:  # e.g. a login that may not create roles
        print(one_line(f"error: {str(exc.orig).splitlines()[0]} (grant-analyst needs a login that may create roles and "
                       "grant on the warehouse's tables: the superuser)", 1000), file=sys.stderr)
        return 2
    print(f"role {args.role}: SELECT on {len(summary['full'])} tables, on {len(summary['without_personal'])} more without personal "
          f"columns ({', '.join(summary['without_personal'])}); withheld: {', '.join(summary['withheld'])}")
    return 0


def _warehouse_provision(args) -> int:
    """Create or fix the PostgreSQL roles and databases (compose's airflow-init, at every start).

    The superuser's URL and the roles' passwords come from the environment, never the command line.
    """
    import sqlalchemy as sa

    from safety_hub.warehouse.roles import provision

    needed = ["SAFETY_HUB_PG_ADMIN_URL", "WAREHOUSE_OWNER_PASSWORD", "WAREHOUSE_TASK_PASSWORD"]
    if args.metadata_db:
        needed.append("AIRFLOW_DB_PASSWORD")
    missing = [name for name in needed if not os.environ.get(name)]
    if missing:
        print(f"error: set {', '.join(missing)} in the environment", file=sys.stderr)
        return 2
    admin = sa.create_engine(os.environ["SAFETY_HUB_PG_ADMIN_URL"], pool_pre_ping=True)
    try:
        provision(admin, warehouse_db=args.warehouse_db, owner=args.owner, owner_password=os.environ["WAREHOUSE_OWNER_PASSWORD"],
                  task=args.task, task_password=os.environ["WAREHOUSE_TASK_PASSWORD"],
                  metadata_db=args.metadata_db or None, metadata_role=args.metadata_role,
                  metadata_password=os.environ.get("AIRFLOW_DB_PASSWORD"))
    finally:
        admin.dispose()
    what = f"database {args.metadata_db} (owner {args.metadata_role}), " if args.metadata_db else ""
    print(f"provisioned {what}warehouse {args.warehouse_db} (owner {args.owner}, task login {args.task})")
    return 0


def _warehouse_migrate() -> int:
    """Bring the warehouse to the model with this login (the owner's): Alembic's migrations to head,
    the registry's additive step (``engine.ensure_schema``); on PostgreSQL, grant analysts again."""
    from safety_hub.warehouse import versioning
    from safety_hub.warehouse.access import regrant_analysts
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    engine = get_engine()
    md = ensure_schema(engine)
    roles = []
    with engine.begin() as conn:
        revision = versioning.current(conn)
        if engine.dialect.name == "postgresql":
            roles = regrant_analysts(conn, md)
    print(f"warehouse schema up to date: revision {revision}, {len(md.tables)} tables; "
          f"analyst roles granted again: {', '.join(roles) or 'none'}")
    return 0


def _warehouse_build(args) -> int:
    """The warehouse build as warehouse_build runs it: full (every as-of date), or from --since on."""
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine

    touched = None if args.full or args.since is None else [args.since]
    result = build(get_engine(), touched)
    dates = result["as_of"]
    span = f"{dates[0]} .. {dates[-1]}" if dates else "none"
    print(f"{'full' if touched is None else 'incremental'} build: dim_enterprise {result['enterprises']} rows; "
          f"marts for {len(dates)} as-of date(s) ({span})")
    return 0


def _warehouse_risk(args) -> int:
    """Validate include/risk.yaml, then (unless --check) rebuild the risk marts with it: a change of weights is an edit plus this."""
    from safety_hub.config.risk import RiskConfigError, load_risk_config
    from safety_hub.warehouse.risk import build_risk_marts

    try:
        config = load_risk_config()
    except RiskConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{settings.risk_config_path()}: valid (weights {config.sha})")
    if args.check:
        return 0
    from safety_hub.warehouse.engine import get_engine

    weeks = build_risk_marts(get_engine(), args.as_of, config)
    print(f"risk marts rebuilt for {len(weeks)} week(s)" + (f": {', '.join(d.isoformat() for d in weeks)}" if weeks else ""))
    return 0


def cmd_report(args) -> int:
    """Write one week's 一情况两清单 workbook and HTML report into reports/<yyyy-Www>/."""
    from safety_hub.reporting.archive import NoWeekData, ReportWeek
    from safety_hub.reporting.produce import produce_week

    try:
        week = ReportWeek.parse(args.week) if args.week else ReportWeek.previous()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = produce_week(week)
    except NoWeekData as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"week {week.label} ({week.start} .. {week.end})")
    print(f"as of: {report.label}")
    print(f"workbook: {report.workbook}")
    print(f"html report: {report.html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m safety_hub", description="Cross-agency work-safety data platform")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("feeds", help="list the registered feeds")
    f.add_argument("--markdown", action="store_true", help="print the schedule table of dags/README.md")
    f.set_defaults(func=cmd_feeds)

    cs = sub.add_parser("check-secrets", help="refuse (exit 2) while a deployment secret in the environment is empty, "
                        "a change-me placeholder, short or shared; compose runs it before any service")
    cs.add_argument("names", nargs="*", help="the variables to check (default: every secret of .env.example)")
    cs.set_defaults(func=cmd_check_secrets)

    v = sub.add_parser("validate", help="validate one delivered file against a feed's suite (loads nothing)")
    v.add_argument("--feed", required=True)
    v.add_argument("file", help="the delivered file: a CSV or XLSX drop (its marker beside it is read), an extract's .jsonl, "
                   "or for an API feed the folder of its pages")
    v.add_argument("--date", type=_date, default=dt.date.today(), help="business date for date rules (default today)")
    v.add_argument("--show", type=int, default=0, metavar="N", help="also list the first N rejected rows")
    v.set_defaults(func=cmd_validate)

    qp = sub.add_parser("quarantine", help="show what a feed's validation rejected and why, grouped by rule")
    qp.add_argument("--feed", required=True)
    qp.add_argument("--date", type=_date, default=None)
    qp.add_argument("--examples", type=int, default=3, help="example rows per rule")
    qp.add_argument("--unmask", action="store_true",
                    help="show the values of personal columns (masked by default: names, phones, certificate numbers)")
    qp.set_defaults(func=cmd_quarantine)

    hp = sub.add_parser("health", help="feed health: last Airflow run and its error, freshness by business date, volumes, "
                        "quarantine counts, rule pass rate and row load rate")
    hp.add_argument("--fail-on-stale", action="store_true", help="exit 1 when a feed is stale or its last run failed")
    hp.set_defaults(func=cmd_health)

    r = sub.add_parser("replay", help="reprocess landed raw data (no call to the agency) and rebuild the warehouse")
    r.add_argument("--feed", required=True, help="a feed id, several separated by commas, or 'all'")
    r.add_argument("--date", type=_date, default=None, help="one business date (default: every landed date)")
    r.set_defaults(func=cmd_replay)

    b = sub.add_parser("backfill", help="extract, validate and load a date range (forward or --reverse) in this process; "
                       "a history import goes through Airflow's backfill (docs/production.md)")
    b.add_argument("--feed", required=True, help="a feed id, several separated by commas, or 'all'")
    b.add_argument("--start", type=_date, required=True)
    b.add_argument("--end", type=_date, required=True)
    b.add_argument("--reverse", action="store_true", help="newest day first (the result is the same)")
    b.set_defaults(func=cmd_backfill)

    ct = sub.add_parser("catalogue", help="the data-item catalogue (数据项目录): list every data item; --out FILE.xlsx with fill and "
                        "validity rates measured on the landed data; --docs [--check] regenerates docs/catalogue.md")
    ct.add_argument("--out", type=Path, default=None, help="write the catalogue with measured rates to this .xlsx")
    ct.add_argument("--days", type=int, default=7, help="landed business dates the trailing rates average over (default 7)")
    ct.add_argument("--docs", action="store_true", help="regenerate docs/catalogue.md from the registry")
    ct.add_argument("--check", action="store_true", help="with --docs: exit 1 when docs/catalogue.md is stale")
    ct.set_defaults(func=cmd_catalogue)

    rt = sub.add_parser("returns", help="write a validated batch's 退回清单 (rejected and flagged rows, in Chinese) to its agency's outbox")
    rt.add_argument("--feed", required=True)
    rt.add_argument("--date", type=_date, required=True, help="the business date")
    rt.add_argument("--batch", required=True, help="the batch (the ingest run's id; see load_audit.batch_id or validation.json)")
    rt.set_defaults(func=cmd_returns)

    pl = sub.add_parser("pools", help="create or update the Airflow pools: the warehouse writer (1 slot on DuckDB, "
                        "SAFETY_HUB_WAREHOUSE_WRITER_SLOTS on PostgreSQL) and one extract pool per agency (_agencies.yaml)")
    pl.set_defaults(func=cmd_pools)
    cn = sub.add_parser("connections", help="list the Airflow connections the feeds need: id, type (http, fs, generic), agency, feeds "
                        "(include/feeds/*.yaml); define them in the deployment (README, \"Production\")")
    cn.set_defaults(func=cmd_connections)
    w = sub.add_parser("warehouse", help="warehouse administration: build [--full | --since DATE], grant-analyst ROLE [--adopt], provision, migrate (PostgreSQL), docs [--check], risk [--check]")
    wsub = w.add_subparsers(dest="action", required=True)
    g = wsub.add_parser("grant-analyst", help="create a read-only role on core and marts, without personal columns (PostgreSQL)")
    g.add_argument("role")
    g.add_argument("--adopt", action="store_true",
                   help="take over an existing role grant-analyst did not create (never a pg_* or superuser role)")
    wp = wsub.add_parser("provision", help="create or fix the PostgreSQL roles and databases (as the superuser: "
                         "SAFETY_HUB_PG_ADMIN_URL; passwords from WAREHOUSE_OWNER_PASSWORD, WAREHOUSE_TASK_PASSWORD, AIRFLOW_DB_PASSWORD)")
    wp.add_argument("--warehouse-db", default="warehouse")
    wp.add_argument("--owner", default="safety_hub_owner", help="owns the warehouse database, schema and tables")
    wp.add_argument("--task", default="safety_hub_task", help="tasks' login: rows and temporary tables, no DDL")
    wp.add_argument("--metadata-db", default="airflow", help="Airflow's database ('' to leave it alone)")
    wp.add_argument("--metadata-role", default="airflow", help="owns Airflow's database")
    wsub.add_parser("migrate", help="upgrade the warehouse schema: Alembic migrations to head, then the registry's new tables and columns (the owner's login); grant analysts again")
    wd = wsub.add_parser("docs", help="regenerate docs/warehouse.md from the model")
    wd.add_argument("--check", action="store_true", help="exit 1 when docs/warehouse.md differs from the model")
    wb = wsub.add_parser("build", help="rebuild dimensions and marts: --full (the default: every as-of date, what warehouse_build "
                         "does when triggered by hand) or --since DATE (what a load touching DATE triggers)")
    wbm = wb.add_mutually_exclusive_group()
    wbm.add_argument("--full", action="store_true", help="every loaded as-of date and its week (the default)")
    wbm.add_argument("--since", type=_date, default=None, help="only the as-of dates from DATE on (and any earlier a dimension change reaches)")
    wr = wsub.add_parser("risk", help="validate include/risk.yaml and rebuild the risk marts with it (after a change of weights)")
    wr.add_argument("--as-of", type=_date, action="append", default=None,
                    help="a day of a week to rebuild, repeatable (default: every week with a loaded business date)")
    wr.add_argument("--check", action="store_true", help="only validate the configuration (exit 2 when invalid)")
    w.set_defaults(func=cmd_warehouse)

    rp = sub.add_parser("report", help="write a week's 一情况两清单 workbook and HTML report into reports/<yyyy-Www>/")
    rp.add_argument("--week", default=None, help="ISO week, e.g. 2026-W45 (default: the previous week, Beijing)")
    rp.set_defaults(func=cmd_report)

    add_commands(sub)
    return p


COMMAND_GROUP = "safety_hub.cli"  # entry points: functions given the subparsers, each adding its command(s)
ENVIRONMENT_GROUP = "safety_hub.environment"  # entry points: the local environment of commands without connections


def add_commands(sub) -> list[str]:
    """Add the commands installed packages declare in the entry-point group ``safety_hub.cli``; their names."""
    from importlib.metadata import entry_points

    added = []
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        ep.load()(sub)
        added.append(ep.name)
    return added


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("SAFETY_HUB_LOG", "WARNING").upper(), format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_closed()


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader went away


def _stdout_closed() -> int:
    """The reader of stdout went away (``... | head``): stop quietly, exit 141.

    Python would otherwise print a traceback, and a second error when it flushes stdout at exit;
    stdout is pointed at /dev/null so that last flush has nowhere to fail.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return BROKEN_PIPE_EXIT
