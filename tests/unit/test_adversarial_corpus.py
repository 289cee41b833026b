"""The adversarial corpus (issue 14, "Lossless or loud"): every hostile delivery made by
``tests/adversarial/generate.py`` gives exactly the outcome its manifest states, through
``python -m safety_hub validate`` run in-process.

A delivery is read in full (every physical row a record or set aside with a reason; the
records, set-aside rows and quarantined rows per rule as derived from the simulator's
truth and the mutation) or refused in one line of at most 300 characters (exit 2); never a
traceback, never a row lost with a success status. The Excel workbooks that once took
minutes and gigabytes (``trap``) run in subprocesses limited to 1.5 GiB of address space
and 60 s each.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import resource
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from adversarial import generate

CASES = {c.id: c for c in generate.build()}
IN_PROCESS = sorted(i for i, c in CASES.items() if not c.trap)
TRAPS = sorted(i for i, c in CASES.items() if c.trap)
CASE_SECONDS = 60
TRAP_MEMORY = int(1.5 * (1 << 30))
# Text a valid row may not carry: C0 controls but tab and line ends, DEL, C1 controls, zero-width characters.
UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    """The corpus written once, and its manifest read back (the manifest is the contract)."""
    root = tmp_path_factory.mktemp("adversarial")
    manifest = json.loads(generate.write(root).read_text(encoding="utf-8"))
    return root, {c["id"]: c for c in manifest["cases"]}


def test_the_corpus_covers_every_class_and_delivery_kind(corpus):
    _, cases = corpus
    assert len(cases) >= 80
    classes = Counter(c["class"] for c in cases.values())
    assert set(classes) == set(generate.CLASSES), classes
    kinds = {c["kind"].split("/")[0] for c in cases.values()}
    assert kinds == {"csv", "xlsx", "api", "sql"}
    csv_encodings = {c["kind"] for c in cases.values() if c["kind"].startswith("csv/")}
    assert {"csv/gbk", "csv/utf-8-bom", "csv/gb18030", "csv/utf-16"} <= csv_encodings
    for c in cases.values():
        assert (corpus[0] / c["path"]).exists(), c["id"]
        assert c["expect"]["outcome"] == "read" or (c["expect"]["exit"] == 2 and c["expect"]["message"])


def _feed_for(case: dict):
    """The registered feed, or its copy with the case's overrides (smaller limits, a marker)."""
    from safety_hub.config.registry import get_feed

    feed = get_feed(case["feed"])
    update = {}
    for part, values in case.get("overrides", {}).items():
        update[part] = getattr(feed, part).model_copy(update=values)
    return feed.model_copy(update=update) if update else feed


@pytest.fixture
def run_case(corpus, monkeypatch):
    """Run one case through ``main(["validate", ...])`` in-process: (exit code, stdout, stderr, seen, seconds)."""
    import safety_hub.ingest.landing as landing
    import safety_hub.quality.validate as validate
    import safety_hub.config.registry as registry
    from safety_hub.cli import main

    root, cases = corpus

    def run(case_id: str):
        case = cases[case_id]
        feed = _feed_for(case)
        real_get, real_parse, real_check = registry.get_feed, landing.parse_files, validate.check_batch
        seen = {}
        monkeypatch.setattr(registry, "get_feed", lambda feed_id: feed if feed_id == feed.feed_id else real_get(feed_id))
        monkeypatch.setattr(landing, "parse_files", lambda *a, **kw: seen.setdefault("parsed", real_parse(*a, **kw)))
        monkeypatch.setattr(validate, "check_batch", lambda *a, **kw: seen.setdefault("check", real_check(*a, **kw)))
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["validate", "--feed", case["feed"], str(root / case["path"]), "--date", case["date"]])
        seen["feed"] = feed
        return rc, out.getvalue(), err.getvalue(), seen, time.monotonic() - started

    return run


def _word(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w])", text) is not None


def problems(case: dict, rc: int, out: str, err: str, seen: dict | None = None) -> list[str]:
    """Every way the run differs from the case's expected outcome (empty: exactly as expected)."""
    want = case["expect"]
    found = []
    if "Traceback" in out + err:
        found.append("a traceback")
    if rc != want["exit"]:
        found.append(f"exit {rc}, expected {want['exit']} ({want['outcome']})")
    if want["outcome"] == "refused":
        lines = [line for line in err.splitlines() if line.strip()]
        if len(lines) != 1:
            found.append(f"{len(lines)} lines on stderr, expected one: {err[:300]!r}")
        line = lines[-1] if lines else ""
        if len(line) > 300:
            found.append(f"a {len(line)}-character line")
        if not line.startswith(f"error: feed {case['feed']}"):
            found.append(f"the line does not name the feed: {line[:300]!r}")
        for needle in [want["message"]]:
            if needle not in line:
                found.append(f"{needle!r} not in {line[:300]!r}")
        for word in want.get("message_words", []):
            if not _word(word, line):
                found.append(f"no {word!r} in {line[:300]!r}")
        if "physical rows" in out:
            found.append("read, though it must be refused: " + " | ".join(out.splitlines()[1:3]))
        return found

    if rc == 2:
        return found + [f"refused, though it must be read: {err.strip()[:300]}"]
    head = re.search(r"^physical rows (\d+) += records (\d+) \+ set aside (\d+) *([^\n]*)$", out, re.M)
    rows = re.search(r"^rows (\d+)\s+valid (\d+)\s+quarantined (\d+)", out, re.M)
    if not head or not rows:
        return found + [f"no counts in the output: {out[:300]!r}"]
    physical, records, aside_total = (int(head.group(i)) for i in (1, 2, 3))
    words = head.group(4).split()
    aside = {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    rule_counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\S+)\s+(\d+)$", out, re.M)}
    if physical != records + aside_total:
        found.append(f"physical rows {physical} != records {records} + set aside {aside_total}")
    if int(rows.group(1)) != records:
        found.append(f"rows {rows.group(1)} != records {records}")
    for name, got, expected in (("records", records, want["records"]), ("physical rows", physical, want["physical"]),
                                ("quarantined rows", int(rows.group(3)), want["quarantined_rows"])):
        if got != expected:
            found.append(f"{name} {got}, expected {expected}")
    if aside != want["set_aside"]:
        found.append(f"set aside {aside}, expected {want['set_aside']}")
    for rule, n in want["quarantined"].items():
        if rule_counts.get(rule, 0) != n:
            found.append(f"{rule}: {rule_counts.get(rule, 0)} quarantined, expected {n}")
    if seen is None or "check" not in seen:
        return found
    check, feed = seen["check"], seen["feed"]
    flagged = Counter(rule for rules in check.flags.values() for rule in rules)
    for rule, n in want["flagged"].items():
        if flagged.get(rule, 0) != n:
            found.append(f"{rule}: {flagged.get(rule, 0)} flagged, expected {n}")
    valid = check.valid_rows()
    key = feed.key[0]
    distinct = valid[key].dropna().astype(str).nunique() if key in valid.columns else 0
    if distinct != want["distinct_valid_keys"]:
        found.append(f"{distinct} distinct keys among the valid rows, expected {want['distinct_valid_keys']}")
    unclean = []
    for column in valid.columns:
        values = valid[column]
        if values.dtype.kind in "Mmfiub":
            continue
        for value in values.dropna().astype(str):
            if UNCLEAN.search(value):
                unclean.append(f"{column}={value[:40]!r}")
    if unclean:
        found.append(f"control or zero-width characters in valid rows: {unclean[:3]}")
    return found


@pytest.mark.parametrize("case_id", IN_PROCESS)
def test_case(case_id, corpus, run_case):
    case = corpus[1][case_id]
    rc, out, err, seen, seconds = run_case(case_id)
    found = problems(case, rc, out, err, seen)
    if seconds > CASE_SECONDS:
        found.append(f"took {seconds:.0f} s")
    assert not found, f"{case_id} ({case['class']}: {case['title']}): " + "; ".join(found)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (TRAP_MEMORY, TRAP_MEMORY))


# RLIMIT_AS counts address space reserved, not memory used: pyarrow's jemalloc pool, glibc's
# per-thread malloc arenas and OpenBLAS's thread buffers reserve more than 1.5 GiB in a healthy
# run. With these the control workbook validates under the limit, so only a real blow-up trips it.
TRAP_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}
TRAP_BASELINE = "control-hcc_major_hazard_work"


def test_excel_traps_stay_within_memory_and_time(corpus):
    """The far stray cell, the merge over the whole sheet and the whole-sheet dimension: each
    answered in a process limited to 1.5 GiB of address space, within 60 s or, on a machine busy
    enough that the control workbook itself takes more than a tenth of that, within
    ``TRAP_FACTOR`` times the control's own time (measured first, alone, in the same run: the
    traps once took minutes where the control takes seconds). The control also shows the memory
    limit itself is not what fails."""
    root, cases = corpus
    assert len(TRAPS) >= 3
    control = _start_trap(root, cases[TRAP_BASELINE])
    failures = _finish_trap(cases[TRAP_BASELINE], *control, CONTROL_SECONDS)
    control_seconds = time.monotonic() - control[1]
    deadline = max(CASE_SECONDS, TRAP_FACTOR * control_seconds)
    procs = {case_id: _start_trap(root, cases[case_id]) for case_id in TRAPS}
    for case_id, (proc, started) in procs.items():
        failures.update(_finish_trap(cases[case_id], proc, started, deadline))
    assert not failures, f"control {control_seconds:.0f} s; " + "; ".join(f"{k}: {', '.join(v)}" for k, v in failures.items())


CONTROL_SECONDS = 600
TRAP_FACTOR = 6


def _start_trap(root: Path, case: dict) -> tuple[subprocess.Popen, float]:
    import os

    argv = [sys.executable, "-m", "safety_hub", "validate", "--feed", case["feed"], str(root / case["path"]), "--date", case["date"]]
    return (subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit_memory,
                             env={**os.environ, **TRAP_ENV}), time.monotonic())


def _finish_trap(case: dict, proc: subprocess.Popen, started: float, seconds: float) -> dict[str, list[str]]:
    try:
        out, err = proc.communicate(timeout=max(1.0, seconds - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {case["id"]: [f"no answer within {seconds:.0f} s (killed)"]}
    err = "\n".join(line for line in err.splitlines() if not line.startswith("INFO "))  # GX's own notes on a read
    found = problems(case, proc.returncode, out, err)
    if case["id"] == TRAP_BASELINE and proc.returncode not in (0, 1):
        found = [f"the control workbook is not read under the limit (the limit, not a trap, fails here): {err.strip()[:200]}"]
    if "MemoryError" in err or "Cannot allocate memory" in err:
        found.append("out of memory under the 1.5 GiB limit")
    return {case["id"]: found} if found else {}


def test_the_generator_runs_as_a_script(tmp_path):
    """``python tests/adversarial/generate.py --out DIR`` writes the same manifest the test reads."""
    script = Path(generate.__file__)
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((tmp_path / generate.MANIFEST).read_text(encoding="utf-8"))
    assert [c["id"] for c in manifest["cases"]] == [c.id for c in generate.build()]
    assert f"{len(manifest['cases'])} cases" in done.stdout


def test_expectations_follow_the_truth_not_a_run():
    """Spot checks of the derivation: the controls' counts are the simulator's truth."""
    src = generate.Source("hcc_project")
    control = CASES["control-hcc_project"].expect
    assert control["records"] == src.truth["rows_delivered"]
    assert control["distinct_valid_keys"] == src.truth["distinct_valid"]
    injected = Counter(src.rule_of[src.norm_key(r)] for r in src.records if src.norm_key(r) in src.rule_of)
    assert control["quarantined"] == dict(injected) and control["quarantined_rows"] == sum(injected.values())
    quotes = CASES["csv-unmatched-quotes"].expect
    assert quotes["quarantined"]["row.shape"] == 2 and quotes["records"] == control["records"]
    assert quotes["quarantined_rows"] == control["quarantined_rows"] + 2
    assert unicodedata.category("\u200b") == "Cf" and UNCLEAN.search("a\u200bb") and not UNCLEAN.search("a\tb\n")
