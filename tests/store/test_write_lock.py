"""Threads of one process reach SQLite's write lock one at a time through store/locks.py."""

from __future__ import annotations

import threading
import time

import pytest
from store_sql import rows as sql_rows

from enrich.store import Store, locks


def test_connections_to_one_file_share_one_lock_and_memory_stores_do_not(tmp_path):
    a, b = Store.open(tmp_path / "x.db"), Store.open(str(tmp_path / "sub" / ".." / "x.db"))
    other = Store.open(tmp_path / "y.db")
    assert locks.of(a.db) is locks.of(b.db) and locks.of(a.db) is not locks.of(other.db)
    assert locks.of(Store.open(":memory:").db) is not locks.of(Store.open(":memory:").db)


def job(job_id: str) -> dict:
    return {"id": job_id, "kind": "enrich", "state": "done", "started_at": "2026-11-22T00:00:00Z"}


def test_a_second_thread_waits_for_the_first_transaction_instead_of_failing(tmp_path):
    path = tmp_path / "x.db"
    second = Store.open(path)
    second.db.execute("PRAGMA busy_timeout = 0")  # without the in-process lock this would be 'database is locked'
    order: list[str] = []
    inside = threading.Event()

    def hold() -> None:
        first = Store.open(path)  # a connection belongs to the thread that opened it
        with first.transaction():  # BEGIN IMMEDIATE: holds SQLite's write lock until the commit
            first.insert_row("jobs", job("J1"))
            inside.set()
            time.sleep(0.2)
            order.append("first commits")

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    with second.transaction():
        order.append("second writes")
        second.insert_row("jobs", job("J2"))
    t.join()
    assert order == ["first commits", "second writes"]
    assert [r["id"] for r in sql_rows(second, "SELECT id FROM jobs ORDER BY id")] == ["J1", "J2"]


def test_insert_row_refuses_to_run_outside_a_transaction(tmp_path):
    store = Store.open(tmp_path / "x.db")
    with pytest.raises(RuntimeError, match="transaction"):
        store.insert_row("audit_log", {"actor": "x", "action": "y", "created_at": "now"})
