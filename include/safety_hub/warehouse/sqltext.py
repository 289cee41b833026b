"""SQL text shared by the warehouse's stages: the statements of ``sql/`` and the pieces of SQL
assembled in Python (literals, INSERT ... SELECT lists). Imports nothing of the package, so the
load, the lifecycle, the build and the risk marts all sit above it."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from importlib import resources

import sqlalchemy as sa


def sql_file(name: str) -> str:
    """The statement ``warehouse/sql/<name>``."""
    return resources.files("safety_hub.warehouse").joinpath("sql", name).read_text(encoding="utf-8")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def insert_select(conn: sa.Connection, table: sa.Table, lineage: dict, exprs: dict[str, str]) -> tuple[str, str, dict]:
    """(column list, SELECT list, params) for an ``INSERT INTO table``: lineage columns bound as
    parameters, every other column from its expression in ``exprs``."""
    names, select, params = [], [], {}
    for c in table.columns:
        names.append(f'"{c.name}"')
        if c.name in lineage:
            params[f"lin_{c.name}"] = lineage[c.name]
            select.append(f"CAST(:lin_{c.name} AS {c.type.compile(dialect=conn.dialect)})")
        else:
            select.append(exprs[c.name])
    return ", ".join(names), ", ".join(select), params


ASOF_PREFIX = "asof_"


def versions_asof(version_table: str, feed_id: str, key: Sequence[str], as_of: str = ":as_of") -> str:
    """A subquery of feed ``feed_id``'s records known on ``as_of``, from its ``version_table``: each
    record's latest update among the versions loaded for business dates up to it (a tie: the later
    business date), as the fact table held it then. Its rows carry the fact table's columns and
    ``version_rank`` (1)."""
    keys = ", ".join(f'v."{k}"' for k in key)
    return (f"(SELECT * FROM (SELECT v.*, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY v.updated_at DESC, v.business_date DESC) "
            f"AS version_rank FROM {version_table} v WHERE v.feed_id = {sql_literal(feed_id)} AND v.business_date <= {as_of}) versions "
            "WHERE version_rank = 1)")


def asof_reads(sql: str, feeds: Mapping) -> dict[str, str]:
    """The ``{asof_<feed_id>}`` placeholders of ``sql`` -> that feed's records as known on ``:as_of``
    (``versions_asof`` of its ``version_table``), for ``str.format``. ``feeds``: the registry."""
    out = {}
    for _, name, _, _ in string.Formatter().parse(sql):
        if name and name.startswith(ASOF_PREFIX):
            feed_id = name.removeprefix(ASOF_PREFIX)
            if feed_id not in feeds:
                raise ValueError(f"{{{name}}}: no feed '{feed_id}' in the registry")
            feed = feeds[feed_id]
            if not feed.version_table:
                raise ValueError(f"{{{name}}}: feed {feed_id} keeps no versions; name a version_table in its YAML")
            out[name] = versions_asof(feed.version_table, feed_id, feed.key)
    return out


def format_asof(sql: str, feeds: Mapping, **parts: str) -> str:
    """``sql`` with its ``{asof_<feed_id>}`` placeholders filled (``asof_reads``) and its other ones from ``parts``."""
    return sql.format(**asof_reads(sql, feeds), **parts)
