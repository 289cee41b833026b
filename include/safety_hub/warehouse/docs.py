"""docs/warehouse.md, generated from the model (``python -m safety_hub warehouse docs``).

The data dictionary is the SQLAlchemy model itself: table comments (Chinese),
column comments (for fact columns the field's Chinese name: the agency's header, or the
column's ``label`` with the code beside it where the header is a code such as ``yhbh``), types, layers
and personal-data marks, plus the feed registry's English descriptions. A test
fails when the committed file differs from what the model generates.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from safety_hub.config.files import write_atomic
from safety_hub.config.registry import load_registry
from safety_hub.warehouse.schema import LINEAGE, LAYERS, build_metadata, is_personal, table_layer

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "warehouse.md"

# English descriptions of the tables that do not come from a feed.
ENGLISH = {
    "dim_district": "Tianjin's 16 current districts (GB/T 2260).",
    "dim_district_legacy": "Legacy district codes (塘沽, 汉沽, 大港, the former counties) mapped to the current ones.",
    "dim_enterprise": "Enterprises across agencies, keyed by the normalised USCC, as a type-2 slowly changing dimension: "
                      "one row per name version (a rename starts a new one; spelling variants do not), valid_from/valid_to, "
                      "is_current; district and name by the source precedence in include/feeds/_precedence.yaml.",
    "enterprise_observation": "Every (USCC, name, district) each load reported, one row per feed, business date and triple "
                              "(its latest update time); a load replaces its own partition. The enterprise dimensions are "
                              "computed from it: a fact table keeps only each record's latest version.",
    "dim_enterprise_asof": "What the marts show for an enterprise on a date: the name version in force and, within it, the "
                           "name and district of the most authoritative, most recent report known by that date "
                           "(valid_from/valid_to); a later report changes the dates from its own on.",
    "enterprise_match": "Records quarantined only for a missing or broken USCC, matched to an enterprise by canonical name "
                        "and district when exactly one matches (name_district); the rest listed as unmatched or ambiguous.",
    "dim_date": "Calendar days around the loaded business dates, with ISO weeks (the weekly report's archive key).",
    "dim_industry": "GB/T 4754-2017 industry codes seen in the enterprise register, with their work-safety sector.",
    "hazard_version": "Status history: every loaded version of every hazard record, whatever the load order; regressions marked.",
    "hazard": "One row per real hazard (USCC | normalised description | found date) across agencies and resubmissions: "
              "an accumulating snapshot with found, deadline, fixed, accepted and closed dates and its sources.",
    "mart_district_hazard": "Hazards per as-of date, district and grade: found, closed, 动态整改率, overdue, listed supervision.",
    "mart_enterprise_risk": "Each key enterprise's risk score and grade (红/橙/黄/蓝) as of a week's end: one column per component "
                            "in points (inherent, hazards, accidents, enforcement, lapsed 安责险); weights in include/risk.yaml.",
    "mart_district_week": "Per district and ISO week: hazards found and closed in the week; open, overdue, 重大 and 挂牌督办 "
                          "at its end; 动态整改率 and 按期整改率; enforcement actions and fines.",
    "mart_supervised_hazard": "Listed (挂牌督办) hazards as of a week's end with days left and a 红/黄/绿 progress flag.",
    "quarantine": "Rows that broke an error rule: one row per (record, rule), original values kept as JSON.",
    "quality_flag": "Rows loaded but flagged by a warning rule: one row per (record, rule).",
    "validation_result": "Quality history: one row per run, feed and expectation (observed counts and percentages).",
    "load_audit": "One row per feed run: extracted = loaded + quarantined + duplicates (+ stale), volume notes.",
    "field_quality": "信息缺失 history: per feed, data item and business date, the delivered records, those filling the item and those a rule of the item quarantined (warehouse/fieldquality.py; the data-item catalogue's rates).",
    "rejection": "退回台账: one row per record a validation rule rejected (returned to its agency), from the business date it was first rejected, closed as 已整改 when a later delivery's corrected record passes (warehouse/rejections.py).",
    "build_watermark": "Loads (and dimension changes) no successful warehouse build has taken yet, one row per batch with the earliest business date it touched; the build recomputes from the earliest and deletes the rows it read.",
    "build_change": "The keys each load changed (enterprises, hazard records and identities, cross-rule scopes), read by the "
                    "incremental build's steps, which recompute only those keys and delete the loads' rows they read.",
    "snapshot_member": "Every key each snapshot feed delivered per day (quarantined ones included).",
    "alembic_version": "The schema's revision in its Alembic history (include/safety_hub/warehouse/migrations), kept by "
                       "`python -m safety_hub warehouse migrate`; one row.",
    "report_receipt": "Who reported what (报送回执): per delivery, reporting unit, period reported for and 报送批次, the rows "
                      "delivered (valid or quarantined); written with the batch's quarantine.",
    "dim_reporting_duty": "Who must report (应报): per feed with expected reporters (include/feeds/*.yaml `reporters`), unit and "
                          "period (working day, week or month of the statutory calendar), its due date; from the feed's first delivery on.",
    "mart_reporting_status": "报送情况 per feed, unit and due period: first receipt and first repeat (a reported day delivered again, or a record twice in one delivery), "
                             "status as of the build (按时/迟报/漏报), submissions; any earlier as-of date follows from the dates.",
    "reporting_alert": "Units alerted for consecutive missed reports: one row per unit and run of missed periods (alerted once).",
    "snapshot_deletion": "Keys loaded earlier that are missing from a snapshot feed's latest delivery.",
}
LAYER_TEXT = {
    "core": "facts and conformed dimensions: what analysts query",
    "marts": "aggregates for reports: what analysts query",
    "audit": "quarantine, quality and load history: the data team's",
}


def _type(column: sa.Column) -> str:
    from sqlalchemy.dialects import postgresql

    return str(column.type.compile(dialect=postgresql.dialect())).lower()


def render() -> str:
    md = build_metadata()
    registry = load_registry().values()
    feeds = {f.target_table: f for f in registry}
    versions = {f.version_table: f for f in registry if f.version_table}
    out = [
        "# Warehouse data dictionary",
        "",
        "<!-- Generated by `python -m safety_hub warehouse docs` from the model "
        "(include/safety_hub/warehouse/schema.py and the feed registry). Do not edit by hand. -->",
        "",
        "One model for DuckDB (default) and PostgreSQL. Layers:",
        "",
        *[f"- **{layer}**: {LAYER_TEXT[layer]}." for layer in LAYERS],
        "- raw data is not in the database: it stays in the landing zone (`data/raw/<feed>/dt=<date>/`), "
        "and staging tables live only inside a load's transaction.",
        "",
        f"Every fact row carries lineage: {', '.join(f'`{c}`' for c in LINEAGE)}. "
        "Columns marked *personal* are hidden from the analyst role "
        "(`python -m safety_hub warehouse grant-analyst ROLE`, PostgreSQL).",
        "",
    ]
    for layer in LAYERS:
        out += [f"## {layer}", ""]
        for table in sorted((t for t in md.sorted_tables if table_layer(t) == layer), key=lambda t: t.name):
            feed = feeds.get(table.name)
            english = " ".join(feed.description.split()) if feed else ENGLISH.get(table.name, "")
            if table.name in versions:
                of = versions[table.name]
                english = (f"Every version of `{of.target_table}`'s records as each delivery gave them, one row per business date and "
                           f"key (stale ones included; the feed's `version_table`). Reports and marts read a date as known then: each "
                           "record's latest update loaded for business dates up to it (`sqltext.versions_asof`).")
            out += [f"### `{table.name}`", "", f"{table.comment or ''}", ""]
            if english:
                out += [english, ""]
            if feed:
                out += [f"Feed `{feed.feed_id}` ({feed.agency}), key {', '.join(f'`{k}`' for k in feed.key)}, {feed.mode} loads.", ""]
            out += ["| column | type | 说明 (comment) | notes |", "|---|---|---|---|"]
            for c in table.columns:
                notes = [n for n, on in (("key", c.primary_key or (feed and c.name in feed.key)), ("personal", is_personal(c)),
                                         ("not null", not c.nullable and not c.primary_key)) if on]
                out.append(f"| `{c.name}` | {_type(c)} | {(c.comment or '').replace('|', '/')} | {', '.join(notes)} |")
            out.append("")
    return "\n".join(out)


def write(path: Path = DOC_PATH) -> Path:
    return write_atomic(path, render())
