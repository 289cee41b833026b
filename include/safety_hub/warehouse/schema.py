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

from safety_hub.config.registry import Feed, load_registry

_TYPES = {
    "str": sa.Text,
    "code": sa.Text,
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
FIELD_QUALITY = "field_quality"  # 信息缺失 history (warehouse/fieldquality.py)
REJECTION = "rejection"  # 退回台账 (warehouse/rejections.py)
BUILD_WATERMARK = "build_watermark"  # the loads (and dimension changes) no successful build has taken yet
BUILD_CHANGE = "build_change"  # the keys each load changed, until the build step that reads them succeeds
ENTERPRISE_OBSERVATION = "enterprise_observation"  # every (uscc, name, district) each load reported, by feed and business date
VERSION_TABLE = "alembic_version"  # Alembic's own table (warehouse/migrations); modelled here for the docs and grants only


def table_layer(table: sa.Table) -> str:
    """``core``, ``marts`` or ``audit`` (see the module docstring)."""
    return table.info["layer"]


def is_personal(column: sa.Column) -> bool:
    return bool(column.info.get("personal"))


def field_quality_columns() -> list[sa.Column]:
    """``field_quality``'s columns (also migration 0006's)."""
    return [
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("business_date", sa.Date, primary_key=True, comment="业务日期"),
        sa.Column("column_name", sa.Text, primary_key=True, comment="标准字段"),
        sa.Column("source_field", sa.Text, nullable=False, comment="来源字段（部门字段名）"),
        sa.Column("batch_id", sa.Text, nullable=False, comment="批次"),
        sa.Column("records", sa.BigInteger, nullable=False, comment="交付记录数"),
        sa.Column("filled", sa.BigInteger, nullable=False, comment="该字段非空的记录数"),
        sa.Column("invalid", sa.BigInteger, nullable=False, comment="被该字段规则隔离的记录数"),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
    ]


def rejection_columns() -> list[sa.Column | sa.PrimaryKeyConstraint]:
    """``rejection``'s columns and key.

    One row per (feed, record, first rejection date). The key is a constraint on PostgreSQL only,
    as ``hazard_version``'s: on DuckDB a primary key is an ART held in memory until commit that
    DuckDB cannot spill, and this table grows with every record ever returned (1.28M keys from one
    10M-row delivery made its load fail at commit under a 256MB ``memory_limit``; migration 0007).
    There one process writes at a time and ``rejections.track`` inserts a key only where none is
    open or rejected on the same date.
    """
    return [
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("record_key", sa.Text, nullable=False, comment="业务主键"),
        sa.Column("rejected_on", sa.Date, nullable=False, comment="首次退回的业务日期"),
        sa.Column("agency", sa.Text, nullable=False, comment="报送单位（部门代码）"),
        sa.Column("district_code", sa.String(6), comment="所属区（原始值为有效或旧区划代码时）"),
        sa.Column("rules", sa.Text, nullable=False, comment="退回所依据的规则（逗号分隔）"),
        sa.Column("rejected_batch", sa.Text, nullable=False, comment="退回批次"),
        sa.Column("closed_on", sa.Date, comment="已整改：更正记录通过校验的业务日期"),
        sa.Column("closed_batch", sa.Text, comment="更正批次"),
        sa.PrimaryKeyConstraint("feed_id", "record_key", "rejected_on").ddl_if(dialect="postgresql"),
    ]


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
        info={"layer": "core"},
    )
    sa.Table(
        ENTERPRISE_OBSERVATION, md,
        sa.Column("feed_id", sa.Text, nullable=False, comment="数据源"),
        sa.Column("business_date", sa.Date, nullable=False, comment="报送的业务日期"),
        sa.Column("uscc", sa.String(18), nullable=False, comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, comment="报送的单位名称"),
        sa.Column("district_code", sa.String(6), comment="报送的所在区"),
        sa.Column("updated_at", sa.DateTime(timezone=True), comment="其中最新的报送更新时间"),
        comment="企业报送记录：每个数据源、业务日期报送的每个（代码, 名称, 所在区）一行；企业维度由此计算（事实表只保留每条记录的最新版本）",
        info={"layer": "core"},
    )
    sa.Table(
        "dim_enterprise_asof", md,
        sa.Column("uscc", sa.String(18), primary_key=True, comment="统一社会信用代码"),
        sa.Column("valid_from", sa.Date, primary_key=True, comment="生效日（业务日期）"),
        sa.Column("valid_to", sa.Date, comment="失效日（不含）；当前为空"),
        sa.Column("org_name", sa.Text, nullable=False, comment="单位名称：当日生效的名称版本中，截至当日最权威来源的最新写法"),
        sa.Column("district_code", sa.String(6), comment="所在区：同上，截至当日已报送的（尚无报送时为空）"),
        comment="企业维度（按日期）：集市在某一日期显示的企业名称与所在区，为当日已知的数据，后来的报送不改变此前日期的显示",
        info={"layer": "core"},
    )
    sa.Table(
        "enterprise_match", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False, comment="原始批次中的行号（从1开始）"),
        sa.Column("record_key", sa.Text, comment="业务主键"),
        sa.Column("rule_id", sa.Text, nullable=False, comment="隔离原因（uscc.valid_uscc / uscc.required）"),
        sa.Column("raw_uscc", sa.Text, comment="报送的统一社会信用代码（原值）"),
        sa.Column("raw_org_name", sa.Text, comment="报送的单位名称（原值）"),
        sa.Column("canonical_name", sa.Text, comment="规范化名称"),
        sa.Column("district_code", sa.String(6), comment="所在区（已映射为现行代码）"),
        sa.Column("candidates", sa.Integer, nullable=False, comment="名称与所在区相同的企业数"),
        sa.Column("matched_uscc", sa.String(18), comment="匹配到的统一社会信用代码；未匹配或有歧义时为空"),
        sa.Column("match_method", sa.Text, nullable=False, comment="name_district | unmatched | ambiguous"),
        comment="企业匹配：仅因统一社会信用代码缺失或错误被隔离的记录，按规范化名称+所在区匹配到企业（唯一时）",
        info={"layer": "audit"},
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
        cols = [sa.Column(c.name, _TYPES[c.type](), comment=c.display_name, info={"personal": c.personal}) for c in feed.columns]
        cols += [sa.Column(d.name, _TYPES[d.type](), comment=f"derived: {d.function}({', '.join(d.args)})") for d in feed.derived]
        # One row per key: a second load racing the first cannot add the same records again. PostgreSQL
        # only: there loads of one feed can run on several workers at once. A DuckDB file has one writing
        # process at a time (engine._WriterLock), and its unique index made the merge ~40x slower.
        key = sa.Index(f"ux_{feed.target_table}_key", *feed.key, unique=True, info={"dialects": ("postgresql",)}).ddl_if(dialect="postgresql")
        sa.Table(feed.target_table, md, *cols, *_lineage_columns(), key, comment=f"{feed.title}（{feed.feed_id}）", info={"layer": "core"})
        if feed.version_table and feed.version_table not in md.tables:
            # The fact table keeps the latest row of each key; what was known as of a past date (a past
            # week's report, the risk mart of a past week) is read from here, so a later version or a
            # record corrected later leaves that date alone (sqltext.versions_asof).
            sa.Table(feed.version_table, md, *[sa.Column(c.name, c.type, comment=c.comment, info=dict(c.info)) for c in cols], *_lineage_columns(),
                     comment=f"{feed.title}历史：每个业务日期交付的每条有效记录一行（按数据日期读取当时已入库的版本）",
                     info={"layer": "core", "versions_of": feed.target_table})
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
        sa.Column("rows_physical", sa.BigInteger, comment="交付文件的物理行数（行、工作表行、记录）= rows_extracted + rows_set_aside"),
        sa.Column("rows_set_aside", sa.BigInteger, comment="说明理由后搁置的物理行：标题、表头、空行、注释行"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("volume_note", sa.Text, comment="行数异常提示（与近期中位数比较）"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        comment="加载审计：每次数据源运行一行",
        info={"layer": "audit"},
    )
    sa.Table(
        FIELD_QUALITY, md, *field_quality_columns(),
        comment="数据项质量历史：每个数据源、数据项（来源字段）、业务日期一行：记录数、填报数（非空）、被该字段规则隔离的记录数",
        info={"layer": "audit"},
    )
    sa.Table(
        REJECTION, md, *rejection_columns(),
        comment="退回台账：每条被退回（隔离）的记录一行，自首次退回之日起，至后续报送的更正记录通过校验（已整改）之日止",
        info={"layer": "audit"},
    )
    sa.Table(
        BUILD_WATERMARK, md,
        sa.Column("feed_id", sa.Text, primary_key=True, comment="数据源（维度变化为 warehouse_build）"),
        sa.Column("batch_id", sa.Text, primary_key=True, comment="加载批次（维度变化为 dimensions）"),
        sa.Column("dirty_since", sa.Date, nullable=False, comment="最早受影响的业务日期：集市须从此日起重算"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        comment="增量构建水位：已提交、尚未被成功构建的加载（及维度变化），每批一行；构建从最早的 dirty_since 起重算，成功后在同一事务中删除它读到的行",
        info={"layer": "audit"},
    )
    sa.Table(
        BUILD_CHANGE, md,
        sa.Column("consumer", sa.Text, nullable=False, comment="读取它的构建步骤：dimensions（维度）或 marts（隐患生命周期、跨源规则）"),
        sa.Column("scope", sa.Text, nullable=False, comment="键的种类：uscc、hazard_record、hazard_identity、rule:<规则 id>"),
        sa.Column("value", sa.Text, comment="加载前后变化的行所带的键值"),
        sa.Column("feed_id", sa.Text, nullable=False, comment="加载的数据源"),
        sa.Column("batch_id", sa.Text, nullable=False, comment="加载批次"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, comment="加载时间（同一次加载的行相同）"),
        comment="增量构建的变更键：每次加载在其事务中记下它删除、替换或写入的行的键（企业、隐患记录与身份、跨源规则范围），"
                "构建步骤只重算这些键，成功后在同一事务中删除它读到的加载的行",
        info={"layer": "audit"},
    )
    sa.Table(
        "report_receipt", md,
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False, comment="交付的业务日期（到达时间按此计）"),
        sa.Column("batch_id", sa.Text, nullable=False),
        sa.Column("unit_code", sa.Text, comment="报送单位（按数据源 reporters.unit_column，如所在区代码）；无法识别为空"),
        sa.Column("period_date", sa.Date, nullable=False, comment="所报日期（报送批次中的日期；无则为交付业务日期）"),
        sa.Column("report_batch", sa.Text, comment="报送批次"),
        sa.Column("records", sa.BigInteger, nullable=False, comment="本次交付中该单位该批次的记录数（含被隔离的）"),
        sa.Column("repeated_records", sa.BigInteger, server_default="0",
                  comment="其中重复报送的记录数：同一交付中同一单位同一所报日期已出现过的业务主键（计在该日期的首行）"),
        comment="报送回执：每次交付中每个报送单位、所报日期和报送批次一行",
        info={"layer": "audit"},
    )
    sa.Table(
        "dim_reporting_duty", md,
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("unit_code", sa.Text, primary_key=True, comment="应报单位代码"),
        sa.Column("period_start", sa.Date, primary_key=True, comment="报送周期首日"),
        sa.Column("agency", sa.Text, nullable=False, comment="部门代码（数据源所属机构）"),
        sa.Column("agency_name", sa.Text, nullable=False, comment="部门名称"),
        sa.Column("unit_name", sa.Text, nullable=False, comment="应报单位名称（区名）"),
        sa.Column("frequency", sa.Text, nullable=False, comment="报送频次：每工作日 / 每周 / 每月"),
        sa.Column("period_end", sa.Date, nullable=False, comment="报送周期末日"),
        sa.Column("due_date", sa.Date, nullable=False, comment="报送时限：该日（工作日）的交付仍算按时"),
        comment="应报清单：配置了应报单位的数据源，每个单位每个报送周期一行（法定工作日历；自该数据源首次交付起）",
        info={"layer": "core"},
    )
    sa.Table(
        "mart_reporting_status", md,
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("unit_code", sa.Text, primary_key=True, comment="应报单位代码"),
        sa.Column("period_start", sa.Date, primary_key=True, comment="报送周期首日"),
        sa.Column("agency", sa.Text, nullable=False, comment="部门代码"),
        sa.Column("agency_name", sa.Text, nullable=False, comment="部门名称"),
        sa.Column("unit_name", sa.Text, nullable=False, comment="应报单位名称"),
        sa.Column("frequency", sa.Text, nullable=False, comment="报送频次"),
        sa.Column("period_end", sa.Date, nullable=False, comment="报送周期末日"),
        sa.Column("due_date", sa.Date, nullable=False, comment="报送时限"),
        sa.Column("first_received", sa.Date, comment="首次报送到达的业务日期；未报为空"),
        sa.Column("repeated_on", sa.Date, comment="第二次报送到达的业务日期（重复报送）；无为空"),
        sa.Column("submissions", sa.BigInteger, nullable=False, comment="报送次数（所报日期 × 交付）"),
        sa.Column("records", sa.BigInteger, nullable=False, comment="报送记录数（含被隔离的）"),
        sa.Column("status", sa.Text, nullable=False, comment="截至 as_of_date：按时 / 迟报 / 漏报"),
        sa.Column("as_of_date", sa.Date, nullable=False, comment="统计截止日（最新已加载业务日期）；更早截止日的状态由日期列推出"),
        comment="报送情况：每个数据源、应报单位、已到期的报送周期一行（已报/迟报/漏报/重复报送）",
        info={"layer": "marts"},
    )
    sa.Table(
        "reporting_alert", md,
        sa.Column("feed_id", sa.Text, primary_key=True),
        sa.Column("unit_code", sa.Text, primary_key=True, comment="报送单位"),
        sa.Column("missed_since", sa.Date, primary_key=True, comment="连续漏报的首个报送周期"),
        sa.Column("missed", sa.BigInteger, nullable=False, comment="告警时连续漏报期数"),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False, comment="告警发送时间"),
        comment="连续漏报告警：每个单位每段连续漏报告警一次",
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
        sa.Column("hazards_due", sa.BigInteger, nullable=False, server_default="0", comment="整改期限已到的隐患数"),
        sa.Column("hazards_closed_on_time", sa.BigInteger, nullable=False, server_default="0", comment="期限内销号数"),
        sa.Column("on_time_rate", sa.Float, comment="按期整改率 = 期限内销号/期限已到"),
        comment="区县隐患汇总（按截止日、区、等级），来自去重后的 hazard 表",
        info={"layer": "marts"},
    )
    _hazard_tables(md)
    _risk_tables(md)
    sa.Table(
        VERSION_TABLE, md,
        sa.Column("version_num", sa.String(32), nullable=False, comment="当前结构版本（Alembic 修订号）"),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
        comment="仓库结构版本（Alembic 迁移的修订号，由 warehouse migrate 维护）",
        info={"layer": "audit", "managed_by": "alembic"},
    )
    _partition_indexes(md)
    return md


PARTITION = ("feed_id", "business_date")


def _partition_indexes(md: sa.MetaData) -> None:
    """PostgreSQL: every table holding a feed's business-date partitions gets an index on
    (feed_id, business_date), unless its key or an index already starts so.

    Loads replace and read one partition at a time (the fact table's, the version table's, the
    observations', the quarantine's, the snapshot's members ...). Without the index each of those
    statements scans its whole table, so a load costs more with every day of history: over a city
    quarter a week's load grew from 15 to 41 s in five weeks. DuckDB skips a partition by its row
    groups' min/max and keeps no such index (an ART index is held in memory and slows the merge:
    see the fact tables' key)."""
    for table in md.tables.values():
        if not set(PARTITION) <= set(table.columns.keys()):
            continue
        leads = [tuple(table.primary_key.columns.keys())[:2]] + [tuple(c.name for c in i.columns)[:2] for i in table.indexes]
        if PARTITION in leads:
            continue
        sa.Index(f"ix_{table.name}_partition", *(table.c[c] for c in PARTITION),
                 info={"dialects": ("postgresql",)}).ddl_if(dialect="postgresql")


def _lifecycle_columns() -> list[sa.Column]:
    return [
        sa.Column("uscc", sa.String(18), comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, comment="单位名称"),
        sa.Column("district_code", sa.String(6), comment="所在区"),
        sa.Column("description", sa.Text, comment="隐患描述"),
        sa.Column("found_date", sa.Date, comment="发现日期"),
        sa.Column("grade", sa.Text, comment="隐患等级"),
        sa.Column("is_major", sa.Boolean, comment="是否重大隐患"),
        sa.Column("deadline", sa.Date, comment="整改期限"),
        sa.Column("fixed_date", sa.Date, comment="完成日期"),
        sa.Column("accepted_date", sa.Date, comment="验收日期"),
        sa.Column("closed_date", sa.Date, comment="销号日期"),
        sa.Column("listed_supervision", sa.Boolean, comment="挂牌督办"),
        sa.Column("status", sa.Text, comment="整改状态"),
        sa.Column("status_rank", sa.Integer, comment="状态在生命周期中的序号（0 起）"),
        sa.Column("is_closed", sa.Boolean, comment="是否已销号"),
    ]


def _hazard_tables(md: sa.MetaData) -> None:
    sa.Table(
        "hazard_version", md,
        sa.Column("record_key", sa.Text, nullable=False, comment="来源记录主键"),
        sa.Column("identity_key", sa.Text, nullable=False, comment="隐患身份：统一社会信用代码|规范化描述|发现日期"),
        *_lifecycle_columns(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, comment="报送更新时间"),
        sa.Column("is_regression", sa.Boolean, comment="状态倒退（由 warehouse_build 判定并隔离）"),
        *_lineage_columns(),
        # One row per record version, PostgreSQL only, as the fact tables' key: loads of a feed may run on
        # several workers there. On DuckDB a unique index is an ART held in memory that cannot spill: at
        # 2M versions a load could not commit under the 512MB memory_limit and invalidated the file
        # (migration 0003). There one process writes at a time and the load makes the rows unique.
        sa.Index("ux_hazard_version_record", "feed_id", "business_date", "record_key", unique=True,
                 info={"dialects": ("postgresql",)}).ddl_if(dialect="postgresql"),
        comment="隐患状态历史：每个来源记录的每个版本一行（含较新版本入库后才到达的旧版本）",
        info={"layer": "core"},
    )
    sa.Table(
        "hazard", md,
        sa.Column("identity_key", sa.Text, primary_key=True, comment="隐患身份：统一社会信用代码|规范化描述|发现日期"),
        *_lifecycle_columns(),
        sa.Column("sources", sa.Text, nullable=False, comment="报送来源 feed:主键，逗号分隔"),
        sa.Column("n_sources", sa.Integer, nullable=False, comment="来源记录数（跨部门、重复报送）"),
        sa.Column("n_versions", sa.Integer, nullable=False, comment="状态版本数"),
        sa.Column("first_reported_at", sa.DateTime(timezone=True), comment="首次报送"),
        sa.Column("last_updated_at", sa.DateTime(timezone=True), comment="最近一次有效更新"),
        comment="隐患（去重后）：跨部门、重复报送合并为一条，累积快照含发现、期限、完成、验收、销号日期",
        info={"layer": "core"},
    )


def _points(name: str, comment: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(10, 2), nullable=False, comment=f"{comment}（分）")


def _risk_tables(md: sa.MetaData) -> None:
    """The risk marts (safety_hub.warehouse.risk; weights in include/risk.yaml), each as of a week's end (Sunday)."""
    sa.Table(
        "mart_enterprise_risk", md,
        sa.Column("as_of_date", sa.Date, primary_key=True, comment="所属周的周日（分区）；按该周数据日期 data_through 评估"),
        sa.Column("uscc", sa.String(18), primary_key=True, comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, comment="单位名称（截止日有效的名称版本）"),
        sa.Column("district_code", sa.String(6), comment="所在区"),
        sa.Column("district_name", sa.Text, comment="区名称"),
        sa.Column("industry_code", sa.Text, comment="行业代码"),
        sa.Column("sector", sa.Text, comment="监管行业领域（dim_industry）"),
        sa.Column("major_hazard_level", sa.Text, comment="重大危险源等级"),
        sa.Column("employees", sa.BigInteger, comment="从业人员数"),
        sa.Column("reported_risk_level", sa.Text, comment="名录报送的风险等级（对照用，不参与计分）"),
        sa.Column("n_open_hazards", sa.BigInteger, nullable=False, comment="未销号一般隐患数"),
        sa.Column("n_overdue_hazards", sa.BigInteger, nullable=False, comment="超期一般隐患数"),
        sa.Column("n_open_major", sa.BigInteger, nullable=False, comment="未销号重大隐患数"),
        sa.Column("n_overdue_major", sa.BigInteger, nullable=False, comment="超期重大隐患数"),
        sa.Column("n_accidents", sa.BigInteger, nullable=False, comment="回溯期内事故起数"),
        sa.Column("n_enforcement", sa.BigInteger, nullable=False, comment="回溯期内执法处罚（措施）数"),
        sa.Column("insurance_mandatory", sa.Boolean, nullable=False, comment="所属领域是否强制投保安责险"),
        sa.Column("insurance_status", sa.Text, nullable=False, comment="安责险状态：在保 / 脱保（有保单而当日不在保障期）/ 未见保单（未加载到任何保单，不视为脱保）"),
        _points("inherent_industry", "固有风险：行业领域"),
        _points("inherent_major_source", "固有风险：重大危险源"),
        _points("inherent_headcount", "固有风险：人员规模"),
        _points("open_hazards", "未销号一般隐患"),
        _points("overdue_hazards", "超期一般隐患"),
        _points("open_major", "未销号重大隐患（加权）"),
        _points("overdue_major", "超期重大隐患（加权）"),
        _points("accidents", "事故（按等级）"),
        _points("enforcement", "执法处罚（按措施类型）"),
        _points("insurance_lapsed", "安责险脱保"),
        _points("insurance_unseen", "未见安责险保单（按配置计分，默认 0）"),
        sa.Column("score", sa.Numeric(12, 2), nullable=False, comment="风险分 = 各分项之和"),
        sa.Column("grade", sa.Text, nullable=False, comment="风险等级 红/橙/黄/蓝（分数线含本数）"),
        sa.Column("grade_rank", sa.Integer, nullable=False, comment="等级序号 1=红 2=橙 3=黄 4=蓝"),
        sa.Column("risk_rank", sa.Integer, nullable=False, comment="风险分名次（1=最高，同分同名次）"),
        sa.Column("data_through", sa.Date, comment="数据日期：本周已加载的最新业务日期（周已完整时为周日）"),
        sa.Column("config_sha", sa.Text, nullable=False, comment="计分参数（include/risk.yaml）的指纹"),
        comment="企业风险分级（按截止日、企业）：固有风险经隐患、事故、执法、安责险调整，每个分项一列",
        info={"layer": "marts"},
    )
    sa.Table(
        "mart_district_week", md,
        sa.Column("week_label", sa.Text, nullable=False, comment="ISO 周 yyyy-Www"),
        sa.Column("week_start", sa.Date, nullable=False, comment="周一"),
        sa.Column("week_end", sa.Date, primary_key=True, comment="周日（分区）；按该周数据日期 data_through 统计"),
        sa.Column("district_code", sa.String(6), primary_key=True, comment="行政区划代码"),
        sa.Column("district_name", sa.Text, nullable=False, comment="区名称"),
        sa.Column("hazards_found", sa.BigInteger, nullable=False, comment="本周发现隐患数"),
        sa.Column("hazards_closed", sa.BigInteger, nullable=False, comment="本周销号隐患数"),
        sa.Column("hazards_open", sa.BigInteger, nullable=False, comment="周末未销号隐患数"),
        sa.Column("overdue", sa.BigInteger, nullable=False, comment="周末超期未整改数"),
        sa.Column("major_hazards", sa.BigInteger, nullable=False, comment="周末未销号重大隐患数"),
        sa.Column("supervised", sa.BigInteger, nullable=False, comment="周末未销号挂牌督办数"),
        sa.Column("found_total", sa.BigInteger, nullable=False, comment="截至周末累计发现数"),
        sa.Column("closed_total", sa.BigInteger, nullable=False, comment="截至周末累计销号数"),
        sa.Column("due_total", sa.BigInteger, nullable=False, comment="截至周末整改期限已到的隐患数"),
        sa.Column("closed_on_time_total", sa.BigInteger, nullable=False, comment="其中期限内销号数"),
        sa.Column("dynamic_rate", sa.Numeric(9, 6), comment="动态整改率 = 累计销号/累计发现（周末）"),
        sa.Column("on_time_rate", sa.Numeric(9, 6), comment="按期整改率 = 期限内销号/期限已到（周末）"),
        sa.Column("enforcement_actions", sa.BigInteger, nullable=False, comment="本周执法处罚（措施）数"),
        sa.Column("penalty_amount_wan", sa.Numeric(18, 3), nullable=False, comment="本周罚款金额（万元）"),
        sa.Column("fines", sa.BigInteger, nullable=False, comment="其中罚款"),
        sa.Column("warnings", sa.BigInteger, nullable=False, comment="其中警告"),
        sa.Column("suspensions", sa.BigInteger, nullable=False, comment="其中停产整顿"),
        sa.Column("revocations", sa.BigInteger, nullable=False, comment="其中吊销"),
        sa.Column("closures", sa.BigInteger, nullable=False, comment="其中关闭取缔"),
        sa.Column("joint_punishments", sa.BigInteger, nullable=False, comment="其中联合惩戒"),
        sa.Column("interviews", sa.BigInteger, nullable=False, comment="其中约谈"),
        sa.Column("data_through", sa.Date, comment="数据日期：本周已加载的最新业务日期（周已完整时为周日），各项按此日统计"),
        comment="区县周趋势（按周、区）：隐患发现与销号、动态/按期整改率、超期、重大与挂牌督办、执法处罚",
        info={"layer": "marts"},
    )
    sa.Table(
        "mart_supervised_hazard", md,
        sa.Column("as_of_date", sa.Date, primary_key=True, comment="所属周的周日（分区）；按该周数据日期 data_through 判断进展"),
        sa.Column("identity_key", sa.Text, primary_key=True, comment="隐患身份（同 hazard 表）"),
        sa.Column("uscc", sa.String(18), comment="统一社会信用代码"),
        sa.Column("org_name", sa.Text, comment="单位名称"),
        sa.Column("district_code", sa.String(6), comment="所在区"),
        sa.Column("district_name", sa.Text, comment="区名称"),
        sa.Column("description", sa.Text, comment="隐患描述"),
        sa.Column("grade", sa.Text, comment="隐患等级"),
        sa.Column("found_date", sa.Date, comment="发现日期"),
        sa.Column("deadline", sa.Date, comment="整改（督办）期限"),
        sa.Column("days_left", sa.Integer, comment="剩余天数 = 期限 - 数据日期（负数为超期天数；已销号为空）"),
        sa.Column("status", sa.Text, comment="整改状态"),
        sa.Column("is_closed", sa.Boolean, nullable=False, comment="截止日前是否已销号"),
        sa.Column("closed_date", sa.Date, comment="销号日期"),
        sa.Column("progress", sa.Text, nullable=False, comment="进展：红=超期，黄=剩余不足N天（include/risk.yaml），绿=已销号或正常"),
        sa.Column("sources", sa.Text, comment="报送来源 feed:主键"),
        sa.Column("data_through", sa.Date, comment="数据日期：本周已加载的最新业务日期（周已完整时为周日）"),
        comment="挂牌督办重大隐患清单（按截止日）：期限、剩余天数与红黄绿进展",
        info={"layer": "marts"},
    )
