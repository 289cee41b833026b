"""Issue 15, finding 3 (quarantine views): ``python -m safety_hub quarantine`` shows the values of a
feed's personal columns masked, and a refused row's raw text hidden, unless ``--unmask``."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from safety_hub.cli import main
from safety_hub.domain.masking import mask_value

FEED = "hcc_gas_inspection"
DAY = dt.date(2026, 10, 1)
PHONE, NAME, INSPECTOR = "13812345678", "张三丰", "王小明"
RAW_LINE = f"C9,91120000MA05KXXX1X,{NAME},{PHONE}"


@pytest.fixture
def quarantined(tmp_path, monkeypatch):
    """A DuckDB warehouse whose quarantine holds one record rejected by a rule and one refused at landing."""
    from safety_hub.warehouse.engine import ensure_schema, get_engine

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.delenv("SAFETY_HUB_WAREHOUSE_URL", raising=False)
    engine = get_engine()
    q = ensure_schema(engine).tables["quarantine"]
    now = dt.datetime.now(dt.timezone.utc)
    common = dict(feed_id=FEED, batch_id="b1", business_date=DAY, raw_file="raw/hcc_gas_inspection", quarantined_at=now)
    with engine.begin() as conn:
        conn.execute(q.insert(), [
            dict(common, row_number=2, record_key="C1", rule_id="customer_phone.masked", rule_description="联系电话须脱敏",
                 original_values=json.dumps({"YHBH": "C1", "YHXM": NAME, "LXDH": PHONE, "JCRY": INSPECTOR, "YHX": "软管超期"}, ensure_ascii=False)),
            dict(common, row_number=3, record_key="", rule_id="row.shape", rule_description="列数不符",
                 original_values=json.dumps({"_raw": RAW_LINE}, ensure_ascii=False)),
        ])
    engine.dispose()


def test_personal_values_are_masked_by_default(quarantined, capsys):
    assert main(["quarantine", "--feed", FEED]) == 0
    out = capsys.readouterr().out
    for secret in (PHONE, NAME, INSPECTOR, RAW_LINE):
        assert secret not in out, secret
    assert f"LXDH={mask_value(PHONE)}" in out and "LXDH=＊＊＊＊5678" in out
    assert "YHXM=张＊＊" in out and "JCRY=王＊＊" in out
    assert "YHBH=C1" in out and "YHX=软管超期" in out, "other columns as delivered"
    assert f"_raw=＊＊ ({len(RAW_LINE)} characters; --unmask shows them)" in out


def test_unmask_shows_them(quarantined, capsys):
    assert main(["quarantine", "--feed", FEED, "--unmask"]) == 0
    out = capsys.readouterr().out
    assert f"LXDH={PHONE}" in out and f"YHXM={NAME}" in out and f"JCRY={INSPECTOR}" in out and RAW_LINE in out


def test_mask_value_hides_all_but_a_hint():
    assert mask_value("张三丰") == "张＊＊" and mask_value("欧阳") == "欧＊＊"
    assert mask_value("13812345678") == "＊＊＊＊5678" and mask_value("138****5678") == "＊＊＊＊5678"
    assert mask_value("12010119900101123X") == "＊＊＊＊123X"
    assert mask_value("1234567") == "＊＊＊＊", "a short number keeps nothing"
    assert mask_value(None) is None and mask_value("") == ""
