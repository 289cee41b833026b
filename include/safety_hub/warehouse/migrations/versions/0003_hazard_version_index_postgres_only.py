"""hazard_version's unique index on (feed, business date, record) on PostgreSQL only.

On DuckDB a unique index is an ART held in memory, which DuckDB cannot spill to disk: a load of
2,000,000 hazard versions could not commit under the warehouse's ``memory_limit`` (512MB) and
invalidated the database file. DuckDB has one writing process at a time (``engine._WriterLock``)
and the load makes the versions unique itself (the batch de-duplicated on the feed's key, its
business-date partition replaced), so the index only guarded against races that cannot happen
there; the fact tables' key index was left out of DuckDB for the same reason. PostgreSQL keeps it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "duckdb":
        op.execute("DROP INDEX IF EXISTS ux_hazard_version_record")


def downgrade() -> None:
    if op.get_bind().dialect.name == "duckdb":
        op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ux_hazard_version_record ON hazard_version (feed_id, business_date, record_key)")
