"""rejection: the 退回台账, every rejected record and when a later delivery corrected it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rejection"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("record_key", sa.Text, primary_key=True, comment="业务主键"),
        sa.Column("rejected_on", sa.Date, primary_key=True, comment="首次退回的业务日期"),
        sa.Column("agency", sa.Text, nullable=False, comment="报送单位（部门代码）"),
        sa.Column("district_code", sa.String(6), comment="所属区（原始值为有效或旧区划代码时）"),
        sa.Column("rules", sa.Text, nullable=False, comment="退回所依据的规则（逗号分隔）"),
        sa.Column("rejected_batch", sa.Text, nullable=False, comment="退回批次"),
        sa.Column("closed_on", sa.Date, comment="已整改：更正记录通过校验的业务日期"),
        sa.Column("closed_batch", sa.Text, comment="更正批次"),
        comment="退回台账：每条被退回（隔离）的记录一行，自首次退回之日起，至后续报送的更正记录通过校验（已整改）之日止",
    )


def downgrade() -> None:
    op.drop_table(TABLE)
