"""The simulator's missed, late and repeated reports (``simulator/reports.py``): the truth manifest follows the rows.

Over the span of ``tests/e2e/test_reporting_status.py`` (国庆 and its make-up Saturday), a profile with
``report_rates`` and corrections against the same profile with rates of nought (every report on its day):
each day's per-record truth must be what the rows it delivers carry, the day's own rows of the units that
reported on time, the rows of units repeating yesterday's report and those of units two working days late.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

import pytest

from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.profile import get_profile
from safety_hub_dev.simulator.reports import LATE_BY, unit_of, working_days_before
from safety_hub_dev.simulator.spec import SPECS

D = dt.date
DAYS = [D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9), D(2026, 10, 10), D(2026, 10, 12)]
FEEDS = ("hcc_hazard", "tc_dg_waybill", "hcc_project")
RATES = {"missed": 0.06, "late": 0.06, "repeated": 0.06}


def _profile(rates: dict):
    city = get_profile("city")
    return replace(city, name=f"city-reports-{sum(rates.values())}", volumes={**city.volumes, "hcc_hazard": 48, "tc_dg_waybill": 48,
                   "hcc_project": 40}, knobs={**city.knobs, "report_rates": rates}, corrections=True)


@pytest.fixture(scope="module")
def span():
    """(moved, on time): each working day of the span and the two before it, under both profiles."""
    days = sorted({*DAYS, working_days_before(DAYS[0], 1), working_days_before(DAYS[0], LATE_BY)})
    moved, on_time = _profile(RATES), _profile({k: 0.0 for k in RATES})
    return ({d: generate_day(d, profile=moved, feeds=FEEDS) for d in days},
            {d: generate_day(d, profile=on_time, feeds=FEEDS) for d in days})


def _key(spec, row: dict) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in str(row[spec.key])).strip()


def _defects_sent(on_time, moved, feed_id: str, day: dt.date) -> Counter:
    """(key, kind) of the defects the rows ``day``'s delivery should hold: the day's own of the units that
    reported on time or twice, yesterday's of those that repeated, those of two working days back sent late."""
    spec, out = SPECS[feed_id], Counter()
    for sent_on, kinds in ((day, {None, "repeated"}), (working_days_before(day, 1), {"repeated"}),
                           (working_days_before(day, LATE_BY), {"late"})):
        fates = {d["unit"]: d["kind"] for d in moved[sent_on].truth["feeds"][feed_id]["report_defects"]}
        unit = {_key(spec, r): unit_of(r.get(spec.district)) for r in on_time[sent_on].records[feed_id]}
        out.update((d["key"], d["kind"]) for d in on_time[sent_on].truth["feeds"][feed_id]["defects"] if fates.get(unit[d["key"]]) in kinds)
    return out


@pytest.mark.parametrize("feed_id", FEEDS)
def test_each_days_truth_is_what_its_rows_carry(span, feed_id):
    moved, on_time = span
    spec = SPECS[feed_id]
    fates = Counter()
    for day in DAYS:
        rows, truth = moved[day].records[feed_id], moved[day].truth["feeds"][feed_id]
        fates.update(d["kind"] for d in truth["report_defects"])
        assert truth["reports_moved"] and truth["rows_delivered"] == len(rows)
        assert Counter((d["key"], d["kind"]) for d in truth["defects"]) == _defects_sent(on_time, moved, feed_id, day), day
        keys = {_key(spec, r) for r in rows}
        assert set(truth["valid_keys"]) <= keys and {c["key"] for c in truth["corrections"]} <= set(truth["valid_keys"]), day
        assert truth["distinct_valid"] == len(truth["valid_keys"]) and truth["valid_usccs"]
        assert truth["filled"] == {f: sum(1 for r in rows if r.get(f) not in (None, "")) for f in dict.fromkeys(f for r in rows for f in r)}
        # a withheld unit's rows of the day are in no delivery of the day
        withheld = {d["unit"] for d in truth["report_defects"] if d["kind"] in ("missed", "late")}
        gone = {_key(spec, r) for r in on_time[day].records[feed_id] if unit_of(r.get(spec.district)) in withheld} - keys
        assert not gone & (set(truth["valid_keys"]) | {d["key"] for d in truth["defects"]}), day
    assert fates["missed"] and fates["late"] and fates["repeated"], fates


def test_only_rejections_the_agency_received_are_corrected(span):
    """A record is corrected only when its rejection was delivered on its day (not in a report withheld or
    sent late), across the holidays too; its correction is a row that loads."""
    moved, _ = span
    corrected = []
    for day in DAYS:
        for feed_id in FEEDS:
            valid = set(moved[day].truth["feeds"][feed_id]["valid_keys"])
            for c in moved[day].truth["feeds"][feed_id]["corrections"]:
                rejected_on = D.fromisoformat(c["rejected_on"])
                assert c["key"] in valid
                if rejected_on in moved:
                    rejected = {d["key"] for d in moved[rejected_on].truth["feeds"][feed_id]["defects"] if d["expected_rule"] and "stage" not in d}
                    assert c["key"] in rejected, c
                    corrected.append((rejected_on, day))
    assert (D(2026, 9, 30), D(2026, 10, 8)) in corrected and any(day == D(2026, 10, 10) for _, day in corrected)


def test_the_default_profile_has_no_report_fates():
    data = generate_day(D(2026, 11, 2))
    assert all("reports_moved" not in t and "report_defects" not in t for t in data.truth["feeds"].values())
