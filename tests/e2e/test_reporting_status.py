"""报送率, 及时率, fill rates and 整改闭环率 against the simulator's truth, over a span across 国庆 and its make-up Saturday.

The simulator withholds, delays and repeats reports of units (``simulator/reports.py``) and sends
rejected records back corrected one or two working days later (``generate.CORRECTION_AFTER``) over
2026-09-28 .. 2026-10-12: three working days, the National Day holidays (10-01 .. 10-07), two
working days, the make-up working Saturday 10-10, Monday 10-12. Three feeds of two departments run
through the stage functions into a DuckDB warehouse and the build; the mart's figures, as of two
dates, must equal those counted from the truth manifest's deliveries, with the periods and due dates
of the statutory calendar written out here. The field quality history (信息缺失) and the 退回台账
with its 整改闭环 figures, over the same deliveries, must equal the truth manifest's per-record
truth, which follows the rows each delivery actually holds (withheld rows in none, late and
repeated rows in the delivery they arrive with).
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
                      knobs={**city.knobs, "report_rates": {"missed": 0.06, "late": 0.06, "repeated": 0.06}}, corrections=True)
    truth, rows = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETY_HUB_HOME", str(home))
        mp.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
        for name, value in simulator_connections(sim_server.url, SIM_TOKEN, dropzone).items():
            mp.setenv(name, value)
        for day in DELIVERY_DAYS:
            data = generate_day(day, profile=profile, feeds=list(FEEDS))
            write_day(data, dropzone)
            truth[day], rows[day] = data.truth, (data.records, data.row_truth)
            for feed_id in FEEDS:
                run_feed(feed_id, day)
        engine = get_engine()
        build(engine)
    # The environment is given back before the tests run: the session's pipeline runs, built later in
    # this process, must see their own data dir, warehouse and drop zone, not this fixture's.
    yield engine, truth, set(DISTRICTS), rows
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


def working_days_after(day: dt.date, n: int) -> dt.date | None:
    """The ``n``-th delivery day of the span after ``day`` (None past its end)."""
    i = DELIVERY_DAYS.index(day) + n
    return DELIVERY_DAYS[i] if i < len(DELIVERY_DAYS) else None


@pytest.mark.parametrize("as_of", [D(2026, 10, 12), D(2026, 10, 9)])
def test_rates_equal_the_truth_across_the_holiday(reporting_run, as_of):
    from safety_hub.reporting.reporting_status import rates

    engine, truth, units, _ = reporting_run
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

    from safety_hub_dev.simulator.reports import LATE_BY

    engine, truth, _, _ = reporting_run
    with engine.connect() as conn:
        rows = {(r.feed_id, r.unit_code, r.period_start): r for r in conn.execute(sa.text("SELECT * FROM mart_reporting_status"))}
        duty_days = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT period_start FROM dim_reporting_duty WHERE frequency = '每工作日'"))}
    assert not any(D(2026, 10, 1) <= d <= D(2026, 10, 7) for d in duty_days) and D(2026, 10, 10) in duty_days
    # (feed, unit, day reported for) -> the first delivery holding a row of it
    first: dict[tuple, dt.date] = {}
    for day in sorted(truth):
        for feed_id in FEEDS:
            for r in truth[day]["feeds"][feed_id]["reports"]:
                first.setdefault((feed_id, r["unit"], D.fromisoformat(r["period"])), day)
    checked = 0
    for day, manifest in truth.items():
        for feed_id in ("hcc_hazard", "tc_dg_waybill"):
            for defect in manifest["feeds"][feed_id]["report_defects"]:
                row = rows.get((feed_id, defect["unit"], day))
                if row is None:
                    continue  # not an expected unit, or not due by the build's date
                checked += 1
                arrived = first.get((feed_id, defect["unit"], day))
                if defect["kind"] in ("missed", "late"):
                    # nothing of the unit's day on the day; later, its late rows, or a correction of a record it sent
                    # the day under another unit code (an unknown district), which reports for the day as well
                    assert (arrived is None or arrived > day) and row.first_received == arrived, defect
                    if arrived is None:
                        assert row.status == "漏报", defect
                    elif defect["kind"] == "late" and arrived == working_days_after(day, LATE_BY):  # past either feed's due date
                        assert row.status == "迟报" and row.first_received > row.due_date, defect
                elif day < DELIVERY_DAYS[-1] and arrived == day:
                    # sent again on the next working day (none after the span's last), when the unit's rows of
                    # the day report for it (a unit's only row may be a correction, reporting for an earlier day)
                    assert row.repeated_on is not None and row.submissions >= 2, defect
    assert checked > 10


# --- 信息缺失 and 退回整改闭环 over the same span ------------------------------------------------

HOLIDAY_AS_OF = D(2026, 10, 5)  # inside the National Day holidays: nothing delivered since 09-30


def test_field_quality_equals_the_truth_of_each_delivery(reporting_run):
    """Per feed, data item and delivery day the warehouse's field quality counts the records and the filled
    values the truth lists for what the delivery held (withheld rows in no day, late and repeated rows in the
    day they arrive); the data-item catalogue's latest and trailing fill rates, as of the span's last day,
    are those counts' rates; no day of the holidays is measured."""
    import sqlalchemy as sa

    from safety_hub.config.registry import load_registry
    from safety_hub.reporting.catalogue import items, measure

    engine, truth, _, _ = reporting_run
    feeds = load_registry()
    with engine.connect() as conn:
        got = {(f, D.fromisoformat(str(d)[:10]), s): (int(n), int(k)) for f, d, s, n, k in conn.execute(sa.text(
            "SELECT feed_id, business_date, source_field, records, filled FROM field_quality"))}
    want = {(f, day, c.source): (truth[day]["feeds"][f]["rows_delivered"], truth[day]["feeds"][f]["filled"].get(c.source, 0))
            for f in FEEDS for day in DELIVERY_DAYS for c in feeds[f].columns}
    assert got == want
    blank = {(f, s) for (f, _, s), (records, filled) in want.items() if filled < records}
    assert {f for f, _ in blank} == set(FEEDS), "every feed leaves items blank over the span"
    moved = [(f, day) for day in DELIVERY_DAYS for f in FEEDS if truth[day]["feeds"][f]["report_defects"]]
    assert moved and all(truth[day]["feeds"][f]["reports_moved"] for f, day in moved)

    measured = {(i.feed_id, i.source): i for i in measure([i for i in items() if i.feed_id in FEEDS], engine, days=len(DELIVERY_DAYS))}
    for f in FEEDS:
        for c in feeds[f].columns:
            item = measured[(f, c.source)]
            rates = [want[(f, day, c.source)][1] / want[(f, day, c.source)][0] for day in DELIVERY_DAYS]
            assert item.as_of == DELIVERY_DAYS[-1] and item.fill_latest == rates[-1], (f, c.source)
            assert item.fill_trailing == pytest.approx(sum(rates) / len(rates), abs=1e-12), (f, c.source)


def _closure_want(truth: dict, rows: dict, as_of: dt.date) -> dict:
    """(agency, district) -> [returned, corrected, working days to fix] as of ``as_of``, from ``closure_truth``; a
    rejection's district is the code its rejected rows name as delivered (a code, a legacy code or a district's
    name; none when unknown), from the span's rows and their ``RowTruth``."""
    from safety_hub.config.registry import load_registry
    from safety_hub.domain.places import map_district
    from safety_hub.domain.workdays import working_days_between
    from safety_hub_dev.simulator.closure import closure_truth
    from safety_hub_dev.simulator.spec import SPECS

    feeds, want = load_registry(), {}
    for f in FEEDS:
        for key, rejected, closed in closure_truth(truth, f):
            if rejected > as_of:
                continue
            records, row_truth = rows[rejected][0][f], rows[rejected][1][f]
            codes = {map_district(r[SPECS[f].district]) for r, n in zip(records, row_truth)
                     if n.key == key and any(e["expected_rule"] and "stage" not in e for _, e in n.defects)}
            w = want.setdefault((feeds[f].agency, min(codes - {None}, default=None)), [0, 0, 0])
            w[0] += 1
            if closed is not None and closed <= as_of:
                w[1] += 1
                w[2] += working_days_between(rejected, closed)
    return want


def test_the_rejection_ledger_equals_the_truth_of_what_arrived(reporting_run):
    """Every rejection (key, day rejected, day corrected) is the one the deliveries' truth gives: a correction
    closes it on the day it arrives, across the holidays too; a rejected row withheld opens nothing."""
    import sqlalchemy as sa

    from safety_hub.domain.workdays import working_days_between
    from safety_hub_dev.simulator.closure import closure_truth, rejected_keys

    engine, truth, _, _ = reporting_run
    with engine.connect() as conn:
        got = [(f, k, D.fromisoformat(str(r)[:10]), None if c is None else D.fromisoformat(str(c)[:10])) for f, k, r, c in conn.execute(
            sa.text("SELECT feed_id, record_key, rejected_on, closed_on FROM rejection"))]
    want = [(f, key, rejected, closed) for f in FEEDS for key, rejected, closed in closure_truth(truth, f)]
    assert sorted(got, key=str) == sorted(want, key=str)
    closed = [w for w in want if w[3] is not None]
    assert any(r <= D(2026, 9, 30) and c >= D(2026, 10, 8) for _, _, r, c in closed), "corrections close rejections across the holidays"
    assert any(c == D(2026, 10, 10) for _, _, _, c in closed), "a correction arrives on the make-up Saturday"
    # Every correction that arrived in the span closes its rejection there, unless the delivery carrying it
    # also holds the rejected record again (a unit's report repeated beside its correction): the batch rejects
    # the key again, and it stays open. Only rejections the agency received are corrected.
    ledger = {(f, k, r): c for f, k, r, c in want}
    arrived: dict[tuple, dt.date] = {}  # a correction repeated arrives twice: its first arrival closes
    for day in DELIVERY_DAYS:
        for f in FEEDS:
            for c in truth[day]["feeds"][f]["corrections"]:
                arrived.setdefault((f, c["key"], D.fromisoformat(c["rejected_on"])), day)
    in_span = [(f, k, r, day) for (f, k, r), day in arrived.items() if r >= DELIVERY_DAYS[0]]
    assert in_span and all((f, k, r) in ledger for f, k, r, _ in in_span), "a corrected record was rejected when it arrived"
    again = [(f, k, r, day) for f, k, r, day in in_span if k in rejected_keys(truth[day], f)]
    assert all(ledger[(f, k, r)] == day for f, k, r, day in in_span if (f, k, r, day) not in again)
    assert all(ledger[(f, k, r)] is None or ledger[(f, k, r)] > day for f, k, r, day in again)
    # the working days a correction took, on the statutory calendar: none on the holidays, the make-up Saturday one
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 8)) == 1 and working_days_between(D(2026, 10, 9), D(2026, 10, 12)) == 2


def _totals(returned: int, corrected: int, days: int) -> dict:
    """``figures.closure_totals`` of these counts (its rounding)."""
    return {"returned": returned, "corrected": corrected, "open": returned - corrected,
            "rate": round(corrected / returned, 6) if returned else None, "days_to_fix": round(days / corrected, 4) if corrected else None}


@pytest.mark.parametrize("as_of", [HOLIDAY_AS_OF, D(2026, 10, 12)])
def test_closure_figures_equal_the_truth_as_of_a_holiday_and_the_last_day(reporting_run, as_of):
    """退回 / 已整改 / 未整改 / 整改闭环率 / 平均整改工作日 per agency and district as the weekly report reads them
    (``figures.closure_frame``, added up by ``figures.closure_totals``) and per agency as ``health`` reads them
    (``rejections.closure``), equal those counted from the truth."""
    from safety_hub.reporting.figures import closure_frame, closure_totals
    from safety_hub.warehouse.rejections import closure

    engine, truth, _, rows = reporting_run
    want = _closure_want(truth, rows, as_of)
    with engine.connect() as conn:
        frame = closure_frame(conn, as_of)
        by_agency = closure(conn, as_of, by=("agency",))
    got = {(r["agency"], r["district_code"] if isinstance(r["district_code"], str) else None): r for r in frame.to_dict("records")}
    assert set(got) == set(want) and len(got) == len(frame)
    for group, (returned, corrected, days) in want.items():
        r = got[group]
        assert (r["returned"], r["corrected"], r["open"]) == (returned, corrected, returned - corrected), group
        assert r["rate"] == corrected / returned, group
        fix = r["days_to_fix"]
        assert fix == days / corrected if corrected else (fix is None or fix != fix), group  # none (NaN in the frame) when none was
    assert any(d is None for _, d in want) and len({d for a, d in want if a == "hcc" and d}) > 5, "hcc's district names are districts"
    for agency in {a for a, _ in want}:
        returned, corrected, days = (sum(w[i] for (a, _), w in want.items() if a == agency) for i in range(3))
        assert closure_totals(frame[frame["agency"] == agency]) == _totals(returned, corrected, days), agency
        c = by_agency[(agency,)]
        assert (c.returned, c.corrected, c.open) == (returned, corrected, returned - corrected), agency
        assert c.rate == corrected / returned and (c.days_to_fix == days / corrected if corrected else c.days_to_fix is None), agency
    returned, corrected, days = (sum(w[i] for w in want.values()) for i in range(3))
    assert 0 < corrected < returned
    assert closure_totals(frame) == _totals(returned, corrected, days)


def test_the_weekly_report_of_the_holiday_week_shows_the_closure_of_its_data_date(reporting_run):
    """The week of 10-05 .. 10-11 (holidays, two working days, the make-up Saturday): its report's data date
    is the Saturday, and its 退回整改闭环 figures are the truth's as of that day."""
    from safety_hub.reporting.archive import ReportWeek
    from safety_hub.reporting.figures import closure_totals, load_figures

    engine, truth, _, rows = reporting_run
    fig = load_figures(engine, ReportWeek.containing(HOLIDAY_AS_OF))
    assert fig.as_of == D(2026, 10, 10)
    want = _closure_want(truth, rows, fig.as_of)
    assert fig.headline()["closure"] == closure_totals(fig.closure) == _totals(*(sum(w[i] for w in want.values()) for i in range(3)))


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

