"""The warehouse model's own promises: a current data dictionary, layers, personal columns."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.warehouse import docs
from safety_hub.warehouse.schema import LAYERS, LINEAGE, build_metadata, is_personal, table_layer


def test_docs_warehouse_md_is_generated_from_the_current_model():
    assert docs.DOC_PATH.exists(), "run: python -m safety_hub warehouse docs"
    assert docs.DOC_PATH.read_text(encoding="utf-8") == docs.render(), "docs/warehouse.md is stale: run python -m safety_hub warehouse docs"


def test_every_table_has_a_layer_a_comment_and_an_english_description():
    md = build_metadata()
    feeds = {f.target_table for f in load_registry().values()} | {f.version_table for f in load_registry().values() if f.version_table}
    for table in md.sorted_tables:
        assert table_layer(table) in LAYERS, table.name
        assert table.comment, table.name
        assert table.name in feeds or table.name in docs.ENGLISH, f"{table.name}: add an English description to warehouse/docs.py"


def test_facts_carry_lineage_and_registry_personal_marks():
    md = build_metadata()
    for feed in load_registry().values():
        table = md.tables[feed.target_table]
        assert table_layer(table) == "core"
        assert set(LINEAGE) <= set(table.columns.keys())
        assert {c.name for c in table.columns if is_personal(c)} == {c.name for c in feed.columns if c.personal}
    assert is_personal(md.tables["fact_hazard"].c.owner) and not is_personal(md.tables["fact_hazard"].c.uscc)


def test_grant_analyst_explains_that_duckdb_has_no_roles(tmp_path):
    from safety_hub.warehouse.roles import grant_analyst

    with pytest.raises(ValueError, match="read_only=True"):
        grant_analyst(sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}"), "analyst")
