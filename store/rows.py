"""Rows in and out of SQLite for every module of the store: reads as dicts, the one JSON encoder of stored values,
and rows read back as models (one conversion for every table: the column named like the field, and a decoder for
each column that is stored in another form -- JSON text, 0/1 for a bool, compressed text)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from .stored_text import load_json, unpack_text

if TYPE_CHECKING:
    from .core import Store

M = TypeVar("M", bound=BaseModel)
Decoder = Callable[[Any], Any]

# one encoder for every stored JSON value: json.dumps with these options builds a new encoder on each call
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def encode_json(v: Any) -> str:
    return _ENCODER.encode(v)


def in_chunks(keys: Sequence[Any], size: int = 500) -> Iterator[tuple[Sequence[Any], str]]:
    """(keys, their placeholders) for an `IN (...)` over any number of keys, `size` at a time: SQLite limits a
    statement's variables."""
    for i in range(0, len(keys), size):
        chunk = keys[i : i + size]
        yield chunk, ", ".join("?" * len(chunk))


def select(store: Store, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """Rows of a read (SELECT) as dicts. Straight on the connection: sqlite-utils 4's query() wraps each
    statement in SAVEPOINT/RELEASE (three statements per read) to reject writes, and the store reads ~30 times
    per researcher in a job."""
    cur = store.db.conn.execute(sql, params)
    keys = [d[0] for d in cur.description]
    return [dict(zip(keys, row)) for row in cur]


def select_one(store: Store, sql: str, params: Any = ()) -> dict[str, Any] | None:
    rows = select(store, sql, params)
    return rows[0] if rows else None


def to_model(model: type[M], row: Mapping[str, Any], decoders: Mapping[str, Decoder], **given: Any) -> M:
    """`model` from the row's columns that are its fields (each through its decoder, if it has one); `given`
    supplies or replaces fields the row does not hold as they are (values read from other rows)."""
    data = {
        name: decoders[name](row[name]) if name in decoders else row[name]
        for name in model.model_fields
        if name in row and name not in given  # a given field's column is not decoded only to be replaced
    }
    data.update(given)
    return model.model_validate(data)


def json_or(empty: Callable[[], Any] | None = None) -> Decoder:
    """A JSON column; NULL reads as `empty()` (a fresh container each time), or None."""

    def decode(text: str | None) -> Any:
        if text is None:
            return empty() if empty is not None else None
        return load_json(text)

    return decode


def optional_bool(v: int | None) -> bool | None:
    return None if v is None else bool(v)


LISTING: dict[str, Decoder] = {"text": unpack_text, "facts": json_or(dict)}
WORK: dict[str, Decoder] = {
    "authors": json_or(list),
    "authors_truncated": bool,
    "ids": json_or(dict),
    "bylines": json_or(list),
}
RESEARCHER: dict[str, Decoder] = {"single_person": optional_bool}
FIELD_VALUE: dict[str, Decoder] = {"value": json_or(), "evidence": json_or(list)}
DERIVED_FACT: dict[str, Decoder] = {"value": json_or(), "detail": json_or(dict)}
PROPOSAL: dict[str, Decoder] = {"payload": json_or(dict)}
AUDIT_ENTRY: dict[str, Decoder] = {"before": json_or(), "after": json_or()}
JOB: dict[str, Decoder] = {"params": json_or(dict), "todo": json_or(list), "counts": json_or(dict)}
JOB_ERROR: dict[str, Decoder] = {}
CONFLATION: dict[str, Decoder] = {"detected": bool, "clusters": load_json}
