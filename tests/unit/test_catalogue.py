"""The data-item catalogue lists every column of every feed, and docs/catalogue.md is what the registry generates."""

from __future__ import annotations


def test_every_column_of_every_feed_is_a_data_item():
    from safety_hub.config.registry import load_registry
    from safety_hub.reporting.catalogue import items

    listed = {(i.feed_id, i.column) for i in items()}
    declared = {(f.feed_id, c.name) for f in load_registry().values() for c in f.columns}
    assert declared == listed
    assert len(listed) == len(items()), "one item per column"


def test_the_committed_catalogue_is_the_generated_one_and_names_every_column():
    from safety_hub.config.registry import load_registry
    from safety_hub.reporting.catalogue import DOC_PATH, markdown

    text = DOC_PATH.read_text(encoding="utf-8")
    assert text == markdown(), "docs/catalogue.md is stale: run python -m safety_hub catalogue --docs"
    for feed in load_registry().values():
        assert f"(`{feed.feed_id}`," in text
        for c in feed.columns:
            assert f"| `{c.name}` |" in text, (feed.feed_id, c.name)
    assert f"**{sum(len(f.columns) for f in load_registry().values())} data items**" in text


def test_an_items_rules_are_the_suites_rule_ids_of_that_column():
    """Every rule id the suite checks a column with (implied by type and flags) is on that column's item."""
    from safety_hub.config.registry import load_registry
    from safety_hub.quality.expectations import rule_descriptions
    from safety_hub.reporting.catalogue import column_rules

    for feed in load_registry().values():
        rules = column_rules(feed)
        for rule_id in rule_descriptions(feed):
            column = rule_id.split(".", 1)[0]
            if column in rules and "." in rule_id:
                assert rule_id in rules[column], (feed.feed_id, rule_id)
