"""Read OpenAlex topics (CC0: ~4,500 topics in ~250 subfields, 26 fields and 4 domains) into a taxonomy document.

Accepted input, as OpenAlex publishes it (no download here: the user brings the file):
- one page of the API (`https://api.openalex.org/topics?per-page=200&page=N`, saved as JSON: `{"results": [...]}`),
  or a JSON list of topic objects;
- the snapshot's topic files: JSON Lines, one topic object per line, optionally gzip-compressed (`part_000.gz`).

A topic object: `id` ("https://openalex.org/T10181"), `display_name`, `description`, `keywords` (list of strings),
and `subfield`, `field`, `domain`, each `{"id": ..., "display_name": ...}` (the id a URL such as
"https://openalex.org/subfields/1702", or a bare number). The taxonomy has one tag per domain, field, subfield and
topic, ids shortened to "domains/3", "fields/17", "subfields/1702", "T10181", each with its parent, and the subfield
as the field level (`field_depth` 2): a subfield is applied first, topics inside it only with their own support."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

LEVELS = ("domain", "field", "subfield")
BASE = "https://openalex.org/"


class OpenAlexFormatError(ValueError):
    pass


def _short(value: Any, level: str | None = None) -> str:
    """'https://openalex.org/subfields/1702' -> 'subfields/1702'; 1702 at level subfield -> 'subfields/1702'."""
    text = str(value).strip()
    if text.startswith(BASE):
        text = text[len(BASE) :]
    if level and text.isdigit():
        text = f"{level}s/{text}"
    return text


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Topic objects from one file (API page, JSON list, or JSON Lines; .gz allowed)."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:
        text = fh.read()
    stripped = text.lstrip()
    if not stripped:
        raise OpenAlexFormatError(f"{p}: empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        yield from data["results"]
    elif isinstance(data, list):
        yield from data
    elif isinstance(data, dict) and "display_name" in data:
        yield data
    else:  # JSON Lines
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise OpenAlexFormatError(f"{p}, line {n}: not JSON ({exc.msg})") from None


def to_taxonomy(records: Iterable[dict[str, Any]], *, name: str = "openalex", version: str = "") -> dict[str, Any]:
    nodes: dict[str, dict[str, Any]] = {}
    topics: list[dict[str, Any]] = []
    latest = ""
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or not rec.get("id") or not rec.get("display_name"):
            raise OpenAlexFormatError(
                f"topic #{i}: needs 'id' and 'display_name' (is this the OpenAlex topics format?)"
            )
        parent = None
        for level in LEVELS:
            node = rec.get(level)
            if not isinstance(node, dict) or node.get("id") in (None, "") or not node.get("display_name"):
                raise OpenAlexFormatError(f"topic {rec['id']}: needs '{level}' with 'id' and 'display_name'")
            code = _short(node["id"], level)
            nodes.setdefault(code, {"id": code, "label": str(node["display_name"]), "parent": parent})
            parent = code
        keywords = rec.get("keywords") or []
        topics.append(
            {
                "id": _short(rec["id"]),
                "label": str(rec["display_name"]),
                "parent": parent,
                "description": str(rec.get("description") or ""),
                "keywords": [str(k) for k in keywords] if isinstance(keywords, list) else str(keywords),
            }
        )
        latest = max(latest, str(rec.get("updated_date") or "")[:10])
    if not topics:
        raise OpenAlexFormatError("no topics found")
    return {
        "name": name,
        "version": version or latest or "unknown",
        "source": "OpenAlex topics (CC0), imported with `enrich taxonomy import`",
        "field_depth": 2,
        "tags": [*nodes.values(), *topics],
    }


def counts(doc: dict[str, Any]) -> dict[str, int]:
    out = {"topics": 0, "subfields": 0, "fields": 0, "domains": 0}
    for t in doc["tags"]:
        kind = t["id"].split("/", 1)[0] if "/" in t["id"] else "topics"
        out[kind] = out.get(kind, 0) + 1
    return out
