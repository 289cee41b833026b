"""Alembic environment of the warehouse: run on the connection ``safety_hub.warehouse.versioning``
passes in (``config.attributes["connection"]``), or, for the ``alembic`` command line
(``alembic -c <config with script_location = this folder> revision ...``), on the configured
warehouse (``SAFETY_HUB_WAREHOUSE_URL``)."""

from __future__ import annotations

from alembic import context

from safety_hub.warehouse import versioning  # noqa: F401  (registers Alembic's DuckDB implementation)
from safety_hub.warehouse.schema import VERSION_TABLE, build_metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=build_metadata(), version_table=VERSION_TABLE,
                      include_object=lambda obj, name, kind, reflected, compare_to: name != VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from safety_hub.warehouse.engine import get_engine

    with get_engine().begin() as conn:
        _run(conn)
