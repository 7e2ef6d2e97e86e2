"""The local ROR (Research Organization Registry) index: bulk load of organisation records and the lookups the
matcher needs (exact name key, full-text candidates, e-mail domains, locations).

Tables (created by migration m002_ror in store/migrations.py): `ror_orgs` (one row per ROR id, upserted), `ror_names` (every name, alias,
acronym and label with its match key), `ror_names_fts` (FTS5 over the keys, external content, kept in step by the loader),
`ror_domains` (institutional domains; `source` = `domains` field or a `link` hostname) and `ror_imports` (one row per
loaded dump, with its release string).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from enrich.schemas.text import org_key

from .rows import in_chunks

NAME_KINDS = ("name", "alias", "acronym", "label")


@dataclass
class RorOrg:
    """One organisation as the index stores it, whatever the dump's schema version."""

    ror_id: str  # full https://ror.org/... URL
    name: str  # display name
    status: str = "active"
    names: list[tuple[str, str, str | None]] = field(default_factory=list)  # (value, kind, lang)
    domains: list[str] = field(default_factory=list)  # the record's `domains` field (v2)
    link_domains: list[str] = field(default_factory=list)  # hostnames of its links (v1 has no `domains`)
    city: str | None = None
    region: str | None = None
    country: str | None = None
    country_code: str | None = None
    types: list[str] = field(default_factory=list)
    is_child: bool = False  # has a parent organisation in the registry
    schema: str = "v2"
    relationships: list[tuple[str, str]] = field(default_factory=list)  # (type, related ROR id), type lower-case


@dataclass
class LoadCounts:
    records: int = 0
    names: int = 0
    domains: int = 0
    seconds: float = 0.0


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _batches(items: Iterable[RorOrg], size: int) -> Iterator[list[RorOrg]]:
    batch: list[RorOrg] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_orgs(
    store_or_db: Any, orgs: Iterable[RorOrg], *, release: str, source: str, batch_size: int = 2000
) -> LoadCounts:
    """Upsert organisations by ROR id (a later dump replaces a record's names and domains, in the full-text index
    too), and record the import. One transaction: a failed load leaves the previous index intact. `store_or_db`:
    a Store or its sqlite_utils Database."""
    db: Database = getattr(store_or_db, "db", store_or_db)
    started = time.perf_counter()
    counts = LoadCounts()
    schemas: set[str] = set()
    conn = db.conn
    with conn:
        for batch in _batches(orgs, batch_size):
            batch = list({o.ror_id: o for o in batch}.values())  # a record listed twice: the last one wins
            ids = [(o.ror_id,) for o in batch]
            # keep the external-content FTS index in step: drop the entries of the names being replaced
            conn.executemany(
                "INSERT INTO ror_names_fts(ror_names_fts, rowid, key) SELECT 'delete', id, key FROM ror_names"
                " WHERE ror_id = ?",
                ids,
            )
            conn.executemany("DELETE FROM ror_names WHERE ror_id = ?", ids)
            conn.executemany("DELETE FROM ror_domains WHERE ror_id = ?", ids)
            conn.executemany("DELETE FROM ror_relationships WHERE ror_id = ?", ids)
            conn.executemany(
                "INSERT OR REPLACE INTO ror_orgs (ror_id, name, status, city, region, country, country_code, types,"
                " is_child, schema, release) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        o.ror_id,
                        o.name,
                        o.status,
                        o.city,
                        o.region,
                        o.country,
                        o.country_code,
                        json.dumps(o.types),
                        int(o.is_child),
                        o.schema,
                        release,
                    )
                    for o in batch
                ],
            )
            name_rows: list[tuple[str, str, str, str | None, str]] = []
            domain_rows: list[tuple[str, str, str]] = []
            for o in batch:
                schemas.add(o.schema)
                seen: set[tuple[str, str]] = set()
                for value, kind, lang in o.names:
                    key = org_key(value)
                    if key and (key, kind) not in seen:
                        seen.add((key, kind))
                        name_rows.append((o.ror_id, value, kind, lang, key))
                doms = {d: "link" for d in o.link_domains}
                doms.update({d: "domains" for d in o.domains})
                domain_rows.extend((d, o.ror_id, origin) for d, origin in doms.items())
            last_id = conn.execute("SELECT coalesce(max(id), 0) FROM ror_names").fetchone()[0]
            conn.executemany("INSERT INTO ror_names (ror_id, value, kind, lang, key) VALUES (?,?,?,?,?)", name_rows)
            conn.execute("INSERT INTO ror_names_fts(rowid, key) SELECT id, key FROM ror_names WHERE id > ?", (last_id,))
            conn.executemany("INSERT OR IGNORE INTO ror_domains (domain, ror_id, source) VALUES (?,?,?)", domain_rows)
            conn.executemany(
                "INSERT OR IGNORE INTO ror_relationships (ror_id, type, related_id) VALUES (?,?,?)",
                [(o.ror_id, kind, rid) for o in batch for kind, rid in o.relationships],
            )
            counts.records += len(batch)
            counts.names += len(name_rows)
            counts.domains += len(domain_rows)
        counts.seconds = round(time.perf_counter() - started, 3)
        conn.execute(
            "INSERT INTO ror_imports (release, source, schema, records, names, domains, seconds, imported_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                release,
                source,
                "+".join(sorted(schemas)) or "none",
                counts.records,
                counts.names,
                counts.domains,
                counts.seconds,
                _utcnow(),
            ),
        )
    return counts


# ---- lookups -------------------------------------------------------------------------------------------------------


def has_tables(db: Database) -> bool:
    return db["ror_orgs"].exists()


def index_counts(db: Database) -> dict[str, Any] | None:
    """Size of the index and the dumps it came from; None when nothing is loaded."""
    if not has_tables(db):
        return None
    records = db.execute("SELECT count(*) FROM ror_orgs").fetchone()[0]
    if not records:
        return None
    names = db.execute("SELECT count(*) FROM ror_names").fetchone()[0]
    domains = db.execute("SELECT count(*) FROM ror_domains").fetchone()[0]
    releases = [r[0] for r in db.execute("SELECT release FROM ror_orgs GROUP BY release ORDER BY count(*) DESC")]
    imports = [
        dict(zip(("release", "source", "schema", "records", "names", "domains", "seconds", "imported_at"), r))
        for r in db.execute(
            "SELECT release, source, schema, records, names, domains, seconds, imported_at FROM ror_imports ORDER BY id"
        )
    ]
    return {"records": records, "names": names, "domains": domains, "releases": releases, "imports": imports}


def database_file(db: Database) -> str:
    """The file behind the connection ('' for an in-memory database)."""
    for _seq, name, file in db.execute("PRAGMA database_list"):
        if name == "main":
            return file or ""
    return ""


def last_import_id(db: Database) -> int:
    """Grows with every load: tells caches built from the index that they are stale."""
    return int(db.execute("SELECT coalesce(max(id), 0) FROM ror_imports").fetchone()[0])


def orgs_by_name_key(db: Database, key: str) -> list[tuple[str, str]]:
    """(ror_id, kind) of every name whose key equals `key` exactly."""
    return [(r[0], r[1]) for r in db.execute("SELECT ror_id, kind FROM ror_names WHERE key = ?", (key,))]


def fts_candidates(db: Database, tokens: list[str], *, all_tokens: bool, limit: int) -> list[str]:
    """ROR ids whose names contain all (or, by best BM25 rank, any) of the tokens."""
    if not tokens:
        return []
    query = (" AND " if all_tokens else " OR ").join('"' + t.replace('"', "") + '"' for t in tokens)
    rows = db.execute(
        "SELECT n.ror_id FROM ror_names_fts f JOIN ror_names n ON n.id = f.rowid"
        " WHERE ror_names_fts MATCH ? ORDER BY f.rank LIMIT ?",
        (query, limit),
    )
    seen: dict[str, None] = {}
    for (rid,) in rows:
        seen.setdefault(rid, None)
    return list(seen)


def orgs_by_domain(db: Database, domain: str) -> list[tuple[str, str]]:
    """(ror_id, source) of the organisations that own an exact domain."""
    return [(r[0], r[1]) for r in db.execute("SELECT ror_id, source FROM ror_domains WHERE domain = ?", (domain,))]


def org_details(db: Database, ror_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The org rows with their names ({value, kind, key}) for a set of ids."""
    ids = list(dict.fromkeys(ror_ids))
    out: dict[str, dict[str, Any]] = {}
    for chunk, marks in in_chunks(ids):
        for row in db.execute(
            f"SELECT ror_id, name, status, city, region, country, country_code, is_child, release FROM ror_orgs"
            f" WHERE ror_id IN ({marks})",
            chunk,
        ):
            out[row[0]] = dict(
                zip(
                    ("ror_id", "name", "status", "city", "region", "country", "country_code", "is_child", "release"),
                    row,
                ),
                names=[],
            )
        for rid, value, kind, key in db.execute(
            f"SELECT ror_id, value, kind, key FROM ror_names WHERE ror_id IN ({marks})",
            chunk,
        ):
            if rid in out:
                out[rid]["names"].append((value, kind, key))
    return out


def token_document_counts(db: Database) -> tuple[dict[str, int], int]:
    """How many names contain each token (from the FTS5 vocabulary) and the number of names: the matcher weighs
    rare, distinctive words ("defense") above common ones ("university")."""
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.ror_names_vocab USING fts5vocab(main, 'ror_names_fts', 'row')")
    counts = {term: doc for term, doc in db.execute("SELECT term, doc FROM temp.ror_names_vocab")}
    total = db.execute("SELECT count(*) FROM ror_names").fetchone()[0]
    return counts, total


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the in-memory matcher needs, read in four queries: orgs (ror_id, name, status, city, region,
    country, country_code, types, is_child, release), names (ror_id, value, kind, key), relationships (ror_id, type,
    related_id) and domains (domain, ror_id, source)."""
    has_relationships = db["ror_relationships"].exists()
    return {
        "orgs": db.execute(
            "SELECT ror_id, name, status, city, region, country, country_code, types, is_child, release FROM ror_orgs"
        ).fetchall(),
        "names": db.execute("SELECT ror_id, value, kind, key FROM ror_names ORDER BY id").fetchall(),
        "relationships": (
            db.execute("SELECT ror_id, type, related_id FROM ror_relationships").fetchall() if has_relationships else []
        ),
        "domains": db.execute("SELECT domain, ror_id, source FROM ror_domains").fetchall(),
    }
