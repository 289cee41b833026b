"""Hazards across agencies: every version kept, regressions quarantined, one row per hazard.

Feeds with a ``lifecycle`` section in the registry (hazard ledgers) add each
loaded version of each record to ``hazard_version``, inside the load's
transaction and replacing the batch's business-date partition, so any load
order gives the same history (an old version arriving after a newer one is
history too). The warehouse build then:

1. marks status regressions: a version whose status is behind the furthest
   status an earlier version of the same record reached (by update time),
   unless the move is an allowed ``reopen`` (a failed acceptance);
2. writes each regression to ``quarantine`` as ``status.no_regression``, with
   both statuses in the reason;
3. rebuilds ``hazard``: one row per identity (uscc | normalised description |
   found_date), so a resubmission under a new number, or the same hazard from two
   agencies, is one hazard with its list of sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from safety_hub.config.registry import Feed, load_registry
from safety_hub.warehouse import changes
from safety_hub.warehouse.bulk import bulk_insert
from safety_hub.warehouse.crosscheck import found_in_warehouse
from safety_hub.warehouse.sqltext import insert_select, sql_file, sql_literal

REGRESSION_RULE = "status.no_regression"
IDENTITY = "_identity_key"  # the load's staging column holding the hazard identity (feeds with a lifecycle)
# What Python's ``\s`` matches in a str (``str.isspace``), as an RE2 class for Arrow's regex kernels.
WHITESPACE_RE2 = r"[\t\n\x{0b}\x{0c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"


def normalise_descriptions(description: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Half-width (NFKC), no whitespace, "" for missing: how two clerks' spellings of one description compare."""
    text = pc.fill_null(description.cast(pa.string()), "")
    return pc.replace_substring_regex(pc.utf8_normalize(text, form="NFKC"), pattern=WHITESPACE_RE2, replacement="")


def identity_keys(uscc: pa.Array | pa.ChunkedArray, description: pa.Array | pa.ChunkedArray,
                  found_date: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A hazard's identity per row: ``uscc|normalised description|found date (ISO)``, "" for missing parts."""
    if pa.types.is_timestamp(found_date.type):
        if found_date.type.tz is not None:
            found_date = pc.local_timestamp(found_date)  # the calendar date where it was recorded
        found_date = pc.cast(found_date, pa.date32())
    found = pc.fill_null(pc.cast(found_date, pa.string()), "")
    return pc.binary_join_element_wise(pc.fill_null(uscc.cast(pa.string()), ""), normalise_descriptions(description), found, "|")


def record_versions(conn: sa.Connection, md: sa.MetaData, feed: Feed, staging: sa.Table, lineage: dict) -> int:
    """Replace the feed's versions for the batch's business date with the staged rows (inside the load's transaction).

    ``staging`` is the load's staging table (typed feed columns plus the hazard identity,
    after dedupe, before stale rows are skipped).
    """
    table = md.tables["hazard_version"]
    _record_changes(conn, lineage)  # the versions replaced
    conn.execute(table.delete().where(table.c.feed_id == feed.feed_id, table.c.business_date == lineage["business_date"]))
    lc = feed.lifecycle
    source = {conformed: f's."{column}"' for conformed, column in lc.columns.items()}
    status = source["status"]
    ranks = " ".join(f"WHEN {sql_literal(st)} THEN {i}" for i, st in enumerate(lc.statuses))
    key = " || '|' || ".join(f'CAST(s."{k}" AS {sa.Text().compile(dialect=conn.dialect)})' for k in feed.key)
    derived = {
        "record_key": key, "identity_key": f's."{IDENTITY}"', "updated_at": 's."updated_at"', "is_regression": "FALSE",
        "status_rank": f"CASE {status} {ranks} END", "is_closed": f"({status} = {sql_literal(lc.closed)})",
        "is_major": f'({source["grade"]} = {sql_literal(lc.major)})' if "grade" in source else "CAST(NULL AS BOOLEAN)",
    }
    null = {c.name: f"CAST(NULL AS {c.type.compile(dialect=conn.dialect)})" for c in table.columns}
    cols, exprs, params = insert_select(conn, table, lineage, {**null, **source, **derived})
    inserted = conn.execute(sa.text(f'INSERT INTO "{table.name}" ({cols}) SELECT {exprs} FROM "{staging.name}" s'), params).rowcount
    _record_changes(conn, lineage)  # the versions written
    return inserted


def _record_changes(conn: sa.Connection, lineage: dict) -> None:
    """Log the record keys and identities of the feed's versions of the batch's business date (``warehouse/changes.py``)."""
    params = {"feed_id": lineage["feed_id"], "day": lineage["business_date"]}
    for scope, column in ((changes.HAZARD_RECORD, "record_key"), (changes.HAZARD_IDENTITY, "identity_key")):
        changes.record(conn, changes.MARTS, scope, lineage,
                       f"SELECT {column} FROM hazard_version WHERE feed_id = :feed_id AND business_date = :day", params)


def _regression_case(feeds: list[Feed]) -> str:
    """SQL: is this version behind the furthest earlier status (``prev_max``) and not an allowed reopen?"""
    allowed = []
    for f in feeds:
        rank = {s: i for i, s in enumerate(f.lifecycle.statuses)}
        allowed += [f"(feed_id = '{f.feed_id}' AND prev_max = {rank[a]} AND status_rank = {rank[b]})" for a, b in f.lifecycle.reopen]
    reopen = " OR ".join(allowed) or "FALSE"
    return f"CASE WHEN prev_max IS NOT NULL AND status_rank < prev_max AND NOT ({reopen}) THEN TRUE ELSE FALSE END"


def refresh(conn: sa.Connection, md: sa.MetaData, as_of: dt.date | None, incremental: bool = False) -> dict[str, int]:
    """Mark regressions, quarantine them, rebuild ``hazard`` as of ``as_of`` (inside one transaction).

    ``incremental``: only for what the loads since the last build changed (``warehouse/changes.py``):
    the marks and quarantine rows of the records whose versions changed (a mark depends on its
    record's versions only), and the hazards of the identities those records have or had, each
    computed from every version of every record reporting it (the same rows as a whole rebuild).
    ``hazards`` is then the number of hazards recomputed.
    """
    feeds = [f for f in load_registry().values() if f.lifecycle is not None]
    hazard = md.tables["hazard"]
    if not incremental:
        versions = _versions_with_prev_max(feeds)
        _mark(conn, versions)
        quarantined = _quarantine_regressions(conn, md, feeds, versions)
        conn.execute(hazard.delete())
        if as_of is not None:
            conn.execute(sa.text(sql_file("hazard.sql").format(hazard_asof=for_dialect(conn, sql_file("hazard_asof.sql")))), {"as_of": as_of})
        hazards = conn.execute(sa.select(sa.func.count()).select_from(hazard)).scalar_one()
        return {"regressions": quarantined, "hazards": hazards}
    with changes.temporary(conn, changes.keys_sql(changes.MARTS, changes.HAZARD_RECORD, "feed_id, value AS record_key")) as records:
        of_records = f"EXISTS (SELECT 1 FROM {records} c WHERE c.feed_id = {{t}}.feed_id AND c.record_key = {{t}}.record_key)"
        versions = _versions_with_prev_max(feeds, where=of_records.format(t="hazard_version"))
        _mark(conn, versions)
        quarantined = _quarantine_regressions(conn, md, feeds, versions, only=of_records.format(t="quarantine"))
        with changes.temporary(conn, f"{changes.keys_sql(changes.MARTS, changes.HAZARD_IDENTITY, 'value AS identity_key')} "
                                     f"UNION SELECT identity_key FROM hazard_version WHERE {of_records.format(t='hazard_version')}") as identities:
            in_identities = f"identity_key IN (SELECT identity_key FROM {identities})"
            conn.execute(sa.text(f"DELETE FROM hazard WHERE {in_identities}"))
            hazards = 0
            if as_of is not None:
                with changes.temporary(conn, _reporting(in_identities)) as scoped:
                    hazards = conn.execute(sa.text(sql_file("hazard.sql").format(hazard_asof=for_dialect(conn, scoped_asof(scoped, f"r.{in_identities}")))),
                                           {"as_of": as_of}).rowcount
    return {"regressions": quarantined, "hazards": hazards}


HAZARD_COLUMNS = ("identity_key, uscc, org_name, district_code, description, found_date, grade, is_major, deadline, fixed_date, "
                  "accepted_date, closed_date, listed_supervision, status, status_rank, is_closed, sources, n_sources, n_versions, "
                  "first_reported_at, last_updated_at")  # hazard_asof.sql's columns, which hazard.sql stores


@contextmanager
def asof_from_hazard(conn: sa.Connection, as_of: dt.date) -> Iterator[str]:
    """A SELECT giving ``hazard_asof.sql``'s rows for ``as_of`` (bound as ``:as_of`` too), read mostly
    from the ``hazard`` table, which must be current (``refresh`` earlier in the same transaction).

    A hazard none of whose reporting records has a version after ``as_of`` is the same row as of
    ``as_of`` and as of the latest date: it is read from ``hazard``. Only the identities of the records
    with a later version (the last days' reports, a handful next to the history) are recomputed, each
    from every version of every record reporting it, up to ``as_of``. When those are most of the
    hazards (an early date of a full build), ``hazard_asof.sql`` itself is the cheaper SELECT.
    """
    later = ("SELECT DISTINCT identity_key FROM hazard_version v WHERE EXISTS (SELECT 1 FROM hazard_version x "
             "WHERE x.business_date > :as_of AND x.feed_id = v.feed_id AND x.record_key = v.record_key)")
    with changes.temporary(conn, later, {"as_of": as_of}) as identities:
        in_identities = f"identity_key IN (SELECT identity_key FROM {identities})"
        recent, known = conn.execute(sa.text(f"SELECT (SELECT COUNT(*) FROM {identities}), (SELECT COUNT(*) FROM hazard)")).one()
        if 2 * recent > known:  # an early date of a full build: most hazards differ, the plain query is cheaper
            yield for_dialect(conn, sql_file("hazard_asof.sql"))
            return
        with changes.temporary(conn, _reporting(in_identities)) as scoped, \
                changes.temporary(conn, for_dialect(conn, scoped_asof(scoped, f"r.{in_identities}")), {"as_of": as_of}) as recomputed:
            yield (f"SELECT {HAZARD_COLUMNS} FROM hazard WHERE NOT {in_identities}\n"
                   f"UNION ALL\nSELECT {HAZARD_COLUMNS} FROM {recomputed}")


def _reporting(in_identities: str) -> str:
    """Every version of every record with a version of the identities ``in_identities`` selects (a
    record's latest version decides which identity it counts for)."""
    return (f"SELECT * FROM hazard_version v WHERE EXISTS (SELECT 1 FROM hazard_version x WHERE x.{in_identities} "
            "AND x.feed_id = v.feed_id AND x.record_key = v.record_key)")


def scoped_asof(versions: str, where: str) -> str:
    """``hazard_asof.sql`` over the table ``versions`` (rows of ``hazard_version``), its result filtered by ``where``."""
    text = sql_file("hazard_asof.sql").rstrip()
    source, last = "FROM hazard_version\n", "WHERE r.pick = 1"
    if text.count(source) != 1 or not text.endswith(last):
        raise ValueError(f"hazard_asof.sql no longer reads hazard_version once and ends with {last!r}: update scoped_asof")
    return text.replace(source, f"FROM {versions}\n") + f" AND {where}"


SOURCES_AGG = """           STRING_AGG(DISTINCT feed_id || ':' || record_key, ',' ORDER BY feed_id || ':' || record_key) AS sources,
           COUNT(DISTINCT feed_id || ':' || record_key) AS n_sources,
           COUNT(*) AS n_versions,
           MIN(updated_at) AS first_reported_at
    FROM v
    GROUP BY identity_key"""
# DuckDB: the same columns from each (hazard, source record) first, then one sorted list per hazard. DuckDB's
# ordered and DISTINCT aggregates hold every value of a group in memory and cannot spill: over 8.7M versions of
# 26,803 hazards (a 10M-row delivery of the benchmark, up to 1,650 sources a hazard) STRING_AGG(DISTINCT ... ORDER
# BY ...) failed under a 512MB memory_limit; the grouping below spills, and the lists hold each source once.
SOURCES_AGG_DUCKDB = """           ARRAY_TO_STRING(LIST_SORT(LIST(source)), ',') AS sources,
           COUNT(*) AS n_sources,
           SUM(versions) AS n_versions,
           MIN(first_at) AS first_reported_at
    FROM (SELECT identity_key, feed_id || ':' || record_key AS source, COUNT(*) AS versions, MIN(updated_at) AS first_at
          FROM v WHERE feed_id || ':' || record_key IS NOT NULL
          GROUP BY identity_key, feed_id || ':' || record_key) s
    GROUP BY identity_key"""


def for_dialect(conn: sa.Connection, hazard_asof: str) -> str:
    """``hazard_asof.sql`` (or a text derived from it) as ``conn``'s engine runs it best: on DuckDB its
    per-hazard sources aggregate is grouped in two steps (``SOURCES_AGG_DUCKDB``; same columns)."""
    if conn.dialect.name != "duckdb":
        return hazard_asof
    if hazard_asof.count(SOURCES_AGG) != 1:
        raise ValueError("hazard_asof.sql's sources aggregate changed: update lifecycle.SOURCES_AGG and SOURCES_AGG_DUCKDB")
    return hazard_asof.replace(SOURCES_AGG, SOURCES_AGG_DUCKDB)


def _mark(conn: sa.Connection, versions: str) -> None:
    conn.execute(sa.text(f"""
        UPDATE hazard_version SET is_regression = r.flag
        FROM ({versions}) r
        WHERE hazard_version.feed_id = r.feed_id AND hazard_version.record_key = r.record_key
          AND hazard_version.updated_at = r.updated_at AND hazard_version.business_date = r.business_date
    """))


def _versions_with_prev_max(feeds: list[Feed], where: str = "TRUE") -> str:
    """SQL: each version's key, the furthest earlier status (``prev_max``) and its regression ``flag``
    (of the versions of the records ``where`` selects: a condition on ``hazard_version``'s columns)."""
    return f"""
        SELECT feed_id, record_key, updated_at, business_date, prev_max, {_regression_case(feeds)} AS flag
        FROM (
            SELECT feed_id, record_key, updated_at, business_date, status_rank,
                   MAX(status_rank) OVER (PARTITION BY feed_id, record_key ORDER BY updated_at, business_date
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max
            FROM hazard_version
            WHERE {where}
        ) w"""


def _quarantine_regressions(conn: sa.Connection, md: sa.MetaData, feeds: list[Feed], versions: str, only: str = "TRUE") -> int:
    """Rewrite the ``status.no_regression`` rows of ``quarantine`` (those ``only`` selects) from the marked versions."""
    quarantine = md.tables["quarantine"]
    conn.execute(sa.text(f"DELETE FROM quarantine WHERE rule_id = :rule AND {only}"), {"rule": REGRESSION_RULE})
    rows = conn.execute(sa.text(f"""
        SELECT v.*, r.prev_max FROM hazard_version v
        JOIN ({versions}) r ON r.feed_id = v.feed_id AND r.record_key = v.record_key
                           AND r.updated_at = v.updated_at AND r.business_date = v.business_date
        WHERE v.is_regression
    """)).mappings().all()
    statuses = {f.feed_id: f.lifecycle.statuses for f in feeds}
    frame = found_in_warehouse(
        rows, rule_id=REGRESSION_RULE, feed_id=lambda r: r["feed_id"],
        describe=lambda r: f"整改状态不得倒退：{statuses[r['feed_id']][r['prev_max']]} → {r['status']}",
        hidden=("prev_max", "is_regression", "loaded_at", "batch_id", "raw_file"))
    return bulk_insert(conn, quarantine, frame) if len(frame) else 0
