"""Finding 14: every delivered original is kept, and a failed landing leaves no temporary folder.

A day delivered again replaces the accepted partition; the originals it replaces stay under
``dt=<date>/_previous/<extracted_at>/`` with their sidecar, so every ``raw_sha256`` that
``load_audit`` recorded can still be verified against the bytes. A landing that fails midway
(writing the bytes, swapping the partition, writing the parsed records) leaves no ``.tmp-*``,
``.old-*`` or temporary parquet file, and the accepted partition as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

FEED = "hcc_project"
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETY_HUB_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return tmp_path


def _rows(n: int | None = None) -> list[dict]:
    from safety_hub_dev.simulator import generate_day

    rows = generate_day(DAY).records[FEED]
    return rows[:n] if n else rows


def _land(content: bytes, name: str = "在建项目_20261102.csv") -> Path:
    from safety_hub.ingest.delivery import Extract, RawFile
    from safety_hub.ingest.landing import land_raw, land_records
    from safety_hub.config.registry import get_feed

    land_raw(Extract(FEED, DAY, "test", [RawFile(name, content)]))
    land_records(get_feed(FEED), DAY)
    from safety_hub.ingest.landing import partition_dir

    return partition_dir(FEED, DAY)


def _leftovers(home: Path) -> list[str]:
    raw = home / "data" / "raw"
    return sorted(str(p.relative_to(raw)) for p in raw.rglob("*") if p.name.startswith((".tmp-", ".old-", ".records.", ".rejects.")))


def test_a_replaced_delivery_keeps_its_originals_and_every_audited_sha256_verifies(home, monkeypatch):
    from deliveries import csv_bytes

    from safety_hub.ingest.kinds.file_drop import drop_path
    from safety_hub.ingest.landing import kept_deliveries, read_sidecar, verify_delivery
    from safety_hub.pipeline import run_feed
    from safety_hub.config.registry import get_feed
    from safety_hub.warehouse.engine import get_engine

    (home / "drop").mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_HCC_DROP", json.dumps({"conn_type": "fs", "extra": {"path": str(home / "drop")}}))
    rows = _rows()
    contents = [csv_bytes(rows[:40]), csv_bytes(rows), csv_bytes(rows, encoding="utf-8-sig")]  # a first cut, the whole day, re-sent as UTF-8
    for n, content in enumerate(contents):
        drop_path(get_feed(FEED), DAY).write_bytes(content)
        run_feed(FEED, DAY, batch_id=f"delivery-{n}")

    folders = kept_deliveries(FEED, DAY)
    assert len(folders) == 3, folders
    assert [read_sidecar(f)["sha256"] for f in folders] == [hashlib.sha256(c).hexdigest() for c in contents], "oldest first, current last"
    assert all(verify_delivery(f) for f in folders)
    for folder, content in zip(folders, contents):
        (name,) = [f["name"] for f in read_sidecar(folder)["files"]]
        assert (folder / name).read_bytes() == content
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == read_sidecar(folder)["files"][0]["sha256"]

    engine = get_engine()
    with engine.connect() as conn:
        audited = [r[0] for r in conn.execute(sa.text("SELECT raw_sha256 FROM load_audit WHERE feed_id = :f AND status = 'loaded' ORDER BY loaded_at"), {"f": FEED})]
    engine.dispose()
    kept = {read_sidecar(f)["sha256"]: f for f in folders}
    assert len(audited) == 3 and all(sha in kept and verify_delivery(kept[sha]) for sha in audited), "every audited delivery still verifies"
    assert _leftovers(home) == []


def test_a_replaced_partition_still_parses_and_replays(home):
    """The kept originals sit beside the partition's own files and do not change what it reads."""
    from deliveries import csv_bytes

    from safety_hub.ingest.landing import partition_dir, read_records
    from safety_hub.pipeline import run_land

    _land(csv_bytes(_rows(10)))
    part = _land(csv_bytes(_rows(25)))
    assert len(read_records(part)[0]) == 25
    assert run_land(FEED, DAY)["rows"] == 25, "a replay reads the current delivery only"
    assert (partition_dir(FEED, DAY) / "_previous").is_dir()


def test_a_landing_that_fails_while_writing_leaves_no_temporary_folder(home):
    from deliveries import csv_bytes

    from safety_hub.ingest.delivery import Extract, RawFile
    from safety_hub.ingest.landing import land_raw, pending_dir

    part = _land(csv_bytes(_rows(10)))
    before = sorted(p.name for p in part.iterdir())
    broken = Extract(FEED, DAY, "test", [RawFile("a.csv", csv_bytes(_rows(5))), RawFile("b.csv", None)])  # the second file fails midway
    with pytest.raises(TypeError):
        land_raw(broken)
    assert _leftovers(home) == []
    assert not pending_dir(FEED, DAY).exists()
    assert sorted(p.name for p in part.iterdir()) == before, "the accepted partition is untouched"


def test_a_landing_that_fails_at_the_swap_keeps_the_accepted_partition(home, monkeypatch):
    from deliveries import csv_bytes

    from safety_hub.ingest.landing import read_sidecar

    part = _land(csv_bytes(_rows(10)))
    accepted = read_sidecar(part)["sha256"]
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".pending-") and not Path(target).name.startswith(".old-"):
            raise OSError("disk gone")  # the new partition cannot be moved into place
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk gone"):
        _land(csv_bytes(_rows(20)))
    monkeypatch.undo()
    assert read_sidecar(part)["sha256"] == accepted, "the accepted partition stays in place"
    assert _leftovers(home) == []


def test_a_landing_that_fails_writing_records_leaves_no_temporary_file(home, monkeypatch):
    import pandas as pd

    from deliveries import csv_bytes

    real = pd.DataFrame.to_parquet

    def half_written(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half")
        raise OSError("no space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)
    with pytest.raises(OSError, match="no space"):
        _land(csv_bytes(_rows(10)))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    assert _leftovers(home) == []
