"""dim_enterprise as a type-2 dimension: keyed by (uscc, version), one row per name version.

A warehouse made before the dimension kept versions has ``uscc`` as its key, and the additive
step gave it ``version`` and the validity columns as nullable columns. A primary key cannot be
changed additively (nor in place at all on DuckDB), so the table is created anew, empty: the
warehouse build fills it from the facts at its next run. A warehouse at the baseline whose
dimension already has the versioned key is left as it is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "dim_enterprise"


def _versioned(bind: sa.Connection) -> bool:
    schema = "current_schema()" if bind.dialect.name == "postgresql" else "'main'"
    nullable = bind.execute(sa.text(
        f"SELECT is_nullable FROM information_schema.columns WHERE table_schema = {schema} "
        "AND table_name = :t AND column_name = 'version'"), {"t": TABLE}).scalar()
    return nullable == "NO"


def upgrade() -> None:
    bind = op.get_bind()
    if _versioned(bind):
        return
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("uscc", sa.String(18), primary_key=True, comment="统一社会信用代码"),
        sa.Column("version", sa.Integer, primary_key=True, comment="名称版本（1 起；更名后加 1）"),
        sa.Column("org_name", sa.Text, nullable=False, comment="单位名称（本版本中最权威来源的最新写法）"),
        sa.Column("canonical_name", sa.Text, nullable=False, comment="规范化名称（半角、括号统一、有限责任公司→有限公司、天津市/（天津）→天津），用于比较"),
        sa.Column("district_code", sa.String(6), comment="所在区（按 include/feeds/_precedence.yaml 的来源优先级）"),
        sa.Column("valid_from", sa.Date, nullable=False, comment="本名称版本生效日（首次出现的业务日期）"),
        sa.Column("valid_to", sa.Date, comment="失效日（下一版本生效日，不含）；当前版本为空"),
        sa.Column("is_current", sa.Boolean, nullable=False, comment="是否当前版本"),
        sa.Column("name_variants", sa.Integer, nullable=False, comment="本版本中各部门报送的名称写法数"),
        sa.Column("source_feeds", sa.Text, nullable=False, comment="本版本出现于哪些数据源"),
        sa.Column("first_seen", sa.Date, nullable=False, comment="本版本名称最早出现的业务日期"),
        sa.Column("last_seen", sa.Date, nullable=False, comment="本版本名称最近出现的业务日期（更名后仍可能有旧名报送）"),
        comment="企业维度（缓慢变化维 SCD2）：跨部门按统一社会信用代码合并，每个代码每个名称版本一行，曾用名为历史版本",
    )


def downgrade() -> None:
    """Back to one row per USCC (the dimension before versions), empty: the build of that time refills it."""
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("uscc", sa.String(18), primary_key=True, comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, nullable=False, comment="单位名称（最新）"),
        sa.Column("district_code", sa.String(6), comment="所在区（最新）"),
        sa.Column("name_variants", sa.Integer, nullable=False, comment="各部门报送的名称写法数"),
        sa.Column("source_feeds", sa.Text, nullable=False, comment="出现于哪些数据源"),
        sa.Column("first_seen", sa.Date, nullable=False),
        sa.Column("last_seen", sa.Date, nullable=False),
        comment="企业维度：跨部门按统一社会信用代码合并，每个代码一行",
    )
