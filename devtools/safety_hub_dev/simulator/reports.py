"""Missed, late and repeated reports (漏报 / 迟报 / 重复报送), injected into a profile's deliveries.

A profile whose ``knobs["report_rates"]`` maps ``missed``, ``late`` and ``repeated`` to rates gets,
per feed, working day and reporting unit (the district its rows name, legacy codes mapped), at most
one fate, drawn from (seed, day, feed, unit): a *missed* unit's rows of the day are not delivered;
a *late* unit's rows arrive ``LATE_BY`` working days later instead (their 报送批次 still names their
day); a *repeated* unit's rows are delivered on the day and again on the next working day. A row
sent on a later day carries that day's update time (the agencies' exports window by it). The truth manifest says, per feed and day, which fates were drawn (``report_defects``) and
what the delivery holds per unit and reported day (``reports``: rows, and rows repeating a record's
key; ``summarise``, in every day's truth, injected or not), what the warehouse's ``report_receipt``
must count.

Every row moves with its ``generate.RowTruth`` (its key and USCC, whether it loads, its defect entries,
its correction), and ``generate_day`` then counts the delivery's truth again from the rows it holds, with
the code that counts it at generation (``generate.delivery_truth``; ``reports_moved``: true): a withheld
row is in no delivery's ``valid_keys``, ``defects``, ``corrections`` or ``filled``, a late or repeated one
in those of the day it arrives (a repeated row in both days'). Defects the warehouse finds beside other
deliveries (``stage: warehouse``: status regressions, the cross-batch rules of a dataset's ``history``)
keep the entries of their generation: they move with their rows, but whether the warehouse still sees one
depends on the deliveries around it. A pair defect's two records are of one unit (``generate._inject``),
so they move together.

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
    """Withhold, delay and repeat the units' reports of ``data`` (one generated working day) in place:
    its records and their ``row_truth``; the caller counts the truth again (``generate._day_truth``).

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
        notes = [data.row_truth[feed_id][i] for i in positions]
        regressions = {positions[i] for i in data.regression_rows.get(feed_id, ()) if i in positions}
        for kind, earlier in arrivals.items():
            sent = base(earlier)
            for i, rec in enumerate(sent.records.get(feed_id, ())):
                if fate(seed, earlier, feed_id, unit_of(rec.get(spec.district)), rates) == kind:
                    if i in sent.regression_rows.get(feed_id, ()):
                        regressions.add(len(kept))
                    kept.append(_sent_on(rec, spec.updated, earlier, day))
                    notes.append(sent.row_truth[feed_id][i])
        data.records[feed_id], data.row_truth[feed_id] = kept, notes
        if regressions or feed_id in data.regression_rows:
            data.regression_rows[feed_id] = regressions
        truth = data.truth["feeds"][feed_id]
        truth["reports_moved"] = True
        truth["report_defects"] = [{"unit": u, "period": day.isoformat(), "kind": k} for u, k in sorted(fates.items(), key=str) if k]


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
