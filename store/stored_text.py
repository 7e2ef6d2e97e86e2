"""How listing texts, abstracts and the larger JSON values are stored: texts zlib-compressed, an abstract that its
listing's text holds as a reference into that text, a JSON document of PACK_JSON_MIN characters or more
zlib-compressed. Used by core.py, work_keys.py, slots.py, structural.py and export_reads.py (its own module: none of
them imports another for it)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from pydantic_core import from_json

# Compact storage (no migration: SQLite keeps a BLOB as it is given, whatever the column's declared type).
# A listing's text is stored zlib-compressed; a work's abstract that the listing text holds verbatim is stored as a
# reference into it (ABSTRACT_REF + character offset + length), so the text is kept once. Rows written before are
# plain text and read as they are.
ABSTRACT_REF = b"@"


def pack_text(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def unpack_text(stored: str | bytes) -> str:
    return zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored


def abstract_ref(text: str, abstract: str | None, start: int | None) -> str | bytes | None:
    if not abstract:
        return abstract
    at = text.find(abstract, start or 0)  # from the work's start: the usual place (anywhere is the same text)
    if at < 0:
        at = text.find(abstract)
    if at < 0:
        return abstract
    return ABSTRACT_REF + at.to_bytes(4, "big") + len(abstract).to_bytes(4, "big")


def resolve_abstract(stored: str | bytes | None, text_of: Callable[[], str]) -> str | None:
    """A stored abstract: plain text, or a reference resolved in its listing's text (`text_of()` gives it)."""
    if not isinstance(stored, bytes):
        return stored
    at, n = int.from_bytes(stored[1:5], "big"), int.from_bytes(stored[5:9], "big")
    return text_of()[at : at + n]


# JSON columns that hold documents (a value, its evidence, a conflation verdict's clusters) are stored compressed
# from this size on: about half the bytes of the store's largest table. Shorter ones (an affiliation, "[]") stay
# text, and rows written before are text: both are read as they are.
PACK_JSON_MIN = 200


def pack_json(text: str) -> str | bytes:
    """A JSON document as stored: compressed when it is long enough to gain from it."""
    return zlib.compress(text.encode("utf-8"), 6) if len(text) >= PACK_JSON_MIN else text


def load_json(stored: str | bytes | None, default: Any = None) -> Any:
    """A stored JSON document (text or packed), parsed; `default` for NULL."""
    if stored is None:
        return default
    # pydantic-core's parser: the same values as json.loads, a fifth of its time (export reads several per line)
    return from_json(zlib.decompress(stored) if isinstance(stored, bytes) else stored)
