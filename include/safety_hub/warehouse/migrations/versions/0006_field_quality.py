"""field_quality: per feed, data item and business date, the records delivered, filled and rejected.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "field_quality"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("business_date", sa.Date, primary_key=True, comment="业务日期"),
        sa.Column("column_name", sa.Text, primary_key=True, comment="标准字段"),
        sa.Column("source_field", sa.Text, nullable=False, comment="来源字段（部门字段名）"),
        sa.Column("batch_id", sa.Text, nullable=False, comment="批次"),
        sa.Column("records", sa.BigInteger, nullable=False, comment="交付记录数"),
        sa.Column("filled", sa.BigInteger, nullable=False, comment="该字段非空的记录数"),
        sa.Column("invalid", sa.BigInteger, nullable=False, comment="被该字段规则隔离的记录数"),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        comment="数据项质量历史：每个数据源、数据项（来源字段）、业务日期一行：记录数、填报数（非空）、被该字段规则隔离的记录数",
    )


def downgrade() -> None:
    op.drop_table(TABLE)
