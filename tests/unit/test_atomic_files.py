"""Files another process may read or write at once are written whole (``safety_hub.config.files``).

The class: a file written in place is read half-written (a Data Docs page, a report, a sidecar,
``validation.json``), and two writers of one name write one file (a timestamp name, a temporary
name without a random part): the OpenLineage events torn by two Celery workers in one microsecond
were one case. Here the helpers, under processes and threads at once, and a scan of the package
for writes that bypass them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from safety_hub.config.files import LockTimeout, atomic_path, file_lock, write_atomic

ROOT = Path(__file__).resolve().parents[2]
SIZE = 1 << 20  # 1 MiB: many write() calls, long enough to be caught half-written in place


def _content(writer: int) -> bytes:
    return bytes([65 + writer]) * SIZE


def _write_many(path: str, writer: int, times: int) -> None:
    for _ in range(times):
        write_atomic(path, _content(writer))


def test_concurrent_writers_and_a_reader_never_meet_half_a_file(tmp_path):
    path = tmp_path / "reports" / "page.html"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    seen = set()
    with ThreadPoolExecutor(2) as pool:  # two threads of this process as well: one pid, two writers
        futures = [pool.submit(_write_many, str(path), w, 40) for w in (3, 4)]
        while any(p.is_alive() for p in procs) or not all(f.done() for f in futures):
            if path.exists():
                data = path.read_bytes()
                assert len(data) == SIZE and data == data[:1] * SIZE, "a reader saw half a file, or two writers in one"
                seen.add(data[:1])
        for f in futures:
            f.result()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert path.read_bytes() in {_content(w) for w in range(5)}
    assert [p.name for p in path.parent.iterdir()] == ["page.html"], "no temporary file left behind"
    assert seen, "the reader saw the file at least once while it was being written"


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "figures.json", '{"week": "2026-W48"}')
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_text("{half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == '{"week": "2026-W48"}'
    assert [p.name for p in tmp_path.iterdir()] == ["figures.json"]
    assert write_atomic(tmp_path / "new" / "folder" / "x.txt", "天津").read_text(encoding="utf-8") == "天津", "creates its folder"


def _count_under_lock(lock: str, counter: str, times: int) -> None:
    for _ in range(times):
        with file_lock(lock, "the counter"):
            value = int(Path(counter).read_text() or 0)
            time.sleep(0.001)  # a read-modify-write that interleaves without the lock
            Path(counter).write_text(str(value + 1))


@contextlib.contextmanager
def held_by_another_thread(lock):
    """``lock()`` (a lock's context manager) held by another thread for the block."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with lock():
            held.set()
            release.wait(10)

    other = threading.Thread(target=hold)
    other.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        other.join()


def test_file_lock_excludes_other_processes_and_names_what_it_waited_for(tmp_path):
    lock, counter = tmp_path / "gx" / ".lock", tmp_path / "counter"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_count_under_lock, args=(str(lock), str(counter), 30)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert counter.read_text() == "90", "no increment lost: one holder at a time"

    with held_by_another_thread(lambda: file_lock(lock, "the counter")):
        with pytest.raises(LockTimeout, match=r"^the counter is held by another run .*waited 0s, try again when it has finished$"):
            with file_lock(lock, "the counter", wait_seconds=0.2):
                pass


# --- the package writes through them ----------------------------------------------------------

# Calls that write a file's content. A line matching one must write a temporary path (its
# target named ``tmp``) or be listed below with the reason it is safe.
WRITES = re.compile(r"\.write_text\(|\.write_bytes\(|\bopen\([^)]*[\"'][wa]b?\+?[\"']|\.save\(|\.to_parquet\(|\.to_excel\(|"
                    r"\.to_csv\(|ParquetWriter\(|json\.dump\(")
SAFE = {
    ("include/safety_hub/config/files.py", "tmp.write_bytes(data)"): "the helper itself",
    ("include/safety_hub/config/files.py", 'open(path, "a+")'): "the lock file (flock), no content",
    ("include/safety_hub/reporting/catalogue.py", ".to_excel(writer,"): "an ExcelWriter on atomic_path's temporary",
    ("include/safety_hub/warehouse/engine.py", 'open(self.path, "a+")'): "the DuckDB writer lock file (flock), no content read",
    ("include/safety_hub/ingest/raw.py", 'open(tmp / raw.name, "wb")'): "inside a new folder of its own, renamed into place whole",
    ("include/safety_hub/ingest/raw.py", "(tmp / SIDECAR).write_text("): "inside a new folder of its own, renamed into place whole",
    ("include/safety_hub/warehouse/build.py", "pq.ParquetWriter(path, schema)"): "in a TemporaryDirectory of its own",
    ("include/safety_hub/quality/docs.py", "ctx.variables.save()"): "GX's config, under the GX project lock",
    ("include/safety_hub/reporting/workbook.py", "build_workbook(fig).save(out)"): "to a BytesIO",
}


def _writes() -> list[tuple[str, int, str]]:
    found = []
    for folder in ("include/safety_hub", "dags", "plugins"):
        for source in sorted((ROOT / folder).rglob("*.py")):
            rel = source.relative_to(ROOT).as_posix()
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
                if WRITES.search(line) and not line.lstrip().startswith("#"):
                    found.append((rel, number, line.strip()))
    return found


def test_the_package_writes_shared_files_whole():
    """Every write in the package goes to a temporary path renamed into place, or is listed in
    SAFE with its reason; a new in-place write fails here, naming the file and line."""
    writes = _writes()
    assert len(writes) >= 10, "the scan finds the package's writes"
    unsafe = [f"{rel}:{n}: {line}" for rel, n, line in writes
              if not re.search(r"\btmp\b|\.tmp\b", line) and not any(rel == f and s in line for f, s in SAFE)]
    assert not unsafe, "written in place (use safety_hub.config.files):\n" + "\n".join(unsafe)
    stale = [key for key in SAFE if not any(rel == key[0] and key[1] in line for rel, _, line in writes)]
    assert not stale, f"SAFE lists writes that are gone: {stale}"


def test_a_stage_waits_for_another_run_of_the_same_feed_and_day(tmp_path, monkeypatch):
    """A CLI replay beside the DAG's run of one day: the second waits for the first (here, past
    its wait: it fails in one line naming the feed and day, having touched nothing)."""
    import datetime as dt

    from safety_hub import pipeline

    monkeypatch.setenv("SAFETY_HUB_HOME", str(tmp_path))
    monkeypatch.setattr(pipeline, "PARTITION_WAIT_SECONDS", 0.3)
    day = dt.date(2026, 11, 2)
    with held_by_another_thread(lambda: pipeline.partition_lock("emb_hazard", day)):  # a replay elsewhere
        with pytest.raises(LockTimeout, match=r"^feed emb_hazard 2026-11-02 is held by another run .*dt=2026-11-02\.lock\); waited 0s"):
            pipeline.run_land("emb_hazard", day)
        assert not (tmp_path / "data" / "raw").exists(), "nothing touched"
        with pipeline.partition_lock("emb_hazard", day + dt.timedelta(days=1)):
            pass  # another day of the feed is not held
    with pipeline.partition_lock("emb_hazard", day), pipeline.partition_lock("emb_hazard", day):
        pass  # re-entrant in one thread: run_replay holds it over the stages that take it
