"""One in-process write lock per database file.

SQLite lets one writer in at a time. A connection that finds the file locked waits in SQLite's busy handler, which
sleeps in steps (1, 2, 5, 10, 15 ms, ...) instead of waking when the lock is freed; with 32 worker threads writing
the call log and field values, those sleeps cost more than the writes. Threads of one process therefore queue on
this lock first and reach SQLite one at a time; other processes still meet the busy timeout.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_by_path: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_fallback = threading.RLock()  # a Database not opened by Store.open (tests hand llm_log a bare one)


def for_path(path: str) -> threading.RLock:
    """The lock of a database file (a fresh one for ":memory:", which no other connection can see)."""
    if path == ":memory:":
        return threading.RLock()
    key = os.path.realpath(path)
    with _guard:
        return _by_path.setdefault(key, threading.RLock())


def of(db: Any) -> threading.RLock:
    return getattr(db, "write_lock", None) or _fallback


def share(store: Any, lock: Any) -> None:
    """Make `lock` (e.g. a multiprocessing lock) the write lock of this store's connection: the worker processes of
    one job queue on it, and wake as soon as it is free, instead of sleeping in SQLite's busy handler."""
    store.db.write_lock = lock
