"""The llm_calls log (one row per attempt, failed ones too) and the llm_cache table.

The only SQLite code of the model layer. Every function takes a `store.Store` or its `sqlite_utils.Database`.
Callers redact secrets before handing values in (agent/llm/redact.py); this module stores what it is given.
"""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from typing import Any

from sqlite_utils import Database

# One connection may be shared by worker threads; serialise our writes (SQLite allows one writer anyway).
_write_lock = threading.RLock()

CALL_COLUMNS = [
    "call_group", "attempt", "backend", "model", "mode", "prompt_name", "prompt_version", "schema_name",
    "input_hash", "messages", "response", "parsed", "error", "tokens_in", "tokens_out", "latency_ms",
    "retries", "reasks", "cost_usd", "cached", "job_id", "created_at",
]


def _db(store_or_db: Any) -> Database:
    return store_or_db if isinstance(store_or_db, Database) else store_or_db.db


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def sha256_json(value: Any) -> str:
    """A stable hash of a JSON-able value (sorted keys)."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def insert_call(store_or_db: Any, **row: Any) -> int:
    """Insert one attempt; returns its id. Unknown keys are rejected so typos fail loudly."""
    unknown = set(row) - set(CALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown llm_calls columns: {sorted(unknown)}")
    row.setdefault("created_at", _now())
    for key in ("messages", "parsed"):
        if key in row:
            row[key] = _json(row[key])
    row["cached"] = int(bool(row.get("cached", False)))
    db = _db(store_or_db)
    with _write_lock, db.conn:
        return db["llm_calls"].insert(row).last_pk


def update_call(store_or_db: Any, call_id: int, **fields: Any) -> None:
    """Fill in what is known after the HTTP exchange (the parse result, the error)."""
    unknown = set(fields) - set(CALL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown llm_calls columns: {sorted(unknown)}")
    for key in ("messages", "parsed"):
        if key in fields:
            fields[key] = _json(fields[key])
    db = _db(store_or_db)
    with _write_lock, db.conn:
        db["llm_calls"].update(call_id, fields)


def get_call(store_or_db: Any, call_id: int) -> dict[str, Any]:
    return dict(_db(store_or_db)["llm_calls"].get(call_id))


def calls_in_group(store_or_db: Any, call_group: str) -> list[dict[str, Any]]:
    return list(_db(store_or_db)["llm_calls"].rows_where("call_group = ?", [call_group], order_by="attempt, id"))


def recent_calls(store_or_db: Any, limit: int = 20, job_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    where, args = ("job_id = ?", [job_id]) if job_id else (None, [])
    return list(_db(store_or_db)["llm_calls"].rows_where(where, args, order_by="id desc", limit=limit))


def usage_totals(store_or_db: Any, job_id: str | None = None) -> dict[str, Any]:
    """Tokens, cost and counts over all attempts (optionally one job)."""
    sql = ("SELECT count(*) AS attempts, count(DISTINCT call_group) AS calls, coalesce(sum(tokens_in),0) AS tokens_in,"
           " coalesce(sum(tokens_out),0) AS tokens_out, coalesce(sum(cost_usd),0) AS cost_usd,"
           " coalesce(sum(error IS NOT NULL),0) AS failed_attempts, coalesce(sum(cached),0) AS cache_hits"
           " FROM llm_calls" + (" WHERE job_id = ?" if job_id else ""))
    cur = _db(store_or_db).execute(sql, [job_id] if job_id else [])
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


# ---------------------------------------------------------------- response cache


def cache_key(model: str, prompt_version: str | None, input_hash: str, schema_hash: str) -> str:
    return hashlib.sha256("\x1f".join([model, prompt_version or "", input_hash, schema_hash]).encode()).hexdigest()


def cache_get(store_or_db: Any, key: str) -> dict[str, Any] | None:
    """{"parsed": <object>, "llm_call_id": int|None} or None."""
    db = _db(store_or_db)
    row = db.execute("SELECT parsed, llm_call_id FROM llm_cache WHERE key = ?", [key]).fetchone()
    if row is None:
        return None
    return {"parsed": json.loads(row[0]), "llm_call_id": row[1]}


def cache_put(store_or_db: Any, key: str, parsed: Any, llm_call_id: int | None) -> None:
    db = _db(store_or_db)
    with _write_lock, db.conn:
        db["llm_cache"].upsert(
            {"key": key, "parsed": _json(parsed), "llm_call_id": llm_call_id, "created_at": _now()}, pk="key"
        )


def cache_delete(store_or_db: Any, key: str) -> None:
    db = _db(store_or_db)
    with _write_lock, db.conn:
        db.execute("DELETE FROM llm_cache WHERE key = ?", [key])
