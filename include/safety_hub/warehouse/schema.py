"""The warehouse model as SQLAlchemy Core tables, one definition for every engine.

Fact tables are generated from the feed registry (a new feed needs no code):
the feed's columns with their types, plus lineage columns on every row.

Every table carries its layer in ``info["layer"]``: ``core`` (facts and conformed
dimensions) and ``marts`` are what analysts query; ``audit`` holds quarantine,
quality and load history for the data team. Raw data stays in the landing zone
(Parquet per partition) and staging tables are per-load temporary tables, so
neither is in this model. Columns with ``info["personal"]`` hold personal data.
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
LAYERS = ("core", "marts", "audit")


def table_layer(table: sa.Table) -> str:
    """``core``, ``marts`` or ``audit`` (see the module docstring)."""
    return table.info["layer"]


def is_personal(column: sa.Column) -> bool:
    return bool(column.info.get("personal"))


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
        info={"layer": "core"},
    )
    sa.Table(
        "dim_district_legacy", md,
        sa.Column("legacy_code", sa.String(6), primary_key=True, comment="旧行政区划代码"),
        sa.Column("district_code", sa.String(6), nullable=False, comment="现行代码"),
        comment="旧行政区划代码到现行代码的映射（塘沽、汉沽、大港等）",
        info={"layer": "core"},
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
        info={"layer": "core"},
    )
    sa.Table(
        "dim_date", md,
        sa.Column("date_key", sa.Date, primary_key=True, comment="日期"),
        sa.Column("year", sa.Integer, nullable=False, comment="年"),
        sa.Column("quarter", sa.Integer, nullable=False, comment="季度"),
        sa.Column("month", sa.Integer, nullable=False, comment="月"),
        sa.Column("day", sa.Integer, nullable=False, comment="日"),
        sa.Column("iso_year", sa.Integer, nullable=False, comment="ISO 周所属年"),
        sa.Column("iso_week", sa.Integer, nullable=False, comment="ISO 周次"),
        sa.Column("week_label", sa.Text, nullable=False, comment="周标签 yyyy-Www（周报归档目录）"),
        sa.Column("weekday", sa.Integer, nullable=False, comment="星期（1=周一 … 7=周日）"),
        sa.Column("is_weekend", sa.Boolean, nullable=False, comment="是否周末"),
        comment="日期维度：覆盖所有已加载业务日期所在年份",
        info={"layer": "core"},
    )
    sa.Table(
        "dim_industry", md,
        sa.Column("industry_code", sa.Text, primary_key=True, comment="国民经济行业代码 GB/T 4754-2017（如 C2614）"),
        sa.Column("section", sa.String(1), nullable=False, comment="门类字母"),
        sa.Column("division", sa.String(3), comment="大类（门类字母+2位）"),
        sa.Column("sector", sa.Text, comment="安全监管行业领域（危化、工贸、建筑…），无对应时为空"),
        comment="行业维度：企业登记中出现的行业代码及其监管领域",
        info={"layer": "core"},
    )
    for feed in feeds.values():
        cols = [sa.Column(c.name, _TYPES[c.type](), comment=c.source, info={"personal": c.personal}) for c in feed.columns]
        cols += [sa.Column(d.name, _TYPES[d.type](), comment=f"derived: {d.function}({', '.join(d.args)})") for d in feed.derived]
        sa.Table(feed.target_table, md, *cols, *_lineage_columns(), comment=f"{feed.title}（{feed.feed_id}）", info={"layer": "core"})
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
        info={"layer": "audit"},
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
        info={"layer": "audit"},
    )


def _tail(md: sa.MetaData) -> sa.MetaData:
    sa.Table(
        "snapshot_member", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        comment="快照类数据源每日交付的全部主键（含被隔离的记录），用于识别删除",
        info={"layer": "audit"},
    )
    sa.Table(
        "snapshot_deletion", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("last_seen", sa.Date, comment="最后一次出现在快照中的日期"),
        sa.Column("missing_since", sa.Date, nullable=False, comment="最新快照日期（该记录已不在其中）"),
        comment="快照删除：已入库但不在最新快照中的记录（事实表保留其最后版本）",
        info={"layer": "audit"},
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
        info={"layer": "audit"},
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
        info={"layer": "marts"},
    )
    return md
