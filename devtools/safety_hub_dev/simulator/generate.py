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

from safety_hub.domain.places import DISTRICTS, LEGACY_DISTRICTS
from safety_hub.domain.uscc import USCC_CHARSET, uscc_check_char
from safety_hub_dev.simulator import datasets  # noqa: F401  (registers every dataset)
from safety_hub_dev.simulator.enterprises import enterprise_pool, renames
from safety_hub_dev.simulator.spec import ACTIVE_PROFILE, SPECS, DatasetSpec
from safety_hub_dev.simulator.reports import summarise

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


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _break_check_char(uscc: str, rng: random.Random) -> str:
    wrong = [c for c in USCC_CHARSET if c != uscc[17]]
    return uscc[:17] + rng.choice(wrong)


def _inject(rng: random.Random, spec: DatasetSpec, records: list[dict], day: dt.date) -> tuple[list[dict], dict]:
    """Inject at most one defect per record; return delivered rows and truth for the feed."""
    delivered: list[dict] = []
    defects: list[dict] = []
    valid: list[tuple[str, str]] = []  # (key, uscc) of the rows expected to load, in delivery order
    clean: list[tuple[str, str, int]] = []  # entries of ``valid`` with no defect at all (pair partners)
    kinds = list(DEFECT_RATES)
    per_record = [d for d in spec.rule_defects if not d.history]  # history defects come from ``spec.history``
    for rec in records:
        roll, kind = rng.random(), None
        acc = 0.0
        for k in kinds:
            acc += DEFECT_RATES[k]
            if roll < acc:
                kind = k
                break
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
            if rec[early] == rec[late]:
                kind = None  # equal dates are in order
            else:
                expected_rule = rule
        elif kind == "rule_violation" and not per_record:
            kind = None
        elif kind == "resubmitted" and spec.resubmit_key is None:
            kind = None
        elif kind == "rule_violation":
            defect = rng.choice(per_record)
            if defect.pair:
                partner = clean.pop(rng.randrange(len(clean))) if clean else None
                applied = partner is not None and defect.apply(rng, rec, day, delivered[partner[2]])
            else:
                applied = defect.apply(rng, rec, day, None)
            if not applied:
                kind, partner = None, None
            else:
                kind = defect.kind
                if defect.severity == "warning":
                    expected_flag = defect.rule
                else:
                    expected_rule = defect.rule
                stage = defect.stage
                if partner is not None:  # the earlier clean record now breaks the rule too
                    entry = {"key": partner[0], "kind": kind, "expected_rule": expected_rule}
                    if expected_flag:
                        entry["expected_flag"] = expected_flag
                    defects.append(entry)
                    if expected_rule:
                        valid.remove(partner)
        key = _halfwidth(rec[spec.key]).strip()  # as delivered after the defect, normalised as the warehouse holds it
        if kind is not None and kind != "duplicate":
            entry = {"key": key, "kind": kind, "expected_rule": expected_rule}
            if expected_flag:
                entry["expected_flag"] = expected_flag
            if stage != "validate":
                entry["stage"] = stage
            defects.append(entry)
        delivered.append(rec)
        if expected_rule is None:
            valid.append((key, _halfwidth(rec[spec.uscc]), len(delivered) - 1))
            if kind is None:
                clean.append(valid[-1])
        if kind == "duplicate":
            resubmitted = dict(rec)
            resubmitted[spec.batch] = rec[spec.batch] + "-R"
            delivered.append(resubmitted)
            defects.append({"key": key, "kind": "duplicate", "expected_rule": None})
        if kind == "resubmitted":  # a valid record of its own, one hazard with the first in the warehouse
            again = dict(rec)
            again[spec.key], again[spec.batch] = spec.resubmit_key(rec[spec.key]), rec[spec.batch] + "-R"
            delivered.append(again)
            new_key = _halfwidth(again[spec.key]).strip()
            valid.append((new_key, _halfwidth(rec[spec.uscc]), len(delivered) - 1))
            defects[-1] = {"key": new_key, "kind": "resubmitted", "expected_rule": None, "same_as": key}
    valid_keys = sorted({k for k, _, _ in valid})
    truth = {
        "rows_delivered": len(delivered),
        "distinct_valid": len(valid_keys),
        "valid_keys": valid_keys,
        "valid_usccs": sorted({u for _, u, _ in valid}),
        "duplicates": sum(1 for d in defects if d["kind"] == "duplicate"),
        "defects": defects,
    }
    return delivered, truth


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


def _feed_day(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> tuple[list[dict], dict]:
    """One feed's delivery for ``day`` with its truth, before warehouse-stage defects."""
    profile = ACTIVE_PROFILE.get()
    if profile is None or (spec.history is None and spec.regress is None):  # no later day asks for this one
        return _feed_day_built(spec, day, seed, pool, scale)
    key = ("day", spec.feed_id, day, seed, scale, len(pool))
    if key not in _CACHE:
        _remember(key, _feed_day_built(spec, day, seed, pool, scale))
    delivered, truth = _CACHE[key]
    return list(delivered), {**truth, "defects": list(truth["defects"]), "valid_keys": list(truth["valid_keys"]),
                             "valid_usccs": list(truth["valid_usccs"])}


def _feed_day_built(spec: DatasetSpec, day: dt.date, seed: int, pool, scale: float) -> tuple[list[dict], dict]:
    rng = random.Random(f"{seed}:{day.isoformat()}:{spec.feed_id}")
    clean = spec.build(rng, day, pool, _count(spec, day, seed, scale))
    clean += _late_updates(spec, day, seed, pool, scale)
    return _inject(rng, spec, clean, day)


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
    (a late update) is not corrected again; a snapshot feed re-delivers every record anyway."""
    if spec.mode == "snapshot" or not (ACTIVE_PROFILE.get() is None or ACTIVE_PROFILE.get().corrections):
        return []
    present = {_halfwidth(str(r[spec.key])).strip() for r in today}
    out = []
    for after, share in CORRECTION_AFTER:
        earlier = _delivery_days_before(day, after)
        if earlier is None:
            continue
        rejected = {d["key"]: d["kind"] for d in _feed_day(spec, earlier, seed, pool, scale)[1]["defects"]
                    if d["kind"] in CORRECTED_KINDS and d["expected_rule"] and d["key"] and "stage" not in d}
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
    return spec.history(day, seed, pool, _count(spec, day, seed, scale), lambda d: _feed_day(spec, d, seed, pool, scale))


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
    feeds_truth = {}
    for feed_id, spec in specs.items():
        delivered, truth = _feed_day(spec, day, seed, pool, scale)
        for rec, origin in _regressions(spec, day, seed, pool, scale):
            data.regression_rows.setdefault(feed_id, set()).add(len(delivered))
            delivered.append(rec)
            truth["defects"].append({"key": _halfwidth(rec[spec.key]).strip(), "kind": "status_regression",
                                     "expected_rule": "status.no_regression", "stage": WAREHOUSE_STAGE, "origin_day": origin.isoformat()})
        valid, usccs = set(truth["valid_keys"]), set(truth["valid_usccs"])
        truth["corrections"] = []
        for rec, earlier, kind in _corrections(spec, day, seed, pool, scale, delivered):
            delivered.append(rec)
            key = _halfwidth(rec[spec.key]).strip()
            truth["corrections"].append({"key": key, "rejected_on": earlier.isoformat(), "kind": kind})
            valid.add(key)
            usccs.add(_halfwidth(rec[spec.uscc]))
        for rec, defect in _history(spec, day, seed, pool, scale):
            delivered.append(rec)
            key = _halfwidth(rec[spec.key]).strip()
            if defect is not None:
                truth["defects"].append({"key": key, **defect})
            if defect is None or not defect.get("expected_rule"):  # a clean partner or a warning: it loads
                valid.add(key)
                usccs.add(_halfwidth(rec[spec.uscc]))
        truth.update(valid_keys=sorted(valid), distinct_valid=len(valid), valid_usccs=sorted(usccs))
        truth["rows_delivered"] = len(delivered)
        truth["reports"] = summarise(delivered, spec, day)  # per reporting unit and day reported for (simulator/reports.py)
        # 信息缺失: per agency field, the delivered records that fill it (not missing, not empty text)
        fields = dict.fromkeys(f for rec in delivered for f in rec)
        truth["filled"] = {f: sum(1 for rec in delivered if rec.get(f) not in (None, "")) for f in fields}
        data.records[feed_id] = delivered
        feeds_truth[feed_id] = truth
    data.truth = {
        "date": day.isoformat(),
        "seed": seed,
        "feeds": feeds_truth,
        "valid_usccs": sorted({u for t in feeds_truth.values() for u in t["valid_usccs"]}),
        # Enterprise resolution: who was renamed, and whose records a broken USCC hides.
        "renames": renames(pool),
        "uscc_defects": _uscc_defects(data.records, feeds_truth),
    }
    return data


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
