"""rejection's primary key on PostgreSQL only.

On DuckDB a primary key is an ART held in memory until commit, which DuckDB cannot spill, and
``rejection`` grows with every record ever returned: the 1,280,275 rejections of one 10M-row
hazard delivery made its load fail at commit under a 256MB ``memory_limit``. DuckDB has one
writing process at a time (``engine._WriterLock``) and ``rejections.track`` inserts a (feed,
record, date) only where the feed has no open rejection of the record and none of that date, so
the key only guarded against races that cannot happen there (as ``hazard_version``'s, 0003).
DuckDB cannot drop a primary key in place: the table is copied into one without it. PostgreSQL
keeps it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rejection"
COMMENT = "退回台账：每条被退回（隔离）的记录一行，自首次退回之日起，至后续报送的更正记录通过校验（已整改）之日止"


def _columns(keyed: bool) -> list:
    key = {"primary_key": True} if keyed else {"nullable": False}
    return [
        sa.Column("feed_id", sa.Text, **key),
        sa.Column("record_key", sa.Text, comment="业务主键", **key),
        sa.Column("rejected_on", sa.Date, comment="首次退回的业务日期", **key),
        sa.Column("agency", sa.Text, nullable=False, comment="报送单位（部门代码）"),
        sa.Column("district_code", sa.String(6), comment="所属区（原始值为有效或旧区划代码时）"),
        sa.Column("rules", sa.Text, nullable=False, comment="退回所依据的规则（逗号分隔）"),
        sa.Column("rejected_batch", sa.Text, nullable=False, comment="退回批次"),
        sa.Column("closed_on", sa.Date, comment="已整改：更正记录通过校验的业务日期"),
        sa.Column("closed_batch", sa.Text, comment="更正批次"),
    ]


def _recreate(keyed: bool) -> None:
    old = f"{TABLE}_0007"
    op.rename_table(TABLE, old)
    op.create_table(TABLE, *_columns(keyed), comment=COMMENT)
    names = ", ".join(c.name for c in _columns(keyed))
    op.execute(f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {old}")
    op.drop_table(old)


def upgrade() -> None:
    if op.get_bind().dialect.name == "duckdb":
        _recreate(keyed=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "duckdb":
        _recreate(keyed=True)
