"""The command line: feeds, simulate, validate (exit 0 within threshold, 1 over, 2 unreadable)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from safety_hub.cli import main
from safety_hub_dev.simulator import generate_day

DAY = dt.date(2026, 11, 2)


def test_feeds_lists_every_registered_feed(capsys):
    from safety_hub.registry import load_registry

    assert main(["feeds"]) == 0
    out = capsys.readouterr().out
    for feed_id, feed in load_registry().items():
        assert feed_id in out and feed.delivery.kind in out


def test_simulate_writes_every_agency_and_the_truth(tmp_path, capsys):
    assert main(["simulate", "--date", DAY.isoformat(), "--out", str(tmp_path)]) == 0
    truth = json.loads((tmp_path / "truth" / f"{DAY}.json").read_text(encoding="utf-8"))
    from safety_hub_dev.simulator.spec import SPECS

    assert set(truth["feeds"]) == set(SPECS)
    assert (tmp_path / "hcc" / f"在建项目_{DAY:%Y%m%d}.csv").exists()
    assert (tmp_path / "tc" / "tc_agency.sqlite").exists()
    pages = sorted((tmp_path / "api" / "hazards" / f"{DAY:%Y%m%d}").glob("page-*.json"))
    assert sum(len(json.loads(p.read_text(encoding="utf-8"))["data"]["records"]) for p in pages) == truth["feeds"]["emb_hazard"]["rows_delivered"]


def _write_csv(path, rows, encoding="gbk"):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def test_validate_within_threshold_prints_counts_per_rule(tmp_path, capsys):
    data = generate_day(DAY)
    path = _write_csv(tmp_path / "drop.csv", data.records["hcc_project"])
    assert main(["validate", "--feed", "hcc_project", str(path), "--date", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    expected_bad = sum(1 for d in data.truth["feeds"]["hcc_project"]["defects"] if d["expected_rule"])
    assert f"rows {len(data.records['hcc_project'])}" in out
    assert f"quarantined {expected_bad}" in out
    assert "uscc.valid_uscc" in out


def test_validate_over_threshold_exits_1(tmp_path, capsys):
    rows = generate_day(DAY).records["hcc_project"]
    for row in rows:
        row["施工单位统一社会信用代码"] = "91120116697415782D"  # wrong check character everywhere
    path = _write_csv(tmp_path / "bad.csv", rows)
    assert main(["validate", "--feed", "hcc_project", str(path), "--date", DAY.isoformat()]) == 1
    assert f"quarantined {len(rows)}" in capsys.readouterr().out


@pytest.mark.parametrize("content, reason", [
    ("utf8", "UTF-16 text"),
    ("missing", "does not exist"),
])
def test_validate_unreadable_input_exits_2_with_one_line(tmp_path, capsys, content, reason):
    path = tmp_path / "drop.csv"
    if content == "utf8":
        _write_csv(path, generate_day(DAY).records["hcc_project"], encoding="utf-16")
    rc = main(["validate", "--feed", "hcc_project", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: feed hcc_project:")
    assert reason.split()[0] in err or "No such file" in err


def test_validate_unknown_feed_exits_2(tmp_path, capsys):
    assert main(["validate", "--feed", "nope_feed", str(tmp_path / "x.csv")]) == 2
    assert "unknown feed 'nope_feed'" in capsys.readouterr().err


def test_dags_readme_schedule_table_is_current():
    from pathlib import Path

    from safety_hub.cli import schedule_table

    readme = (Path(__file__).resolve().parents[2] / "dags" / "README.md").read_text(encoding="utf-8")
    assert schedule_table() in readme, "regenerate with: python -m safety_hub feeds --markdown"


def test_validate_reads_a_folder_of_api_pages(tmp_path, capsys):
    from safety_hub_dev.simulator.deliver import write_api_pages

    data = generate_day(DAY)
    folder = write_api_pages(data, tmp_path, page_size=50)["emb_hazard"]
    assert len(list(folder.glob("page-*.json"))) > 1
    assert main(["validate", "--feed", "emb_hazard", str(folder), "--date", DAY.isoformat()]) == 0
    assert f"rows {data.truth['feeds']['emb_hazard']['rows_delivered']} " in capsys.readouterr().out
    assert main(["validate", "--feed", "hcc_project", str(folder)]) == 2  # a folder is only an API feed's delivery
    assert "a folder of pages is for an API feed" in capsys.readouterr().err


def test_validate_checks_the_count_in_the_marker_beside_the_file(tmp_path, capsys, monkeypatch):
    import safety_hub.registry as registry

    feed = registry.get_feed("hcc_project")
    marked = feed.model_copy(update={"delivery": feed.delivery.model_copy(update={"marker_suffix": ".ok"})})
    monkeypatch.setattr(registry, "get_feed", lambda feed_id: marked)
    rows = generate_day(DAY).records["hcc_project"]
    path = _write_csv(tmp_path / "drop.csv", rows)
    (tmp_path / "drop.csv.ok").write_text(f"rows={len(rows)}")
    assert main(["validate", "--feed", "hcc_project", str(path), "--date", DAY.isoformat()]) == 0
    capsys.readouterr()
    (tmp_path / "drop.csv.ok").write_text(f"{len(rows) + 1}\n")
    assert main(["validate", "--feed", "hcc_project", str(path), "--date", DAY.isoformat()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"announces {len(rows) + 1} rows and holds {len(rows)}" in err


def test_validate_refusal_is_one_line_of_300_characters_prefix_included(tmp_path, capsys):
    """A refusal naming many columns (another feed's file) is cut to 300 characters with its "error: " prefix."""
    rows = generate_day(DAY).records["agri_fishing_vessel"]
    path = _write_csv(tmp_path / "drop.csv", rows)
    assert main(["validate", "--feed", "hcc_project", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) <= 300 and "missing required column" in err


def test_validate_show_lists_the_rejected_rows(tmp_path, capsys):
    data = generate_day(DAY)
    path = _write_csv(tmp_path / "drop.csv", data.records["hcc_project"])
    assert main(["validate", "--feed", "hcc_project", str(path), "--date", DAY.isoformat(), "--show", "3"]) == 0
    captured = capsys.readouterr()
    shown = [line for line in captured.out.splitlines() if line.lstrip().startswith("row ")]
    assert len(shown) == 3 and all("(" in line for line in shown), captured.out
    assert "internal error" not in captured.err and captured.err == ""


# --- a reader that goes away (`... | head`) ------------------------------------------------------

def _run_with_closed_stdout(*args: str):
    """Run the CLI in a process whose stdout pipe is closed by its reader before the output is written."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SAFETY_HUB_LOG": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "safety_hub", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the CLI (still importing) writes a line
    err = proc.stderr.read().decode("utf-8", "replace")
    return proc.wait(timeout=120), err


def test_a_closed_pipe_ends_quietly_with_141():
    from safety_hub.cli import BROKEN_PIPE_EXIT

    code, err = _run_with_closed_stdout("feeds")
    assert code == BROKEN_PIPE_EXIT == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and err == "", err


def test_head_of_a_long_output_is_the_output_and_no_traceback(tmp_path):
    """As a shell pipeline: `python -m safety_hub simulate ... | head -2` (pipefail shows the CLI's own exit)."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("bash") or not shutil.which("head"):
        pytest.skip("needs bash and head")
    cmd = (f"set -o pipefail; '{sys.executable}' -m safety_hub simulate --date {DAY} --days 3 --out '{tmp_path}' "
           f"| head -2; echo \"exit=$?\" >&2")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert len(done.stdout.splitlines()) == 2 and done.stdout.startswith(f"{DAY}  "), done.stdout
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] in ("exit=141", "exit=0"), done.stderr  # 0 only if all fit in the pipe first


def test_broken_pipe_in_a_command_is_caught_by_main(monkeypatch, capsys):
    import safety_hub.cli as cli

    def fails(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "cmd_feeds", fails)
    monkeypatch.setattr(cli, "_stdout_closed", lambda: cli.BROKEN_PIPE_EXIT)  # pytest owns this process's stdout
    assert cli.main(["feeds"]) == 141
