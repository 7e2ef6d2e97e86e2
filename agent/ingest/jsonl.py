"""Bulk input the way platforms hold it: one JSON record per line, `{"id", "text", "url"?, "name"?, "format"?}`.

Lines are read one at a time (bounded memory whatever the file size). A bad line (not JSON, not an object, no id,
no text, a wrong type) is returned as a `LineError` with its line number, and reading goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FORMATS = ("bzpeer", "ieee", "arxiv", "acl", "hf-papers", "generic")


@dataclass
class Record:
    line: int
    id: str
    text: str
    name: str | None = None
    url: str | None = None
    format: str | None = None


@dataclass
class LineError:
    line: int
    message: str
    id: str | None = None


def _record(line_no: int, raw: bytes) -> Record | LineError:
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        return LineError(line_no, f"not valid UTF-8 (bad byte at offset {exc.start})")
    except json.JSONDecodeError as exc:
        return LineError(line_no, f"not JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(data, dict):
        return LineError(line_no, f"a JSON {type(data).__name__}, not an object")
    rid = data.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid).strip() == "":
        return LineError(line_no, "no id (a non-empty string or an integer)")
    rid = str(rid).strip()
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return LineError(line_no, "no text (a non-empty string)", rid)
    for key in ("name", "url", "format"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return LineError(line_no, f"{key} must be a string", rid)
    fmt = data.get("format") or None
    if fmt is not None and fmt not in FORMATS:
        return LineError(line_no, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", rid)
    return Record(line_no, rid, text, (data.get("name") or "").strip() or None, data.get("url") or None, fmt)


def read_records(stream: Iterable[bytes]) -> Iterator[Record | LineError]:
    """Records of a binary JSONL stream, in order; blank lines are skipped."""
    for line_no, raw in enumerate(stream, start=1):
        if raw.strip():
            yield _record(line_no, raw)
