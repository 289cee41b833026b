"""Errors that name the feed, the file and the problem in one line."""

from __future__ import annotations


class FeedError(RuntimeError):
    """A delivery that cannot be processed (unreadable, wrong encoding, missing column...)."""

    def __init__(self, feed_id: str, source: str, problem: str):
        self.feed_id, self.source, self.problem = feed_id, source, problem
        super().__init__(f"feed {feed_id}: {source}: {problem}")


class FeedQualityError(RuntimeError):
    """A batch whose invalid share exceeds the feed's threshold; its quarantine is kept."""


class DuplicateDelivery(RuntimeError):
    """A delivered file whose sha256 was already loaded: skipped, and the audit says so."""
