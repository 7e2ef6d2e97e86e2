"""What the export reads, a batch of researchers at a time: a handful of queries per batch instead of ~8 per
researcher, and never the whole store in memory (`enrich export` streams, `--since` picks what changed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from enrich.schemas import FieldValue
from enrich.schemas.fields import base_field

from . import slots
from .rows import FIELD_VALUE, to_model
from .stored_text import load_json

if TYPE_CHECKING:
    from .core import Store

BATCH = 500


@dataclass
class ResearcherBatchItem:
    id: int
    name: str | None
    values: dict[str, FieldValue] = field(default_factory=dict)
    listings: list[dict[str, Any]] = field(default_factory=list)  # id, path, sha256, format, external_id
    works: list[dict[str, Any]] = field(default_factory=list)  # work_id, title, year, venue
    ror_ids: dict[int, str] = field(default_factory=dict)  # value id -> ROR id, of the current affiliations
    conflation: dict[str, Any] | None = None  # the verdict on the newest listing that has one


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def changed_since(store: Store, since: str) -> Iterator[int]:
    """Researchers with anything written, imported, reviewed or rolled back at or after `since` (an ISO time in
    the store's format), in id order: new values (field_values, proposals included), audit rows (imports,
    generated values, review actions, undo, rollback, split, merge), listings imported, researchers created."""
    sql = (
        "SELECT researcher_id FROM field_values WHERE created_at >= ?1 "
        "UNION SELECT researcher_id FROM audit_log WHERE created_at >= ?1 AND researcher_id IS NOT NULL "
        "UNION SELECT researcher_id FROM listings WHERE imported_at >= ?1 AND researcher_id IS NOT NULL "
        "UNION SELECT researcher_id FROM proposals WHERE decided_at >= ?1 AND researcher_id IS NOT NULL "
        "UNION SELECT id FROM researchers WHERE created_at >= ?1 "
        "ORDER BY 1"
    )
    cur = store.db.conn.execute(sql, [since])
    while rows := cur.fetchmany(BATCH):
        yield from (r[0] for r in rows)


def researcher_ids(store: Store, since: str | None = None) -> Iterator[list[int]]:
    """Ids of the researchers to export (not merged away), in id order, in batches."""
    conn = store.db.conn
    if since is None:
        after = 0
        while True:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM researchers WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT ?",
                    [after, BATCH],
                )
            ]
            if not ids:
                return
            yield ids
            after = ids[-1]
    chunk: list[int] = []
    for rid in changed_since(store, since):
        chunk.append(rid)
        if len(chunk) >= BATCH:
            yield _live(store, chunk)
            chunk = []
    if chunk:
        yield _live(store, chunk)


def _live(store: Store, ids: list[int]) -> list[int]:
    sql = f"SELECT id FROM researchers WHERE merged_into IS NULL AND id IN ({_marks(len(ids))}) ORDER BY id"
    return [r[0] for r in store.db.conn.execute(sql, ids)]


def researcher_batch(store: Store, ids: list[int]) -> list[ResearcherBatchItem]:
    """Everything one export line shows, for these researchers, in six queries."""
    if not ids:
        return []
    conn, marks = store.db.conn, _marks(len(ids))
    items = {
        rid: ResearcherBatchItem(rid, name)
        for rid, name in conn.execute(f"SELECT id, name FROM researchers WHERE id IN ({marks}) ORDER BY id", ids)
    }
    cur = conn.execute(
        f"SELECT fv.* FROM current_values c JOIN field_values fv ON fv.id = c.value_id WHERE c.researcher_id IN "
        f"({marks})",
        ids,
    )
    keys = [d[0] for d in cur.description]
    for row in cur:
        fv = to_model(FieldValue, dict(zip(keys, row)), FIELD_VALUE)
        items[fv.researcher_id].values[fv.field] = fv
    owner: dict[int | None, ResearcherBatchItem] = {
        fv.id: it for it in items.values() for fv in it.values.values() if base_field(fv.field) == "affiliation"
    }  # every affiliation slot's current value
    for value_id, ror_id in slots.ror_ids(store, [v for v in owner if v is not None]).items():
        owner[value_id].ror_ids[value_id] = ror_id
    links: dict[tuple[int, int], set[str] | None] = {}
    listing_ids: set[int] = set()
    for rid, lid, path, sha, fmt, ext, works in conn.execute(
        "SELECT rl.researcher_id, l.id, l.path, l.sha256, l.format, l.external_id, rl.works FROM researcher_listings rl "
        f"JOIN listings l ON l.id = rl.listing_id WHERE rl.researcher_id IN ({marks}) ORDER BY rl.researcher_id, l.id",
        ids,
    ):
        items[rid].listings.append({"id": lid, "path": path, "sha256": sha, "format": fmt, "external_id": ext})
        links[(rid, lid)] = set(json.loads(works)) if works else None
        listing_ids.add(lid)
    if listing_ids:
        lmarks = _marks(len(listing_ids))
        by_listing: dict[int, list[tuple[str, str | None, int | None, str | None]]] = {}
        for lid, wid, title, year, venue in conn.execute(
            f"SELECT listing_id, work_id, title, year, venue FROM works WHERE listing_id IN ({lmarks}) "
            "ORDER BY listing_id, ordinal",
            sorted(listing_ids),
        ):
            by_listing.setdefault(lid, []).append((wid, title, year, venue))
        verdicts: dict[int, dict[str, Any]] = {}
        for row in conn.execute(
            f"SELECT listing_id, detected, confidence, clusters FROM conflation WHERE listing_id IN ({lmarks}) "
            "ORDER BY created_at, rowid",
            sorted(listing_ids),
        ):
            verdicts[row[0]] = {"detected": bool(row[1]), "confidence": row[2], "clusters": load_json(row[3])}
        for it in items.values():
            for lst in it.listings:
                keep = links[(it.id, lst["id"])]
                it.works.extend(
                    {"work_id": w[0], "title": w[1], "year": w[2], "venue": w[3]}
                    for w in by_listing.get(lst["id"], [])
                    if keep is None or w[0] in keep
                )
            for lst in sorted(it.listings, key=lambda x: x["id"], reverse=True):
                if lst["id"] in verdicts:
                    it.conflation = verdicts[lst["id"]]
                    break
    return [items[i] for i in ids if i in items]
