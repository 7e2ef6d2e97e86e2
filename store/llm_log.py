"""The llm_calls log (one row per attempt, failed ones too) and the llm_cache table.

The only SQLite code of the model layer. Every function takes a `store.Store` or its `sqlite_utils.Database`.
Callers redact secrets before handing values in (agent/llm/redact.py); this module stores what it is given.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from . import locks

CALL_COLUMNS = [
    "call_group",
    "attempt",
    "backend",
    "model",
    "mode",
    "prompt_name",
    "prompt_version",
    "schema_name",
    "input_hash",
    "messages",
    "response",
    "parsed",
    "error",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "retries",
    "reasks",
    "cost_usd",
    "cached",
    "job_id",
    "created_at",
    "batch_id",  # bulk mode: the batch the answer came from and the request's custom_id (migration m010)
    "custom_id",
]
_CALL_COLUMN_SET = frozenset(CALL_COLUMNS)


def _db(store_or_db: Any) -> Database:
    return store_or_db if isinstance(store_or_db, Database) else store_or_db.db


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


_STABLE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))  # built once


def stable_json(value: Any) -> str:
    """A JSON-able value's text as `sha256_json` hashes it (sorted keys, no spaces)."""
    return _STABLE.encode(value)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(value: Any) -> str:
    """A stable hash of a JSON-able value (sorted keys)."""
    return sha256_text(_STABLE.encode(value))


@contextmanager
def _writing(db: Database) -> Iterator[None]:
    """One commit of its own -- or, inside an open store transaction (the batch collector applies an answer, its
    call-log row and its values together), part of that transaction: `with conn:` would commit it half-way."""
    if db.conn.in_transaction:
        yield
        return
    with locks.of(db), db.conn:
        yield


def _check_columns(names: Any) -> None:
    unknown = set(names) - _CALL_COLUMN_SET
    if unknown:
        raise ValueError(f"unknown llm_calls columns: {sorted(unknown)}")


def _sql_value(value: Any) -> Any:
    # what sqlite-utils would store: containers as JSON text
    return _json(value) if isinstance(value, (dict, list, tuple)) else value


# The bodies of the log (the prompt sent, the raw answer) are stored zlib-compressed when longer than this: a prompt
# repeats its instructions and the listing's text on every attempt. Readers get the text back (`_readable`); rows
# written before are plain text. `prune_bodies` drops old bodies and keeps the rest of each row.
BODY_COLUMNS = ("messages", "response")
COMPRESS_FROM = 512


def _packed(key: str, value: Any) -> Any:
    if key in BODY_COLUMNS and isinstance(value, str) and len(value) >= COMPRESS_FROM:
        return zlib.compress(value.encode("utf-8"), 6)
    return value


def _readable(row: dict[str, Any]) -> dict[str, Any]:
    for key in BODY_COLUMNS:
        if isinstance(row.get(key), bytes):
            row[key] = zlib.decompress(row[key]).decode("utf-8")
    return row


def prune_bodies(store_or_db: Any, before: str) -> int:
    """Retention: drop the prompt and raw answer of calls made before `before` (an ISO time); the row, its tokens,
    cost, hashes, parse result and errors stay. Returns the number of calls pruned. Run VACUUM after a large prune
    to give the space back to the file system."""
    db = _db(store_or_db)
    with _writing(db):
        cur = db.conn.execute(
            "UPDATE llm_calls SET messages = '[]', response = NULL WHERE created_at < ? AND "
            "(messages != '[]' OR response IS NOT NULL)",
            [before],
        )
        return cur.rowcount


# Plain SQL with cached statements: sqlite-utils' insert()/update() re-read the table's schema on every call, which
# cost more than the write itself at a few hundred calls a second. Column names come from CALL_COLUMNS only.
_insert_sql: dict[tuple[str, ...], str] = {}


def insert_call(store_or_db: Any, **row: Any) -> int:
    """Insert one attempt (one commit); returns its id. Unknown keys are rejected so typos fail loudly."""
    return insert_prepared(store_or_db, prepare_call(**row))


@dataclass(frozen=True)
class PreparedCall:
    """A call-log row encoded as stored (JSON columns written, the bodies compressed) but not inserted: a bulk
    collect's worker makes it before it waits for the store's write lock, and inserts it holding the lock."""

    columns: tuple[str, ...]
    values: tuple[Any, ...]


def prepare_call(**row: Any) -> PreparedCall:
    _check_columns(row)
    for key in ("messages", "parsed"):
        if key in row:
            row[key] = _json(row[key])
    row["cached"] = int(bool(row.get("cached", False)))
    return PreparedCall(tuple(row), tuple(_packed(k, _sql_value(v)) for k, v in row.items()))


def insert_prepared(store_or_db: Any, call: PreparedCall) -> int:
    """Insert a prepared row (one commit, or part of the open transaction); `created_at` is the time of the insert
    unless the row has one."""
    cols, values = call.columns, call.values
    if "created_at" not in cols:
        cols, values = (*cols, "created_at"), (*values, _now())
    sql = _insert_sql.get(cols)
    if sql is None:
        sql = _insert_sql.setdefault(
            cols, f"INSERT INTO llm_calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        )
    db = _db(store_or_db)
    with _writing(db):
        rowid = db.conn.execute(sql, values).lastrowid
    assert rowid is not None  # set by every successful INSERT
    return rowid


def _update_call(db: Database, call_id: int, fields: dict[str, Any]) -> None:
    _check_columns(fields)
    if not fields:
        return
    values = [_packed(k, _json(v) if k in ("messages", "parsed") else _sql_value(v)) for k, v in fields.items()]
    cur = db.conn.execute(
        f"UPDATE llm_calls SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*values, call_id]
    )
    if cur.rowcount == 0:
        raise NotFoundError(f"llm_calls row {call_id} does not exist")


def update_call(store_or_db: Any, call_id: int, **fields: Any) -> None:
    """Fill in what is known after the HTTP exchange (the parse result, the error); one commit."""
    db = _db(store_or_db)
    with _writing(db):
        _update_call(db, call_id, fields)


def complete_call(store_or_db: Any, call_id: int, parsed: Any, cache_key: str | None = None) -> None:
    """Record a successful attempt's parse result and, with `cache_key`, cache it -- in ONE commit (the success
    path used to take update_call + cache_put: two commits under the write lock per model call)."""
    db = _db(store_or_db)
    with _writing(db):
        _update_call(db, call_id, {"parsed": parsed})
        if cache_key is not None:
            _cache_upsert(db, cache_key, parsed, call_id)


def get_call(store_or_db: Any, call_id: int) -> dict[str, Any]:
    return _readable(dict(_db(store_or_db).table("llm_calls").get(call_id)))


def recent_calls(store_or_db: Any, limit: int = 20, job_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    where, args = ("job_id = ?", [job_id]) if job_id else (None, [])
    rows = _db(store_or_db)["llm_calls"].rows_where(where, args, order_by="id desc", limit=limit)
    return [_readable(r) for r in rows]


def usage_totals(store_or_db: Any, job_id: str | None = None) -> dict[str, Any]:
    """Tokens, cost and counts over all attempts (optionally one job)."""
    sql = (
        "SELECT count(*) AS attempts, count(DISTINCT call_group) AS calls, coalesce(sum(tokens_in),0) AS tokens_in,"
        " coalesce(sum(tokens_out),0) AS tokens_out, coalesce(sum(cost_usd),0) AS cost_usd,"
        " coalesce(sum(error IS NOT NULL),0) AS failed_attempts, coalesce(sum(cached),0) AS cache_hits"
        " FROM llm_calls" + (" WHERE job_id = ?" if job_id else "")
    )
    cur = _db(store_or_db).execute(sql, [job_id] if job_id else [])
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


# ---------------------------------------------------------------- response cache


def cache_key(model: str, prompt_version: str | None, input_hash: str, schema_hash: str, mode: str = "") -> str:
    """The same question to the same model, prompt version and schema; the instructor mode too, since it changes
    what is sent (JSON modes add the schema to the prompt, TOOLS sends it as a function)."""
    return hashlib.sha256(
        "\x1f".join([model, prompt_version or "", input_hash, schema_hash, mode]).encode()
    ).hexdigest()


def cache_get(store_or_db: Any, key: str) -> dict[str, Any] | None:
    """{"parsed": <object>, "llm_call_id": int|None} or None."""
    db = _db(store_or_db)
    row = db.execute("SELECT parsed, llm_call_id FROM llm_cache WHERE key = ?", [key]).fetchone()
    if row is None:
        return None
    return {"parsed": json.loads(row[0]), "llm_call_id": row[1]}


def cache_held(store_or_db: Any) -> bool:
    """Whether the cache holds any answer."""
    return bool(_db(store_or_db).execute("SELECT EXISTS (SELECT 1 FROM llm_cache)").fetchone()[0])


def _cache_upsert(db: Database, key: str, parsed: Any, llm_call_id: int | None) -> None:
    db.conn.execute(
        "INSERT INTO llm_cache (key, parsed, llm_call_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE"
        " SET parsed = excluded.parsed, llm_call_id = excluded.llm_call_id, created_at = excluded.created_at",
        [key, _json(parsed), llm_call_id, _now()],
    )


def cache_put(store_or_db: Any, key: str, parsed: Any, llm_call_id: int | None) -> None:
    db = _db(store_or_db)
    with _writing(db):
        _cache_upsert(db, key, parsed, llm_call_id)


def cache_delete(store_or_db: Any, key: str) -> None:
    db = _db(store_or_db)
    with _writing(db):
        db.execute("DELETE FROM llm_cache WHERE key = ?", [key])
