"""What an extract hands to landing: a delivery's files, unchanged, with where they came from.

Every delivery kind (``ingest/kinds/``) returns an ``Extract``; landing writes its ``RawFile``s
as they are. ``day_window`` is the business day in Beijing time, the window every kind reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from safety_hub.config.settings import business_tz

CN_TZ = business_tz()


@dataclass(frozen=True)
class RawFile:
    """One delivered file: its bytes (API pages, extracts), or the path of a dropped file.

    A dropped file is not read here: landing copies it in chunks and hashes it as it
    copies, so a delivery is never held whole in memory by extract.
    """

    name: str
    content: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.content is None and self.path is not None else len(self.content)

    def chunks(self, size: int = 1 << 20):
        """The file's bytes, ``size`` at a time."""
        if self.content is not None:
            yield self.content
            return
        if self.path is None:
            raise TypeError(f"{self.name}: neither content nor path")
        with open(self.path, "rb") as fh:
            while block := fh.read(size):
                yield block


@dataclass(frozen=True)
class Extract:
    feed_id: str
    business_date: dt.date
    source: str  # human-readable origin: URL, file path or table
    files: list[RawFile]
    # Records the source says it delivered (a marker file's count, the rows an extract fetched): checked at landing.
    expected_rows: int | None = None


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The business day ``day`` as [start, end) in Beijing time."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=CN_TZ)
    return start, start + dt.timedelta(days=1)
