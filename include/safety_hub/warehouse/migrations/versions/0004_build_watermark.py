"""build_watermark: the loads no successful warehouse build has taken yet.

An incremental build recomputes from the business dates its triggering loads touched. A build
that failed lost those dates: the next run saw only newer events, so the failed run's dates kept
stale marts until a full build. Each load now records its earliest touched date here in its own
transaction (beside ``load_audit``), as does a dimension rebuild that changed what the marts read;
a build takes the earliest date recorded with its own and deletes the rows it read in the
transaction that writes the marts, so only a successful build clears them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "build_watermark"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("feed_id", sa.Text, primary_key=True, comment="数据源（维度变化为 warehouse_build）"),
        sa.Column("batch_id", sa.Text, primary_key=True, comment="加载批次（维度变化为 dimensions）"),
        sa.Column("dirty_since", sa.Date, nullable=False, comment="最早受影响的业务日期：集市须从此日起重算"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        comment="增量构建水位：已提交、尚未被成功构建的加载（及维度变化），每批一行；构建从最早的 dirty_since 起重算，成功后在同一事务中删除它读到的行",
    )


def downgrade() -> None:
    op.drop_table(TABLE)
