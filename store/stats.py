"""What the store holds and how many bytes each part takes (bench/bench_scale.py, sizing a deployment)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Store


def table_bytes(store: Store) -> dict[str, int]:
    """Bytes per table, its indexes included (SQLite's dbstat), after a WAL checkpoint."""
    conn = store.db.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    by_name: dict[str, int] = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    owner: dict[str, str] = dict(
        conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE name IS NOT NULL").fetchall()
    )
    out: dict[str, int] = {}
    for name, size in by_name.items():
        table = owner.get(name, name)
        out[table] = out.get(table, 0) + size
    return out


def counts(store: Store) -> dict[str, Any]:
    conn = store.db.conn
    return {
        "researchers": conn.execute("SELECT count(*) FROM researchers WHERE merged_into IS NULL").fetchone()[0],
        "calls": conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0],
        "proposals": dict(conn.execute("SELECT kind, count(*) FROM proposals GROUP BY kind").fetchall()),
        "pending": conn.execute("SELECT count(*) FROM proposals WHERE state = 'pending'").fetchone()[0],
    }


def pending_merge_group_sizes(store: Store) -> list[int]:
    rows = store.db.conn.execute("SELECT payload FROM proposals WHERE kind = 'merge' AND state = 'pending'")
    return sorted(len(json.loads(p).get("researchers") or json.loads(p).get("pair") or []) for (p,) in rows)


def sample_ids(store: Store) -> dict[str, int | None]:
    """A pending proposal in the middle of the queue, one near its end, and the newest researcher (web bench)."""
    conn = store.db.conn
    n = conn.execute("SELECT count(*) FROM proposals WHERE state = 'pending'").fetchone()[0]

    def nth(k: int) -> int | None:
        row = conn.execute(
            "SELECT id FROM proposals WHERE state = 'pending' ORDER BY id LIMIT 1 OFFSET ?", [max(k, 0)]
        ).fetchone()
        return row[0] if row else None

    rid = conn.execute("SELECT max(id) FROM researchers WHERE merged_into IS NULL").fetchone()[0]
    return {"middle": nth(n // 2), "deep": nth(n * 9 // 10), "researcher": rid}
