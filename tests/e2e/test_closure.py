"""The 退回台账: every rejected record, and the later delivery that corrected it (已整改), held to the simulator's truth."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import DAYS, query


def _date(value) -> dt.date | None:
    return None if value is None or value != value else dt.date.fromisoformat(str(value)[:10])


def test_the_ledger_holds_every_rejection_and_its_correction_as_the_truth_says(run):
    from safety_hub.config.registry import load_registry
    from safety_hub_dev.simulator.closure import closure_truth

    rows = query(run, "SELECT feed_id, record_key, rejected_on, closed_on FROM rejection")
    got = {(r.feed_id, r.record_key, _date(r.rejected_on), _date(r.closed_on)) for r in rows.itertuples()}
    want = {(f, key, rejected, closed) for f in load_registry() for key, rejected, closed in closure_truth(run.truth, f)}
    assert len(got) == len(rows), "one row per (feed, key, rejection date)"
    closed = {w for w in want if w[3] is not None}
    injected = {(f, c["key"]) for day in DAYS for f, t in run.truth[day]["feeds"].items() for c in t["corrections"]
                if dt.date.fromisoformat(c["rejected_on"]) in run.truth}
    assert closed and injected, "the span holds corrected rejections"
    assert injected <= {(w[0], w[1]) for w in closed}, "every correction the simulator injected closes its rejection"
    assert got == want


def test_closure_figures_per_agency_are_the_ledgers_counts(run):
    from safety_hub.domain.workdays import working_days_between
    from safety_hub.warehouse.rejections import closure
    from safety_hub_dev.simulator.closure import closure_truth
    from safety_hub.config.registry import load_registry

    as_of = DAYS[-1]
    with run.engine().connect() as conn:
        by_agency = closure(conn, as_of, by=("agency",))
    feeds = load_registry()
    want: dict[str, list] = {}
    for f, feed in feeds.items():
        for _key, rejected, closed in closure_truth(run.truth, f):
            w = want.setdefault(feed.agency, [0, 0, 0])
            w[0] += 1
            if closed is not None:
                w[1] += 1
                w[2] += working_days_between(rejected, closed)
    assert {a: (c.returned, c.corrected) for (a,), c in by_agency.items()} == {a: (w[0], w[1]) for a, w in want.items()}
    for (agency,), c in by_agency.items():
        assert c.open == c.returned - c.corrected
        if c.corrected:
            assert c.days_to_fix == pytest.approx(want[agency][2] / want[agency][1])
            assert 0 < c.rate <= 1


def _ledger(conn, feed_id: str) -> set:
    import sqlalchemy as sa

    return {(k, _date(r), _date(c)) for k, r, c in conn.execute(sa.text(
        "SELECT record_key, rejected_on, closed_on FROM rejection WHERE feed_id = :f"), {"f": feed_id})}


def test_loads_in_any_order_and_replays_give_the_same_ledger(simulator, tmp_path, monkeypatch):
    from safety_hub.pipeline import run_feed, run_replay
    from safety_hub.warehouse.engine import get_engine

    feed, days = "emb_hazard", DAYS[:2]
    ledgers = {}
    for name, order in (("in order", days), ("reversed", days[::-1])):
        home = tmp_path / name.replace(" ", "_")
        monkeypatch.setenv("SAFETY_HUB_HOME", str(home))
        monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")
        for day in order:
            run_feed(feed, day, f"manual__{feed}__{day.isoformat()}")
        with get_engine().connect() as conn:
            ledgers[name] = _ledger(conn, feed)
    assert ledgers["in order"] == ledgers["reversed"]
    assert any(c is not None for _, _, c in ledgers["in order"]), "the second day corrects some of the first day's rejections"
    run_replay(feed, days[0])  # the first day again, after its corrections loaded: nothing reopens or closes twice
    with get_engine().connect() as conn:
        assert _ledger(conn, feed) == ledgers["reversed"]


def test_the_weekly_report_and_health_show_the_closure_as_of_their_date(run, capsys):
    from safety_hub.reporting.archive import ReportWeek
    from safety_hub.reporting.figures import closure_totals, load_figures
    from safety_hub.warehouse.rejections import closure

    week = ReportWeek.containing(DAYS[-1])
    fig = load_figures(run.engine(), week)
    with run.engine().connect() as conn:
        (total,) = closure(conn, fig.as_of, by=()).values()
    got = closure_totals(fig.closure)
    assert (got["returned"], got["corrected"], got["open"]) == (total.returned, total.corrected, total.open) and total.corrected > 0
    assert got["rate"] == pytest.approx(total.rate, abs=1e-6) and got["days_to_fix"] == pytest.approx(total.days_to_fix, abs=1e-4)  # rounded for figures.json
    assert fig.headline()["closure"] == got
    html = (run.hub_home / "reports" / week.label / f"安全生产周报_{week.label}.html").read_text(encoding="utf-8")
    assert f"十、退回整改闭环（截至 {fig.as_of:%Y-%m-%d}）" in html
    assert '<td class="text">合计</td>' in html and f"{total.rate:.1%}" in html

    from safety_hub.cli import main

    assert main(["health"]) == 0
    out = capsys.readouterr().out
    assert f"退回整改闭环 as of {DAYS[-1]}" in out
    with run.engine().connect() as conn:
        for (agency,), c in closure(conn, DAYS[-1], by=("agency",)).items():
            line = next(x for x in out.splitlines() if x.startswith(f"{agency} "))
            assert line.split()[2:5] == [str(c.returned), str(c.corrected), str(c.open)]
