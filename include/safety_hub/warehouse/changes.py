"""The incremental build's change log (``build_change``): the keys each load changed.

A load records, in its own transaction, the keys of the rows it deletes, supersedes or writes,
for each build step that derives something from them (its *consumer*):

- ``dimensions`` / ``uscc`` and ``org_name``: the USCC and name of every changed row of a fact table
  carrying the conformed enterprise columns (``dim_enterprise`` is a function of each USCC's rows;
  an ``enterprise_match`` row of the candidates reporting its name), and ``partition``: the business
  date of every load (its quarantined records are new);
- ``marts`` / ``hazard_record`` (value: the record key, ``feed_id`` its ledger) and
  ``hazard_identity``: the hazard versions a load replaced and wrote (regression marks are a
  function of each record's versions, ``hazard`` of each identity's records);
- ``marts`` / ``rule:<id>``: the value of a cross rule's declared ``scope`` column in each table
  the rule reads (a record's flag is a function of the rows sharing its scope value).

A build step reads its consumer's rows (``read``), recomputes only those keys, and deletes the
loads' rows it read (``clear``: by feed, batch and load time) in its own transaction, so a step
that fails leaves them for the next run, and a load that commits meanwhile keeps its rows. A key
logged twice, or by a load the step did not read, is only recomputed again: recomputing a key is
idempotent. A full build reads and clears them too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa

from safety_hub.config.registry import Feed, load_cross_rules
from safety_hub.warehouse.schema import BUILD_CHANGE
from safety_hub.warehouse.sqltext import sql_file

DIMENSIONS, MARTS = "dimensions", "marts"
USCC, ORG_NAME, PARTITION = "uscc", "org_name", "partition"
HAZARD_RECORD, HAZARD_IDENTITY = "hazard_record", "hazard_identity"
CONFORMED_COLUMNS = ("uscc", "org_name", "district_code")  # the enterprise columns dim_enterprise reads


MART_SQL = ("mart_district_hazard.sql", "mart_enterprise_risk.sql", "mart_district_week.sql", "mart_supervised_hazard.sql", "hazard_asof.sql")


@cache
def read_by_marts(table: str) -> bool:
    """Whether an as-of mart's SQL reads the table ``table`` itself: only then does a load superseding a
    stored row of an earlier business date change the as-of views from that date on."""
    return any(re.search(rf"\b{re.escape(table)}\b", sql_file(name)) for name in MART_SQL)


def rule_scope(rule_id: str) -> str:
    return f"rule:{rule_id}"


def watched(feed: Feed) -> list[tuple[str, str, str]]:
    """(consumer, scope, column of the feed's fact table) whose changed values a load of ``feed`` records."""
    columns = {c.name for c in feed.columns}
    out = [(DIMENSIONS, USCC, "uscc"), (DIMENSIONS, ORG_NAME, "org_name")] if set(CONFORMED_COLUMNS) <= columns else []
    for rule in load_cross_rules():
        if rule.scope is not None and feed.target_table in rule.scope.tables:
            out.append((MARTS, rule_scope(rule.id), rule.scope.tables[feed.target_table]))
    return out


def record(conn: sa.Connection, consumer: str, scope: str, lineage: dict, select_sql: str, params: dict | None = None) -> None:
    """Log the distinct values of ``select_sql``'s one column as keys the load ``lineage`` changed."""
    text = sa.Text().compile(dialect=conn.dialect)
    conn.execute(sa.text(
        f"INSERT INTO {BUILD_CHANGE} (consumer, scope, value, feed_id, batch_id, recorded_at) "
        f"SELECT DISTINCT :_consumer, :_scope, CAST(k AS {text}), :_feed, :_batch, :_at FROM ({select_sql}) changed(k)"),
        {**(params or {}), "_consumer": consumer, "_scope": scope, "_feed": lineage["feed_id"], "_batch": lineage["batch_id"],
         "_at": lineage["loaded_at"]})


class Loads(NamedTuple):
    """The loads whose rows a build step read: (feed, batch, load time) in a temporary table."""

    consumer: str
    table: str


def read(conn: sa.Connection, consumer: str) -> Loads:
    """Note the loads logged for ``consumer`` so far (in ``conn``'s transaction, until ``clear``)."""
    name = f"_build_loads_{uuid.uuid4().hex[:10]}"
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS SELECT DISTINCT feed_id, batch_id, recorded_at FROM {BUILD_CHANGE} "
                         "WHERE consumer = :c"), {"c": consumer})
    return Loads(consumer, name)


def clear(conn: sa.Connection, loads: Loads) -> None:
    """Delete the rows of the loads a step read (a load logged since stays)."""
    conn.execute(sa.text(
        f"DELETE FROM {BUILD_CHANGE} WHERE consumer = :c AND EXISTS (SELECT 1 FROM {loads.table} l WHERE l.feed_id = {BUILD_CHANGE}.feed_id "
        f"AND l.batch_id = {BUILD_CHANGE}.batch_id AND l.recorded_at = {BUILD_CHANGE}.recorded_at)"), {"c": loads.consumer})
    conn.execute(sa.text(f"DROP TABLE {loads.table}"))


@contextmanager
def temporary(conn: sa.Connection, select_sql: str, params: dict | None = None) -> Iterator[str]:
    """A temporary table holding ``select_sql``'s rows for the duration of the block; yields its name.
    (A block that raises leaves it to the transaction's rollback, which removes it on both engines.)

    On PostgreSQL the table is analysed: autovacuum never analyses a temporary table, and without
    statistics the planner guesses its size from its pages, so the statements joining it to the
    history (the build's scoped steps) may be planned for a few rows when it holds thousands."""
    name = f"_build_scope_{uuid.uuid4().hex[:10]}"
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} AS {select_sql}"), params or {})
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ANALYZE {name}"))
    yield name
    conn.execute(sa.text(f"DROP TABLE {name}"))


def keys_sql(consumer: str, scope: str, columns: str = "value") -> str:
    """SELECT of the distinct logged keys of ``scope`` (``columns``: ``value``, or ``feed_id, value``)."""
    return (f"SELECT DISTINCT {columns} FROM {BUILD_CHANGE} "
            f"WHERE consumer = '{consumer}' AND scope = '{scope.replace(chr(39), chr(39) * 2)}'")
