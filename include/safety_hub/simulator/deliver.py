"""Write one simulated day the way each agency delivers it.

- HCC: a GBK CSV with Chinese headers dropped in ``<out>/hcc/``;
- TC: rows upserted into the agency's own SQLite database ``<out>/tc/tc_agency.sqlite``;
- EMB: nothing on disk; ``server`` serves the hazard ledger over HTTP;
- the truth manifest in ``<out>/truth/<date>.json``.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from safety_hub.simulator.generate import DayData

HCC_FILE = "在建项目_{date:%Y%m%d}.csv"
TC_DB = "tc_agency.sqlite"
TC_TABLE = "t_wxhy_cl"


def write_hcc_csv(data: DayData, out_dir: Path) -> Path:
    rows = data.records["hcc_project"]
    path = out_dir / "hcc" / HCC_FILE.format(date=data.day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="gbk", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)  # a file appears complete or not at all
    return path


def write_tc_database(data: DayData, out_dir: Path) -> Path:
    rows = data.records["tc_dg_vehicle"]
    path = out_dir / "tc" / TC_DB
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TC_TABLE} ({', '.join(f'{c} TEXT' for c in cols)})")
        # Re-simulating a day replaces that day's rows, like the agency re-exporting it.
        db.execute(f"DELETE FROM {TC_TABLE} WHERE substr(GXSJ, 1, 10) = ?", (data.day.isoformat(),))
        db.executemany(
            f"INSERT INTO {TC_TABLE} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [tuple(r[c] for c in cols) for r in rows],
        )
    return path


def write_truth(data: DayData, out_dir: Path) -> Path:
    path = out_dir / "truth" / f"{data.day.isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data.truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_day(data: DayData, out_dir: Path) -> dict[str, Path]:
    """Write every file-based delivery and the truth manifest for one day."""
    out_dir = Path(out_dir)
    return {
        "hcc_project": write_hcc_csv(data, out_dir),
        "tc_dg_vehicle": write_tc_database(data, out_dir),
        "truth": write_truth(data, out_dir),
    }


def write_emb_pages(data: DayData, out_dir: Path, page_size: int = 200) -> Path:
    """The EMB API's pages for one day as files (what the server would return)."""
    rows = data.records["emb_hazard"]
    folder = Path(out_dir) / "emb" / f"{data.day:%Y%m%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pages = max(1, -(-len(rows) // page_size))
    for page in range(1, pages + 1):
        chunk = rows[(page - 1) * page_size : page * page_size]
        body = {"code": 0, "data": {"records": chunk, "page": page, "page_size": page_size, "total": len(rows), "pages": pages}}
        (folder / f"page-{page:04d}.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return folder
