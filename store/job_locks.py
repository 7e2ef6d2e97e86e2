"""Which jobs are being run right now: an OS lock held by the process that runs a job.

A running job holds an exclusive fcntl record lock on one byte of `<database>-jobs.lock` (the byte is chosen by the
job id). The kernel drops the lock when the process ends in any way -- SIGKILL, a crash, power loss -- so "is this
job still running?" is answered by testing that byte, never by a pid that may have been reused, and a second
process that tries to run the same job finds the byte taken.

POSIX record locks belong to a process, not to a file descriptor: a process never conflicts with itself, and
closing any descriptor of the file would drop all of the process's locks on it. So this module keeps one descriptor
per lock file open for the life of the process and a registry of the jobs this process holds (an in-memory database,
which no other process can see, only uses the registry).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows: only this process's own jobs are known to be running
    fcntl = None  # type: ignore[assignment]

_guard = threading.Lock()
_fds: dict[str, int] = {}  # lock file -> descriptor, opened once per process and never closed
_held: set[tuple[str, str]] = set()  # (lock key, job id) run by this process
_BUSY = (errno.EACCES, errno.EAGAIN)


def lock_key(db: Any) -> str:
    """The lock file of a database (`<file>-jobs.lock`), or a per-connection key for an in-memory one."""
    row = db.execute("PRAGMA database_list").fetchone()
    path = row[2] if row else ""
    return os.path.realpath(path) + "-jobs.lock" if path else f"memory:{id(db)}"


def _offset(job_id: str) -> int:
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:6], "big")  # 2**48 bytes: no collisions


def _fd(key: str) -> int | None:
    if key.startswith("memory:") or fcntl is None:
        return None
    fd = _fds.get(key)
    if fd is None:
        try:
            fd = _fds[key] = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # a read-only folder: nobody can run a job on this database from here anyway
            return None
    return fd


def _try(fd: int, mode: int, offset: int) -> bool:
    try:
        fcntl.lockf(fd, mode | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        raise
    return True


def acquire(key: str, job_id: str, *, wait: float = 0.3) -> bool:
    """Take the job's lock for this process. False when another process (or this one) is running the job. A
    reader testing the lock holds it for a moment, hence the short `wait`."""
    deadline = time.monotonic() + wait
    with _guard:
        if (key, job_id) in _held:
            return False
        fd = _fd(key)
        if fd is not None:
            while not _try(fd, fcntl.LOCK_EX, _offset(job_id)):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
        _held.add((key, job_id))
        return True


def release(key: str, job_id: str) -> None:
    with _guard:
        if (key, job_id) not in _held:
            return
        _held.discard((key, job_id))
        fd = _fd(key)
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _offset(job_id), os.SEEK_SET)


def is_running(key: str, job_id: str) -> bool:
    """Is some live process running this job? (A shared test lock: it conflicts only with a runner's lock.)"""
    with _guard:
        if (key, job_id) in _held:
            return True
        fd = _fd(key)
        if fd is None:
            return False
        offset = _offset(job_id)
        if not _try(fd, fcntl.LOCK_SH, offset):
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)
        return False
