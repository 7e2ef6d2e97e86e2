"""How listing texts and abstracts are stored: texts zlib-compressed, an abstract that its listing's text holds as a
reference into that text. Used by core.py and work_keys.py (its own module: neither imports the other for it)."""

from __future__ import annotations

import zlib
from collections.abc import Callable

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
