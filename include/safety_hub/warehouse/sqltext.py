"""SQL text shared by the warehouse's stages: the statements of ``sql/`` and the pieces of SQL
assembled in Python (literals, INSERT ... SELECT lists). Imports nothing of the package, so the
load, the lifecycle, the build and the risk marts all sit above it."""

from __future__ import annotations

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
