"""The truth of the 退回台账: which rejected records a span's deliveries corrected, and when.

From the days' truth manifests alone (what the simulator injected), by the rule the warehouse
follows (``safety_hub.warehouse.rejections``): a record rejected by a validation rule opens a
rejection unless one is open for its key; an open rejection closes on the first later delivery
day (or the same day's corrected re-delivery) whose valid records hold the key and whose rejected
ones do not.
"""

from __future__ import annotations

import datetime as dt


def rejected_keys(day_truth: dict, feed_id: str) -> set[str]:
    """Keys the day's delivery has rejected by a validation rule (the warehouse's own rules excluded)."""
    return {d["key"] for d in day_truth["feeds"][feed_id]["defects"] if d["expected_rule"] and d["key"] and "stage" not in d}


def closure_truth(truth: dict[dt.date, dict], feed_id: str) -> list[tuple[str, dt.date, dt.date | None]]:
    """(key, rejected on, closed on or None) of every rejection of ``feed_id`` over the days of ``truth``, in order."""
    open_since: dict[str, int] = {}
    rows: list[list] = []
    for day in sorted(truth):
        if feed_id not in truth[day]["feeds"]:
            continue
        rejected, valid = rejected_keys(truth[day], feed_id), set(truth[day]["feeds"][feed_id]["valid_keys"])
        for key in sorted(rejected - open_since.keys()):
            open_since[key] = len(rows)
            rows.append([key, day, None])
        for key in sorted(k for k in open_since if k in valid and k not in rejected):
            rows[open_since.pop(key)][2] = day
    return [tuple(r) for r in rows]
