"""What an extract hands to landing: a delivery's files, unchanged, with where they came from.

Every delivery kind (``ingest/kinds/``) returns an ``Extract``; landing writes its ``RawFile``s
as they are. ``day_window`` is the business day in Beijing time, the window every kind reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from safety_hub.config.settings import business_tz

CN_TZ = business_tz()


@dataclass(frozen=True)
class RawFile:
    """One delivered file: its bytes (an API page), the path of a dropped file, or the blocks of
    a file read from its source as landing writes it (a database extract).

    Neither a dropped file nor a streamed one is held here: landing copies it in chunks and
    hashes it as it copies, so a delivery is never held whole in memory by extract. ``blocks``
    is consumed once (a generator reading the source: the source's errors are raised there).
    """

    name: str
    content: bytes | None = None
    path: Path | None = None
    blocks: Iterable[bytes] | None = None

    @property
    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        if self.path is not None:
            return self.path.stat().st_size
        raise TypeError(f"{self.name}: a streamed file's size is known once it is written")

    def chunks(self, size: int = 1 << 20):
        """The file's bytes, ``size`` at a time (a streamed file's, as its source gives them)."""
        if self.content is not None:
            yield self.content
            return
        if self.blocks is not None:
            yield from self.blocks
            return
        if self.path is None:
            raise TypeError(f"{self.name}: neither content, path nor blocks")
        with open(self.path, "rb") as fh:
            while block := fh.read(size):
                yield block


@dataclass(frozen=True)
class Extract:
    feed_id: str
    business_date: dt.date
    source: str  # human-readable origin: URL, file path or table
    # The files in order: a list, or an iterable giving each as the source delivers it (API pages; consumed once, by landing).
    files: list[RawFile] | Iterable[RawFile]
    # Records the source says it delivered (a marker file's count, the rows an extract fetched): checked at landing.
    # A function when the count is known only once the files are written (an extract counting the rows it streams).
    expected_rows: int | Callable[[], int | None] | None = None

    def announced_rows(self) -> int | None:
        """``expected_rows``, asked once the files are written."""
        return self.expected_rows() if callable(self.expected_rows) else self.expected_rows


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The business day ``day`` as [start, end) in Beijing time."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=CN_TZ)
    return start, start + dt.timedelta(days=1)
