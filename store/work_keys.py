"""Blocking keys of works, for merge detection in near-linear time.

Two listings share a work when a normalised title, or a stretch of a normalised abstract, is the same. Each work's
keys are stored in `work_keys` (indexed) when its listing is imported, so finding the listings that share any work
with a job's listings is an index look-up per key, never a comparison of every pair of works.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from enrich.schemas.text import ascii_key

from .rows import in_chunks
from .stored_text import resolve_abstract, unpack_text

MIN_TITLE_CHARS = 10  # shorter normalised titles ("Introduction", "Editorial") name no particular paper
MIN_ABSTRACT_CHARS = 80  # an abstract shorter than this identifies nothing
ABSTRACT_PREFIX = 60  # characters of the normalised opening: an identical opening names one paper
SHINGLE_WORDS = 8  # an 8-word phrase shared by two abstracts is rarely boilerplate


def keys_of(title: str | None, abstract: str | None) -> set[str]:
    keys = set()
    t = ascii_key(title)
    if len(t) >= MIN_TITLE_CHARS:
        keys.add("t:" + t)
    ab = ascii_key(abstract)
    if len(ab) >= MIN_ABSTRACT_CHARS:
        keys.add("a:" + ab[:ABSTRACT_PREFIX])
        keys.update(_minhash(ab.split()))
    return keys


def _minhash(words: list[str]) -> set[str]:
    """Keys two near-identical abstracts share with high probability (a changed opening or a typo leaves most of
    their 8-word phrases the same): under each of two hash functions, the phrase with the smallest hash (min-hash of
    the phrase sets). Only phrases starting at an anchor word (one word in four, chosen by the word's own hash, so
    both copies pick the same ones) are hashed: a quarter of the work for the same agreement. A shared boilerplate
    phrase can collide too, so a match through these keys is checked against the abstracts (`similar_abstracts`)."""
    if len(words) < SHINGLE_WORDS + 2:
        return set()
    last = len(words) - SHINGLE_WORDS + 1
    starts = [i for i in range(last) if zlib.crc32(words[i].encode()) & 3 == 0] or list(range(last))
    hashes = [zlib.crc32(" ".join(words[i : i + SHINGLE_WORDS]).encode()) for i in starts]
    # the second hash function: an odd multiplier mod 2^32 permutes the first one's values
    second = min((h * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF for h in hashes)
    return {f"m0:{min(hashes):08x}", f"m1:{second:08x}"}


SIMILAR_MIN = 90  # rapidfuzz ratio of two normalised abstracts' first 400 characters for an abstract match


def similar_abstracts(store: Any, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Are the abstracts of works a and b ((listing_id, ordinal) each) near-identical?"""
    from rapidfuzz import fuzz

    conn = store.db.conn
    texts = []
    for lid, ordinal in (a, b):
        found = conn.execute(
            "SELECT abstract FROM works WHERE listing_id = ? AND ordinal = ?", [lid, ordinal]
        ).fetchone()
        texts.append(
            ascii_key(resolve_abstract(found[0], functools.partial(_listing_text, conn, lid))) if found else ""
        )
    if not all(texts):
        return False
    x, y = texts
    return x[:200] == y[:200] or fuzz.ratio(x[:400], y[:400]) >= SIMILAR_MIN


_KINDS = {"t": 0, "a": 1, "m": 2}  # a title, an abstract's opening, an abstract min-hash


_HASH_BITS = 61
_KIND_BASE = -(1 << 63)  # the kinds take the top of a signed 64-bit integer, titles lowest


def stored_key(key: str) -> int:
    """What `work_keys.key` holds: its kind (a title names one work; an abstract key is only a candidate) in the
    top bits, then 61 bits of the key's hash -- 8 bytes whatever the title's length. Title keys sort first, so merge
    detection meets them first and seldom needs to compare abstracts. A 61-bit hash collides about once in a
    billion pairs; a collision only makes a candidate."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") & ((1 << _HASH_BITS) - 1)
    return _KIND_BASE + (_KINDS[key[0]] << _HASH_BITS) + h


def is_title_key(key: int) -> bool:
    return key < _KIND_BASE + (1 << _HASH_BITS)


def _listing_text(conn: Any, listing_id: int) -> str:
    """A listing's text, which a stored abstract may refer into."""
    return unpack_text(conn.execute("SELECT text FROM listings WHERE id = ?", [listing_id]).fetchone()[0])


@functools.lru_cache(maxsize=8192)  # a paper is listed on each of its authors' pages
def _stored_keys(title: str | None, abstract: str | None) -> tuple[int, ...]:
    return tuple(stored_key(k) for k in keys_of(title, abstract))


CATCH_UP_LISTINGS = 2000  # listings keyed per write transaction


@dataclass(frozen=True)
class NewKeys:
    """The keys of a run of listings not keyed yet, read and computed (`new_keys`), not written (`add_keys`):
    (key, listing_id, ordinal) rows flattened into 8-byte integers, in key order (compact to hand to another
    process), and the run's last listing id."""

    rows: array[int]
    upto: int
    listings: int


def catch_up(store: Any) -> int:
    """Key the works of the listings imported since the last call (the keys are derived data: an import does not
    pay for them; the merge detection that reads them builds them first). Returns the number of listings keyed.
    Idempotent: two processes catching up at once write the same rows."""
    done = 0
    for keys in new_keys(store):
        add_keys(store, keys)
        done += keys.listings
    return done


def new_keys(store: Any, after: int | None = None, chunk: int | None = None) -> Iterator[NewKeys]:
    """The keys of the listings past `after` (by default `work_keys_state.upto`), `chunk` listings at a time (by
    default CATCH_UP_LISTINGS): reads only, so a bulk build's worker can make them and its writer write them (a
    commit from the worker's connection would make the writer check every prediction handed out so far again:
    agent/batch/predict.Trust)."""
    conn = store.db.conn
    upto = conn.execute("SELECT upto FROM work_keys_state").fetchone()[0] if after is None else after
    chunk = chunk or CATCH_UP_LISTINGS
    while True:
        ids = [r[0] for r in conn.execute("SELECT id FROM listings WHERE id > ? ORDER BY id LIMIT ?", [upto, chunk])]
        if not ids:
            return
        rows: list[tuple[int, int, int]] = []
        unpacked: tuple[int, str] = (0, "")  # the last listing text read: its works come one after another
        cur = conn.execute(
            "SELECT listing_id, ordinal, title, abstract FROM works WHERE listing_id BETWEEN ? AND ? "
            "ORDER BY listing_id, ordinal",
            [ids[0], ids[-1]],
        )
        for lid, ordinal, title, abstract in cur:
            if isinstance(abstract, bytes):  # a reference into the listing's text, read once per listing
                if unpacked[0] != lid:
                    unpacked = (lid, _listing_text(conn, lid))
                abstract = resolve_abstract(abstract, functools.partial(str, unpacked[1]))
            rows.extend((key, lid, ordinal) for key in _stored_keys(title, abstract))
        rows.sort()
        upto = ids[-1]
        yield NewKeys(array("q", itertools.chain.from_iterable(rows)), upto, len(ids))


KEYS_CACHE_KIB = 16_384  # SQLite's page cache while `add_keys` writes (its default is 2 MB)


def add_keys(store: Any, keys: NewKeys) -> None:
    """Write keys `new_keys` made, in one transaction (in key order: each page of the key index is written once
    per chunk of listings, not once per work). The listing index is written in random order, so meanwhile the
    page cache is larger: with the default one, its pages were spilled, read and written again."""
    conn = store.db.conn
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{KEYS_CACHE_KIB}")
    flat = iter(keys.rows)
    try:
        with store.transaction():
            conn.executemany(
                "INSERT OR IGNORE INTO work_keys (key, listing_id, ordinal) VALUES (?, ?, ?)", zip(flat, flat, flat)
            )
            conn.execute("UPDATE work_keys_state SET upto = max(upto, ?)", [keys.upto])
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")


def backfill(db: Any) -> None:
    """The members of existing merge proposals (migration m009). Work keys are built by `catch_up` since m011."""
    conn = db.conn
    for pid, payload in conn.execute("SELECT id, payload FROM proposals WHERE kind = 'merge'").fetchall():
        data = json.loads(payload or "{}")
        members = data.get("researchers") or data.get("pair") or []
        conn.executemany(
            "INSERT OR IGNORE INTO merge_members (researcher_id, proposal_id) VALUES (?, ?)",
            [(int(r), pid) for r in members],
        )


def shared_postings(store: Any, among: Iterable[int] | None = None, *, batch: int = 5000) -> Iterator[list[Posting]]:
    """For every work key held by more than one listing -- and, with `among`, by a work of one of those
    researchers -- the researchers' works that hold it: one list of postings per key, key by key (memory holds one
    key's postings). Researchers merged away have no listings and so never appear; a researcher that owns only
    part of a listing (a split) appears only for its own works."""
    conn = store.db.conn
    catch_up(store)
    # the temp tables are written in a store transaction: a bare INSERT would open an implicit transaction on the
    # connection that nothing commits, and every later store transaction would nest in it as a savepoint
    with store.transaction():
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _merge_keys (key INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM _merge_keys")
        if among is None:
            conn.execute(
                "INSERT INTO _merge_keys SELECT key FROM work_keys GROUP BY key HAVING count(DISTINCT listing_id) > 1"
            )
        else:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _merge_among (rid INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM _merge_among")
            conn.executemany("INSERT OR IGNORE INTO _merge_among VALUES (?)", ((int(r),) for r in among))
            # only the keys another listing holds too (most keys of a store belong to one listing)
            conn.execute(
                "INSERT OR IGNORE INTO _merge_keys SELECT DISTINCT k.key FROM _merge_among a JOIN researcher_listings "
                "rl ON rl.researcher_id = a.rid JOIN work_keys k ON k.listing_id = rl.listing_id WHERE EXISTS "
                "(SELECT 1 FROM work_keys o WHERE o.key = k.key AND o.listing_id != k.listing_id)"
            )
    # postings name a work by listing and ordinal: its id and title are read only for the few that are joined
    # (reading every posting's work row was most of the time of a store-wide detection)
    cur = conn.execute(
        "SELECT k.key, rl.researcher_id, rl.listing_id, k.ordinal, rl.works FROM _merge_keys m "
        "JOIN work_keys k ON k.key = m.key JOIN researcher_listings rl ON rl.listing_id = k.listing_id ORDER BY k.key"
    )
    owned: dict[tuple[int, int], set[int]] = {}  # a split's researcher owns some works of a listing: their ordinals
    group: list[Posting] = []
    current = None
    while rows := cur.fetchmany(batch):
        for key, rid, lid, ordinal, works in rows:
            if key != current:
                if len({p.researcher_id for p in group}) > 1:
                    yield group
                group, current = [], key
            if works is not None:
                if (rid, lid) not in owned:
                    mine = set(json.loads(works))
                    owned[(rid, lid)] = {
                        o
                        for o, wid in conn.execute("SELECT ordinal, work_id FROM works WHERE listing_id = ?", [lid])
                        if wid in mine
                    }
                if ordinal not in owned[(rid, lid)]:
                    continue
            group.append(Posting(key, rid, lid, ordinal))
    if len({p.researcher_id for p in group}) > 1:
        yield group


@dataclass(frozen=True)
class Posting:
    key: int  # stored_key: the kind in the top bits, then the hash
    researcher_id: int
    listing_id: int
    ordinal: int  # the work's place in its listing


def work_of(store: Any, p: Posting) -> tuple[str, str | None]:
    """(work id, title) of a posting's work."""
    row = store.db.conn.execute(
        "SELECT work_id, title FROM works WHERE listing_id = ? AND ordinal = ?", [p.listing_id, p.ordinal]
    ).fetchone()
    return (row[0], row[1]) if row else ("", None)


def researcher_facts(store: Any, ids: Iterable[int]) -> dict[int, tuple[str | None, int | None]]:
    """{id: (name, split_from)} for these researchers."""
    ids = list(ids)
    out: dict[int, tuple[str | None, int | None]] = {}
    for chunk, marks in in_chunks(ids):
        sql = f"SELECT id, name, split_from FROM researchers WHERE id IN ({marks})"
        out.update({r[0]: (r[1], r[2]) for r in store.db.conn.execute(sql, chunk)})
    return out
