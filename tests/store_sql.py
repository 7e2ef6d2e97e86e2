"""Tests read tables directly to check what the store wrote; package code reaches SQLite only through the store's
named operations, so this is the one door tests use."""

from __future__ import annotations

from typing import Any

from enrich.store.rows import select, select_one


def rows(store: Any, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return select(store, sql, params)


def one(store: Any, sql: str, params: Any = ()) -> dict[str, Any] | None:
    return select_one(store, sql, params)
