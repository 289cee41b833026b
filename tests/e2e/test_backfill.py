"""A backfill of a range gives the same warehouse whether run forward, backward or twice."""

from __future__ import annotations

import pytest

from conftest import DAYS
from safety_hub.cli import main

pytestmark = pytest.mark.e2e


# One feed per delivery kind, plus a snapshot feed: what order-independence depends on.
FEEDS = "emb_hazard,hcc_project,tc_dg_vehicle,emb_ent_registry"


def _backfill(*extra: str) -> None:
    assert main(["backfill", "--feed", FEEDS, "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat(), *extra]) == 0


def test_backfill_forward_backward_and_twice_are_identical(simulator, tmp_path, monkeypatch, capsys):
    from safety_hub.warehouse.checksum import warehouse_checksums
    from safety_hub.warehouse.engine import get_engine

    sums = {}

    def use(home):
        monkeypatch.setenv("SAFETY_HUB_HOME", str(home))
        monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}")

    use(tmp_path / "forward")
    _backfill()
    sums["forward"] = warehouse_checksums(get_engine())
    _backfill()
    sums["twice"] = warehouse_checksums(get_engine())
    use(tmp_path / "backward")
    _backfill("--reverse")
    sums["backward"] = warehouse_checksums(get_engine())
    err = capsys.readouterr().err
    assert "no scheduler, pools or UI" in err and "docs/production.md, 'History import'" in err, err
    assert sums["forward"]["fact_hazard"][0] > 0 and sums["forward"]["dim_enterprise"][0] > 0
    assert sums["forward"] == sums["backward"], "order must not matter"
    assert sums["forward"] == sums["twice"], "running twice must change nothing"


def test_replay_reprocesses_from_raw_without_the_agency(simulator, tmp_path, monkeypatch, capsys):
    """After a backfill, the drop files and the API are not needed to rebuild a day."""
    from safety_hub.warehouse.checksum import warehouse_checksums
    from safety_hub.warehouse.engine import get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    _backfill()
    before = warehouse_checksums(get_engine())
    monkeypatch.setenv("AIRFLOW_CONN_EMB_API", '{"conn_type": "http", "host": "http://127.0.0.1:9", "password": "x"}')
    assert main(["replay", "--feed", "emb_hazard"]) == 0
    assert main(["replay", "--feed", "emb_hazard", "--date", DAYS[1].isoformat()]) == 0
    out = capsys.readouterr().out
    assert "emb_hazard" in out and str(DAYS[1]) in out
    assert warehouse_checksums(get_engine()) == before


def test_quarantine_command_groups_rejections_by_rule(simulator, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    assert main(["backfill", "--feed", "hcc_project", "--start", DAYS[0].isoformat(), "--end", DAYS[0].isoformat()]) == 0
    capsys.readouterr()
    assert main(["quarantine", "--feed", "hcc_project", "--date", DAYS[0].isoformat()]) == 0
    out = capsys.readouterr().out
    expected = {d["expected_rule"] for d in simulator[DAYS[0]]["feeds"]["hcc_project"]["defects"] if d["expected_rule"]}
    rejected = sum(1 for d in simulator[DAYS[0]]["feeds"]["hcc_project"]["defects"] if d["expected_rule"])
    assert f"隔离行数 {rejected} · 隔离记录数 {rejected} · 规则违反次数 " in out
    for rule in expected:
        assert f"\n{rule}  (" in out
    assert "raw: " in out and "项目编号=" in out
    assert main(["quarantine", "--feed", "nope_feed"]) == 2


def test_volume_anomaly_is_noted_and_stale_feeds_are_reported(simulator, tmp_path, monkeypatch, capsys):
    import datetime as dt

    import sqlalchemy as sa

    from safety_hub.pipeline import run_feed
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import write_day
    from safety_hub.warehouse.engine import get_engine

    from conftest import DROPZONE

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    _backfill_one = ["backfill", "--feed", "tc_dg_vehicle", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat()]
    assert main(_backfill_one) == 0
    day = DAYS[-1] + dt.timedelta(days=1)
    data = generate_day(day, scale=0.2)  # a fifth of the usual volume
    write_day(data, DROPZONE)
    run_feed("tc_dg_vehicle", day)
    with get_engine().connect() as conn:
        notes = dict(conn.execute(sa.text("SELECT business_date, volume_note FROM load_audit WHERE feed_id = 'tc_dg_vehicle'")).all())
    assert notes[day] and "volume anomaly" in notes[day], notes
    assert all(notes[d] is None for d in DAYS)
    write_day(generate_day(day), DROPZONE)  # restore the normal delivery for other tests

    capsys.readouterr()
    assert main(["health", "--fail-on-stale"]) == 1
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("tc_dg_vehicle"))
    assert f" {day} " in line and "volume anomaly" in line, "its latest business date, with the note of its last load"
    assert "STALE" in next(l for l in out.splitlines() if l.startswith("emb_hazard")), "never loaded here: stale"
