"""The feed cover the equivalence tests run over (tests/feed_cover.py)."""

from __future__ import annotations

from feed_cover import covering_feeds, validation_features

from safety_hub.config.registry import load_registry


def test_the_cover_exercises_every_feature_of_every_feed_with_fewer_feeds():
    feeds = load_registry()
    cover = covering_feeds()
    assert set(cover) <= set(feeds) and len(cover) < len(feeds)
    wanted = set().union(*(validation_features(f) for f in feeds.values()))
    assert set().union(*(validation_features(feeds[f]) for f in cover)) == wanted
    # every kind of delivery, both severities and a rule across rows are among the features covered
    assert {"delivery:rest_api:", "delivery:file_drop:csv", "delivery:file_drop:xlsx", "delivery:sql_extract:"} <= wanted
    assert any(f.startswith("warning:") for f in wanted) and any("row_condition" in f for f in wanted)


def test_a_feed_with_a_feature_no_other_feed_has_is_in_the_cover():
    """The feature that only one feed has puts that feed in the cover (computed, not listed)."""
    feeds = load_registry()
    features = {f: validation_features(feed) for f, feed in feeds.items()}
    for feed_id, own in features.items():
        others = set().union(*(v for k, v in features.items() if k != feed_id))
        if own - others:
            assert feed_id in covering_feeds(), (feed_id, own - others)
