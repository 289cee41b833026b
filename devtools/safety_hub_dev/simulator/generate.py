"""One business day of every agency's records, with injected defects and the truth.

Records are produced in each agency's own field names (pinyin JSON keys for the
EMB API, Chinese CSV headers for HCC, upper-case columns in the TC database):
the simulator does not read the feed registry, so a wrong mapping there is a
bug the tests catch. Every defective record carries exactly one defect, and the
truth manifest names the key, the defect kind and the rule expected to catch it.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from safety_hub.domain.dates import parse_date
from safety_hub.domain.places import DISTRICTS, LEGACY_DISTRICTS
from safety_hub.domain.uscc import USCC_CHARSET, uscc_check_char
from safety_hub_dev.simulator import datasets  # noqa: F401  (registers every dataset)
from safety_hub_dev.simulator.enterprises import enterprise_pool, renames
from safety_hub_dev.simulator.spec import ACTIVE_PROFILE, SPECS, DatasetSpec
from safety_hub_dev.simulator.reports import fate, summarise, unit_of

DEFAULT_SEED = 20261101
# Per-kind injection rates (DOMAIN.md: each defect type at 2-5%).
DEFECT_RATES = {
    "duplicate": 0.04,
    "invalid_uscc": 0.03,
    "missing_required": 0.03,
    "fullwidth": 0.04,
    "unknown_district": 0.02,
    "legacy_district": 0.04,
    "date_order": 0.03,
    "rule_violation": 0.04,  # one of the dataset's own RuleDefects (bad plate, supervised 一般 hazard, ...)
    "resubmitted": 0.02,  # the same record again under a new number (datasets with ``resubmit_key``)
}
# Defects only the warehouse can see (it compares a record with its earlier versions);
# validating one batch cannot catch them.
WAREHOUSE_STAGE = "warehouse"
# Defects the pipeline repairs: the record stays valid.
REPAIRABLE = {"fullwidth", "legacy_district"}
# Rejections the agency corrects: a record rejected for one of these kinds is delivered again, corrected,
# one or two delivery days later (share per days after), or never (the rest). Deterministic per (seed, feed, day, key).
CORRECTED_KINDS = frozenset({"invalid_uscc", "missing_required", "unknown_district", "date_order"})
CORRECTION_AFTER = ((1, 0.5), (2, 0.25))  # (delivery days after the rejection, share of the rejected records)
# 信息缺失: the share of clean records on which each optional data item is left empty (``_blank_items``).
BLANK_RATE = 0.02
_LEGACY_BY_CURRENT: dict[str, list[str]] = {}
for _old, _new in LEGACY_DISTRICTS.items():
    _LEGACY_BY_CURRENT.setdefault(_new, []).append(_old)


@dataclass
class DayData:
    """One day: records per feed (agency layout) and the ground-truth manifest."""

    day: dt.date
    seed: int
    records: dict[str, list[dict]] = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    # feed -> positions in ``records`` of the rows re-delivered with an earlier status (they do not load)
    regression_rows: dict[str, set[int]] = field(default_factory=dict)
    # feed -> what each row of ``records`` contributes to the truth, position by position (``RowTruth``)
    row_truth: dict[str, list["RowTruth"]] = field(default_factory=dict)


@dataclass
class RowTruth:
    """What one delivered row contributes to its delivery's truth: its key and USCC as the warehouse holds
    them, whether it loads (no validation rule rejects it), its defect entries, each numbered (the day
    generated, then a counter) in the order its day's generation injected them, and, for a corrected record,
    its correction entry. A row moved to another day's delivery (``reports.inject``) takes its ``RowTruth``
    with it, and the truth is computed again from the rows delivered (``delivery_truth``)."""

    key: str
    uscc: str
    loads: bool
    defects: list[tuple[tuple[str, int], dict]] = field(default_factory=list)
    correction: dict | None = None


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _break_check_char(uscc: str, rng: random.Random) -> str:
    wrong = [c for c in USCC_CHARSET if c != uscc[17]]
    return uscc[:17] + rng.choice(wrong)


def _inject(rng: random.Random, spec: DatasetSpec, records: list[dict], day: dt.date) -> tuple[list[dict], list[RowTruth]]:
    """Inject at most one defect per record; return the delivered rows and each row's truth."""
    delivered: list[dict] = []
    notes: list[RowTruth] = []
    order = iter(range(1 << 62))  # the defect entries' order of injection

    def note(entry: dict, row: int) -> None:
        notes[row].defects.append(((day.isoformat(), next(order)), entry))

    clean: list[int] = []  # positions of the rows with no defect at all (pair partners)
    kinds = list(DEFECT_RATES)
    per_record = [d for d in spec.rule_defects if not d.history]  # history defects come from ``spec.history``
    # When reports move (a profile's ``report_rates``: a unit's rows withheld or delivered on another day), a
    # pair's two records are of one reporting unit, so they travel together and the pair stays in one delivery.
    profile = ACTIVE_PROFILE.get()
    same_unit = profile is not None and bool(profile.knobs.get("report_rates"))
    # A small ledger's rule defect of the day (``DatasetSpec.rule_defect_each_day``): carried by the middle
    # record, or the first after it that can carry it (a pair defect needs an earlier clean partner).
    forced = per_record[day.toordinal() % len(per_record)] if spec.rule_defect_each_day and per_record else None
    for position, rec in enumerate(records):
        roll, kind = rng.random(), None
        acc = 0.0
        for k in kinds:
            acc += DEFECT_RATES[k]
            if roll < acc:
                kind = k
                break
        forcing = forced is not None and position >= len(records) // 2
        if forcing:
            kind = "rule_violation"
        rec = dict(rec)
        expected_rule = expected_flag = None
        partner, stage = None, "validate"
        if kind == "invalid_uscc":
            rec[spec.uscc] = _break_check_char(rec[spec.uscc], rng)
            expected_rule = "uscc.valid_uscc"
        elif kind == "missing_required":
            field_name, column = rng.choice(spec.required)
            rec[field_name] = None if rng.random() < 0.5 else ""
            expected_rule = f"{column}.required"
        elif kind == "fullwidth":
            rec[spec.uscc] = _fullwidth(rec[spec.uscc])
            rec[spec.name] = rec[spec.name].replace("(", "（").replace(")", "）") + "　"
        elif kind == "unknown_district":
            rec[spec.district] = rng.choice(["120199", "120300", "999999"])
            expected_rule = "district_code.known_district"
        elif kind == "legacy_district":
            current = rec[spec.district] if rec[spec.district] in DISTRICTS else None
            if current and current in _LEGACY_BY_CURRENT:
                rec[spec.district] = rng.choice(_LEGACY_BY_CURRENT[current])
            else:
                kind = None  # this district has no legacy code: record stays clean
        elif kind == "date_order" and spec.date_order is None:
            kind = None
        elif kind == "date_order":
            early, late, rule = spec.date_order
            rec[early], rec[late] = rec[late], rec[early]
            if parse_date(rec[early]) == parse_date(rec[late]):
                kind = None  # equal dates are in order (one day in two spellings too)
            else:
                expected_rule = rule
        elif kind == "rule_violation" and not per_record:
            kind = None
        elif kind == "resubmitted" and spec.resubmit_key is None:
            kind = None
        elif kind == "rule_violation":
            defect = forced if forcing else rng.choice(per_record)
            if defect.pair:
                candidates = [i for i, p in enumerate(clean) if unit_of(delivered[p].get(spec.district)) == unit_of(rec.get(spec.district))] \
                    if same_unit else range(len(clean))
                partner = clean.pop(candidates[rng.randrange(len(candidates))]) if candidates else None
                applied = partner is not None and defect.apply(rng, rec, day, delivered[partner])
            else:
                applied = defect.apply(rng, rec, day, None)
            if not applied:
                kind, partner = None, None
            else:
                kind = defect.kind
                if forcing:
                    forced = None
                if defect.severity == "warning":
                    expected_flag = defect.rule
                else:
                    expected_rule = defect.rule
                stage = defect.stage
                if partner is not None:  # the earlier clean record now breaks the rule too
                    entry = {"key": notes[partner].key, "kind": kind, "expected_rule": expected_rule}
                    if expected_flag:
                        entry["expected_flag"] = expected_flag
                    note(entry, partner)
                    if expected_rule:
                        notes[partner].loads = False
        key = _halfwidth(rec[spec.key]).strip()  # as delivered after the defect, normalised as the warehouse holds it
        delivered.append(rec)
        notes.append(RowTruth(key, _halfwidth(rec[spec.uscc]), loads=expected_rule is None))
        if kind == "resubmitted":  # a valid record of its own, one hazard with the first in the warehouse
            again = dict(rec)
            again[spec.key], again[spec.batch] = spec.resubmit_key(rec[spec.key]), rec[spec.batch] + "-R"
            delivered.append(again)
            new_key = _halfwidth(again[spec.key]).strip()
            notes.append(RowTruth(new_key, _halfwidth(rec[spec.uscc]), loads=True))
            note({"key": new_key, "kind": "resubmitted", "expected_rule": None, "same_as": key}, len(delivered) - 1)
        elif kind is not None and kind != "duplicate":
            entry = {"key": key, "kind": kind, "expected_rule": expected_rule}
            if expected_flag:
                entry["expected_flag"] = expected_flag
            if stage != "validate":
                entry["stage"] = stage
            note(entry, len(delivered) - 1)
        if kind is None and expected_rule is None:
            clean.append(len(delivered) - 1)
        if kind == "duplicate":
            resubmitted = dict(rec)
            resubmitted[spec.batch] = rec[spec.batch] + "-R"
            delivered.append(resubmitted)
            notes.append(RowTruth(key, notes[-1].uscc, loads=True))
            note({"key": key, "kind": "duplicate", "expected_rule": None}, len(delivered) - 1)
    return delivered, notes


def _blank_items(spec: DatasetSpec, day: dt.date, seed: int, rows: list[dict], notes: list[RowTruth]) -> None:
    """信息缺失: leave each optional data item of the feed (``spec.optional``) empty on some of the day's
    records, in place: each filled one at ``BLANK_RATE``, and at least one a day. Only clean records whose
    key occurs once in the delivery and in no defect entry are blanked, never where a rule requires the item
    (``spec.filled_if``), so no rule fires and no injected defect changes: the truth's ``filled`` counts
    them (``delivery_truth``). Deterministic per (seed, day, feed), its own draws."""
    if not spec.optional:
        return
    rng = random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}:blank")
    named = {entry.get(f) for n in notes for _, entry in n.defects for f in ("key", "same_as", "partner")}
    counts: dict[str, int] = {}
    for n in notes:
        counts[n.key] = counts.get(n.key, 0) + 1
    eligible = [i for i, n in enumerate(notes) if n.loads and not n.defects and counts[n.key] == 1 and n.key not in named]
    keep = dict(spec.filled_if)
    for item in spec.optional:
        candidates = [i for i in eligible if rows[i].get(item) not in (None, "") and not (item in keep and keep[item](rows[i]))]
        if not candidates:
            continue
        chosen = [i for i in candidates if rng.random() < BLANK_RATE] or [rng.choice(candidates)]
        for i in chosen:
            rows[i] = {**rows[i], item: None}


def record_truth(notes: list[RowTruth]) -> dict:
    """The truth of a delivery record by record, from its rows' ``RowTruth`` in delivery order: the keys
    and USCCs that load, the defects (in their order of injection) and the corrections it holds."""
    days: dict[str, int] = {}
    for n in notes:
        for (day, _), _ in n.defects:
            days.setdefault(day, len(days))
    entries = sorted((((days[day], i), entry) for n in notes for (day, i), entry in n.defects), key=lambda e: e[0])
    defects = [entry for _, entry in entries]
    valid_keys = sorted({n.key for n in notes if n.loads})
    return {
        "rows_delivered": len(notes),
        "distinct_valid": len(valid_keys),
        "valid_keys": valid_keys,
        "valid_usccs": sorted({n.uscc for n in notes if n.loads}),
        "duplicates": sum(1 for d in defects if d["kind"] == "duplicate"),
        "defects": defects,
        "corrections": [n.correction for n in notes if n.correction is not None],
    }


def delivery_truth(spec: DatasetSpec, day: dt.date, rows: list[dict], notes: list[RowTruth]) -> dict:
    """One feed's truth for the delivery of ``day``: ``record_truth``, what it holds per reporting unit and
    day reported for (``reports.summarise``) and, per agency field, the records that fill it."""
    truth = record_truth(notes)
    truth["reports"] = summarise(rows, spec, day)  # per reporting unit and day reported for (simulator/reports.py)
    # 信息缺失: per agency field, the delivered records that fill it (not missing, not empty text)
    fields = dict.fromkeys(f for rec in rows for f in rec)
    truth["filled"] = {f: sum(1 for rec in rows if rec.get(f) not in (None, "")) for f in fields}
    return truth


def _halfwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in text)


def _late_updates(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> list[dict]:
    """Earlier days' clean records moved on in their lifecycle, delivered again today."""
    if spec.late_update is None or spec.late_update_share <= 0:
        return []
    rng = random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}:late")
    updates = []
    for back in range(1, spec.late_update_days + 1):
        earlier = day - dt.timedelta(days=back)
        # The earlier day's clean records: its builder is the first user of that day's rng.
        original = _built(spec, earlier, seed, pool, scale)
        if spec.late_update_share >= 1:  # every record asks (a profile's lifecycle); the update copies what it changes
            updates += [u for u in (spec.late_update(rng, rec, day) for rec in original) if u is not None]
            continue
        for rec in original:
            if rng.random() < spec.late_update_share:
                updated = spec.late_update(rng, dict(rec), day)
                if updated is not None:
                    updates.append(updated)
    return updates


def _feed_day(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> tuple[list[dict], dict, list[RowTruth]]:
    """One feed's delivery for ``day`` with its truth (``record_truth``) and its rows' truth, before
    warehouse-stage defects and corrections."""
    profile = ACTIVE_PROFILE.get()
    if profile is None or (spec.history is None and spec.regress is None):  # no later day asks for this one
        return _feed_day_built(spec, day, seed, pool, scale)
    key = ("day", spec.feed_id, day, seed, scale, len(pool))
    if key not in _CACHE:
        _remember(key, _feed_day_built(spec, day, seed, pool, scale))
    delivered, truth, notes = _CACHE[key]
    return list(delivered), {**truth, "defects": list(truth["defects"]), "valid_keys": list(truth["valid_keys"]),
                             "valid_usccs": list(truth["valid_usccs"])}, list(notes)


def _feed_day_built(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> tuple[list[dict], dict, list[RowTruth]]:
    rng = random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}")
    clean = spec.build(rng, day, pool, _count(spec, day, seed, scale))
    clean += _late_updates(spec, day, seed, pool, scale)
    delivered, notes = _inject(rng, spec, clean, day)
    _blank_items(spec, day, seed, delivered, notes)
    return delivered, record_truth(notes), notes


def _count(spec: DatasetSpec, day: dt.date, seed: int, scale: float) -> int:
    """How many records the feed builds for ``day``: the spec's volume, or the active profile's for that day."""
    profile = ACTIVE_PROFILE.get()
    if profile is None:
        return max(1, int(spec.volume * scale))
    return profile.volume(spec.feed_id, day, seed, max(1, int(spec.volume * scale)))


# Under a profile, earlier days' builds and deliveries (late updates, regressions and history look
# back up to two months) are kept for the next days; the default profile recomputes them as before.
# Only the feeds that look back are kept (the hazard ledgers' builds, the deliveries of feeds with
# regressions or history): ~70 days of them.
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZES = {"build": 2 * 70, "day": 3 * 4}  # two ledgers' builds for 70 days; three feeds' deliveries for 4 days


def _remember(key, value) -> None:
    _CACHE[key] = value
    kept = [k for k in _CACHE if k[0] == key[0]]
    for old in kept[: max(0, len(kept) - _CACHE_SIZES[key[0]])]:
        del _CACHE[old]


def _built(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> list[dict]:
    """The clean records the feed's builder makes for ``day`` (its rng's first user); callers copy before editing one."""
    if ACTIVE_PROFILE.get() is None:
        return spec.build(random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}"), day, pool, max(1, int(spec.volume * scale)))
    key = ("build", spec.feed_id, day, seed, scale, len(pool))
    if key not in _CACHE:
        _remember(key, spec.build(random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}"), day, pool, _count(spec, day, seed, scale)))
    return _CACHE[key]


def _regressions(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> list[tuple[dict, dt.date]]:
    """Records closed and loaded on one of the two previous days, re-delivered today with an earlier status."""
    if spec.regress is None or spec.regress_share <= 0:
        return []
    rng = random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}:regress")
    out = []
    for back in (1, 2):
        earlier = day - dt.timedelta(days=back)
        original = _built(spec, earlier, seed, pool, scale)
        loaded = set(_feed_day(spec, earlier, seed, pool, scale)[1]["valid_keys"])  # a defect there: nothing to regress from
        for rec in original:
            if rng.random() < spec.regress_share and _halfwidth(rec[spec.key]).strip() in loaded:
                regressed = spec.regress(rng, dict(rec), day)
                if regressed is not None:
                    out.append((regressed, earlier))
    return out


def _corrections(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float, today: list[dict]) -> list[tuple[dict, dt.date, str]]:
    """Records rejected one or two delivery days ago (``CORRECTED_KINDS``), delivered again today as built:
    (the corrected record, the day it was rejected, the defect kind). The rejected day's delivery is taken
    before its own corrections (no chain back through every earlier day); a key delivered today already
    (a late update) is not corrected again; a snapshot feed re-delivers every record anyway. When reports
    move (a profile's ``report_rates``), only a rejection the agency received is corrected: a record of a
    unit whose report of that day was withheld or sent late (``reports.fate``) was not rejected on its day."""
    profile = ACTIVE_PROFILE.get()
    if spec.mode == "snapshot" or not (profile is None or profile.corrections):
        return []
    rates = profile.knobs.get("report_rates") if profile is not None else None
    present = {_halfwidth(str(r[spec.key])).strip() for r in today}
    out = []
    for after, share in CORRECTION_AFTER:
        earlier = _delivery_days_before(day, after)
        if earlier is None:
            continue
        delivered, truth, _ = _feed_day(spec, earlier, seed, pool, scale)
        rejected = {d["key"]: d["kind"] for d in truth["defects"]
                    if d["kind"] in CORRECTED_KINDS and d["expected_rule"] and d["key"] and "stage" not in d}
        if rates:
            held = {_halfwidth(str(r[spec.key])).strip() for r in delivered
                    if fate(seed, earlier, spec.feed_id, unit_of(r.get(spec.district)), rates) in ("missed", "late")}
            rejected = {k: v for k, v in rejected.items() if k not in held}
        if not rejected:
            continue
        built = {_halfwidth(str(r[spec.key])).strip(): r for r in _built(spec, earlier, seed, pool, scale)}
        built.update({_halfwidth(str(r[spec.key])).strip(): r for r in _late_updates(spec, earlier, seed, pool, scale)})
        for key in sorted(rejected):
            if key in present or key not in built or _correction_delay(seed, spec.feed_id, earlier, key) != after:
                continue
            present.add(key)
            fixed = dict(built[key])
            fixed[spec.updated] = day.isoformat() + str(fixed[spec.updated])[10:]  # corrected today: an update of today
            out.append((fixed, earlier, rejected[key]))
    return out


def _correction_delay(seed: int, feed_id: str, rejected_on: dt.date, key: str) -> int | None:
    """After how many delivery days the agency corrects this rejected record (None: never)."""
    roll = random.Random(f"{seed}:{rejected_on.isoformat()}:{feed_id}:{key}:correct").random()
    acc = 0.0
    for after, share in CORRECTION_AFTER:
        acc += share
        if roll < acc:
            return after
    return None


def _delivery_days_before(day: dt.date, n: int) -> dt.date | None:
    """The ``n``-th delivery day before ``day``: calendar days without a profile, working days under one."""
    if ACTIVE_PROFILE.get() is None:
        return day - dt.timedelta(days=n)
    from safety_hub.domain.workdays import previous_business_day

    for _ in range(n):
        day = previous_business_day(day)
    return day


def _history(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> list[tuple[dict, dict | None]]:
    """Records with defects only the warehouse's history shows (and their clean partners), delivered today."""
    if spec.history is None:
        return []
    return spec.history(day, seed, pool, _count(spec, day, seed, scale), lambda d: _feed_day(spec, d, seed, pool, scale)[:2])


def generate_day(day: dt.date, seed: int = DEFAULT_SEED, scale: float = 1.0, profile=None, feeds=None) -> DayData:
    """Deterministic: the same (seed, day, scale, profile) always gives the same bytes.

    ``profile``: None (the demo's, every feed its spec's volume every day) or a ``profile.Profile``
    or its name ("city": working days only, see ``profile``); ``feeds`` (a profile only): just these feeds.
    """
    from safety_hub_dev.simulator.profile import get_profile

    profile = get_profile(profile)
    if profile is None:
        return _generate_day(day, seed, scale, SPECS, enterprise_pool(seed))
    from safety_hub.domain.workdays import holiday_name, is_business_day

    if not is_business_day(day):  # weekends and statutory holidays: no agency delivers
        return DayData(day=day, seed=seed, truth={"date": day.isoformat(), "seed": seed, "profile": profile.name,
                                                  "business_day": False, "holiday": holiday_name(day), "feeds": {}})
    token = ACTIVE_PROFILE.set(profile)
    try:
        specs = {f: profile.spec(s) for f, s in SPECS.items() if feeds is None or f in feeds}
        data = _generate_day(day, seed, scale, specs, _pool(seed, profile.pool_size))
        rates = profile.knobs.get("report_rates")
        if rates:  # missed, late and repeated reports (simulator/reports.py)
            from safety_hub_dev.simulator.reports import inject  # noqa: PLC0415

            inject(data, lambda d: _base_day(d, seed, scale, specs, profile), seed, rates)
            # the truth of what each delivery now holds: its rows' truth, counted as at generation
            _day_truth(data, specs, _pool(seed, profile.pool_size))
    finally:
        ACTIVE_PROFILE.reset(token)
    data.truth = {"date": data.truth.pop("date"), "seed": data.truth.pop("seed"), "profile": profile.name, "business_day": True,
                  "holiday": holiday_name(day), **data.truth}
    return data


def _base_day(day: dt.date, seed: int, scale: float, specs: dict[str, DatasetSpec], profile) -> DayData:
    """A working day as generated before reports were withheld or moved (kept for the next days' arrivals)."""
    key = ("base", day, seed, scale, profile.name, tuple(specs))
    if key not in _CACHE:
        _CACHE[key] = _generate_day(day, seed, scale, specs, _pool(seed, profile.pool_size))
        kept = [k for k in _CACHE if k[0] == "base"]
        for old in kept[: max(0, len(kept) - 4)]:
            del _CACHE[old]
    return _CACHE[key]


def _pool(seed: int, size: int):
    key = ("pool", seed, size)
    if key not in _CACHE:
        _CACHE[key] = enterprise_pool(seed, size)
    return _CACHE[key]


def _generate_day(day: dt.date, seed: int, scale: float, specs: dict[str, DatasetSpec], pool) -> DayData:
    data = DayData(day=day, seed=seed)
    for feed_id, spec in specs.items():
        delivered, _, notes = _feed_day(spec, day, seed, pool, scale)
        order = iter(range(max((i for n in notes for (_, i), _ in n.defects), default=-1) + 1, 1 << 62))  # after _inject's
        for rec, origin in _regressions(spec, day, seed, pool, scale):
            data.regression_rows.setdefault(feed_id, set()).add(len(delivered))
            delivered.append(rec)
            key = _halfwidth(rec[spec.key]).strip()
            notes.append(RowTruth(key, _halfwidth(rec[spec.uscc]), loads=False, defects=[((day.isoformat(), next(order)), {
                "key": key, "kind": "status_regression", "expected_rule": "status.no_regression", "stage": WAREHOUSE_STAGE,
                "origin_day": origin.isoformat()})]))
        for rec, earlier, kind in _corrections(spec, day, seed, pool, scale, delivered):
            delivered.append(rec)
            key = _halfwidth(rec[spec.key]).strip()
            notes.append(RowTruth(key, _halfwidth(rec[spec.uscc]), loads=True,
                                  correction={"key": key, "rejected_on": earlier.isoformat(), "kind": kind}))
        for rec, defect in _history(spec, day, seed, pool, scale):
            delivered.append(rec)
            key = _halfwidth(rec[spec.key]).strip()
            # a clean partner or a warning loads
            notes.append(RowTruth(key, _halfwidth(rec[spec.uscc]), loads=defect is None or not defect.get("expected_rule"),
                                  defects=[] if defect is None else [((day.isoformat(), next(order)), {"key": key, **defect})]))
        data.records[feed_id] = delivered
        data.row_truth[feed_id] = notes
    data.truth = {"date": day.isoformat(), "seed": seed}
    _day_truth(data, specs, pool)
    return data


def _day_truth(data: DayData, specs: dict[str, DatasetSpec], pool) -> None:
    """(Re)compute ``data.truth`` from the rows it delivers and their ``RowTruth``: per feed
    ``delivery_truth`` (a feed's earlier entries, such as the report fates, kept), then the whole day's."""
    feeds_truth = data.truth.setdefault("feeds", {})
    for feed_id, spec in specs.items():
        feeds_truth.setdefault(feed_id, {}).update(delivery_truth(spec, data.day, data.records[feed_id], data.row_truth[feed_id]))
    data.truth.update({
        "valid_usccs": sorted({u for t in feeds_truth.values() for u in t["valid_usccs"]}),
        # Enterprise resolution: who was renamed, and whose records a broken USCC hides.
        "renames": renames(pool),
        "uscc_defects": _uscc_defects(data.records, feeds_truth),
    })


def _uscc_defects(records: dict[str, list[dict]], feeds_truth: dict) -> list[dict]:
    """Records quarantined for a broken USCC check character, with the true USCC (the check character
    corrected: ``_break_check_char`` changes nothing else) and the name and district they were delivered with."""
    out = []
    for feed_id, truth in feeds_truth.items():
        spec = SPECS[feed_id]
        broken = {d["key"] for d in truth["defects"] if d["kind"] == "invalid_uscc" and d["expected_rule"] == "uscc.valid_uscc"}
        seen: set[str] = set()
        for rec in records[feed_id]:
            key = _halfwidth(str(rec[spec.key])).strip()
            if key in broken and key not in seen:
                seen.add(key)
                code = _halfwidth(str(rec[spec.uscc])).strip().upper()
                out.append({"feed_id": feed_id, "key": key, "delivered_uscc": code, "uscc": code[:17] + uscc_check_char(code[:17]),
                            "org_name": rec[spec.name], "district": rec[spec.district]})
    return out
