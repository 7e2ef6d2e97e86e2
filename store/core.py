"""The store: the only code that opens SQLite, and the owner of the never-override rule.

All value writes go through `Store.submit` (automatic writers: page import, model) or the review actions
(`set_value`, `accept`, `reject`, `undo`, `rollback_job`), which apply `store.policy` and write an audit row for
every change of a current value. SQLite triggers (store/migrations.py) refuse any write that bypasses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from enrich.schemas import (
    AuditEntry,
    DerivedFact,
    Evidence,
    FieldValue,
    Job,
    JobError,
    Listing,
    ParsedListing,
    Proposal,
    Researcher,
    Work,
    WriteResult,
    utcnow,
    validate_field_value,
    writer_kind,
)
from enrich.schemas.fields import SLOTTED, base_field, display_value

from . import audit, job_locks, locks, migrations, paging, policy, ror, slots, structural
from .errors import StoreError
from .rows import (
    AUDIT_ENTRY,
    DERIVED_FACT,
    FIELD_VALUE,
    JOB,
    JOB_ERROR,
    LISTING,
    PROPOSAL,
    RESEARCHER,
    WORK,
    encode_json,
    in_chunks,
    select,
    select_one,
    to_model,
)
from .stored_text import abstract_ref, load_json, pack_json, pack_text, resolve_abstract, unpack_text

_INSERT_SQL: dict[tuple[str, tuple[str, ...], bool], str] = {}


@dataclass
class ImportResult:
    listing_id: int
    researcher_id: int | None
    created: bool
    version: int
    work_count: int
    values: list[WriteResult]


def value_hash(field: str, value: Any) -> str:
    return _hash_encoded(field, encode_json(value))


def _hash_encoded(field: str, encoded: str) -> str:
    return hashlib.sha256(f"{field}\0{encoded}".encode()).hexdigest()[:32]


class _ListingTexts:
    """Listing texts read (and decompressed) once per call, for the abstracts stored as references into them; the
    last few only, so a store-wide read does not hold every text."""

    def __init__(self, store: Store, keep: int = 64, known: Sequence[Listing] = ()):
        self.store, self.keep = store, keep
        self.cache: dict[int, str] = {x.id: x.text for x in known if x.id is not None}  # texts read already

    def get(self, listing_id: int) -> str:
        if listing_id not in self.cache:
            if len(self.cache) >= self.keep:
                self.cache.pop(next(iter(self.cache)))
            row = self.store.db.conn.execute("SELECT text FROM listings WHERE id = ?", [listing_id]).fetchone()
            self.cache[listing_id] = unpack_text(row[0]) if row else ""
        return self.cache[listing_id]


@dataclass
class Held:
    """A field's current value and pending proposals (rows of `Store._pending`), as a writer sees them; and the
    values a person rejected, (origin, value hash) -> proposal id. `pending` or `rejected` None: not known,
    `decide_write` reads them from the store."""

    current: FieldValue | None
    pending: list[dict[str, Any]] | None = None
    rejected: dict[tuple[str, str], int] | None = None


@dataclass
class WriteDecision:
    """`Store.decide_write`'s answer: the outcome (`result`, without the ids of rows not written yet) and what
    `apply_write` needs to make it."""

    fv: FieldValue
    kind: str
    value: Any  # validated
    encoded: str
    hash: str
    result: WriteResult
    cur: FieldValue | None = None
    pending: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    state: str = ""
    writes: str | None = None  # the policy's result when a row is written: imported / generated / proposal

    def encoded_write(self) -> EncodedWrite:
        """The rows this decision writes, encoded (`writes` is set): `Store.write_encoded` makes them."""
        assert self.writes is not None, "a decision that writes nothing"
        fv, cur = self.fv, self.cur
        status = "proposed" if self.writes == "proposal" else self.writes
        row = _value_row(fv, status, pack_json(self.encoded), self.hash)
        if self.writes != "proposal":
            return EncodedWrite(self.writes, row, cur.id if cur else None)
        withdraw = [p["id"] for p in self.pending if p["origin"] == fv.origin]
        summary = f"{fv.field}: {display_value(fv.field, self.value)[:200]}"
        reason = f"{self.kind} value proposed: {self.result.reason}"
        return EncodedWrite(self.writes, row, cur.id if cur else None, withdraw, summary, reason)

    def held_after(self) -> Held:
        """The field's current value and pending proposals once this write is made, with `value_id` /
        `proposal_id` for the ids of the rows it writes."""
        if self.writes is None:
            return Held(self.cur, self.pending)
        r = self.result
        if self.writes in ("imported", "generated"):
            made = self.fv.model_copy(update={"id": r.value_id, "status": self.writes, "value": self.value})
            return Held(made, self.pending)
        kept = [p for p in self.pending if p["origin"] != self.fv.origin]
        mine = {"id": r.proposal_id, "value_id": r.value_id, "origin": self.fv.origin, "value_hash": self.hash}
        return Held(self.cur, [*kept, mine])


@dataclass
class EncodedWrite:
    """A write `decide_write` decided, as plain values (`WriteDecision.encoded_write`): a bulk build's worker
    encodes it, its writer makes it (`Store.write_encoded`)."""

    writes: str  # imported / generated / proposal
    row: dict[str, Any]  # the value's field_values row, all but its time
    cur_id: int | None  # the current value's id
    withdraw: list[int] = dataclasses.field(default_factory=list)  # a proposal's: the same origin's pending ones
    summary: str = ""  # a proposal's
    reason: str = ""  # a proposal's

    def of_value(self, fv: FieldValue) -> EncodedWrite:
        """The same write, the value row's columns but the value itself taken from `fv`."""
        row = _value_row(fv, self.row["status"], self.row["value"], self.row["value_hash"])
        return dataclasses.replace(self, row=row)


def _insert_sql(table: str, cols: tuple[str, ...], replace: bool) -> str:
    """The INSERT statement of a row with these columns (its text made once)."""
    key = (table, cols, replace)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = _INSERT_SQL[key] = f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    return sql


def _values(row: dict[str, Any], cols: tuple[str, ...] | None = None) -> list[Any]:
    """A row's values for `_insert_sql` (of `cols`, when given: a row of many must have exactly those), a dict or
    list encoded as JSON."""
    if cols is not None and tuple(row) != cols:
        raise ValueError(f"a row with other columns than {cols}: {tuple(row)}")
    return [encode_json(v) if isinstance(v, (dict, list)) else v for v in row.values()]


def _value_row(fv: FieldValue, status: str, packed: str | bytes, value_hash: str) -> dict[str, Any]:
    """The field_values row of `fv` but its time; `packed`: its value as stored (`pack_json` of its encoding)."""
    row = fv.model_dump(exclude={"id", "value"})
    row["status"] = status
    row["value"] = packed
    row["value_hash"] = value_hash
    row["evidence"] = pack_json(encode_json(row["evidence"]))
    return row


# A researcher's proposals in one state: through the index on (state, researcher_id, field), named because the
# planner, ordering by id, otherwise takes a queue index on (state, ..., id) and reads every proposal in that state
# (every pending one of the store, for each researcher of a bulk build).
_OF_RESEARCHER = "FROM proposals p INDEXED BY proposals_state JOIN field_values fv ON fv.id = p.value_id "

# some researchers' pending field proposals, with their values' origin and hash (Store._pending, Store.fields_held)
_PENDING = (
    "SELECT p.*, fv.origin, fv.value_hash "
    + _OF_RESEARCHER
    + "WHERE p.kind = 'field' AND p.state = 'pending' AND p.researcher_id IN ({marks})"
)


class Store:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, migrate: bool = True) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = Database(path) if path != ":memory:" else Database(memory=True)
        db.write_lock = locks.for_path(path)  # type: ignore[attr-defined]  # shared by this file's connections
        db.execute("PRAGMA busy_timeout = 10000")
        if path != ":memory:":
            db.enable_wal()
            # the standard WAL setting: a power cut may lose the last commits, never corrupt the file (jobs resume)
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        if migrate:
            migrations.apply(db)
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def file_path(self) -> str | None:
        """The database file, or None for an in-memory store."""
        return ror.database_file(self.db) or None

    def schema_version(self) -> str | None:
        """The name of the newest migration applied, None for an empty database."""
        applied = migrations.migrations.applied(self.db)
        return applied[-1].name if applied else None

    def data_version(self) -> int:
        """A number that changes when another connection commits to the database (never on this connection's own
        commits; SQLite's `PRAGMA data_version`): a bulk build's writer learns from it whether anything but itself
        wrote since its workers read (agent/batch/predict.py)."""
        row = self.db.conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """A write transaction. The outermost one starts with BEGIN IMMEDIATE: it takes the write lock up front
        (waiting on the busy timeout) instead of failing with "database is locked" when a concurrent writer
        committed between its reads and its first write. Threads of this process first queue on the file's
        in-process lock (store/locks.py), so they never sleep in SQLite's busy handler. Nested ones are savepoints,
        named by their depth (sqlite-utils' atomic() names each one afresh, so SQLite compiled both statements at every
        nested write)."""
        conn = self.db.conn
        if conn.in_transaction:
            depth = self._savepoints = getattr(self, "_savepoints", 0) + 1
            name = f"enrich_sp{depth}"
            try:
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self
                except BaseException:
                    if conn.in_transaction:  # an error may have ended the whole transaction, savepoints included
                        conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                        conn.execute(f"RELEASE SAVEPOINT {name}")
                    raise
                else:
                    conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._savepoints = depth - 1
            return
        with locks.of(self.db):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextlib.contextmanager
    def savepoints_in_memory(self) -> Iterator[Store]:
        """For a writer that opens a savepoint per item in its transactions (a bulk build: one per researcher):
        while it runs, SQLite keeps each savepoint's copies of the pages it changes (the sub-journal) in memory.
        By default it moves them to a temporary file once they pass a small size in one transaction, and from then
        on writes there every page each savepoint first changes: a large part of a bulk build's writes. Opened
        outside a transaction (SQLite changes `temp_store` only there; temp tables live in memory meanwhile)."""
        conn = self.db.conn
        before = conn.execute("PRAGMA temp_store").fetchone()[0]
        conn.execute("PRAGMA temp_store = MEMORY")
        try:
            yield self
        finally:
            conn.execute(f"PRAGMA temp_store = {int(before)}")

    def _q(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return select(self, sql, params)

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        return select_one(self, sql, params)

    def insert_row(self, table: str, row: dict[str, Any], *, replace: bool = False) -> int:
        """One INSERT inside an open transaction; returns the rowid. Plain SQL with a cached statement text:
        sqlite-utils' insert() first asks SQLite whether the table exists, on every call, and each extra statement
        inside the write lock is one more wait for the GIL at 32 worker threads. Table and column names come from
        this package's code, never from input."""
        if not self.db.conn.in_transaction:
            raise RuntimeError("insert_row needs an open store.transaction()")
        rowid = self.db.conn.execute(_insert_sql(table, tuple(row), replace), _values(row)).lastrowid
        assert rowid is not None  # set by every successful INSERT
        return rowid

    def insert_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """`insert_row` of many rows with the same columns (the first one's), in one statement run for each row."""
        if not self.db.conn.in_transaction:
            raise RuntimeError("insert_rows needs an open store.transaction()")
        rows = iter(rows)
        first = next(rows, None)
        if first is not None:
            cols = tuple(first)
            sql = _insert_sql(table, cols, False)
            self.db.conn.executemany(sql, (_values(r, cols) for r in itertools.chain([first], rows)))

    # ------------------------------------------------------------------ listings, researchers, works

    def record_import(
        self, parsed: ParsedListing, *, text: str, path: str, external_id: str | None = None
    ) -> ImportResult:
        """Store a parsed page. Same text again -> nothing new. Changed text at a known path -> a new listing version
        for the same researcher. What the page states is submitted as `import:<format>` values. `external_id`: the
        platform's own id of the record (JSONL ingest), kept on the listing and exported."""
        sha = Listing.hash_text(text)
        existing = self._one("SELECT id, researcher_id, version FROM listings WHERE sha256 = ?", [sha])
        if existing:
            n = self.db.conn.execute("SELECT count(*) FROM works WHERE listing_id = ?", [existing["id"]]).fetchone()[0]
            return ImportResult(existing["id"], existing["researcher_id"], False, existing["version"], n, [])
        previous = self._one(
            "SELECT id, researcher_id, version FROM listings WHERE path = ? ORDER BY version DESC LIMIT 1", [path]
        )
        origin = f"import:{parsed.format}"
        results: list[WriteResult] = []
        with self.transaction():
            researcher_id = None
            if parsed.kind == "person":
                if previous and previous["researcher_id"]:
                    researcher_id = previous["researcher_id"]
                    if parsed.name:
                        self.db.table("researchers").update(
                            researcher_id, {"name": parsed.name, "name_origin": parsed.name_origin}
                        )
                else:
                    researcher_id = self.insert_row(
                        "researchers", {"name": parsed.name, "name_origin": parsed.name_origin, "created_at": utcnow()}
                    )
            version = previous["version"] + 1 if previous else 1
            facts = dict(parsed.facts)
            listing_id = self.insert_row(
                "listings",
                {
                    "path": path,
                    "sha256": sha,
                    "format": parsed.format,
                    "kind": parsed.kind,
                    "text": pack_text(text),
                    "version": version,
                    "previous_id": previous["id"] if previous else None,
                    "researcher_id": researcher_id,
                    "facts": encode_json(facts),
                    "hints": encode_json([h.model_dump() for h in parsed.hints]),
                    "stated_work_count": parsed.stated_work_count,
                    "imported_at": utcnow(),
                    **({"external_id": external_id} if external_id is not None else {}),
                },
            )
            seen: set[str] = set()
            rows: list[dict[str, Any]] = []
            for i, w in enumerate(parsed.works):
                wid = w.work_id
                n = 2
                while wid in seen:  # the same paper listed twice on one page keeps distinct, stable ids
                    wid, n = f"{w.work_id}-{n}", n + 1
                seen.add(wid)
                rows.append(
                    {
                        "listing_id": listing_id,
                        "ordinal": i,
                        "work_id": wid,
                        "title": w.title,
                        "year": w.year,
                        "date": w.date,
                        "venue": w.venue,
                        "type": w.type,
                        "category": w.category,
                        "authors": encode_json(w.authors),
                        "authors_truncated": int(w.authors_truncated),
                        "author_count": w.author_count,
                        "abstract": abstract_ref(text, w.abstract, w.start),
                        "ids": encode_json(w.ids),
                        "bylines": encode_json(w.bylines),
                        "start": w.start,
                        "end": w.end,
                    }
                )
            if rows:
                cols = list(rows[0])
                self.db.conn.executemany(
                    f"INSERT INTO works ({', '.join(f'[{c}]' for c in cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [[r[c] for c in cols] for r in rows],
                )
            if researcher_id is not None:
                if previous and previous["researcher_id"] == researcher_id:
                    self.db.execute(
                        "DELETE FROM researcher_listings WHERE researcher_id = ? AND listing_id = ?",
                        [researcher_id, previous["id"]],
                    )
                self.insert_row(
                    "researcher_listings",
                    {"researcher_id": researcher_id, "listing_id": listing_id, "works": None},
                    replace=True,
                )
                several: dict[str, list[tuple[FieldValue, str | None]]] = {}
                for field, stated in parsed.stated.items():
                    fv = FieldValue(
                        researcher_id=researcher_id,
                        field=field,
                        value=stated.value,
                        status="imported",
                        origin=origin,
                        confidence=1.0,
                        listing_id=listing_id,
                        evidence=[
                            Evidence(
                                quote=stated.quote,
                                listing_id=listing_id,
                                start=stated.start,
                                end=stated.end,
                                checked=text[stated.start : stated.end] == stated.quote,
                            )
                        ],
                    )
                    if base_field(field) in SLOTTED:  # `affiliation`, `affiliation.2`: each to its slot
                        ror_id = (parsed.facts.get("stated_ror_ids") or {}).get(field)
                        several.setdefault(base_field(field), []).append((fv, ror_id))
                    else:
                        results.append(self.submit(fv))
                for stated_values in several.values():
                    results.extend(r for _, r in filter(None, slots.submit_all(self, stated_values)))
        return ImportResult(listing_id, researcher_id, True, version, len(rows), results)

    def _listing(self, row: dict[str, Any]) -> Listing:
        return to_model(Listing, row, LISTING)

    def get_listing(self, listing_id: int) -> Listing:
        row = self._one("SELECT * FROM listings WHERE id = ?", [listing_id])
        if not row:
            raise StoreError(f"no listing {listing_id}")
        return self._listing(row)

    def listings(self) -> list[Listing]:
        return [self._listing(r) for r in self._q("SELECT * FROM listings ORDER BY id")]

    def listing_hints(self, listing_id: int) -> list[dict[str, Any]]:
        return self.hints_by_listing([listing_id]).get(listing_id, [])

    def hints_by_listing(self, listing_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The parser hints of each of these listings (those it holds none of are left out)."""
        out: dict[int, list[dict[str, Any]]] = {}
        for ids, marks in in_chunks(list(listing_ids)):
            for r in self._q(f"SELECT id, hints FROM listings WHERE id IN ({marks})", ids):
                out[r["id"]] = load_json(r["hints"], [])
        return out

    @staticmethod
    def _work(row: dict[str, Any], texts: _ListingTexts | None = None) -> Work:
        abstract = row["abstract"]
        if isinstance(abstract, bytes):
            assert texts is not None, "a work read without its listing's text"
            abstract = resolve_abstract(abstract, lambda: texts.get(row["listing_id"]))
        return to_model(Work, row, WORK, abstract=abstract)

    def listing_works(self, listing_id: int) -> list[Work]:
        texts = _ListingTexts(self)
        return [
            self._work(r, texts)
            for r in self._q("SELECT * FROM works WHERE listing_id = ? ORDER BY ordinal", [listing_id])
        ]

    def researcher_listings(self, researcher_id: int) -> list[Listing]:
        return self.listings_by_researcher([researcher_id]).get(researcher_id, [])

    def listings_by_researcher(self, researcher_ids: Sequence[int]) -> dict[int, list[Listing]]:
        """Each of these researchers' listings in id order (a researcher without any is left out)."""
        out: dict[int, list[Listing]] = {}
        for ids, marks in in_chunks(list(researcher_ids)):
            for r in self._q(
                "SELECT rl.researcher_id AS holder, l.* FROM listings l JOIN researcher_listings rl "
                f"ON rl.listing_id = l.id WHERE rl.researcher_id IN ({marks}) ORDER BY rl.researcher_id, rl.listing_id",
                ids,
            ):
                out.setdefault(r["holder"], []).append(self._listing(r))
        return out

    def shared_listings(self) -> list[tuple[int, int]]:
        """(listing id, researcher id) for each researcher of a listing that several researchers hold (a split's)."""
        rows = self.db.conn.execute(
            "SELECT listing_id, researcher_id FROM researcher_listings WHERE listing_id IN "
            "(SELECT listing_id FROM researcher_listings GROUP BY listing_id HAVING count(*) > 1)"
        )
        return [(int(a), int(b)) for a, b in rows]

    def researcher_works(self, researcher_id: int, listings: Sequence[Listing] = ()) -> list[Work]:
        """`listings`: the researcher's listings as read just before (their texts hold abstracts stored as
        references into them: not read and unpacked again)."""
        return self.works_by_researcher([researcher_id], listings).get(researcher_id, [])

    def works_by_researcher(
        self, researcher_ids: Sequence[int] | None = None, listings: Sequence[Listing] = ()
    ) -> dict[int, list[Work]]:
        """Works per researcher (of these researchers, else of all of them, for store-wide checks) through
        researcher_listings, in listing then page order; a link's `works` list (a split researcher owns part of a
        listing) keeps only those works. `listings`: as `researcher_works`'."""
        out: dict[int, list[Work]] = {}
        keep: dict[tuple[int, int], set[str] | None] = {}
        texts = _ListingTexts(self, known=listings)
        sql = (
            "SELECT rl.researcher_id, rl.works AS linked_works, w.* FROM researcher_listings rl "
            "JOIN works w ON w.listing_id = rl.listing_id {where}ORDER BY rl.researcher_id, rl.listing_id, w.ordinal"
        )
        chunks = (
            [((), "")]
            if researcher_ids is None
            else [(ids, f"WHERE rl.researcher_id IN ({marks}) ") for ids, marks in in_chunks(list(researcher_ids))]
        )
        for ids, where in chunks:
            for r in self._q(sql.format(where=where), ids):
                link = (r["researcher_id"], r["listing_id"])
                if link not in keep:
                    keep[link] = set(load_json(r["linked_works"])) if r["linked_works"] else None
                kept = keep[link]
                if kept is None or r["work_id"] in kept:
                    out.setdefault(r["researcher_id"], []).append(self._work(r, texts))
        return out

    def planning_facts(self, researcher_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
        """What the agent's planner reads, for every researcher with listings (or the given ones), in five queries
        instead of ~10 per researcher: {id: {"name", "listing_ids", "current": {field: value facts},
        "pending": {field: [value facts of pending field proposals]}, "missed": {field: step_misses row}}},
        value facts being origin, listing_id and prompt_version."""
        only = None if researcher_ids is None else set(researcher_ids)
        # a short id list filters in SQL; a long one (a whole job) reads everything and filters here
        where, params = (
            ("", [])
            if only is None or len(only) > 200
            else (f" AND {{col}} IN ({', '.join('?' * len(only))})", sorted(only))
        )

        def rows(sql: str, col: str) -> list[dict[str, Any]]:
            return [
                r for r in self._q(sql + where.format(col=col), params) if only is None or r["researcher_id"] in only
            ]

        facts: dict[int, dict[str, Any]] = {}
        for r in rows(
            "SELECT DISTINCT r.id AS researcher_id, r.name FROM researchers r "
            "JOIN researcher_listings rl ON rl.researcher_id = r.id WHERE 1 = 1",
            "r.id",
        ):
            facts[r["researcher_id"]] = {
                "name": r["name"],
                "listing_ids": set(),
                "current": {},
                "pending": {},
                "missed": {},
            }
        for r in rows("SELECT researcher_id, listing_id FROM researcher_listings WHERE 1 = 1", "researcher_id"):
            facts[r["researcher_id"]]["listing_ids"].add(r["listing_id"])
        value = "fv.origin, fv.listing_id, fv.prompt_version"
        for r in rows(
            f"SELECT c.researcher_id, c.field, {value} FROM current_values c "
            "JOIN field_values fv ON fv.id = c.value_id WHERE 1 = 1",
            "c.researcher_id",
        ):
            if r["researcher_id"] in facts:
                facts[r["researcher_id"]]["current"][r["field"]] = r
        for r in rows(
            f"SELECT p.researcher_id, p.field, {value} FROM proposals p JOIN field_values fv "
            "ON fv.id = p.value_id WHERE p.kind = 'field' AND p.state = 'pending'",
            "p.researcher_id",
        ):
            if r["researcher_id"] in facts:
                facts[r["researcher_id"]]["pending"].setdefault(r["field"], []).append(r)
        for r in rows("SELECT * FROM step_misses WHERE 1 = 1", "researcher_id"):
            if r["researcher_id"] in facts:
                facts[r["researcher_id"]]["missed"][r["field"]] = {**r, "listing_ids": set(load_json(r["listing_ids"]))}
        return facts

    def record_step_miss(
        self,
        researcher_id: int,
        field: str,
        *,
        status: str,
        origin: str,
        asked_with: str,
        listing_ids: Any,
        detail: str,
        job_id: str | None,
    ) -> None:
        """Remember that a field step asked the model and got no value on these inputs: `failed` (no answer passed
        the checks) or `none` (the model found none). `asked_with`: the prompt version and answer schema. Replaces
        the field's previous miss."""
        with self.transaction():
            self.insert_row(
                "step_misses",
                {
                    "researcher_id": researcher_id,
                    "field": field,
                    "status": status,
                    "origin": origin,
                    "asked_with": asked_with,
                    "listing_ids": sorted(listing_ids),
                    "detail": detail[:500],
                    "job_id": job_id,
                    "created_at": utcnow(),
                },
                replace=True,
            )

    def clear_step_miss(self, researcher_id: int, field: str) -> None:
        with self.transaction():
            self.db.conn.execute(
                "DELETE FROM step_misses WHERE researcher_id = ? AND field = ?", [researcher_id, field]
            )

    @staticmethod
    def _researcher(row: dict[str, Any]) -> Researcher:
        return to_model(Researcher, row, RESEARCHER)

    def researchers(self, *, include_merged: bool = False) -> list[Researcher]:
        """Every researcher, in id order; one merged into another only with `include_merged` (e.g. to name the
        researchers of past proposals)."""
        where = "" if include_merged else " WHERE merged_into IS NULL"
        return [self._researcher(r) for r in self._q(f"SELECT * FROM researchers{where} ORDER BY id")]

    def get_researcher(self, researcher_id: int) -> Researcher:
        got = self.researchers_by_id([researcher_id]).get(researcher_id)
        if got is None:
            raise StoreError(f"no researcher {researcher_id} (see `enrich list`)")
        return got

    def researchers_by_id(self, researcher_ids: Sequence[int]) -> dict[int, Researcher]:
        """These researchers by id (an id no researcher has is left out)."""
        out: dict[int, Researcher] = {}
        for ids, marks in in_chunks(list(researcher_ids)):
            for r in self._q(f"SELECT * FROM researchers WHERE id IN ({marks})", ids):
                out[r["id"]] = self._researcher(r)
        return out

    def _require_researcher(self, researcher_id: int) -> None:
        """get_researcher's check without reading the row into a model (every value write makes it)."""
        if self.db.conn.execute("SELECT 1 FROM researchers WHERE id = ?", [researcher_id]).fetchone() is None:
            raise StoreError(f"no researcher {researcher_id} (see `enrich list`)")

    def find_researcher(self, ref: str) -> Researcher:
        """A researcher by id or by (unique, case-insensitive) name."""
        if str(ref).isdigit():
            return self.get_researcher(int(ref))
        rows = self._q("SELECT * FROM researchers WHERE lower(name) = lower(?) AND merged_into IS NULL", [ref])
        if len(rows) == 1:
            return self._researcher(rows[0])
        if not rows:
            raise StoreError(f"no researcher named {ref!r} (see `enrich list`)")
        raise StoreError(
            f"{len(rows)} researchers are named {ref!r}; use an id: " + ", ".join(str(r["id"]) for r in rows)
        )

    # ------------------------------------------------------------------ values

    @staticmethod
    def _fv(row: dict[str, Any]) -> FieldValue:
        return to_model(FieldValue, row, FIELD_VALUE)

    def get_value(self, value_id: int | None) -> FieldValue | None:
        if value_id is None:
            return None
        row = self._one("SELECT * FROM field_values WHERE id = ?", [value_id])
        return self._fv(row) if row else None

    def current(self, researcher_id: int, field: str) -> FieldValue | None:
        row = self._one(
            "SELECT fv.* FROM current_values c JOIN field_values fv ON fv.id = c.value_id "
            "WHERE c.researcher_id = ? AND c.field = ?",
            [researcher_id, field],
        )
        return self._fv(row) if row else None

    def current_all(self, researcher_id: int, fields: Sequence[str] | None = None) -> dict[str, FieldValue]:
        """The researcher's current values by field (of `fields` only, when given)."""
        only = f" AND c.field IN ({', '.join('?' * len(fields))})" if fields is not None else ""
        rows = self._q(
            "SELECT fv.* FROM current_values c JOIN field_values fv ON fv.id = c.value_id WHERE c.researcher_id = ?"
            + only,
            [researcher_id, *(fields or ())],
        )
        return {r["field"]: self._fv(r) for r in rows}

    def _insert_value(self, fv: FieldValue, status: str) -> int:
        """A person's value row (automatic writers' rows come from `write_encoded`)."""
        encoded = encode_json(validate_field_value(fv.field, fv.value))
        data = _value_row(fv, status, pack_json(encoded), _hash_encoded(fv.field, encoded))
        data["created_at"] = utcnow()
        return self.insert_row("field_values", data)

    def _set_current(self, researcher_id: int, field: str, value_id: int | None) -> None:
        if value_id is None:
            self.db.conn.execute(
                "DELETE FROM current_values WHERE researcher_id = ? AND field = ?", [researcher_id, field]
            )
        else:
            self.db.conn.execute(
                "INSERT INTO current_values (researcher_id, field, value_id) VALUES (?, ?, ?) "
                "ON CONFLICT(researcher_id, field) DO UPDATE SET value_id = excluded.value_id",
                [researcher_id, field, value_id],
            )

    def fields_held(self, researcher_ids: Sequence[int]) -> dict[int, dict[str, Held]]:
        """What `decide_write` reads of each field of these researchers (current value, pending proposals,
        rejected values), for all their fields at once in three reads, for a caller that decides several writes of
        one researcher (a bulk build's worker). A field not in a researcher's result has none of them, nor a
        researcher not in the result."""
        out: dict[int, dict[str, Held]] = {}

        def at(rid: int, f: str) -> Held:
            fields = out.setdefault(rid, {})
            got = fields.get(f)
            if got is None:
                got = fields[f] = Held(None, [], {})
            return got

        for ids, marks in in_chunks(list(researcher_ids)):
            for r in self._q(
                "SELECT c.researcher_id AS holder, c.field AS held_field, fv.* FROM current_values c "
                f"JOIN field_values fv ON fv.id = c.value_id WHERE c.researcher_id IN ({marks}) "
                "ORDER BY c.researcher_id, c.field",
                ids,
            ):
                at(r["holder"], r["held_field"]).current = self._fv(r)
            for r in self._q(_PENDING.format(marks=marks) + " ORDER BY p.id", ids):
                pending = at(r["researcher_id"], r["field"]).pending
                assert pending is not None
                pending.append(r)
            for r in self._q(
                "SELECT p.id, p.researcher_id, p.field, fv.origin, fv.value_hash "
                + _OF_RESEARCHER
                + f"WHERE p.state = 'rejected' AND p.researcher_id IN ({marks}) ORDER BY p.id",
                ids,
            ):
                rejected = at(r["researcher_id"], r["field"]).rejected
                assert rejected is not None
                rejected.setdefault((r["origin"], r["value_hash"]), r["id"])
        return out

    def _pending(self, researcher_id: int, field: str) -> list[dict[str, Any]]:
        return self._q(_PENDING.format(marks="?") + " AND p.field = ? ORDER BY p.id", [researcher_id, field])

    def submit(self, fv: FieldValue, *, auto_apply: bool = False) -> WriteResult:
        """The one write path for automatic writers (page import, model). The store, not the caller, decides
        between applying the value and proposing it (store.policy.WRITE_POLICY)."""
        with self.transaction():
            return self.apply_write(self.decide_write(fv, auto_apply=auto_apply))

    def decide_write(
        self, fv: FieldValue, *, auto_apply: bool = False, held: Held | None = None, researcher_read: bool = False
    ) -> WriteDecision:
        """What `submit` would do with the value, read from the store and written nowhere (`apply_write` does it,
        in the same transaction). `held`: the field's current value and pending proposals as the caller knows them,
        instead of reading them: a bulk build's worker predicts a researcher's writes before earlier ones of the
        same researcher are made, and knows the current values its steps read (agent/batch/predict.py); the build
        applies them through `submit` and checks.
        `researcher_read`: the caller has just read the researcher's row, so it is not looked up again."""
        kind = writer_kind(fv.origin)
        if kind not in ("import", "llm"):
            raise StoreError(
                f"submit() is for automatic writers; a person's value goes through set_value/accept "
                f"(origin {fv.origin!r})"
            )
        value = validate_field_value(fv.field, fv.value)
        encoded = encode_json(value)
        h = _hash_encoded(fv.field, encoded)
        if not researcher_read:
            self._require_researcher(fv.researcher_id)
        cur = self.current(fv.researcher_id, fv.field) if held is None else held.current
        if cur is not None and value_hash(fv.field, cur.value) == h:
            same = WriteResult(
                outcome="unchanged", status=cur.status, value_id=cur.id, reason="the current value is the same"
            )
            return WriteDecision(fv, kind, value, encoded, h, same, cur)
        if held is not None and held.rejected is not None:
            rejected = held.rejected.get((fv.origin, h))
        else:
            row = self._one(
                "SELECT p.id "
                + _OF_RESEARCHER
                + "WHERE p.state = 'rejected' AND p.researcher_id = ? AND p.field = ? AND fv.origin = ? "
                "AND fv.value_hash = ? ORDER BY p.id LIMIT 1",
                [fv.researcher_id, fv.field, fv.origin, h],
            )
            rejected = row["id"] if row else None
        if rejected is not None:
            skipped = WriteResult(
                outcome="skipped_rejected",
                proposal_id=rejected,
                reason="a person rejected this value from this origin",
            )
            return WriteDecision(fv, kind, value, encoded, h, skipped, cur)
        pending = held.pending if held is not None else None
        if pending is None:
            pending = self._pending(fv.researcher_id, fv.field)
        for p in pending:
            if p["origin"] == fv.origin and p["value_hash"] == h:
                dup = WriteResult(
                    outcome="duplicate",
                    status="proposed",
                    value_id=p["value_id"],
                    proposal_id=p["id"],
                    reason="already proposed",
                )
                return WriteDecision(fv, kind, value, encoded, h, dup, cur, pending)
        state = policy.current_state(cur.status if cur else None, bool(pending))
        writes = policy.decide(kind, state, auto_apply_allowed=auto_apply)
        if writes in ("imported", "generated"):
            result = WriteResult(outcome="applied", status=writes, reason=f"{state} field, {kind} writer")
        else:
            why = {"empty": "auto-apply policy not met", "proposed": "field has a pending proposal"}.get(
                state, f"current value is {state}"
            )
            result = WriteResult(outcome="proposed", status="proposed", reason=why)
        return WriteDecision(fv, kind, value, encoded, h, result, cur, pending, state, writes)

    def apply_write(self, d: WriteDecision) -> WriteResult:
        """Make the write `decide_write` decided (inside the transaction it was decided in); the result with the
        new rows' ids."""
        if d.writes is None:
            return d.result
        vid, pid = self.write_encoded(d.encoded_write())
        return d.result.model_copy(update={"value_id": vid} if pid is None else {"value_id": vid, "proposal_id": pid})

    def write_encoded(self, w: EncodedWrite) -> tuple[int, int | None]:
        """Make an encoded decision's rows (inside the transaction it was decided in, or one that holds what it was
        decided on: agent/batch/predict.py); the ids of the value and of the proposal (None: the value was
        applied)."""
        row = w.row
        rid, field, origin = row["researcher_id"], row["field"], row["origin"]
        if w.writes in ("imported", "generated"):
            vid = self.insert_row("field_values", {**row, "created_at": utcnow()})
            audit.record(
                self,
                origin,
                "import" if w.writes == "imported" else "generate",
                researcher_id=rid,
                field=field,
                before_id=w.cur_id,
                after_id=vid,
                job_id=row["job_id"],
            )
            self._set_current(rid, field, vid)
            return vid, None
        # a proposal; an older pending proposal from the same origin is replaced by the newer one
        for pid in w.withdraw:
            self.db.conn.execute(
                "UPDATE proposals SET state = 'withdrawn', decided_at = ?, decided_by = ? WHERE id = ?",
                [utcnow(), origin, pid],
            )
        vid = self.insert_row("field_values", {**row, "created_at": utcnow()})
        pid = self.insert_row(
            "proposals",
            {
                "kind": "field",
                "researcher_id": rid,
                "field": field,
                "value_id": vid,
                "current_value_id": w.cur_id,
                "payload": "{}",
                "summary": w.summary,
                "reason": w.reason,
                "confidence": row["confidence"],
                "state": "pending",
                "job_id": row["job_id"],
                "created_at": utcnow(),
            },
        )
        return vid, pid

    def set_value(
        self,
        researcher_id: int,
        field: str,
        value: Any,
        who: str,
        evidence: list[Evidence] | None = None,
        *,
        action: str = "set",
    ) -> WriteResult:
        """A person's value: always applied, as `verified`."""
        actor = structural.human(who)
        fv = FieldValue(
            researcher_id=researcher_id,
            field=field,
            value=value,
            status="verified",
            origin=actor,
            confidence=1.0,
            evidence=evidence or [],
        )
        with self.transaction():
            self.get_researcher(researcher_id)
            cur = self.current(researcher_id, field)
            vid = self._insert_value(fv, "verified")
            audit.record(
                self,
                actor,
                action,
                researcher_id=researcher_id,
                field=field,
                before_id=cur.id if cur else None,
                after_id=vid,
            )
            self._set_current(researcher_id, field, vid)
        return WriteResult(outcome="applied", status="verified", value_id=vid)

    def add_derived(self, fact: DerivedFact) -> int:
        data = fact.model_dump(exclude={"id"})
        data["value"], data["detail"] = encode_json(data["value"]), encode_json(data["detail"])
        with self.transaction():
            return self.insert_row("derived_facts", data)

    def derived(self, value_id: int, kind: str | None = None) -> list[DerivedFact]:
        rows = self._q(
            "SELECT * FROM derived_facts WHERE value_id = ?" + (" AND kind = ?" if kind else "") + " ORDER BY id DESC",
            [value_id, kind] if kind else [value_id],
        )
        return [to_model(DerivedFact, r, DERIVED_FACT) for r in rows]

    def history(self, researcher_id: int, field: str) -> list[dict[str, Any]]:
        """Every value ever written for the field, oldest first, with what became of it."""
        cur = self.current(researcher_id, field)
        rows = self._q(
            "SELECT fv.*, p.id AS proposal_id, p.state AS proposal_state FROM field_values fv "
            "LEFT JOIN proposals p ON p.value_id = fv.id WHERE fv.researcher_id = ? AND fv.field = ? "
            "ORDER BY fv.id",
            [researcher_id, field],
        )
        out = []
        for r in rows:
            fv = self._fv(r)
            if fv.status == "proposed":
                shown = {
                    "pending": "proposed",
                    "accepted": "accepted",
                    "rejected": "rejected",
                    "withdrawn": "superseded",
                }.get(r["proposal_state"] or "pending", "proposed")
            elif cur and fv.id == cur.id:
                shown = fv.status
            else:
                shown = "superseded"
            out.append(
                {
                    **fv.model_dump(),
                    "shown_status": shown,
                    "current": bool(cur and fv.id == cur.id),
                    "proposal_id": r["proposal_id"],
                    "proposal_state": r["proposal_state"],
                }
            )
        return out

    # ------------------------------------------------------------------ proposals and review actions

    def _proposal(self, row: dict[str, Any]) -> Proposal:
        return to_model(
            Proposal,
            row,
            PROPOSAL,
            proposed=self.get_value(row["value_id"]),
            current=self.get_value(row["current_value_id"]),
        )

    def create_proposal(self, p: Proposal) -> int:
        """Structural proposals (split, merge). Field proposals come from submit()."""
        if p.kind == "field":
            raise StoreError("field proposals are made by submit(), which applies the write policy")
        row = {
            "kind": p.kind,
            "researcher_id": p.researcher_id,
            "field": p.field,
            "value_id": None,
            "current_value_id": None,
            "payload": encode_json(p.payload),
            "summary": p.summary,
            "reason": p.reason,
            "confidence": p.confidence,
            "state": "pending",
            "job_id": p.job_id,
            "created_at": utcnow(),
        }
        with self.transaction():
            return self.insert_row("proposals", row)

    def proposals(
        self,
        state: str | None = "pending",
        *,
        field: str | None = None,
        researcher_id: int | None = None,
        job_id: str | None = None,
        min_confidence: float | None = None,
        kind: str | None = None,
        order: str = "id",
    ) -> list[Proposal]:
        """Every proposal the filters select, in a queue order (`id`, `confidence`, `researcher`): the same filters
        as the review queue's pages (store/paging.py), all at once."""
        if order not in paging.SORTS:
            raise ValueError(f"unknown order {order!r}; use one of: {', '.join(paging.SORTS)}")
        query = paging.QueueQuery(state, field, researcher_id, job_id, min_confidence, kind, order)
        where, params = paging.queue_where(query)
        key, direction = paging.SORTS[order]
        order_sql = f"{key} {direction}, p.id" if key else "p.id"
        rows = self._q(
            f"SELECT p.* FROM proposals p WHERE {' AND '.join(where) or '1 = 1'} ORDER BY {order_sql}", params
        )
        return [self._proposal(r) for r in rows]

    def get_proposal(self, proposal_id: int) -> Proposal:
        row = self._one("SELECT * FROM proposals WHERE id = ?", [proposal_id])
        if not row:
            raise StoreError(f"no proposal {proposal_id} (see `enrich review`)")
        return self._proposal(row)

    def _pending_proposal(self, proposal_id: int) -> Proposal:
        p = self.get_proposal(proposal_id)
        if p.state != "pending":
            raise StoreError(f"proposal {proposal_id} is {p.state}, not pending")
        return p

    def _decide_structural(self, p: Proposal, verb: str, actor: str) -> None:
        """split / merge proposals change researchers, not values: store.structural owns them."""
        decide = {
            ("accept", "split"): structural.accept_split,
            ("reject", "split"): structural.reject_split,
            ("accept", "merge"): structural.accept_merge,
            ("reject", "merge"): structural.reject_merge,
        }[(verb, p.kind)]
        assert p.id is not None  # a proposal read from the store
        decide(self, p.id, actor)

    def accept(self, proposal_id: int, who: str, *, value: Any = None) -> WriteResult:
        """A person accepts a proposal (status `accepted`, the model's origin kept), or edits it (`value` given:
        the corrected value is accepted with the person's origin)."""
        actor = structural.human(who)
        with self.transaction():
            p = self._pending_proposal(proposal_id)
            if p.kind != "field":
                self._decide_structural(p, "accept", actor)
                return WriteResult(outcome="applied", proposal_id=proposal_id, reason=f"{p.kind} accepted")
            assert p.proposed is not None and p.researcher_id is not None and p.field is not None
            cur = self.current(p.researcher_id, p.field)
            if value is None:
                vid = self._insert_value(p.proposed, "accepted")
                action = "accept"
            else:
                edited = p.proposed.model_copy(update={"value": value, "origin": actor, "confidence": 1.0})
                vid = self._insert_value(edited, "accepted")
                action = "edit"
            audit.record(
                self,
                actor,
                action,
                researcher_id=p.researcher_id,
                field=p.field,
                proposal_id=proposal_id,
                before_id=cur.id if cur else None,
                after_id=vid,
                job_id=p.job_id,
            )
            self._set_current(p.researcher_id, p.field, vid)
            audit.decide(self, proposal_id, "accepted", actor, vid)
        return WriteResult(outcome="applied", status="accepted", value_id=vid, proposal_id=proposal_id)

    def reject(self, proposal_id: int, who: str) -> None:
        actor = structural.human(who)
        with self.transaction():
            p = self._pending_proposal(proposal_id)
            if p.kind != "field":
                self._decide_structural(p, "reject", actor)
                return
            audit.record(
                self,
                actor,
                "reject",
                researcher_id=p.researcher_id,
                field=p.field,
                proposal_id=proposal_id,
                before=None,
                after=p.proposed.value if p.proposed else None,
                job_id=p.job_id,
            )
            audit.decide(self, proposal_id, "rejected", actor)

    def undo(self, who: str, audit_id: int | None = None) -> AuditEntry:
        """Undo a person's last review action (or the given one): the value returns to what it was and a decided
        proposal is pending again. Undo is itself audited."""
        actor = structural.human(who)
        with self.transaction():
            if audit_id is None:
                row = self._one(
                    "SELECT * FROM audit_log a WHERE actor LIKE 'human:%' AND action IN "
                    "('set', 'accept', 'edit', 'reject', 'import-verified', 'correct-split', 'split') AND NOT EXISTS "
                    "(SELECT 1 FROM audit_log u WHERE u.undoes = a.id) "
                    "ORDER BY id DESC LIMIT 1"
                )
            else:
                row = self._one("SELECT * FROM audit_log WHERE id = ?", [audit_id])
            if not row:
                raise StoreError("nothing to undo")
            if self._one("SELECT 1 FROM audit_log WHERE undoes = ?", [row["id"]]):
                raise StoreError(f"audit entry {row['id']} was already undone")
            rid, field = row["researcher_id"], row["field"]
            if row["action"] in ("correct-split", "split"):  # structural: a split's clusters or its researchers
                from . import split_edit

                undo = (
                    split_edit.undo_correction if row["action"] == "correct-split" else split_edit.undo_accepted_split
                )
                undo(self, dict(row), actor)
                return self.audit_entries(limit=1)[0]
            if row["action"] != "reject":
                cur = self.current(rid, field)
                if (cur.id if cur else None) != row["after_value_id"]:
                    raise StoreError(f"{field} of researcher {rid} changed since; undo the later change first")
                # the undo's audit row carries the transition the never-override trigger checks
                audit.record(
                    self,
                    actor,
                    "undo",
                    researcher_id=rid,
                    field=field,
                    proposal_id=row["proposal_id"],
                    before_id=row["after_value_id"],
                    after_id=row["before_value_id"],
                    undoes=row["id"],
                )
                self._set_current(rid, field, row["before_value_id"])
            else:
                audit.record(
                    self,
                    actor,
                    "undo",
                    researcher_id=rid,
                    field=field,
                    proposal_id=row["proposal_id"],
                    before=load_json(row["after"]),
                    after=None,
                    undoes=row["id"],
                )
            if row["action"] == "reject" and row["proposal_id"]:  # a rejected split had marked one person
                if self.get_proposal(row["proposal_id"]).kind == "split":
                    self.db.execute("UPDATE researchers SET single_person = 0 WHERE id = ?", [rid])
            if row["action"] in ("accept", "edit", "reject") and row["proposal_id"]:
                self.db.execute(
                    "UPDATE proposals SET state = 'pending', decided_at = NULL, decided_by = NULL, "
                    "result_value_id = NULL WHERE id = ?",
                    [row["proposal_id"]],
                )
        return self.audit_entries(limit=1)[0]

    def rollback_job(self, job_id: str, who: str) -> dict[str, int]:
        """Revert everything a job applied (values return to what they were) and withdraw its pending proposals.
        A value a person has changed since is left alone and counted as `kept`."""
        actor = structural.human(who)
        counts = {"reverted": 0, "kept": 0, "withdrawn": 0}
        with self.transaction():
            applied = self._q(
                "SELECT * FROM audit_log WHERE job_id = ? AND action IN ('generate', 'import') ORDER BY id DESC",
                [job_id],
            )
            for row in applied:
                cur = self.current(row["researcher_id"], row["field"])
                if cur is None or cur.id != row["after_value_id"]:
                    counts["kept"] += 1
                    continue
                audit.record(
                    self,
                    actor,
                    "rollback",
                    researcher_id=row["researcher_id"],
                    field=row["field"],
                    before_id=row["after_value_id"],
                    after_id=row["before_value_id"],
                    job_id=job_id,
                )
                self._set_current(row["researcher_id"], row["field"], row["before_value_id"])
                counts["reverted"] += 1
            pending = self._q("SELECT id FROM proposals WHERE job_id = ? AND state = 'pending'", [job_id])
            for p in pending:
                audit.decide(self, p["id"], "withdrawn", actor)
            counts["withdrawn"] = len(pending)
            if pending or applied:
                audit.record(self, actor, "rollback-job", job_id=job_id, after=counts)
        return counts

    def audit_entries(
        self, *, researcher_id: int | None = None, job_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        return self._audit_entries(self._newest("audit_log", limit, researcher_id=researcher_id, job_id=job_id))

    def _newest(self, table: str, limit: int, **equal: Any) -> list[dict[str, Any]]:
        """The newest `limit` rows of `table` whose columns equal the given values (None: not filtered)."""
        filters = {col: v for col, v in equal.items() if v is not None}
        where = " AND ".join(f"{col} = ?" for col in filters) or "1 = 1"
        return self._q(f"SELECT * FROM {table} WHERE {where} ORDER BY id DESC LIMIT ?", [*filters.values(), limit])

    def audit_entry(self, audit_id: int) -> AuditEntry | None:
        row = self._one("SELECT * FROM audit_log WHERE id = ?", [audit_id])
        return None if row is None else self._audit_entries([row])[0]

    def _audit_entries(self, rows: list[dict[str, Any]]) -> list[AuditEntry]:
        """Audit rows as entries; a side stored as a value id (no copy: `audit.record`) reads that value, one query for
        all the rows. Rows written before keep their copies, which are read as they are."""
        ids = {r[f"{side}_value_id"] for r in rows for side in ("before", "after") if r[side] is None}
        ids.discard(None)
        values: dict[int, Any] = {}
        id_list = sorted(ids)
        for chunk, marks in in_chunks(id_list):
            for vid, value in self.db.conn.execute(f"SELECT id, value FROM field_values WHERE id IN ({marks})", chunk):
                values[vid] = load_json(value)

        def side(r: dict[str, Any], name: str) -> Any:
            if r[name] is None:
                vid = r[f"{name}_value_id"]
                return values.get(vid) if vid is not None else None
            return load_json(r[name])

        return [to_model(AuditEntry, r, AUDIT_ENTRY, before=side(r, "before"), after=side(r, "after")) for r in rows]

    # ------------------------------------------------------------------ jobs

    def _job_lock(self) -> str:
        key = getattr(self, "_job_lock_key", None)
        if key is None:
            key = self._job_lock_key = job_locks.lock_key(self.db.conn)
        return key

    def create_job(self, job: Job) -> None:
        """Insert a new job. A `running` one is run by this process, which holds the job's lock until
        `release_job`."""
        data = job.model_dump(exclude={"resume", "errors"})
        running = job.state == "running"
        if running:
            if not job_locks.acquire(self._job_lock(), job.id):
                raise StoreError(f"job {job.id} exists already")
            data.update(pid=os.getpid(), host=socket.gethostname())
        for k in ("params", "todo", "counts"):
            data[k] = encode_json(data[k])
        try:
            with self.transaction():
                self.db.table("jobs").insert(data)
        except BaseException:
            if running:
                job_locks.release(self._job_lock(), job.id)
            raise

    def claim_job(self, job_id: str) -> Job:
        """Take a stopped job over to run it in this process. Refused while another live process runs it: two
        processes never run the same job."""
        job = self.get_job(job_id)
        if not job_locks.acquire(self._job_lock(), job_id):
            where = f" (pid {job.pid} on {job.host})" if job.pid else ""
            raise StoreError(f"job {job_id} is running in another process{where}; wait for it to end or stop it")
        try:
            self.update_job(job_id, state="running", error=None, pid=os.getpid(), host=socket.gethostname())
        except BaseException:
            job_locks.release(self._job_lock(), job_id)
            raise
        return self.get_job(job_id)

    def release_job(self, job_id: str) -> None:
        """This process no longer runs the job (its state was saved by `update_job`)."""
        job_locks.release(self._job_lock(), job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        for k in ("params", "todo", "counts"):
            if k in fields:
                fields[k] = encode_json(fields[k])
        with self.transaction():
            self.db.table("jobs").update(job_id, fields)

    def _job(self, row: dict[str, Any], errors: int) -> Job:
        if row["state"] == "running" and not job_locks.is_running(self._job_lock(), row["id"]):
            # the row says running but no live process holds the job: it was killed, crashed or lost power
            row["state"] = "interrupted"
            who = f" (pid {row['pid']} on {row['host']})" if row.get("pid") else ""
            row["error"] = row["error"] or f"its process{who} ended before the job finished"
        return to_model(Job, row, JOB, errors=errors)

    def get_job(self, job_id: str) -> Job:
        """A job as it is now: `running` only while a live process runs it, else `interrupted` (resumable)."""
        row = self._one("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not row:
            raise StoreError(f"no job {job_id} (see `enrich jobs`)")
        n = self._one("SELECT count(*) AS n FROM job_errors WHERE job_id = ?", [job_id])
        return self._job(row, n["n"] if n else 0)

    def jobs(self, limit: int = 50) -> list[Job]:
        rows = self._q("SELECT * FROM jobs ORDER BY started_at DESC, rowid DESC LIMIT ?", [limit])
        counts = {
            r["job_id"]: r["n"]
            for r in self._q(
                "SELECT job_id, count(*) AS n FROM job_errors WHERE job_id IN "
                "(SELECT id FROM jobs ORDER BY started_at DESC, rowid DESC LIMIT ?) GROUP BY job_id",
                [limit],
            )
        }
        return [self._job(r, counts.get(r["id"], 0)) for r in rows]

    # ------------------------------------------------------------------ job errors

    def record_job_error(self, err: JobError) -> int:
        """A step that raised for one researcher; the job goes on (counted on the job as `errors`)."""
        with self.transaction():
            return self.insert_row("job_errors", err.model_dump(exclude={"id"}))

    def job_errors(
        self, *, job_id: str | None = None, researcher_id: int | None = None, limit: int = 100
    ) -> list[JobError]:
        """Recorded errors, newest first."""
        rows = self._newest("job_errors", limit, job_id=job_id, researcher_id=researcher_id)
        return [to_model(JobError, r, JOB_ERROR) for r in rows]

    def latest_job_errors(self, researcher_id: int) -> list[JobError]:
        """The errors of the latest job that worked on this researcher (none when that job went through)."""
        last = self._one(
            "SELECT id FROM jobs WHERE EXISTS (SELECT 1 FROM json_each(jobs.todo) WHERE value = ?) "
            "ORDER BY started_at DESC, rowid DESC LIMIT 1",
            [researcher_id],
        )
        return self.job_errors(job_id=last["id"], researcher_id=researcher_id) if last else []
