"""The warehouse schema's version history, kept by Alembic (``warehouse/migrations/``).

The schema evolves in two ways, each with its own tool:

- **Registry-driven additive step** (``engine.ensure_schema``, at every stage, no Alembic revision):
  a table new in the model (a new feed's fact table, a new mart), a column new in the model or in
  a feed's YAML (appears as NULLs, or its server default), an index new in the model; and the
  reseeding of ``dim_district`` / ``dim_district_legacy``. These follow from the feed registry and
  need no hand-written step.
- **Migrations** (``warehouse/migrations/versions/``, one Alembic revision each): everything that is
  not additive, i.e. a type change, a rename, a new or changed primary key, a dropped column or
  table. Write one with ``op`` as usual; ``alembic_version`` in the warehouse records the revision.

``upgrade`` runs the migrations on a connection the caller holds in a transaction (one
transaction with the additive step that follows). A new warehouse is created from the model and
stamped at head (no migration runs); a warehouse made before Alembic (tables, no version) is
stamped at the baseline, which is the schema the model described then, and upgraded.

DuckDB: Alembic ships no DuckDB dialect; :class:`DuckDBImpl` is the one it drives (plain ANSI DDL,
transactional). What DuckDB cannot do in place, a migration does differently (tested in
``tests/unit/test_migrations.py``):

- a column comment: compiled here to ``COMMENT ON COLUMN`` (Alembic has no default for it);
- renaming a column of a table that has an index ("Cannot alter entry ... because there are
  entries that depend on it"), changing the type of a column an index depends on (even with the
  index dropped earlier in the same transaction), adding, dropping or changing a primary key or
  unique constraint: ``op.batch_alter_table(table, recreate="always", copy_from=<the table as it
  is>)``, which creates the table anew, copies the rows and creates the indexes again (or, for a
  table rebuilt from the facts, drop it and create it empty, as ``0002`` does).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.base import ColumnComment, format_column_name, format_table_name
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.compiler import compiles

from safety_hub.warehouse.schema import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"


class DuckDBImpl(DefaultImpl):
    """Alembic's operations on DuckDB (through duckdb-engine): ANSI DDL, transactional."""

    __dialect__ = "duckdb"
    transactional_ddl = True


@compiles(ColumnComment, "duckdb")
def _duckdb_column_comment(element: ColumnComment, compiler, **kw) -> str:
    comment = compiler.sql_compiler.render_literal_value(element.comment, sa.String()) if element.comment is not None else "NULL"
    table = format_table_name(compiler, element.table_name, element.schema)
    return f"COMMENT ON COLUMN {table}.{format_column_name(compiler, element.column_name)} IS {comment}"


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the package's migrations; ``connection``: run on it (``env.py``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(conn: sa.Connection) -> str | None:
    """The warehouse's revision, ``None`` when it has none (new, or made before Alembic)."""
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def stamp(conn: sa.Connection, revision: str = "head") -> None:
    command.stamp(config(conn), revision)


def upgrade(conn: sa.Connection, revision: str = "head") -> None:
    command.upgrade(config(conn), revision)


def downgrade(conn: sa.Connection, revision: str) -> None:
    command.downgrade(config(conn), revision)
