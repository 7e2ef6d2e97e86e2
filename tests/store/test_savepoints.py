"""Nested store transactions are savepoints: an inner block that raises undoes only its own writes, the outer one
still commits, and nesting works at any depth (the savepoints are named by depth)."""

from __future__ import annotations

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
