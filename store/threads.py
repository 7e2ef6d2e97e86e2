"""One SQLite connection per thread (WAL lets them read concurrently; writers wait on the busy timeout)."""

from __future__ import annotations

import threading
from typing import Any

from .core import Store


class ThreadLocalStore:
    """Looks like a Store; each thread that touches it gets its own connection to the same file."""

    def __init__(self, path: str):
        if path == ":memory:":
            raise ValueError("a thread-local store needs a database file")
        self.path = path
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def _store(self) -> Store:
        s = getattr(self._local, "store", None)
        if s is None:
            s = self._local.store = Store.open(self.path, migrate=False)
            with self._lock:
                self._all.append(s)
        return s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store(), name)

    def close(self) -> None:
        with self._lock:
            for s in self._all:
                try:
                    s.close()
                except Exception:  # a connection of a finished thread may be gone
                    pass
            self._all.clear()
