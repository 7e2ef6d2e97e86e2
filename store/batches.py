"""Bulk-mode bookkeeping (migration m010): request files / batches of a job and one row per request.

A request row's `state`: pending (sent, no answer applied yet) -> applied (the step finished from the answer:
value, proposal or none) | reasked (the answer failed validation; a follow-up request of the next round carries the
error) | failed (still invalid after max_reasks re-asks, or cut off) | error (the runner reported an error for it:
expired, cancelled, HTTP error) | stale (the step's inputs changed since the request was built).
Writes run inside the caller's store transaction when there is one, so an answer, its call-log row, its values and
its request state commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from enrich.schemas import utcnow

from .core import Store
from .rows import in_chunks, select, select_one

DONE_STATES = ("applied", "failed", "error", "stale")


def add_file(store: Store, *, job_id: str, round: int, path: str, requests: int, bytes: int, status: str) -> int:
    with store.transaction():
        return store.insert_row(
            "batch_files",
            {
                "job_id": job_id,
                "round": round,
                "path": path,
                "requests": requests,
                "bytes": bytes,
                "status": status,
                "created_at": utcnow(),
            },
        )


def update_file(store: Store, file_id: int, **fields: Any) -> None:
    allowed = {"input_file_id", "batch_id", "status", "output_file_id", "error_file_id", "detail", "collected_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown batch_files columns: {sorted(unknown)}")
    if not fields:
        return
    with store.transaction():
        store.db.conn.execute(
            f"UPDATE batch_files SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
            [*fields.values(), file_id],
        )


def files(store: Store, job_id: str) -> list[dict[str, Any]]:
    return select(store, "SELECT * FROM batch_files WHERE job_id = ? ORDER BY id", [job_id])


def add_requests(store: Store, rows: Iterable[dict[str, Any]]) -> int:
    """Insert request rows (custom_id, job_id, researcher_id, step, round, first_hash, body, tokens_in, file_id;
    the same columns in each)."""
    n = 0

    def pending() -> Iterator[dict[str, Any]]:
        nonlocal n
        for row in rows:
            n += 1
            yield {**row, "state": "pending"}

    with store.transaction():
        store.insert_rows("batch_requests", pending())
    return n


def assign_file(store: Store, custom_ids: list[str], file_id: int) -> None:
    with store.transaction():
        store.db.conn.executemany(
            "UPDATE batch_requests SET file_id = ? WHERE custom_id = ?", [(file_id, c) for c in custom_ids]
        )


def _rows_in(store: Store, sql: str, keys: list[Any]) -> Iterator[dict[str, Any]]:
    """The rows of `sql`, whose `{marks}` stands for the placeholders of an `IN (...)`, for every key: 500 keys per
    statement (SQLite's limit on a statement's variables)."""
    for chunk, marks in in_chunks(keys):
        yield from select(store, sql.format(marks=marks), chunk)


def requests_by_id(store: Store, custom_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {
        r["custom_id"]: r
        for r in _rows_in(store, "SELECT * FROM batch_requests WHERE custom_id IN ({marks})", custom_ids)
    }


def still_pending(store: Store, custom_ids: list[str]) -> set[str]:
    """Which of these requests are still pending (read inside a collector's write transaction: a line handed out
    before another collector, or another group, applied it is skipped)."""
    sql = "SELECT custom_id FROM batch_requests WHERE state = 'pending' AND custom_id IN ({marks})"
    return {r["custom_id"] for r in _rows_in(store, sql, custom_ids)}


def set_requests(store: Store, states: Iterable[tuple[str, str | None, int | None, str]]) -> None:
    """Request states, each (state, detail, llm_call_id, custom_id): one statement for a collector's window."""
    now = utcnow()
    with store.transaction():
        store.db.conn.executemany(
            "UPDATE batch_requests SET state = ?, detail = ?, llm_call_id = ?, done_at = ? WHERE custom_id = ?",
            [(state, detail, call_id, now, cid) for state, detail, call_id, cid in states],
        )


_UNFILED = "FROM batch_requests WHERE job_id = ? AND file_id IS NULL AND round > 0 AND state = 'pending' ORDER BY rowid"


def unfiled_requests(store: Store, job_id: str) -> list[dict[str, Any]]:
    """A job's pending follow-up requests (re-asks) that are in no request file yet, in the order they were made."""
    return select(store, f"SELECT custom_id, round, body {_UNFILED}", [job_id])


def unfiled_ids(store: Store, job_id: str) -> list[str]:
    """The custom ids of unfiled_requests, without reading their bodies."""
    return [r["custom_id"] for r in select(store, f"SELECT custom_id {_UNFILED}", [job_id])]


def request_counts(store: Store, job_id: str) -> dict[str, int]:
    rows = select(store, "SELECT state, count(*) AS n FROM batch_requests WHERE job_id = ? GROUP BY state", [job_id])
    return {r["state"]: r["n"] for r in rows}


def pending_in_file(store: Store, file_id: int) -> list[str]:
    return [
        r["custom_id"]
        for r in select(
            store, "SELECT custom_id FROM batch_requests WHERE file_id = ? AND state = 'pending'", [file_id]
        )
    ]


def call_for(store: Store, custom_id: str) -> int | None:
    """The llm_calls row an answer already became (an idempotent collector reuses it)."""
    row = select_one(store, "SELECT id FROM llm_calls WHERE custom_id = ? ORDER BY id LIMIT 1", [custom_id])
    return row["id"] if row else None


def answer_usage(store: Store, job_id: str) -> dict[str, Any]:
    """Tokens, cost and number of the job's batch answers (llm_calls rows with a custom_id)."""
    row = select_one(
        store,
        "SELECT coalesce(sum(tokens_in),0) AS tin, coalesce(sum(tokens_out),0) AS tout,"
        " coalesce(sum(cost_usd),0) AS cost, count(*) AS calls FROM llm_calls"
        " WHERE job_id = ? AND custom_id IS NOT NULL",
        [job_id],
    )
    return row or {"tin": 0, "tout": 0, "cost": 0.0, "calls": 0}


def missed_fields(store: Store, researcher_ids: list[int]) -> dict[int, set[str]]:
    """The fields with a remembered miss (step_misses) per researcher: a finished answer clears only those."""
    out: dict[int, set[str]] = {}
    sql = "SELECT researcher_id, field FROM step_misses WHERE researcher_id IN ({marks})"
    for r in _rows_in(store, sql, researcher_ids):
        out.setdefault(r["researcher_id"], set()).add(r["field"])
    return out


def questions_in_flight(store: Store) -> dict[tuple[int, str], tuple[str, str]]:
    """The questions still out in a bulk job that will be collected (waiting or interrupted): (researcher_id, step)
    -> (first_hash, custom_id) of the newest pending request. A new bulk run does not ask them again."""
    rows = select(
        store,
        "SELECT r.researcher_id, r.step, r.first_hash, r.custom_id FROM batch_requests r JOIN jobs j ON j.id = r.job_id"
        " WHERE r.state = 'pending' AND j.state IN ('waiting', 'interrupted') ORDER BY r.round",
    )
    return {(r["researcher_id"], r["step"]): (r["first_hash"], r["custom_id"]) for r in rows}
