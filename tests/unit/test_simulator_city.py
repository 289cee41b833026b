"""The simulator's city profile: calibrated to a city's annual figures on the statutory calendar.

Runs on the simulator alone (no pipeline): the year's expected volumes from the profile, a whole
simulated year of the enforcement and insurance feeds, a sample window of the hazard ledgers, and
the demo's default profile held byte for byte to what it generated before the profile existed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import pytest

from safety_hub_dev.simulator import generate_day
from safety_hub_dev.simulator.datasets import emb
from safety_hub_dev.simulator.generate import DEFAULT_SEED
from safety_hub_dev.simulator.profile import (_LEDGERS, FIGURE_FEEDS, TARGETS, PeriodFigures, _identity, _valid_rows, day_figures,
                                              delivery_figures, get_profile, merge_day_figures)
from safety_hub_dev.simulator.spec import SPECS
from safety_hub.domain.workdays import business_days, is_business_day

YEAR = 2026
CITY = get_profile("city")
DAYS = business_days(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))


def _within(value: float, target: float, tolerance: float = 0.05) -> bool:
    return abs(value - target) <= tolerance * target


def _expected(feed_id: str) -> float:
    return sum(CITY.expected(feed_id, d, SPECS[feed_id].volume) for d in DAYS)


# sha256 of each day's records and truth under the default profile, over the feeds there were before the
# campaign feeds: a feed added since brings its own records (its rng is its own) and adds to the truth's lists
# over every feed, so the digest covers those feeds' records and truth, the renames, the date and the seed.
# Changed on purpose when rejected records came back corrected (``generate.CORRECTION_AFTER``) and the truth
# counted filled fields, and again when every optional data item was left empty on some clean records
# (``generate.BLANK_RATE``) and a small ledger carried one of its rule defects a day
# (``DatasetSpec.rule_defect_each_day``); the city profile changes none of it.
DIGESTED_FEEDS = (
    "agri_fishing_vessel", "emb_accident", "emb_enforcement", "emb_ent_registry", "emb_hazard", "emb_insurance", "emb_policy_measure",
    "hcc_gas_inspection", "hcc_hazard", "hcc_major_hazard_work", "hcc_project", "tc_dg_vehicle", "tc_dg_waybill", "tc_rail_hazard",
    "tc_rail_segment_chief",
)
DEMO_DIGESTS = {
    "2026-11-01": "d6485bc41bf66736d36233b2a9ab4c553ac08cab0d7cb560ba643c01c720a587",
    "2026-11-02": "8d086fc9efa505c29a3f7116daec03c654e59f2d47c3d5f6162cc4354a1dee19",
    "2026-11-03": "f2ad7bcda436808166a91d8cf07d83f858b699f384eea1c3fb3f650a837b4fec",
    "2026-11-04": "f636c076caa94c2d213ff06e79e4943751d013f3d8c1e1ede95ef2acb2a02f9e",
}


@pytest.mark.parametrize("day", sorted(DEMO_DIGESTS))
def test_default_profile_unchanged(day):
    data = generate_day(dt.date.fromisoformat(day))
    part = [{f: data.records[f] for f in DIGESTED_FEEDS}, {f: data.truth["feeds"][f] for f in DIGESTED_FEEDS},
            data.truth["renames"], data.truth["date"], data.truth["seed"]]
    digest = hashlib.sha256(json.dumps(part, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    assert digest == DEMO_DIGESTS[day]
    assert "profile" not in data.truth


def test_statutory_calendar():
    festival, makeup_saturday, sunday = dt.date(2026, 2, 17), dt.date(2026, 2, 14), dt.date(2026, 2, 22)
    assert not is_business_day(festival) and is_business_day(makeup_saturday) and not is_business_day(sunday)
    off = generate_day(festival, profile="city")
    assert off.records == {} and off.truth["business_day"] is False and off.truth["holiday"] == "Spring Festival"
    assert generate_day(sunday, profile="city").records == {}
    on = generate_day(makeup_saturday, profile="city", feeds=("tc_dg_waybill", "emb_enforcement"))
    assert on.truth["business_day"] is True
    assert len(on.records["tc_dg_waybill"]) >= 2000 and on.records["emb_enforcement"]
    assert 245 <= len(DAYS) <= 252  # 2026: 249 working days (make-up days in, holidays out)
    with pytest.raises(ValueError, match="no statutory working-day calendar"):
        generate_day(dt.date(2099, 1, 5), profile="city")


def test_expected_volumes_vary_by_season_and_day():
    waybills = [CITY.expected("tc_dg_waybill", d, 70) for d in DAYS]
    assert min(waybills) >= 3000  # several thousand dangerous-goods waybills every working day
    assert max(waybills) / min(waybills) > 1.3  # seasons, weekdays, the day after a holiday
    assert abs(sum(waybills) / len(DAYS) - CITY.volumes["tc_dg_waybill"]) < 1  # the volumes are a working day's mean
    assert all(CITY.expected("tc_dg_waybill", d, 70) == 0 for d in (dt.date(2026, 10, 1), dt.date(2026, 1, 1)))
    drawn = [CITY.volume("emb_hazard", d, DEFAULT_SEED, 160) for d in DAYS[:60]]
    assert len(set(drawn)) > 30  # each day its own volume
    assert generate_day(DAYS[5], profile="city", feeds=("emb_enforcement",)).records == \
        generate_day(DAYS[5], profile="city", feeds=("emb_enforcement",)).records  # deterministic


def test_year_of_enforcement_and_insurance():
    """A whole simulated year of the feeds behind the enforcement and insurance figures."""
    period, built = PeriodFigures(), 0
    for day in DAYS:
        data = generate_day(day, profile="city", feeds=("emb_enforcement", "emb_insurance"))
        period.add(day, day_figures(data))
        built += CITY.volume("emb_enforcement", day, DEFAULT_SEED, 40)
    figures = period.result()["figures"]
    for name in ("penalties", "suspensions", "warning_talks", "insured_enterprises"):
        assert _within(figures[name], TARGETS[name]), (name, figures[name], TARGETS[name])
    # Rare actions: their expected number within 5%, the year's count within its chance variation.
    weights = CITY.knobs["enforcement_action_weights"]
    valid_share = len(period.enforcement) / built  # cases that load, of the cases built
    for name, action in (("revocations", "吊销"), ("closures", "关闭取缔"), ("joint_punishments", "联合惩戒")):
        expected = _expected("emb_enforcement") * weights[action] / sum(weights.values()) * valid_share
        assert _within(expected, TARGETS[name]), (name, expected)
        assert abs(figures[name] - expected) <= 3 * math.sqrt(expected) + 1, (name, figures[name], expected)


def _closing_by_year_end(day: dt.date) -> float:
    """The chance that a hazard first delivered open on ``day`` is re-delivered closed by the year's end."""
    end = dt.date(YEAR, 12, 31)
    p = 0.0
    for share, low, high in emb.CLOSE_DELAYS:
        due = [day + dt.timedelta(days=k) for k in range(low, high + 1)]
        p += share * sum(1 for d in due if d <= end and any(is_business_day(d + dt.timedelta(days=j)) and d + dt.timedelta(days=j) <= end
                                                           for j in range(0, 12))) / len(due)
    return p * (1 - CITY.knobs["hazard_stays_open"])


def test_hazard_figures_of_a_year():
    """Hazards found, 动态整改率 and 挂牌督办 of a year: the profile's expected volumes times what a sample
    window of the ledgers, generated fully, yields per record built (hazards first delivered in the window)."""
    window = [d for d in DAYS if dt.date(YEAR, 5, 11) <= d <= dt.date(YEAR, 5, 22)]
    built = first_rows = first_valid = first_closed = late_rows = late_valid = 0
    found: set[str] = set()
    for day in window:
        data = generate_day(day, profile="city", feeds=("emb_hazard", "hcc_hazard"))
        stamp = f"{day:%Y%m%d}"
        for feed_id, (uscc, desc, found_at, status, closed, _, closed_spellings) in _LEDGERS.items():
            spec = SPECS[feed_id]
            built += CITY.volume(feed_id, day, DEFAULT_SEED, spec.volume)
            valid = {id(r) for r in _valid_rows(data, feed_id)}
            for rec in data.records[feed_id]:
                key = str(rec[spec.key]).strip()
                if stamp not in key:  # an earlier day's hazard delivered again, closed
                    late_rows += 1
                    late_valid += id(rec) in valid
                    continue
                first_rows += 1
                if id(rec) in valid:
                    first_valid += 1
                    first_closed += rec[status] in closed_spellings
                    found.add(_identity(rec[uscc], rec[desc], rec[found_at]))
    volume = _expected("emb_hazard") + _expected("hcc_hazard")
    assert _within(volume * len(found) / built, TARGETS["hazards_found"]), volume * len(found) / built
    # 动态整改率: closed when first delivered, or delivered again closed (a row that loads) by the year's end.
    c0, lam = first_closed / first_valid, late_valid / late_rows
    assert 0.7 < c0 < 0.85 and 0.7 < lam < 0.9  # most fixed on the spot; a closing row carries the defect mix too
    rate = sum((CITY.expected("emb_hazard", d, 160) + CITY.expected("hcc_hazard", d, 40)) * (c0 + (1 - c0) * lam * _closing_by_year_end(d))
               for d in DAYS) / volume
    assert _within(100 * rate, TARGETS["dynamic_rectification_rate"]), 100 * rate
    # 挂牌督办: a major hazard (2%), listed (0.76%), that loads.
    listed = volume * CITY.knobs["emb_major_share"] * CITY.knobs["listed_share"] * first_valid / first_rows
    assert _within(listed, TARGETS["listed_major_hazards"]), listed


def test_simulate_city_writes_working_days_and_the_period(tmp_path, capsys):
    """The command: Friday 2026-10-09 and the make-up Saturday after National Day deliver, Sunday does not."""
    from safety_hub.cli import main

    assert main(["simulate", "--profile", "city", "--date", "2026-10-09", "--days", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2026-10-11  no deliveries (weekend)" in out
    truth = json.loads((tmp_path / "truth" / "2026-10-10.json").read_text(encoding="utf-8"))
    assert truth["profile"] == "city" and truth["business_day"] and truth["holiday"] == "National Day"
    assert set(truth["feeds"]) == set(SPECS)
    assert not (tmp_path / "truth" / "2026-10-11.json").exists()
    pages = sorted((tmp_path / "api" / "hazards" / "20261010").glob("page-*.json"))
    assert sum(len(json.loads(p.read_text(encoding="utf-8"))["data"]["records"]) for p in pages) == truth["feeds"]["emb_hazard"]["rows_delivered"]
    period = json.loads((tmp_path / "truth" / "period" / "2026-10-09_2026-10-10.json").read_text(encoding="utf-8"))
    assert period["working_days"] == 2 and period["targets"] == TARGETS
    figures = period["figures"]
    assert 1500 < figures["hazards_found"] < 3500 and figures["waybills"] >= 2 * 3000
    assert figures["supervision_inspections"] is None and period["sources"]["supervision_inspections"] is None
    assert figures["chemical_enterprises_assessed"] > 240


def test_each_deliverys_share_adds_up_to_the_days_figures():
    """``truth/figures/<day>.json`` holds each delivery's share of the period's figures: added up they
    are the day's figures, and a refused delivery's share can be left out (bench-city)."""
    days = [d for d in DAYS if d.month == 3][:3]
    whole, parts, without = PeriodFigures(), PeriodFigures(), PeriodFigures()
    for day in days:
        data = generate_day(day, profile="city", feeds=FIGURE_FEEDS)
        shares = delivery_figures(data)
        assert json.loads(json.dumps(shares)) == shares  # written as JSON
        assert merge_day_figures([shares[f] for f in FIGURE_FEEDS if f in shares]) == day_figures(data)
        whole.add(day, day_figures(data))
        parts.add(day, merge_day_figures([shares[f] for f in FIGURE_FEEDS if f in shares]))
        without.add(day, merge_day_figures([shares[f] for f in FIGURE_FEEDS if f in shares and (f, day) != ("emb_enforcement", days[1])]))
    assert parts.result() == whole.result()
    left_out = delivery_figures(generate_day(days[1], profile="city", feeds=FIGURE_FEEDS))["emb_enforcement"]["enforcement"]
    assert left_out and without.result()["figures"]["penalties"] < whole.result()["figures"]["penalties"]
