"""Hand-made agency deliveries for tests: the 住建委 在建项目 file drop (``hcc_project``),
written as the agency does (GBK CSV, Chinese headers), whole or deliberately broken."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

from safety_hub_dev.simulator.deliver import HCC_FILE

PROJECT_FEED = "hcc_project"


def csv_bytes(rows: list[dict], encoding: str = "gbk", drop_column: str | None = None) -> bytes:
    buf = io.StringIO()
    fields = [f for f in rows[0] if f != drop_column]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def deliver(drop: str | Path, day: dt.date, content: bytes) -> str:
    """Write ``content`` as the day's 在建项目 file in the drop folder ``drop``."""
    path = os.path.join(drop, HCC_FILE.format(date=day))
    with open(path, "wb") as fh:
        fh.write(content)
    return path


def deliver_half_invalid(drop: str | Path, day: dt.date) -> int:
    """The day's 在建项目 file with half its rows in an unknown district (over the feed's
    invalid-share threshold); returns the row count."""
    from safety_hub_dev.simulator import generate_day

    rows = generate_day(day).records[PROJECT_FEED]
    for row in rows[: len(rows) // 2]:
        row["所在区"] = "999999"
    deliver(drop, day, csv_bytes(rows))
    return len(rows)
