"""Nested store transactions are savepoints: an inner block that raises undoes only its own writes, the outer one
still commits, and nesting works at any depth (the savepoints are named by depth)."""

from __future__ import annotations

import contextlib

import pytest

from enrich.store import Store


class Boom(Exception):
    pass


def _names(store: Store) -> list[str]:
    return [r[0] for r in store.db.conn.execute("SELECT name FROM t ORDER BY name")]


def test_an_inner_failure_undoes_only_the_inner_writes(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.db.conn.execute("CREATE TABLE t (name TEXT)")
    with store.transaction():
        store.insert_row("t", {"name": "outer"})
        with pytest.raises(Boom), store.transaction():
            store.insert_row("t", {"name": "inner"})
            raise Boom
        with store.transaction():
            store.insert_row("t", {"name": "second"})
            with pytest.raises(Boom), store.transaction():
                store.insert_row("t", {"name": "deepest"})
                raise Boom
            with store.transaction():
                store.insert_row("t", {"name": "deep"})
    assert _names(store) == ["deep", "outer", "second"]
    assert not store.db.conn.in_transaction


def test_an_outer_failure_undoes_every_nested_write(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.db.conn.execute("CREATE TABLE t (name TEXT)")
    with pytest.raises(Boom), store.transaction():
        store.insert_row("t", {"name": "outer"})
        with store.transaction(), store.transaction():
            store.insert_row("t", {"name": "inner"})
        raise Boom
    assert _names(store) == []
    with store.transaction(), store.transaction():  # the depth count is back at zero
        store.insert_row("t", {"name": "after"})
    assert _names(store) == ["after"]


def test_savepoints_in_memory_roll_back_alike_and_the_setting_is_restored(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.db.conn.execute("CREATE TABLE t (name TEXT)")
    before = store.db.conn.execute("PRAGMA temp_store").fetchone()[0]
    with store.savepoints_in_memory():
        assert store.db.conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        with store.transaction():
            for i in range(100):  # far more changed pages than SQLite keeps in memory by default
                with contextlib.suppress(Boom), store.transaction():
                    store.insert_row("t", {"name": f"{i:03d}" + "x" * 5000})
                    if i % 3 == 0:
                        raise Boom
    assert store.db.conn.execute("PRAGMA temp_store").fetchone()[0] == before
    assert [n[:3] for n in _names(store)] == [f"{i:03d}" for i in range(100) if i % 3]
