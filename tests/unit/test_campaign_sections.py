"""The campaign's sections (reporting/campaign.py) are consistent with the registry and their queries,
run on an empty warehouse: every indicator names a column its query returns, every query reads its
feed as known on the report's date, and an empty warehouse gives zeros, not an error."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from safety_hub.config.registry import load_registry
from safety_hub.reporting.campaign import SECTIONS, campaign_figures, situation_lines


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.name)
def test_a_section_reads_its_feeds_table(section):
    from importlib import resources

    feed = load_registry()[section.feed_id]
    sql = resources.files("safety_hub.reporting").joinpath("sql", section.sql).read_text(encoding="utf-8")
    assert "{asof_" + feed.feed_id + "}" in sql and feed.version_table, "a section reads its feed as known on :as_of (sqltext.versions_asof)"


def test_every_indicator_is_a_column_of_its_query_on_an_empty_warehouse(tmp_path, monkeypatch):
    from safety_hub.warehouse.engine import ensure_schema

    engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    ensure_schema(engine)
    with engine.connect() as conn:
        figures = campaign_figures(conn, dt.date(2026, 11, 2), dt.date(2026, 11, 4), 7)
    assert set(figures) == {s.name for s in SECTIONS}
    for section in SECTIONS:
        for indicator in section.indicators:
            assert {indicator.total, indicator.week} - {None} <= set(figures[section.name]), (section.name, indicator.name)
            assert figures[section.name][indicator.total] == 0
    lines = situation_lines(figures)
    assert len(lines) == sum(len(s.indicators) for s in SECTIONS)
    assert len({n for _, n, *_ in lines}) == len(lines), "an indicator's name (指标) names one line of the sheet"
