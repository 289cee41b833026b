"""Baseline: the warehouse schema as the model (``warehouse/schema.py`` and the feed registry)
described it when the schema came under Alembic.

A warehouse made before then (tables, no ``alembic_version``) is stamped at this revision by
``python -m safety_hub warehouse migrate`` and upgraded from here. A new warehouse is created
from the model at head and stamped there (``engine.ensure_schema``), so no migration replays on
it; hence this revision creates nothing.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
