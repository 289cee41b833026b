"""The smallest set of feeds that together exercise every validation feature any feed has.

Equivalence tests (streamed against whole-file validation, GX's plain path against the fast one)
compare two ways of running the same code on a feed's deliveries. What can make them differ is
what the feed asks of that code: the expectation types of its suite with the shape of their
arguments (a ``row_condition``, a ``mostly``, a value set, a pair of columns), a warning rule,
the column types its rows carry, its delivery kind and format, snapshot or incremental. A feed
whose features are all exercised by other feeds adds run time and no case, so these tests run
over ``covering_feeds()``: a greedy set cover of those features, recomputed from the registry on
every run. A feed that brings a new feature (a new expectation, a new kind of argument) is in the
cover without anyone choosing it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

_DAY = dt.date(2026, 11, 2)  # any business date: the suite's shape does not depend on it


def validation_features(feed) -> frozenset[str]:
    """What of the validation code ``feed`` exercises (see the module's docstring)."""
    from safety_hub.quality.expectations import build_suite

    warnings = {r.id for r in feed.validation.rules if r.severity == "warning"}
    features = {f"delivery:{feed.delivery.kind}:{getattr(feed.delivery, 'format', '')}", f"mode:{feed.mode}"}
    features |= {f"type:{c.type}" for c in feed.columns}
    features |= {f"derived:{type(d).__name__}" for d in feed.derived}
    for e in build_suite(feed, _DAY).expectations:
        config = e.configuration
        args = sorted(k for k in config.kwargs if k not in ("column", "column_A", "column_B", "column_list", "result_format"))
        features.add(f"{config.type}({','.join(args)})")
        if e.meta.get("rule_id") in warnings:
            features.add(f"warning:{config.type}")
    return frozenset(features)


def delivery_features(feed) -> frozenset[str]:
    """What of the ingest and load path ``feed`` exercises beyond validation: its delivery kind and
    format, snapshot or incremental, a hazard lifecycle, expected reporters."""
    return frozenset({f"delivery:{feed.delivery.kind}:{getattr(feed.delivery, 'format', '')}", f"mode:{feed.mode}",
                      f"lifecycle:{feed.lifecycle is not None}", f"reporters:{feed.reporters is not None}"})


@lru_cache(maxsize=None)
def covering_feeds(features_of=validation_features) -> tuple[str, ...]:
    """Feed ids, sorted, whose ``features_of`` together are every feed's (greedy set cover: the feed
    adding the most features not yet covered first, ties to the lower feed id)."""
    from safety_hub.config.registry import load_registry

    features = {feed_id: features_of(feed) for feed_id, feed in sorted(load_registry().items())}
    left, chosen = set().union(*features.values()), []
    while left:
        best = max(sorted(features), key=lambda f: len(features[f] & left))
        chosen.append(best)
        left -= features[best]
    return tuple(sorted(chosen))
