"""Reading affiliation strings for bulk matching: plain lines, JSONL with an `affiliation` key, or a JSON array
of such objects (ROR's own test files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


class InputError(ValueError):
    """The file is none of the accepted shapes (message is one line for the user)."""


def parse_affiliations(data: str) -> list[str]:
    """The strings of `data`, in order. A JSON array's items are objects with `affiliation` or plain strings; a
    line that is a JSON object gives its `affiliation`; any other non-blank line is the string itself."""
    stripped = data.lstrip("\ufeff").lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON array: {exc}") from None
        return [_item(item, n) for n, item in enumerate(items, 1)]
    out = []
    # lines end at "\n" (or "\r\n") only: other Unicode line breaks belong to the string, echoed as given
    for n, line in enumerate(data.lstrip("\ufeff").split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                out.append(_item(json.loads(line), n))
            except json.JSONDecodeError as exc:
                raise InputError(f"line {n}: invalid JSON: {exc}") from None
        else:
            out.append(line)
    return out


def _item(item: object, n: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("affiliation"), str):
        return item["affiliation"]
    raise InputError(f"item {n} has no 'affiliation' string")


def read_affiliations(path: str) -> list[str]:
    """`path` or '-' for stdin, UTF-8."""
    data = sys.stdin.buffer.read().decode("utf-8") if path == "-" else Path(path).read_text(encoding="utf-8")
    return parse_affiliations(data)
