"""The catalogue's measured rates, on a landed and loaded simulated day, against an independent count and the truth."""

from __future__ import annotations


import pandas as pd

from conftest import DAYS

FEED = "emb_hazard"


def test_fill_and_validity_rates_of_a_loaded_day(hub, simulator, tmp_path):
    import sqlalchemy as sa

    from safety_hub.config.registry import get_feed
    from safety_hub.ingest.raw import RECORDS, partition_dir
    from safety_hub.pipeline import run_feed
    from safety_hub.reporting.catalogue import HEADERS, items, measure, write_workbook
    from safety_hub.warehouse.engine import get_engine

    day = DAYS[0]
    run_feed(FEED, day)
    engine = get_engine()
    found = measure([i for i in items() if i.feed_id == FEED], engine)
    records = pd.read_parquet(partition_dir(FEED, day) / RECORDS)
    with engine.connect() as conn:
        extracted = conn.execute(sa.text("SELECT rows_extracted FROM load_audit WHERE feed_id = :f AND status = 'loaded'"), {"f": FEED}).scalar_one()
        quarantined = pd.DataFrame(conn.execute(sa.text("SELECT row_number, rule_id FROM quarantine WHERE feed_id = :f"), {"f": FEED}).mappings().all())
    by_column = {c.name: c for c in get_feed(FEED).columns}
    for item in found:
        assert item.as_of == day
        source = by_column[item.column].source
        assert item.fill_latest == records[source].notna().sum() / len(records), item.column
        bad = quarantined[quarantined["rule_id"].str.startswith(f"{item.column}.")]["row_number"].nunique()
        assert item.valid_latest == 1 - bad / extracted, item.column
        assert item.fill_trailing == item.fill_latest and item.valid_trailing == item.valid_latest  # one landed day
    # The simulator's injected defects: each invalid USCC it made is a record the uscc item counts as invalid.
    truth = simulator[day]["feeds"][FEED]["defects"]
    broken = {d["key"] for d in truth if (d["expected_rule"] or "").startswith("uscc.") and "origin_day" not in d}
    uscc = next(i for i in found if i.column == "uscc")
    assert broken and uscc.valid_latest <= 1 - len(broken) / extracted + 1e-12
    assert any(i.fill_latest < 1 for i in found), "the simulator leaves optional fields blank"

    path = write_workbook(found, tmp_path / "catalogue.xlsx")
    sheet = pd.read_excel(path, sheet_name="数据项目录")
    assert list(sheet.columns) == list(HEADERS.values()) and len(sheet) == len(found)
    assert set(sheet["数据截至"].astype(str).str[:10]) == {day.isoformat()}
