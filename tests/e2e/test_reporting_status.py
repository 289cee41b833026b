"""报送率 and 及时率 against the simulator's truth, over a span across 国庆 and its make-up Saturday.

The simulator withholds, delays and repeats reports of units (``simulator/reports.py``) over
2026-09-28 .. 2026-10-12: three working days, the National Day holidays (10-01 .. 10-07), two
working days, the make-up working Saturday 10-10, Monday 10-12. Three feeds of two departments run
through the stage functions into a DuckDB warehouse and the build; the mart's figures, as of two
dates, must equal those counted from the truth manifest's deliveries, with the periods and due dates
of the statutory calendar written out here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

import pytest

from conftest import SIM_TOKEN

D = dt.date
SPAN = (D(2026, 9, 28), D(2026, 10, 12))
DELIVERY_DAYS = [D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9), D(2026, 10, 10), D(2026, 10, 12)]
# Period -> due date, written out from the 2026 State Council arrangement (the calendar under test):
# hcc_hazard is due the next working day (09-30 -> 10-08 over the holidays, 10-09 -> the make-up
# Saturday 10-10); tc_dg_waybill the same day; hcc_project weekly, the working day after the week's last.
DUE = {
    "hcc_hazard": {D(2026, 9, 28): D(2026, 9, 29), D(2026, 9, 29): D(2026, 9, 30), D(2026, 9, 30): D(2026, 10, 8),
                   D(2026, 10, 8): D(2026, 10, 9), D(2026, 10, 9): D(2026, 10, 10), D(2026, 10, 10): D(2026, 10, 12)},
    "tc_dg_waybill": {d: d for d in DELIVERY_DAYS},
    "hcc_project": {D(2026, 9, 28): D(2026, 10, 8), D(2026, 10, 5): D(2026, 10, 12)},
}
PERIOD_END = {"hcc_project": {D(2026, 9, 28): D(2026, 10, 4), D(2026, 10, 5): D(2026, 10, 11)}}
FEEDS = tuple(DUE)


@pytest.fixture(scope="module")
def reporting_run(sim_server, tmp_path_factory):
    """The span simulated with report defects, every feed-day run through the stages, then one build."""
    from safety_hub.domain.places import DISTRICTS
    from safety_hub.pipeline import run_feed
    from safety_hub.warehouse.build import build
    from safety_hub.warehouse.engine import get_engine
    from safety_hub_dev.simulator import generate_day, write_day
    from safety_hub_dev.simulator.connections import simulator_connections
    from safety_hub_dev.simulator.profile import get_profile

    home = tmp_path_factory.mktemp("reporting")
    dropzone = home / "dropzone"
    city = get_profile("city")
    profile = replace(city, name="city-reports", volumes={**city.volumes, "hcc_hazard": 48, "tc_dg_waybill": 48, "hcc_project": 40},
                      knobs={**city.knobs, "report_rates": {"missed": 0.06, "late": 0.06, "repeated": 0.06}})
    truth = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
        for name, value in simulator_connections(sim_server.url, SIM_TOKEN, dropzone).items():
            mp.setenv(name, value)
        for day in DELIVERY_DAYS:
            data = generate_day(day, profile=profile, feeds=list(FEEDS))
            write_day(data, dropzone)
            truth[day] = data.truth
            for feed_id in FEEDS:
                run_feed(feed_id, day)
        engine = get_engine()
        build(engine)
    # The environment is given back before the tests run: the session's pipeline runs, built later in
    # this process, must see their own data dir, warehouse and drop zone, not this fixture's.
    yield engine, truth, set(DISTRICTS)
    engine.dispose()


def _truth_status(truth: dict, units: set[str], as_of: dt.date, dues: dict = DUE, ends: dict = PERIOD_END) -> dict:
    """(feed, unit, period start) -> (due, first arrival, repeated) from the deliveries the truth lists:
    repeated when a reported day arrived in two deliveries or a delivery held one record twice for it."""
    arrivals = defaultdict(list)  # (feed, unit, reported day) -> [(arrival, rows repeating a key)]
    for day, manifest in truth.items():
        if day > as_of:
            continue
        for feed_id in dues:
            for r in manifest["feeds"][feed_id]["reports"]:
                arrivals[(feed_id, r["unit"], D.fromisoformat(r["period"]))].append((day, r["repeated"]))
    out = {}
    for feed_id, periods in dues.items():
        for start, due in periods.items():
            if due > as_of:
                continue
            end = ends.get(feed_id, {}).get(start, start)
            for unit in units:
                sent = [v for k, v in arrivals.items() if k[0] == feed_id and k[1] == unit and start <= k[2] <= end]
                first = min((a for v in sent for a, _ in v), default=None)
                repeated = any(len({a for a, _ in v}) > 1 or any(n for _, n in v) for v in sent)
                out[(feed_id, unit, start)] = (due, first, repeated)
    return out


def _expected_rates(status: dict, key) -> dict:
    groups = defaultdict(lambda: dict(expected=0, reported=0, on_time=0, late=0, missed=0, repeated=0))
    for (feed_id, unit, _), (due, first, repeated) in status.items():
        g = groups[key(feed_id, unit)]
        g["expected"] += 1
        g["reported"] += first is not None
        g["on_time"] += first is not None and first <= due
        g["late"] += first is not None and first > due
        g["missed"] += first is None
        g["repeated"] += repeated
    return dict(groups)


AGENCY = {"hcc_hazard": "hcc", "hcc_project": "hcc", "tc_dg_waybill": "tc"}


@pytest.mark.parametrize("as_of", [D(2026, 10, 12), D(2026, 10, 9)])
def test_rates_equal_the_truth_across_the_holiday(reporting_run, as_of):
    from safety_hub.reporting.reporting_status import rates

    engine, truth, units = reporting_run
    status = _truth_status(truth, units, as_of)
    with engine.connect() as conn:
        for by, key, cols in (("feed", lambda f, u: f, ["feed_id"]), ("agency", lambda f, u: AGENCY[f], ["agency"]),
                              ("unit", lambda f, u: u, ["unit_code"])):
            found = rates(conn, *SPAN, as_of, by=by)
            expected = _expected_rates(status, key)
            got = {r[cols[0]]: {c: int(r[c]) for c in ("expected", "reported", "on_time", "late", "missed", "repeated")}
                   for r in found.to_dict("records")}
            assert got == expected, by
            for r in found.to_dict("records"):  # 报送率 and 及时率 exactly
                e = expected[r[cols[0]]]
                assert r["report_rate"] == e["reported"] / e["expected"] and r["timely_rate"] == e["on_time"] / e["expected"]
    totals = _expected_rates(status, lambda f, u: "all")["all"]
    assert totals["missed"] and totals["late"] and totals["repeated"] and totals["on_time"], totals


def test_injected_defects_show_and_holidays_owe_nothing(reporting_run):
    import sqlalchemy as sa

    engine, truth, _ = reporting_run
    with engine.connect() as conn:
        rows = {(r.feed_id, r.unit_code, r.period_start): r for r in conn.execute(sa.text("SELECT * FROM mart_reporting_status"))}
        duty_days = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT period_start FROM dim_reporting_duty WHERE frequency = '每工作日'"))}
    assert not any(D(2026, 10, 1) <= d <= D(2026, 10, 7) for d in duty_days) and D(2026, 10, 10) in duty_days
    checked = 0
    for day, manifest in truth.items():
        for feed_id in ("hcc_hazard", "tc_dg_waybill"):
            for defect in manifest["feeds"][feed_id]["report_defects"]:
                row = rows.get((feed_id, defect["unit"], day))
                if row is None:
                    continue  # not an expected unit, or not due by the build's date
                checked += 1
                if defect["kind"] == "missed":
                    assert row.status == "漏报", defect
                elif defect["kind"] == "late":  # two working days later: past either feed's due date
                    assert row.status in ("迟报", "漏报") and (row.first_received is None or row.first_received > row.due_date), defect
                elif day < DELIVERY_DAYS[-1]:  # sent again on the next working day (none after the span's last)
                    assert row.repeated_on is not None and row.submissions >= 2, defect
    assert checked > 10


# The demo window (Monday 2026-11-02 .. Wednesday 11-04, no report defects injected): the daily feeds'
# periods due by 11-04; hcc_hazard's 11-04 is due on 11-05, the weekly feeds' week on 11-09.
DEMO_AS_OF = D(2026, 11, 4)
DEMO_DUE = {"emb_hazard": {d: d for d in (D(2026, 11, 2), D(2026, 11, 3), D(2026, 11, 4))},
            "hcc_gas_inspection": {d: d for d in (D(2026, 11, 2), D(2026, 11, 3), D(2026, 11, 4))},
            "tc_dg_waybill": {d: d for d in (D(2026, 11, 2), D(2026, 11, 3), D(2026, 11, 4))},
            "hcc_hazard": {D(2026, 11, 2): D(2026, 11, 3), D(2026, 11, 3): D(2026, 11, 4)}}


def test_the_demo_runs_rates_equal_the_truth(run):
    """Through the Airflow DAG runs of the demo window (API, CSV, XLSX and database deliveries), on each backend."""
    from safety_hub.domain.places import DISTRICTS
    from safety_hub.reporting.reporting_status import rates

    status = _truth_status(run.truth, set(DISTRICTS), DEMO_AS_OF, dues=DEMO_DUE, ends={})
    with run.engine().connect() as conn:
        found = rates(conn, D(2026, 11, 2), DEMO_AS_OF, DEMO_AS_OF, by="feed_unit")
    got = {(r["feed_id"], r["unit_code"]): {c: int(r[c]) for c in ("expected", "reported", "on_time", "late", "missed", "repeated")}
           for r in found.to_dict("records")}
    assert got == _expected_rates(status, lambda f, u: (f, u))
    assert {f for f, _ in got} == set(DEMO_DUE), "the weekly feeds owe nothing yet"
