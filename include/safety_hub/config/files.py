"""Files written whole, and a lock between processes: the one way the package writes a file that
another process may read or write at the same time.

Celery workers run many feeds' tasks at once, the scheduler and CLI commands (``replay``,
``backfill``, ``report``, ``returns``) run beside them, and people open reports and Data Docs
while they are written. A file written in place can be read half-written, and two writers of
one name (a temporary name without a random part, a name made from a timestamp) write one file.
So:

* ``write_atomic(path, content)``: the content goes to a hidden temporary file of its own (pid
  and a random part) beside ``path``, then ``os.replace`` puts it in place: a reader sees the
  old file or the new one, never half of either, and the last writer wins whole.
* ``atomic_path(path)``: the same for writers that need a path (parquet, openpyxl): write to
  the path it yields; it is renamed into place when the block ends without an error, and
  removed when it raises.
* ``file_lock(path)``: an exclusive ``flock`` on ``path`` for the block, for stores whose own
  writes are in place (the Great Expectations project under ``data/gx/``).

Nothing written in place is read by another process: ``tests/unit/test_atomic_files.py`` checks
the package's sources for writes that bypass these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` that no other writer uses (outside a ``<name>*`` glob of readers)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, content: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``content`` (text in ``encoding``) so that ``path`` appears complete or not at all."""
    data = content.encode(encoding) if isinstance(content, str) else content
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


class LockTimeout(RuntimeError):
    """Another process held a ``file_lock`` longer than the wait allows."""


def wait_for_flock(handle, wait_seconds: float, what: str) -> bool:
    """Take an exclusive ``flock`` on the open file ``handle``, polling for up to ``wait_seconds``
    while another process holds it (logged once, naming ``what``); False when the wait ran out."""
    import fcntl

    deadline, waited = time.monotonic() + wait_seconds, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not waited:
                waited = True
                log.info("waiting up to %.0fs for %s, held by another run", wait_seconds, what)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


_held = threading.local()  # the lock files this thread holds, and how deep: file_lock is re-entrant per thread


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str, wait_seconds: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; wait up to
    ``wait_seconds`` for another holder, then fail in one line naming ``what`` is locked.

    Re-entrant within a thread (``run_replay`` holds a partition's lock over the stages that
    each take it); other threads and processes wait."""
    import fcntl

    path = Path(path).absolute()
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(path):
        depth[path] += 1
        try:
            yield
        finally:
            depth[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if not wait_for_flock(handle, wait_seconds, f"{what} ({path})"):
            raise LockTimeout(f"{what} is held by another run ({path}); waited {wait_seconds:.0f}s, try again when it has finished")
        depth[path] = 1
        try:
            yield
        finally:
            depth.pop(path, None)
            fcntl.flock(handle, fcntl.LOCK_UN)
