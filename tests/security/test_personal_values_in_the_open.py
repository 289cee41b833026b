"""Issue 15, finding 3 (alerts, logs, OpenLineage, Data Docs): a delivery whose agency forgot to
mask its personal columns (names and phones in clear) goes through the real ingest DAG and
breaches its quality threshold. The clear values reach the warehouse's audit layer (the
quarantine's original values, readable by the data team only) and nowhere else a person or a
lineage consumer reads: not the alert, not the task logs, not the OpenLineage events, not the
Data Docs pages."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

import pytest

from safety_hub.ops.alerts import ALERT_CONN_ID
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
FEED = "hcc_gas_inspection"  # a SQL extract: customer name, phone, address and inspector are personal
DAY = dt.date(2026, 11, 24)  # a day no other test delivers


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv(f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}", json.dumps({"conn_type": "http", "host": r.url}))
    yield r
    r.close()


@pytest.fixture
def clear_delivery(simulator, airflow_db, tmp_path, monkeypatch) -> list[str]:
    """The day's gas inspections in the agency's database of this test's own, with the name and
    phone of over half the rows in clear; returns the clear values."""
    from safety_hub.config.registry import load_registry
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import write_sqlite
    from safety_hub_dev.simulator.spec import SPECS

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    spec = SPECS[FEED]
    rows = generate_day(DAY).records[FEED]
    secrets = []
    for n, row in enumerate(rows[: len(rows) * 2 // 3]):
        row["YHXM"], row["LXDH"] = f"司马{'甲乙丙丁戊己庚辛壬癸'[n % 10]}{'子丑寅卯辰巳午未申酉戌亥'[n // 10 % 12]}", f"1390{n:07d}"
        secrets += [row["YHXM"], row["LXDH"]]
    db = write_sqlite(rows, tmp_path / "agency" / spec.delivery.db, spec.delivery.table, spec.updated, DAY.isoformat())
    conn_id = load_registry()[FEED].delivery.conn_id
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "generic", "extra": {"url": f"sqlite:///{db}"}}))
    return secrets


def test_clear_personal_values_stay_in_the_audit_layer(clear_delivery, receiver, caplog, capfd):
    from safety_hub.ops import lineage
    from safety_hub.config import settings
    from safety_hub.ops.dagkit import logical_date_for
    from safety_hub_dev.localairflow import load_dags
    from safety_hub.quality.docs import build_docs, docs_dir
    from safety_hub.warehouse.engine import get_engine

    started = time.time()
    with caplog.at_level(logging.DEBUG):
        dag_run = load_dags()[f"ingest_{FEED}"].test(logical_date=logical_date_for(DAY), run_conf={"business_date": DAY.isoformat()})
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed", "over half the rows break the masking rules"
    [message] = [m for m in receiver.wait_for(2, timeout=10) if m["body"]["kind"] != "returned_rows"]
    [returned] = receiver.of_kind("returned_rows")

    # The audit layer holds them: the data team can see what the agency sent.
    with get_engine().connect() as conn:
        originals = [r[0] for r in conn.exec_driver_sql(
            "SELECT original_values FROM quarantine WHERE feed_id = ? AND rule_id = 'customer_phone.masked'", (FEED,))]
    assert originals and any(clear_delivery[1] in o for o in originals), "the quarantine keeps the originals"

    from openpyxl import load_workbook

    workbook = load_workbook(returned["body"]["path"], read_only=True)
    seen = {
        "alert": json.dumps(message["body"], ensure_ascii=False) + json.dumps(returned["body"], ensure_ascii=False),
        "returned list (退回清单)": "\n".join(str(v) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for v in row),
        "logs": "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records) + "\n".join(capfd.readouterr()),
    }
    events = lineage.events_path()
    assert events is not None, "the tests configure the file transport"
    fresh = [f for f in events.parent.glob(f"{events.name}*") if f.stat().st_mtime >= started - 1]
    assert fresh, "the run's OpenLineage events"
    seen["openlineage"] = "\n".join(f.read_text(encoding="utf-8") for f in fresh)
    build_docs()  # as warehouse_build and `python -m safety_hub docs` do
    pages = [p for p in Path(docs_dir()).rglob("*.html")]
    results = list(settings.data_dir().rglob("*.json"))  # the stored results and suites behind them
    assert pages and any(FEED in p.read_text(encoding="utf-8") for p in pages), "Data Docs hold the run"
    seen["data_docs"] = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in pages + results)
    assert "＊＊＊＊" in seen["data_docs"], "the masked values are what Data Docs quote"

    for where, text in seen.items():
        leaked = [s for s in clear_delivery if s in text]
        assert not leaked, f"{len(leaked)} clear personal values in the {where}, e.g. {leaked[:2]}"
