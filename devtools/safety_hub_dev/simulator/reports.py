"""Missed, late and repeated reports (漏报 / 迟报 / 重复报送), injected into a profile's deliveries.

A profile whose ``knobs["report_rates"]`` maps ``missed``, ``late`` and ``repeated`` to rates gets,
per feed, working day and reporting unit (the district its rows name, legacy codes mapped), at most
one fate, drawn from (seed, day, feed, unit): a *missed* unit's rows of the day are not delivered;
a *late* unit's rows arrive ``LATE_BY`` working days later instead (their 报送批次 still names their
day); a *repeated* unit's rows are delivered on the day and again on the next working day. A row
sent on a later day carries that day's update time (the agencies' exports window by it). The truth manifest says, per feed and day, which fates were drawn (``report_defects``) and
what the delivery holds per unit and reported day (``reports``: rows, and rows repeating a record's
key; ``summarise``, in every day's truth, injected or not), what the warehouse's ``report_receipt``
must count; ``rows_delivered`` is the delivery's. The manifest's
per-record fields (``valid_keys``, ``defects``) stay those of the day's generation before its
reports were withheld or moved (``reports_moved``: true).

Without the knob (the demo, the city profile) nothing changes.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from typing import Callable

from safety_hub.domain.places import map_district
from safety_hub.domain.workdays import is_business_day
from safety_hub_dev.simulator.spec import SPECS

FATES = ("missed", "late", "repeated")
LATE_BY = 2  # working days
_BATCH_DATE = re.compile(r"(\d{8})")


def unit_of(value: object) -> str | None:
    """The reporting unit a row names, as the warehouse reads it: half-width, trimmed, legacy codes mapped."""
    if value is None:
        return None
    text = "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in str(value)).strip()
    return (map_district(text) or text) or None


def period_of(batch: object, day: dt.date) -> str:
    """The day a 报送批次 names (the delivery's day when none)."""
    match = _BATCH_DATE.search(batch) if isinstance(batch, str) else None
    if match is None:
        return day.isoformat()
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%d").date().isoformat()
    except ValueError:
        return day.isoformat()


def fate(seed: int, day: dt.date, feed_id: str, unit: str | None, rates: dict) -> str | None:
    if unit is None:
        return None
    roll, acc = random.Random(f"{seed}:{day.isoformat()}:{feed_id}:{unit}:report").random(), 0.0
    for kind in FATES:
        acc += rates.get(kind, 0.0)
        if roll < acc:
            return kind
    return None


def working_days_before(day: dt.date, n: int) -> dt.date:
    while n > 0:
        day -= dt.timedelta(days=1)
        if is_business_day(day):
            n -= 1
    return day


def _sent_on(rec: dict, updated: str, earlier: dt.date, day: dt.date) -> dict:
    """The row as sent again on ``day``: its update time moves to that day (the agency's export
    windows by it), its 报送批次 still names the day it reports for."""
    value = rec.get(updated)
    if isinstance(value, str) and value.startswith(earlier.isoformat()):
        rec = {**rec, updated: day.isoformat() + value[10:]}
    return rec


def inject(data, base: Callable[[dt.date], object], seed: int, rates: dict) -> None:
    """Withhold, delay and repeat the units' reports of ``data`` (one generated working day) in place.

    ``base(day)``: the generated day ``day`` before any report was withheld or moved.
    """
    day = data.day
    arrivals = {"repeated": working_days_before(day, 1), "late": working_days_before(day, LATE_BY)}
    for feed_id, rows in data.records.items():
        spec = SPECS[feed_id]
        fates: dict[str | None, str | None] = {}
        kept, positions = [], {}
        for i, rec in enumerate(rows):
            unit = unit_of(rec.get(spec.district))
            if unit not in fates:
                fates[unit] = fate(seed, day, feed_id, unit, rates)
            if fates[unit] in ("missed", "late"):
                continue
            positions[i] = len(kept)
            kept.append(rec)
        if feed_id in data.regression_rows:
            data.regression_rows[feed_id] = {positions[i] for i in data.regression_rows[feed_id] if i in positions}
        for kind, earlier in arrivals.items():
            for rec in base(earlier).records.get(feed_id, ()):
                if fate(seed, earlier, feed_id, unit_of(rec.get(spec.district)), rates) == kind:
                    kept.append(_sent_on(rec, spec.updated, earlier, day))
        data.records[feed_id] = kept
        truth = data.truth["feeds"][feed_id]
        truth["reports_moved"] = True
        truth["rows_delivered"] = len(kept)
        truth["report_defects"] = [{"unit": u, "period": day.isoformat(), "kind": k} for u, k in sorted(fates.items(), key=str) if k]
        truth["reports"] = summarise(kept, spec, day)


def summarise(rows: list[dict], spec, day: dt.date) -> list[dict]:
    """What a delivery holds per reporting unit and day reported for: its rows, and those repeating the
    key of an earlier row of the unit and day (the same record reported again; rows without a key aside)."""
    counted, repeated, seen = Counter(), Counter(), set()
    for r in rows:
        group = (unit_of(r.get(spec.district)), period_of(r.get(spec.batch), day))
        counted[group] += 1
        key = r.get(spec.key)
        key = "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in str(key)).strip() if key is not None else ""
        if key:
            if (group, key) in seen:
                repeated[group] += 1
            seen.add((group, key))
    return [{"unit": u, "period": p, "rows": n, "repeated": repeated[(u, p)]} for (u, p), n in sorted(counted.items(), key=str)]
