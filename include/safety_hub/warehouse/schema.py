"""The warehouse model as SQLAlchemy Core tables, one definition for every engine.

Fact tables are generated from the feed registry (a new feed needs no code):
the feed's columns with their types, plus lineage columns on every row.
"""

from __future__ import annotations

import sqlalchemy as sa

from safety_hub.registry import Feed, load_registry

_TYPES = {
    "str": sa.Text,
    "uscc": lambda: sa.String(18),
    "org_name": sa.Text,
    "district": lambda: sa.String(6),
    "enum": sa.Text,
    "date": sa.Date,
    "datetime": lambda: sa.DateTime(timezone=True),
    "int": sa.BigInteger,
    "decimal": lambda: sa.Numeric(18, 3),
    "bool": sa.Boolean,
}
LINEAGE = ("feed_id", "batch_id", "business_date", "raw_file", "loaded_at")


def _lineage_columns() -> list[sa.Column]:
    return [
        sa.Column("feed_id", sa.Text, nullable=False, comment="来源数据源 feed id"),
        sa.Column("batch_id", sa.Text, nullable=False, comment="批次（Airflow run id）"),
        sa.Column("business_date", sa.Date, nullable=False, comment="业务日期"),
        sa.Column("raw_file", sa.Text, nullable=False, comment="原始落地分区"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, comment="入库时间"),
    ]


def build_metadata(feeds: dict[str, Feed] | None = None) -> sa.MetaData:
    feeds = feeds if feeds is not None else load_registry()
    md = sa.MetaData()
    sa.Table(
        "dim_district", md,
        sa.Column("district_code", sa.String(6), primary_key=True, comment="行政区划代码 GB/T 2260"),
        sa.Column("district_name", sa.Text, nullable=False, comment="区名称"),
        comment="天津市行政区（含旧代码映射见 dim_district_legacy）",
    )
    sa.Table(
        "dim_district_legacy", md,
        sa.Column("legacy_code", sa.String(6), primary_key=True, comment="旧行政区划代码"),
        sa.Column("district_code", sa.String(6), nullable=False, comment="现行代码"),
    )
    sa.Table(
        "dim_enterprise", md,
        sa.Column("uscc", sa.String(18), primary_key=True, comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, nullable=False, comment="单位名称（最新）"),
        sa.Column("district_code", sa.String(6), comment="所在区（最新）"),
        sa.Column("name_variants", sa.Integer, nullable=False, comment="各部门报送的名称写法数"),
        sa.Column("source_feeds", sa.Text, nullable=False, comment="出现于哪些数据源"),
        sa.Column("first_seen", sa.Date, nullable=False),
        sa.Column("last_seen", sa.Date, nullable=False),
        comment="企业维度：跨部门按统一社会信用代码合并，每个代码一行",
    )
    for feed in feeds.values():
        cols = [sa.Column(c.name, _TYPES[c.type](), comment=c.source) for c in feed.columns]
        cols += [sa.Column(d.name, _TYPES[d.type](), comment=f"derived: {d.function}({', '.join(d.args)})") for d in feed.derived]
        sa.Table(feed.target_table, md, *cols, *_lineage_columns(), comment=f"{feed.title}（{feed.feed_id}）")
    for name, comment in (("quarantine", "隔离区：未通过校验（error 规则）的记录，每条（记录, 规则）一行"),
                          ("quality_flag", "质量提示：违反 warning 规则但已入库的记录，每条（记录, 规则）一行")):
        _record_rule_table(md, name, comment)
    sa.Table(
        "validation_result", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, comment="error | warning"),
        sa.Column("expectation", sa.Text, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("element_count", sa.BigInteger, nullable=False),
        sa.Column("unexpected_count", sa.BigInteger, nullable=False),
        sa.Column("unexpected_percent", sa.Float, nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
        comment="质量历史：每次运行、每个数据源、每条期望一行",
    )
    return _tail(md)


def _record_rule_table(md: sa.MetaData, name: str, comment: str) -> sa.Table:
    return sa.Table(
        name, md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("raw_file", sa.Text, nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False, comment="原始批次中的行号（从1开始）"),
        sa.Column("record_key", sa.Text, comment="业务主键"),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("rule_description", sa.Text, nullable=False),
        sa.Column("original_values", sa.Text, nullable=False, comment="原始值 JSON"),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        comment=comment,
    )


def _tail(md: sa.MetaData) -> sa.MetaData:
    sa.Table(
        "snapshot_member", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        comment="快照类数据源每日交付的全部主键（含被隔离的记录），用于识别删除",
    )
    sa.Table(
        "snapshot_deletion", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("last_seen", sa.Date, comment="最后一次出现在快照中的日期"),
        sa.Column("missing_since", sa.Date, nullable=False, comment="最新快照日期（该记录已不在其中）"),
        comment="快照删除：已入库但不在最新快照中的记录（事实表保留其最后版本）",
    )
    sa.Table(
        "load_audit", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("raw_file", sa.Text, nullable=False),
        sa.Column("raw_sha256", sa.Text, nullable=False),
        sa.Column("rows_extracted", sa.BigInteger, nullable=False),
        sa.Column("rows_valid", sa.BigInteger, nullable=False),
        sa.Column("rows_quarantined", sa.BigInteger, nullable=False),
        sa.Column("rows_duplicate", sa.BigInteger, nullable=False),
        sa.Column("rows_stale", sa.BigInteger, nullable=False, server_default="0", comment="较新版本已入库而跳过的行"),
        sa.Column("rows_loaded", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("volume_note", sa.Text, comment="行数异常提示（与近期中位数比较）"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        comment="加载审计：每次数据源运行一行",
    )
    sa.Table(
        "mart_district_hazard", md,
        sa.Column("as_of_date", sa.Date, primary_key=True, comment="统计截止日"),
        sa.Column("district_code", sa.String(6), primary_key=True),
        sa.Column("district_name", sa.Text, nullable=False),
        sa.Column("grade", sa.Text, primary_key=True, comment="隐患等级"),
        sa.Column("hazards_found", sa.BigInteger, nullable=False, comment="排查隐患数"),
        sa.Column("hazards_closed", sa.BigInteger, nullable=False, comment="已销号数"),
        sa.Column("rectification_rate", sa.Float, comment="动态整改率 = 销号/发现"),
        sa.Column("hazards_overdue", sa.BigInteger, nullable=False, comment="超期未整改数"),
        sa.Column("hazards_listed", sa.BigInteger, nullable=False, comment="挂牌督办数"),
        comment="区县隐患汇总（按截止日、区、等级）",
    )
    return md
