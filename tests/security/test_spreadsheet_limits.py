"""Issue 15, finding 10: spreadsheets and CSVs were unbounded (a 5 KB workbook with one merged
range took 1.6 GB and 128 s; XML entities were expanded).

Through the real stage functions (``run_feed``: extract, land, validate, load) with the feeds'
own limits (``limits:`` in the registry, defaults unless a feed sets them): each hostile delivery is
refused in one line naming the limit, in little memory, and kept among the refused deliveries;
nothing reaches the warehouse. ``defusedxml`` is installed, so openpyxl parses through it."""

from __future__ import annotations

import datetime as dt
import io
import json
import tracemalloc
import zipfile

import pytest

from safety_hub.domain.errors import FeedError
from safety_hub.pipeline import run_feed

pytestmark = pytest.mark.e2e
DAY = dt.date(2026, 11, 27)
XLSX_FEED, CSV_FEED = "emb_policy_measure", "hcc_project"


def _workbook() -> bytes:
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import xlsx_bytes

    return xlsx_bytes(generate_day(DAY).records[XLSX_FEED][:3], "制度措施清单")


def _patch_sheet(content: bytes, fn) -> bytes:
    src, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, fn(data) if item.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


WHOLE_SHEET_MERGE = lambda x: x.replace(b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>')  # noqa: E731
LAUGHS = (b'<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><worksheet')
BILLION_LAUGHS = lambda x: x.replace(b"<worksheet", LAUGHS, 1)  # noqa: E731


@pytest.fixture
def drops(hub, tmp_path, monkeypatch):
    """Drop folders of this test's own for the Excel feed's and the CSV feed's agencies."""
    from safety_hub.config.registry import get_feed

    folders = {}
    for feed_id in (XLSX_FEED, CSV_FEED):
        conn_id = get_feed(feed_id).delivery.conn_id
        folders[feed_id] = tmp_path / conn_id
        folders[feed_id].mkdir(exist_ok=True)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "fs", "extra": {"path": str(folders[feed_id])}}))
    return folders


def _refused(feed_id: str, content: bytes) -> tuple[str, int]:
    """Deliver ``content`` as the day's file, run the feed; the refusal's text and the peak traced memory."""
    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.config.registry import get_feed

    drop_path(get_feed(feed_id), DAY).write_bytes(content)
    tracemalloc.start()
    try:
        with pytest.raises(FeedError) as err:
            run_feed(feed_id, DAY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(err.value), peak


def _nothing_loaded(feed_id: str) -> None:
    from conftest import fact_keys
    from safety_hub.ingest.landing import partition_dir, refused_dir

    assert fact_keys(feed_id) == []
    assert not partition_dir(feed_id, DAY).exists(), "no partition for a refused delivery"
    kept = [p for p in refused_dir(feed_id, DAY).rglob("*") if p.is_file()]
    assert kept, "the refused delivery is kept with its reason"


def test_openpyxl_parses_through_defusedxml():
    import defusedxml  # noqa: F401  (in the lock)
    from openpyxl import xml

    assert xml.DEFUSEDXML is True


@pytest.mark.parametrize("patch, limit", [(WHOLE_SHEET_MERGE, "limits.max_sheet_cells"), (BILLION_LAUGHS, "DTD or entities")],
                         ids=["whole-sheet-merged-range", "billion-laughs"])
def test_a_hostile_workbook_is_refused_in_little_memory(drops, patch, limit):
    content = _patch_sheet(_workbook(), patch)
    assert len(content) < 20_000
    text, peak = _refused(XLSX_FEED, content)
    assert limit in text and XLSX_FEED in text, text
    assert "\n" not in text and len(text) <= 300
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB traced to refuse a {len(content)} byte workbook"
    _nothing_loaded(XLSX_FEED)


def test_an_oversized_csv_field_is_refused_in_one_line(drops):
    from safety_hub.config.registry import get_feed
    from safety_hub_dev.simulator import generate_day
    from safety_hub_dev.simulator.deliver import csv_bytes

    limit = get_feed(CSV_FEED).limits.max_field_chars
    rows = generate_day(DAY).records[CSV_FEED]
    rows[1]["项目名称"] = "工" * (limit + 1)
    text, _ = _refused(CSV_FEED, csv_bytes(rows, "gbk"))
    assert f"limits.max_field_chars={limit}" in text and CSV_FEED in text, text
    assert "工" * 50 not in text, "the field's content is not quoted"
    assert "\n" not in text and len(text) <= 300
    _nothing_loaded(CSV_FEED)
