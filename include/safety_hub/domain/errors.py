"""Errors that name the feed, the file and the problem in one line."""

from __future__ import annotations

import re

MAX_LINE = 300


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line of at most ``limit`` characters (whitespace runs folded, the middle cut)."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return text[:head] + " … " + text[-(limit - head - 3):]


class FeedError(RuntimeError):
    """A delivery that cannot be processed (unreadable, wrong encoding, truncated, over a limit...).

    ``str()`` is one line of at most 300 characters naming the feed, the file, where and
    what to do; ``detail`` keeps the whole text for the log.
    """

    def __init__(self, feed_id: str, source: str, problem: str):
        self.feed_id, self.source, self.problem = feed_id, source, problem
        self.detail = f"feed {feed_id}: {source}: {problem}"
        super().__init__(one_line(self.detail))


class DeliveryRefused(FeedError):
    """A delivery refused for what it is (a symbolic link, a path outside the drop folder, a
    redirect, more pages or bytes than the feed allows, plain http): the same delivery is refused
    the same way a minute later, so the ingest DAG fails its task at once instead of retrying it.
    A ``FeedError`` that can pass on its own (an agency's HTTP 503, a file not delivered yet) is retried."""


class FeedQualityError(RuntimeError):
    """A batch whose invalid share exceeds the feed's threshold; its quarantine is kept."""


class DuplicateDelivery(RuntimeError):
    """A delivered file whose sha256 was already loaded: skipped, and the audit says so."""
