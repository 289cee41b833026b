"""Stage 1, extract: fetch a feed's delivery for one business day, unchanged.

The feed's delivery kind (``ingest/kinds/<kind>.py``) does the work: each returns the original
bytes as a list of named files (``delivery.Extract``). Nothing is parsed here: the landing zone
keeps exactly what the agency sent.
"""

from __future__ import annotations

import datetime as dt

from safety_hub.config.registry import Feed
from safety_hub.ingest.delivery import Extract
from safety_hub.ingest.kinds import get_kind


def extract(feed: Feed, day: dt.date) -> Extract:
    """Fetch one business day of ``feed`` in its delivery's original bytes."""
    return get_kind(feed.delivery.kind).extract(feed, feed.delivery, day)
