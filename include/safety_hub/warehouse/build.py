"""Stage 5, model: conformed dimensions and marts, rebuilt from the facts.

The SQL lives in ``safety_hub/warehouse/sql/*.sql`` (one statement per concern, readable
by an analyst); each rebuild is one transaction and therefore idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from safety_hub.domain.dates import as_date
from safety_hub.domain.text import ORG_NAME_PREFIXES, ORG_NAME_REPLACEMENTS, canonical_org_name
from safety_hub.domain.industry import industry_sector
from safety_hub.domain.places import map_district
from safety_hub.config.registry import load_precedence, load_registry
from safety_hub.config.risk import load_risk_config
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.crosscheck import run_cross_rules
from safety_hub.warehouse.engine import ensure_schema, postgres_setting
from safety_hub.warehouse.lifecycle import asof_from_hazard, refresh
from safety_hub.warehouse.reporting_status import refresh_reporting_status
from safety_hub.warehouse.risk import refresh_risk_marts
from safety_hub.warehouse.sqltext import sql_file, sql_literal
from safety_hub.warehouse import changes, watermark
from safety_hub.warehouse.changes import CONFORMED_COLUMNS
from safety_hub.warehouse.schema import ENTERPRISE_OBSERVATION

log = logging.getLogger(__name__)


class BuildReport:
    """What a build did, for its log and the benchmarks: seconds per step, and each reason that made
    the marts recompute from a date (``reach``: (date, why); the earliest one decides)."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.reach: list[tuple[dt.date, str]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - start

    def reached(self, day: dt.date | None, why: str) -> None:
        if day is not None:
            self.reach.append((day, why))

    def earliest(self, n: int = 5) -> list[str]:
        """The ``n`` earliest reasons, as ``date why``."""
        return [f"{d.isoformat() if d > dt.date.min else 'any date'} {why}" for d, why in sorted(self.reach, key=lambda r: r[0])[:n]]

    def as_dict(self) -> dict:
        return {"steps": {k: round(v, 3) for k, v in self.steps.items()}, "reach": self.earliest()}


def _enterprise_sources(where: str = "TRUE") -> str:
    """What the enterprise dimensions read: every (USCC, name, district) each load reported, by feed and
    business date (``enterprise_observation``, its rows ``where`` selects). A fact table keeps only each
    record's latest version, at the business date of its latest delivery, so the dimensions computed
    from it would move an enterprise's first report, and the spelling known on a past date, whenever a
    record is delivered again (a snapshot's every delivery, a late update)."""
    return (f"SELECT uscc, org_name, district_code, feed_id, business_date, updated_at FROM {ENTERPRISE_OBSERVATION} "
            f"WHERE uscc IS NOT NULL AND {where}")


def _fact_sources(where: str = "TRUE") -> str:
    """The conformed columns of every fact table carrying them (their rows ``where`` selects)."""
    selects = []
    for feed in load_registry().values():
        names = {c.name for c in feed.columns}
        if set(CONFORMED_COLUMNS) <= names:
            selects.append(
                f"SELECT uscc, org_name, district_code, feed_id, business_date, updated_at FROM {feed.target_table} "
                f"WHERE uscc IS NOT NULL AND {where}"
            )
    return "\n    UNION ALL\n    ".join(selects)


def canonical_name_sql(column: str) -> str:
    """``domain.text.canonical_org_name`` as portable SQL over an already normalised (half-width, trimmed) name column."""
    expr = column
    for old, new in ORG_NAME_REPLACEMENTS:
        expr = f"REPLACE({expr}, {sql_literal(old)}, {sql_literal(new)})"
    cases = " ".join(f"WHEN {expr} LIKE {sql_literal(prefix + '%')} THEN {sql_literal(new)} || SUBSTR({expr}, {len(prefix) + 1})"
                     for prefix, new in ORG_NAME_PREFIXES)
    return f"NULLIF(CASE {cases} ELSE {expr} END, '')"


def _rank_sql(feed_ids: list[str]) -> str:
    """A feed's rank in a precedence list as SQL (1 = most authoritative; unlisted feeds after all listed)."""
    if not feed_ids:
        return "1"
    whens = " ".join(f"WHEN {sql_literal(f)} THEN {i}" for i, f in enumerate(feed_ids, start=1))
    return f"CASE feed_id {whens} ELSE {len(feed_ids) + 1} END"


def _enterprise_sql(name: str, where: str) -> str:
    """The SQL file ``name`` over the enterprise observations (enterprise_observations.sql) of the
    facts' rows ``where`` selects."""
    precedence = load_precedence()
    observations = sql_file("enterprise_observations.sql").format(
        sources=_enterprise_sources(where), canonical=canonical_name_sql("org_name"),
        name_rank=_rank_sql(precedence.org_name), district_rank=_rank_sql(precedence.district_code))
    return sql_file(name).format(observations=observations.rstrip())


def dim_enterprise_sql(where: str = "TRUE") -> str:
    """dim_enterprise.sql over the facts' rows ``where`` selects (a condition on ``uscc``: the dimension is a function of each USCC's rows)."""
    return _enterprise_sql("dim_enterprise.sql", where)


def dim_enterprise_asof_sql(where: str = "TRUE") -> str:
    """dim_enterprise_asof.sql over the facts' rows ``where`` selects (a condition on ``uscc``, as ``dim_enterprise_sql``)."""
    return _enterprise_sql("dim_enterprise_asof.sql", where)


def _hash_joins(conn: sa.Connection):
    """PostgreSQL: the enterprise dimensions' statements without nested-loop joins (restored after).

    Their CTEs end in window functions and filters the planner estimates at one row each, so it
    joins the name spans to the district spans in a nested loop that runs the inner window query
    again for every outer row: dim_enterprise_asof took 172 s on a three-week city warehouse (3,456 x
    1,353 spans), 0.45 s with hash joins."""
    return postgres_setting(conn, "enable_nestloop", "off")


def build_dimensions(engine: sa.Engine) -> int:
    """Rebuild dim_enterprise (SCD2), enterprise_match, dim_date and dim_industry (one transaction);
    return dim_enterprise's row count (one row per enterprise name version)."""
    return rebuild_dimensions(engine)[0]


def rebuild_dimensions(engine: sa.Engine, incremental: bool = False, report: BuildReport | None = None) -> tuple[int, dt.date | None]:
    """``build_dimensions``, also returning the earliest as-of date whose marts read a dimension row
    that changed (``dt.date.min``: any date; None: nothing the marts read changed).

    ``incremental``: dim_enterprise's rows of the USCCs whose fact rows the loads since the last
    build changed, and enterprise_match's rows of those loads' partitions and of the names those
    rows carried (``warehouse/changes.py``), are recomputed; otherwise both are rebuilt whole. The
    dimension rows recomputed are compared with what they were on what the marts read: the marts
    read the version in force on their as-of date (name, district), or the current one for a date
    before an enterprise's first version, so for each enterprise the change reaches from the first
    date on which the version in force differs (``enterprise_reach``: a new name version from its
    own ``valid_from``, the old version's new ``valid_to``, not from the enterprise's first day), and
    a changed current name also to the hazards reported before the enterprise's first version.
    dim_industry is a function of each code, so only a code leaving or arriving counts (any date);
    dim_date is rewritten only when the loaded date range leaves the years it covers.
    ``report``: seconds per step and the reason for the date returned (``BuildReport``).
    """
    report = report or BuildReport()
    md = ensure_schema(engine)
    with engine.begin() as conn:
        loads = changes.read(conn, changes.DIMENSIONS)
        if _fill_observations(conn):  # a warehouse loaded before enterprise_observation existed: whole
            incremental = False
            report.reached(dt.date.min, f"{ENTERPRISE_OBSERVATION} filled from the facts")
        if incremental:
            with report.step("dim_enterprise"), \
                    changes.temporary(conn, changes.keys_sql(changes.DIMENSIONS, changes.USCC, "value AS uscc")) as usccs:
                scope = f"uscc IN (SELECT uscc FROM {usccs})"
                before = _enterprise_frames(conn, scope)
                for table, sql in (("dim_enterprise", dim_enterprise_sql), ("dim_enterprise_asof", dim_enterprise_asof_sql)):
                    conn.execute(sa.text(f"DELETE FROM {table} WHERE {scope}"))
                    with _hash_joins(conn):
                        conn.execute(sa.text(sql(scope)))
                after = _enterprise_frames(conn, scope)
            with report.step("enterprise_match"):
                _refresh_matches(conn, md)
        else:
            with report.step("dim_enterprise"):
                before = _enterprise_frames(conn)
                for table, sql in (("dim_enterprise", dim_enterprise_sql), ("dim_enterprise_asof", dim_enterprise_asof_sql)):
                    conn.execute(sa.text(f"DELETE FROM {table}"))
                    with _hash_joins(conn):
                        conn.execute(sa.text(sql()))
                after = _enterprise_frames(conn)
            with report.step("enterprise_match"):
                conn.execute(md.tables["enterprise_match"].delete())
                _insert_matches(conn, md.tables["enterprise_match"])
        with report.step("dim_date, dim_industry"):
            industries_before = _frame(conn, "dim_industry")
            dates = _dates(conn)
            covered = conn.execute(sa.text("SELECT MIN(date_key), MAX(date_key), COUNT(*) FROM dim_date")).one()
            if not dates or (as_date(covered[0]), as_date(covered[1]), covered[2]) != (dates[0]["date_key"], dates[-1]["date_key"], len(dates)):
                _rebuild(conn, md.tables["dim_date"], dates)
            _rebuild(conn, md.tables["dim_industry"], _industries(conn))
        with report.step("compare"):
            reach = _enterprise_changed_from(conn, before, after)
            changed_from = reach[0] if reach else None
            report.reached(*reach) if reach else None
            if not _same_rows(industries_before, _frame(conn, "dim_industry")):
                changed_from = dt.date.min
                report.reached(dt.date.min, "dim_industry: a code arrived or left")
        if changed_from is not None:  # kept until a build of the marts succeeds (warehouse/watermark.py)
            watermark.record(conn, *watermark.DIMENSIONS, changed_from, keep_earlier=True)
        changes.clear(conn, loads)
        return conn.execute(sa.text("SELECT COUNT(*) FROM dim_enterprise")).scalar_one(), changed_from


def _fill_observations(conn: sa.Connection) -> bool:
    """Fill an empty ``enterprise_observation`` of a warehouse holding loads from the fact tables'
    rows (the versions they kept: what can be known of the loads made before the table existed);
    return whether it did."""
    if conn.execute(sa.text(f"SELECT 1 FROM {ENTERPRISE_OBSERVATION} LIMIT 1")).first() is not None:
        return False
    if conn.execute(sa.text(f"SELECT 1 FROM ({_fact_sources()}) f LIMIT 1")).first() is None:
        return False  # nothing to fill from (no load of a feed carrying the enterprise columns yet)
    conn.execute(sa.text(
        f"INSERT INTO {ENTERPRISE_OBSERVATION} (feed_id, business_date, uscc, org_name, district_code, updated_at) "
        f"SELECT feed_id, business_date, uscc, org_name, district_code, MAX(updated_at) FROM ({_fact_sources()}) f "
        "GROUP BY feed_id, business_date, uscc, org_name, district_code"))
    return True


def _frame(conn: sa.Connection, table: str, where: str = "TRUE") -> pd.DataFrame:
    return pd.DataFrame(conn.execute(sa.text(f'SELECT * FROM "{table}" WHERE {where}')).mappings().all())


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return len(a) == len(b) and (len(a) == 0 or len(_changed(a, b)) == 0)


def _changed(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Rows in only one of ``a`` and ``b`` (same columns)."""
    if a.empty or b.empty:
        return b if a.empty else a
    both = pd.concat([a, b], ignore_index=True).astype(object).where(lambda f: f.notna(), None)
    return both[~both.duplicated(keep=False)]


def _enterprise_frames(conn: sa.Connection, where: str = "TRUE") -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the marts read of the enterprises ``where`` selects: dim_enterprise_asof's rows, and
    dim_enterprise's current names (shown for a date before an enterprise's first version)."""
    return (_frame(conn, "dim_enterprise_asof", where),
            pd.DataFrame(conn.execute(sa.text(f"SELECT uscc, org_name FROM dim_enterprise WHERE is_current AND {where}")).all(),
                         columns=["uscc", "org_name"]))


ASOF_READ = ["uscc", "org_name", "district_code", "valid_from", "valid_to"]  # what the marts read


def _shown(rows: list[dict], day: dt.date) -> tuple | None:
    return next(((r["org_name"], r["district_code"]) for r in rows
                 if r["valid_from"] <= day and (r["valid_to"] is None or day < r["valid_to"])), None)


def enterprise_reach(before: list[dict], after: list[dict]) -> dt.date | None:
    """The first date on which what the marts show of one enterprise (its dim_enterprise_asof rows:
    ``valid_from``, ``valid_to`` None for open, ``org_name``, ``district_code``) differs between two
    sets of rows; None when no date does. What is shown changes only where a row begins or ends, so
    the dates compared are the rows' bounds, before and after: a new name version, or a new spelling
    reported, changes the dates from its own on, not the enterprise's earlier ones."""
    bounds = sorted({r[k] for r in (*before, *after) for k in ("valid_from", "valid_to") if r[k] is not None})
    return next((day for day in bounds if _shown(before, day) != _shown(after, day)), None)


def _enterprise_changed_from(conn: sa.Connection, before: tuple[pd.DataFrame, pd.DataFrame],
                             after: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[dt.date, str] | None:
    """The earliest as-of date a change of the enterprise dimension reaches, and why (None: nothing the marts read changed)."""
    frames = [f[ASOF_READ] if len(f) else pd.DataFrame(columns=ASOF_READ) for f, _ in (before, after)]
    changed = _changed(*frames)
    current = [dict(zip(c["uscc"], c["org_name"])) for _, c in (before, after)]
    renamed = sorted(u for u in set(current[0]) | set(current[1]) if current[0].get(u) != current[1].get(u))
    if changed.empty and not renamed:
        return None
    usccs = set(changed["uscc"]) | set(renamed)

    def by_uscc(frame: pd.DataFrame) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in frame[frame["uscc"].isin(usccs)].astype(object).where(lambda f: f.notna(), None).to_dict("records"):
            out.setdefault(r["uscc"], []).append({**r, "valid_from": as_date(r["valid_from"]), "valid_to": as_date(r["valid_to"])})
        return out

    olds, news = by_uscc(frames[0]), by_uscc(frames[1])
    reach: list[tuple[dt.date, str]] = []
    for uscc in sorted(set(changed["uscc"])):
        old, new = olds.get(uscc, []), news.get(uscc, [])
        if old and not new:
            reach.append((dt.date.min, f"dim_enterprise {uscc}: left the dimension"))
            continue
        day = enterprise_reach(old, new)
        if day is not None:
            reach.append((day, f"dim_enterprise {uscc}: shown on {day} as {_shown(old, day)} before, {_shown(new, day)} now"))
    for uscc in renamed:  # the current name shows for a hazard reported before the enterprise's first version
        firsts = [min(r["valid_from"] for r in rows) for rows in (olds.get(uscc), news.get(uscc)) if rows]
        hazard = conn.execute(sa.text("SELECT MIN(business_date) FROM hazard_version WHERE uscc = :u AND business_date < :d"),
                              {"u": uscc, "d": max(firsts) if firsts else dt.date.max}).scalar()
        if hazard is not None:
            reach.append((as_date(hazard), f"dim_enterprise {uscc}: current name changed, shown for a hazard before its first version"))
    if not reach:
        return None
    day, why = min(reach, key=lambda r: r[0])
    return day, f"{why} (+{len(reach) - 1} other enterprises)" if len(reach) > 1 else why


def _refresh_matches(conn: sa.Connection, md: sa.MetaData) -> None:
    """enterprise_match, incrementally: a record's match depends on its own values and on the
    candidates reporting its canonical name, so the rows recomputed are those of the partitions the
    loads since the last build wrote (their quarantined records are new, or replaced) and those of the
    names the facts' rows they changed carried, before or after (``warehouse/changes.py``)."""
    text = sa.Text().compile(dialect=conn.dialect)
    names = f"SELECT DISTINCT {canonical_name_sql('value')} AS name FROM ({changes.keys_sql(changes.DIMENSIONS, changes.ORG_NAME)}) n"
    parts = changes.keys_sql(changes.DIMENSIONS, changes.PARTITION, "feed_id, value AS business_date")
    with changes.temporary(conn, parts) as parts, changes.temporary(conn, names) as names:
        loaded = in_partitions(parts, text)
        with changes.temporary(conn, f"SELECT m.feed_id, m.batch_id, m.row_number FROM enterprise_match m "
                                     f"WHERE m.canonical_name IN (SELECT name FROM {names}) AND NOT {loaded.format(t='m')}") as named:
            again = in_records(named)
            conn.execute(sa.text(f"DELETE FROM enterprise_match WHERE {loaded.format(t='enterprise_match')} "
                                 f"OR {again.format(t='enterprise_match')}"))
            _insert_matches(conn, md.tables["enterprise_match"], f"({loaded.format(t='q')} OR {again.format(t='q')})")


# The scope conditions are uncorrelated row-value INs, not correlated EXISTS: joined by OR, PostgreSQL
# cannot make an EXISTS a semi-join and ran both subqueries for every quarantined record (bench-city:
# enterprise_match 0.2 -> 119 s a week over a quarter; 23.9 s -> 0.09 s for one week's scope); an IN
# becomes a hashed subplan, one probe a row. ``{t}``: the table alias the condition is on.
def in_partitions(parts: str, text: str) -> str:
    """``{t}``'s row is in one of the partitions (feed_id, business_date as text) of the table ``parts``."""
    return f"(({{t}}.feed_id, CAST({{t}}.business_date AS {text})) IN (SELECT feed_id, business_date FROM {parts}))"


def in_records(records: str) -> str:
    """``{t}``'s row is one of the quarantined records (feed_id, batch_id, row_number) of the table ``records``."""
    return f"(({{t}}.feed_id, {{t}}.batch_id, {{t}}.row_number) IN (SELECT feed_id, batch_id, row_number FROM {records}))"


USCC_RULES = ("uscc.valid_uscc", "uscc.required")
MATCH_PAGE_ROWS = 20_000  # quarantine rows read into Python at a time by _insert_matches
RECORD_ORDER = ("feed_id", "business_date", "batch_id", "row_number")  # a quarantined record, in the order pages follow


def _insert_matches(conn: sa.Connection, table: sa.Table, where: str = "TRUE") -> int:
    """Insert into ``table`` (``enterprise_match``) the quarantined records whose only problem is the
    USCC, matched by canonical name + district; return the rows inserted.

    The candidates are every (USCC, canonical name, district) the facts report, old names
    included; a record matches when exactly one enterprise has its name in its district.
    ``where`` (a condition on quarantine ``q``): which records.

    Bounded memory whatever the quarantine holds: the records are read ``MATCH_PAGE_ROWS`` rows at a
    time in record order (keyset pages; a page's last record is read again with the next page, so a
    record's rules are never split), the matches written to a Parquet file of a temporary folder and
    inserted from it (``bulk.insert_parquet``), not held as Python rows or registered Arrow data.
    """
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from safety_hub.warehouse.bulk import insert_parquet

    rules = ", ".join(sql_literal(r) for r in USCC_RULES)
    same_record = "o.feed_id = q.feed_id AND o.batch_id = q.batch_id AND o.row_number = q.row_number"
    key = ", ".join(f"q.{c}" for c in RECORD_ORDER)
    select = ("SELECT q.feed_id, q.batch_id, q.business_date, q.row_number, q.record_key, q.rule_id, q.original_values FROM quarantine q "
              f"WHERE q.rule_id IN ({rules}) AND NOT EXISTS (SELECT 1 FROM quarantine o WHERE {same_record} AND o.rule_id NOT IN ({rules})) "
              f"AND {where}")
    page_sql = sa.text(f"{select} AND ({key}) > (:feed_id, :business_date, :batch_id, :row_number) "
                       f"ORDER BY {key}, q.rule_id LIMIT {MATCH_PAGE_ROWS}")
    first = conn.execute(sa.text(f"{select} ORDER BY {key}, q.rule_id LIMIT {MATCH_PAGE_ROWS}")).all()
    if not first:
        return 0
    candidates = _match_candidates(conn)
    feeds = load_registry()
    schema = pa.schema([(c.name, pa.date32() if c.name == "business_date" else pa.int64() if c.name in ("row_number", "candidates")
                         else pa.string()) for c in table.columns])
    written = 0
    with tempfile.TemporaryDirectory(prefix="enterprise_match_") as folder:
        path = Path(folder) / "matches.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            page = first
            while page:
                last_page = len(page) < MATCH_PAGE_ROWS
                records = _match_records(page, feeds, candidates)
                if not last_page:
                    records.popitem()  # the page's last record may have rules on the next page: read again there
                    if not records:
                        raise RuntimeError(f"one quarantined record has more than {MATCH_PAGE_ROWS} USCC rule rows")
                rows = list(records.values())
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                written += len(rows)
                if last_page:
                    break
                after = dict(zip(RECORD_ORDER, next(reversed(records))))
                page = records = rows = first = None  # one page in Python at a time, not the last one beside the next
                page = conn.execute(page_sql, after).all()
        insert_parquet(conn, table, path)
    return written


def _match_candidates(conn: sa.Connection) -> dict[tuple[str, str], set[str]]:
    """(canonical name, district) -> the USCCs reporting it, over every fact table's conformed columns."""
    candidates: dict[tuple[str, str], set[str]] = {}
    observed = f"SELECT DISTINCT uscc, org_name, district_code FROM ({_fact_sources()}) src WHERE district_code IS NOT NULL"
    for uscc, org_name, district in conn.execute(sa.text(observed)):
        name = canonical_org_name(org_name)
        if name:
            candidates.setdefault((name, district), set()).add(uscc)
    return candidates


def _match_records(quarantined, feeds: dict, candidates: dict[tuple[str, str], set[str]]) -> dict[tuple, dict]:
    """One ``enterprise_match`` row per record of ``quarantined`` (rows in record order, then rule), keyed
    by (feed, business date, batch, row number) in that order; a record's rules joined by commas."""
    records: dict[tuple, dict] = {}
    for feed_id, batch_id, business_date, row_number, record_key, rule_id, original in quarantined:
        rid = (feed_id, as_date(business_date), batch_id, row_number)
        if rid in records:
            records[rid]["rule_id"] += "," + rule_id
            continue
        values = json.loads(original)
        feed = feeds.get(feed_id)
        raw = {c.name: next((values[s] for s in (c.source, *c.aliases) if values.get(s) not in (None, "")), None)
               for c in (feed.columns if feed else []) if c.name in CONFORMED_COLUMNS}
        name, district = canonical_org_name(raw.get("org_name")), map_district(raw.get("district_code"))
        found = sorted(candidates.get((name, district), ())) if name and district else []
        records[rid] = {
            "feed_id": feed_id, "batch_id": batch_id, "business_date": as_date(business_date), "row_number": row_number,
            "record_key": record_key, "rule_id": rule_id, "raw_uscc": raw.get("uscc"), "raw_org_name": raw.get("org_name"),
            "canonical_name": name, "district_code": district, "candidates": len(found),
            "matched_uscc": found[0] if len(found) == 1 else None,
            "match_method": {0: "unmatched", 1: "name_district"}.get(len(found), "ambiguous"),
        }
    return records


def _rebuild(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    conn.execute(table.delete())
    if rows:
        bulk_insert(conn, table, pd.DataFrame(rows))


def _dates(conn: sa.Connection) -> list[dict]:
    """Every day of the years around the loaded business dates (a year either side)."""
    first, last = conn.execute(sa.text("SELECT MIN(business_date), MAX(business_date) FROM load_audit")).one()
    if first is None:
        return []
    day, end = dt.date(first.year - 1, 1, 1), dt.date(last.year + 1, 12, 31)
    rows = []
    while day <= end:
        iso = day.isocalendar()
        rows.append({"date_key": day, "year": day.year, "quarter": (day.month - 1) // 3 + 1, "month": day.month, "day": day.day,
                     "iso_year": iso.year, "iso_week": iso.week, "week_label": f"{iso.year}-W{iso.week:02d}",
                     "weekday": iso.weekday, "is_weekend": iso.weekday >= 6})
        day += dt.timedelta(days=1)
    return rows


def _industries(conn: sa.Connection) -> list[dict]:
    """The industry codes enterprises are registered under, with their supervision sector."""
    selects = [f"SELECT DISTINCT industry_code FROM {f.target_table} WHERE industry_code IS NOT NULL"
               for f in load_registry().values() if "industry_code" in {c.name for c in f.columns}]
    if not selects:
        return []
    codes = sorted({r[0].strip().upper() for r in conn.execute(sa.text(" UNION ".join(selects))) if r[0].strip()})
    return [{"industry_code": c, "section": c[0], "division": c[:3] if len(c) >= 3 else None, "sector": industry_sector(c)} for c in codes]


def build_marts(engine: sa.Engine, as_of: list[dt.date] | None = None, since: dt.date | None = None,
                report: BuildReport | None = None) -> list[dt.date]:
    """Refresh the hazard lifecycle (regressions, ``hazard``) and the cross-feed rules, then
    mart_district_hazard for ``as_of`` dates (default: every loaded business date) and the risk
    marts for their weeks (``safety_hub.warehouse.risk``); one transaction.

    ``since`` (incremental build): the lifecycle and the cross-feed rules are refreshed for the keys
    the loads since the last build changed (``warehouse/changes.py``), and the as-of dates are every
    loaded business date from ``since`` on, from the build watermark's date when earlier (loads and
    dimension changes no successful build has taken, a failed build's included:
    ``warehouse/watermark.py``), and from earlier still when the regression marks changed on an
    earlier date. A full or incremental build deletes the watermark and change-log rows it read in
    its transaction; a build for given ``as_of`` dates leaves the watermark (and refreshes the
    lifecycle and rules whole). Return the as-of dates computed. ``report``: seconds per step and
    the reasons for the earliest date (``BuildReport``)."""
    report = report or BuildReport()
    risk_config = load_risk_config()  # a bad risk.yaml fails before the transaction opens
    md = ensure_schema(engine)
    incremental = since is not None
    with engine.begin() as conn:
        pending = watermark.pending(conn) if as_of is None else []
        loads = changes.read(conn, changes.MARTS)
        if since is not None and pending:
            for row in pending:
                report.reached(row.dirty_since, f"build_watermark {row.feed_id} {row.batch_id}")
            since = min(since, watermark.dirty_since(pending))
        marked = _regressions(conn) if since is not None else None
        latest = conn.execute(sa.text("SELECT MAX(business_date) FROM hazard_version")).scalar()
        with report.step("hazard lifecycle"):
            refresh(conn, md, latest, incremental=incremental)
        with report.step("cross rules"):
            run_cross_rules(conn, md, incremental=incremental)
        if marked is not None:
            moved = marked ^ _regressions(conn)  # a version's flag depends on every version of its record
            for v in moved:
                report.reached(as_date(v[3]), f"regression mark {v[0]} {v[1]}")
            since = min([since, *(as_date(v[3]) for v in moved)])
            as_of = loaded_dates(conn, since)
        elif as_of is None:
            as_of = loaded_dates(conn)
        hazards_asof = partial(asof_from_hazard, conn)  # hazard is current: refreshed above
        with report.step("mart_district_hazard"):
            for day in as_of:
                conn.execute(sa.text("DELETE FROM mart_district_hazard WHERE as_of_date = :d"), {"d": day})
                with hazards_asof(day) as hazards:
                    conn.execute(sa.text(sql_file("mart_district_hazard.sql").format(hazard_asof=hazards)), {"as_of": day})
        with report.step("risk marts"):
            refresh_risk_marts(conn, as_of, risk_config, hazards_asof)
        with report.step("reporting status"):
            refresh_reporting_status(conn, md)  # whole: its rows answer every as-of date
        watermark.clear(conn, pending)
        changes.clear(conn, loads)
    return as_of


def loaded_dates(conn: sa.Connection, since: dt.date | None = None) -> list[dt.date]:
    """The loaded business dates (the marts' as-of dates), from ``since`` on when given."""
    rows = conn.execute(sa.text("SELECT DISTINCT business_date FROM load_audit WHERE business_date >= :s ORDER BY 1"),
                        {"s": since or dt.date.min})
    return [as_date(r[0]) for r in rows]


def _regressions(conn: sa.Connection) -> set[tuple]:
    return {tuple(r) for r in conn.execute(sa.text(
        "SELECT feed_id, record_key, updated_at, business_date FROM hazard_version WHERE is_regression"))}


def affected_since(touched: list[dt.date], dimensions_changed_from: dt.date | None = None) -> dt.date | None:
    """The earliest as-of date an incremental build recomputes: a change on day D changes the as-of
    views of D and of every later date (they read everything loaded up to their date)."""
    dates = [*touched, *([dimensions_changed_from] if dimensions_changed_from is not None else [])]
    return min(dates) if dates else None


def build(engine: sa.Engine, touched: list[dt.date] | None = None) -> dict:
    """The warehouse build: dimensions, then marts. ``touched`` None: full (every as-of date, every
    key); else incremental: the keys the loads since the last build changed, the marts from the
    earliest touched date (and any earlier date a dimension change reaches); an empty list
    recomputes only what the change log, a dimension or a regression change requires. Returns the
    dimension's row count, the as-of dates computed and the ``BuildReport`` (``report``: seconds per
    step, the earliest reasons), which is also logged."""
    report = BuildReport()
    with report.step("dimensions"):
        enterprises, changed_from = rebuild_dimensions(engine, incremental=touched is not None, report=report)
    with report.step("marts"):
        if touched is None:
            as_of = build_marts(engine, report=report)
        else:
            for day in sorted(set(touched))[:1]:
                report.reached(day, "the loads' earliest touched date")
            since = affected_since(touched, changed_from)
            as_of = build_marts(engine, since=since if since is not None else dt.date.max, report=report)
    log.info("warehouse build: %d as-of dates from %s; steps %s; earliest reasons: %s", len(as_of),
             as_of[0] if as_of else None, report.as_dict()["steps"], "; ".join(report.earliest()))
    return {"enterprises": enterprises, "as_of": as_of, "report": report.as_dict()}
