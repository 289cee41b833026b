"""The missed-report alert: a unit whose consecutive missed periods reach its feed's threshold is
announced once through the alerts connection (a real local webhook), from a real DuckDB or
PostgreSQL warehouse built by the warehouse's own code; the duties follow the statutory calendar
(国庆 2026), and the rates read the same on both engines."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from safety_hub.ops.alerts import ALERT_CONN_ID
from pg_scratch import scratch_database
from webhook_receiver import Receiver

D = dt.date
CONN_ENV = f"AIRFLOW_CONN_{ALERT_CONN_ID.upper()}"
DAYS = [D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9)]  # tc_dg_waybill: due the same day


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    import sqlalchemy as sa

    if request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
        yield engine
        engine.dispose()
        return
    with scratch_database("reporting_alerts") as engine:
        yield engine


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _receipt(day: dt.date, unit: str, period: dt.date | None = None) -> dict:
    period = period or day
    return {"feed_id": "tc_dg_waybill", "business_date": day, "batch_id": f"b{day:%m%d}", "unit_code": unit,
            "period_date": period, "report_batch": f"TC-YD-{period:%Y%m%d}", "records": 2}


def test_a_unit_missing_three_working_days_alerts_once(engine, monkeypatch, receiver):
    import sqlalchemy as sa

    from safety_hub.domain.places import DISTRICTS
    from safety_hub.ops.reporting_alerts import check_missed_reports
    from safety_hub.reporting.reporting_status import rates
    from safety_hub.warehouse.bulk import bulk_insert
    from safety_hub.warehouse.engine import ensure_schema
    from safety_hub.warehouse.reporting_status import refresh_reporting_status

    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "http", "host": receiver.url}))
    md = ensure_schema(engine)
    # 和平 reports on 09-28 and 09-29 only: 09-30, 10-08 (after the holidays) and 10-09 are missed, three
    # working days in a row; 河东 misses 09-30 and 10-08, reports 10-09 late for 10-08; everyone else every day.
    rows = [_receipt(d, u) for d in DAYS for u in DISTRICTS if not (u == "120101" and d >= D(2026, 9, 30))
            and not (u == "120102" and d in (D(2026, 9, 30), D(2026, 10, 8)))]
    rows.append(_receipt(D(2026, 10, 9), "120102", period=D(2026, 10, 8)))
    with engine.begin() as conn:
        bulk_insert(conn, md.tables["report_receipt"], pd.DataFrame(rows))
        refresh_reporting_status(conn, md)
        statuses = dict(((r[0], r[1]), r[2]) for r in conn.execute(sa.text(
            "SELECT unit_code, period_start, status FROM mart_reporting_status WHERE unit_code IN ('120101', '120102')")))
    assert statuses[("120102", D(2026, 10, 8))] == "迟报" and statuses[("120102", D(2026, 9, 30))] == "漏报"
    assert statuses[("120101", D(2026, 10, 9))] == "漏报" and len(statuses) == 10  # five working days, no holiday owed
    with engine.connect() as conn:
        by_unit = rates(conn, DAYS[0], DAYS[-1], DAYS[-1], by="unit").set_index("unit_code")
        as_of_oct_8 = rates(conn, DAYS[0], DAYS[-1], D(2026, 10, 8), by="unit").set_index("unit_code")
    assert by_unit.loc["120102", ["expected", "reported", "on_time", "late", "missed"]].tolist() == [5, 4, 3, 1, 1]
    assert by_unit.loc["120102", "report_rate"] == 4 / 5 and by_unit.loc["120102", "timely_rate"] == 3 / 5
    assert by_unit.loc["120103", ["report_rate", "timely_rate"]].tolist() == [1.0, 1.0]
    assert as_of_oct_8.loc["120102", ["expected", "reported", "missed"]].tolist() == [4, 2, 2], "the late report had not come by 10-08"

    first = check_missed_reports(engine)
    assert first["alerted"] == ["tc_dg_waybill:120101"] and first["channel"] == "webhook"
    [message] = receiver.received
    body = message["body"]
    assert body["kind"] == "missed_reports" and body["units"] == [
        {"feed_id": "tc_dg_waybill", "unit_code": "120101", "missed_since": "2026-09-30", "missed": 3}]
    assert "和平区" in body["text"] and "连续漏报 3 期" in body["text"]
    again = check_missed_reports(engine)  # the next build: the same run of misses is not announced again
    assert again["alerted"] == [] and len(receiver.received) == 1


def test_reporting_periods_of_a_year_the_calendar_does_not_carry_count_monday_to_friday():
    import datetime as dt

    from safety_hub.domain.reporting import period_of
    from safety_hub.domain.workdays import covered

    year = next(y for y in range(2026, 2100) if not covered(y))
    monday = next(dt.date(year, 1, d) for d in range(1, 8) if dt.date(year, 1, d).weekday() == 0)
    saturday = monday + dt.timedelta(days=5)
    assert period_of(saturday, "working_day", 1) is None
    assert period_of(monday, "working_day", 1).due == monday + dt.timedelta(days=1)
    assert period_of(monday, "week", 0).due == monday + dt.timedelta(days=4)
