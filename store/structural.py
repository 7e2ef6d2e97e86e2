"""Structural proposals: split a conflated listing into several researchers, merge two listings of one person.

Neither is ever automatic: the conflation step (or the merge finder) proposes, a person decides through the
generic review view (`summary`, `reason`, payload). `Store.accept` / `Store.reject` dispatch here for the kinds
`split` and `merge`; they may also be called directly. Every decision writes an audit row (actor `human:<who>`).

Provenance of a split: each new researcher links to the original listing through `researcher_listings.works`
(the work ids of its cluster) and points back to the original researcher through `researchers.split_from`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from enrich.schemas import Proposal, Researcher, utcnow
from enrich.schemas.conflation import ConflationResult

from . import audit
from .errors import StoreError
from .rows import CONFLATION, in_chunks, select, select_one, to_model
from .stand_in import hands_over
from .stored_text import pack_json

if TYPE_CHECKING:
    from .core import Store

MIN_CLUSTER_WORKS = 2  # smaller clusters stay with the original researcher ("unassigned" in the payload)


def human(who: str) -> str:
    """The audit actor of a person (`human:<who>`)."""
    return who if who.startswith("human:") else f"human:{who}"


def pending_proposal(store: Store, proposal_id: int, kind: str) -> Proposal:
    """The proposal, refused unless it is a pending one of this kind."""
    p = store.get_proposal(proposal_id)
    if p.kind != kind:
        raise StoreError(f"proposal {proposal_id} is a {p.kind} proposal, not {kind}")
    if p.state != "pending":
        raise StoreError(f"proposal {proposal_id} is {p.state}, not pending")
    return p


# ----------------------------------------------------------------- conflation results


@hands_over
def save_conflation(store: Store, listing_id: int, researcher_id: int | None, result: ConflationResult) -> None:
    """Record the conflation step's verdict for a listing (one row per listing and method; re-running replaces)."""
    with store.transaction():
        save_verdict(store, listing_id, researcher_id, verdict_columns(result))


VerdictColumns = tuple[int, float, str | bytes, str]  # detected, confidence, the clusters' JSON as stored, method


def verdict_columns(result: ConflationResult) -> VerdictColumns:
    """A verdict as `save_verdict` stores it (a bulk build's worker encodes it, compression included, and its
    writer stores it)."""
    clusters = json.dumps([c.model_dump() for c in result.clusters])
    return int(result.detected), result.confidence, pack_json(clusters), result.method


def save_verdict(store: Store, listing_id: int, researcher_id: int | None, columns: VerdictColumns) -> None:
    """`save_conflation` of a verdict encoded by `verdict_columns`, in the caller's transaction (a bulk build's
    writer saves it among a researcher's other writes: one statement needs no savepoint of its own)."""
    detected, confidence, clusters, method = columns
    row = {
        "listing_id": listing_id,
        "researcher_id": researcher_id,
        "detected": detected,
        "confidence": confidence,
        "clusters": clusters,
        "method": method,
        "created_at": utcnow(),
    }
    store.insert_row("conflation", row, replace=True)


@hands_over
def get_conflation(
    store: Store, *, listing_id: int | None = None, researcher_id: int | None = None
) -> ConflationResult | None:
    """The latest stored verdict for a listing or a researcher (for `enrich export` and the agent loop)."""
    if listing_id is None and researcher_id is None:
        raise StoreError("get_conflation needs a listing_id or a researcher_id")
    col, val = ("listing_id", listing_id) if listing_id is not None else ("researcher_id", researcher_id)
    return _latest_verdicts(store, col, [val]).get(val)


def verdicts_by_listing(store: Store, listing_ids: list[int]) -> dict[int, ConflationResult]:
    """`get_conflation` of each of these listings (a listing without a verdict is left out)."""
    return _latest_verdicts(store, "listing_id", listing_ids)


def _latest_verdicts(store: Store, col: str, values: list[Any]) -> dict[Any, ConflationResult]:
    out: dict[Any, ConflationResult] = {}
    for keys, marks in in_chunks(values):
        for row in select(
            store,
            f"SELECT * FROM conflation WHERE {col} IN ({marks}) ORDER BY {col}, created_at DESC, rowid DESC",
            keys,
        ):
            if row[col] not in out:
                out[row[col]] = to_model(ConflationResult, row, CONFLATION)
    return out


@hands_over
def is_flagged(store: Store, researcher_id: int, researcher: Researcher | None = None) -> bool:
    """True when a listing of this researcher was judged conflated and no person has said it is one person:
    the agent must then not auto-apply a single affiliation or summary. `researcher`: its row, when the caller has
    just read it."""
    r = researcher if researcher is not None and researcher.id == researcher_id else store.get_researcher(researcher_id)
    return not r.single_person and researcher_id in judged_conflated(store, [researcher_id])


def judged_conflated(store: Store, researcher_ids: list[int]) -> set[int]:
    """Those of these researchers who hold a whole listing judged conflated (`is_flagged` but a person's word)."""
    out: set[int] = set()
    for ids, marks in in_chunks(researcher_ids):
        rows = store.db.conn.execute(
            "SELECT DISTINCT rl.researcher_id FROM conflation c JOIN researcher_listings rl "
            f"ON rl.listing_id = c.listing_id WHERE rl.researcher_id IN ({marks}) AND rl.works IS NULL "
            "AND c.detected = 1",
            ids,
        )
        out.update(rid for (rid,) in rows)
    return out


# ----------------------------------------------------------------- split


def _split_key(listing_id: int, clusters: list[list[str]]) -> str:
    return json.dumps([listing_id, sorted(sorted(c) for c in clusters)])


@hands_over
def propose_split(
    store: Store, researcher_id: int, listing_id: int, result: ConflationResult, job_id: str | None = None
) -> int | None:
    """Propose splitting a researcher's listing along the result's clusters. Returns the proposal id; the same
    pending split again returns the existing id; None when a person already said this is one person or fewer
    than two clusters have enough works."""
    split = split_to_propose(store, researcher_id, listing_id, result, job_id)
    return store.create_proposal(split) if isinstance(split, Proposal) else split


def split_to_propose(
    store: Store, researcher_id: int, listing_id: int, result: ConflationResult, job_id: str | None = None
) -> Proposal | int | None:
    """`propose_split`'s decision, read only: the proposal to create, the id of the same split pending already,
    or None for no split."""
    researcher = store.get_researcher(researcher_id)
    if researcher.single_person:
        return None
    big = [c for c in result.clusters if len(c.work_ids) >= MIN_CLUSTER_WORKS]
    if len(big) < 2:
        return None
    unassigned = [w for c in result.clusters if c not in big for w in c.work_ids]
    key = _split_key(listing_id, [c.work_ids for c in big])
    for p in store.proposals("pending", researcher_id=researcher_id, kind="split"):
        if p.payload.get("key") == key:
            return p.id
    name = researcher.name or f"researcher {researcher_id}"
    sizes = ", ".join(str(len(c.work_ids)) for c in big)
    summary = f"Split {name} into {len(big)} researchers ({sizes} works)"
    lines = [f"Listing {listing_id} looks like several people named {name} (confidence {result.confidence:.2f})."]
    for i, c in enumerate(big, 1):
        ev = c.evidence
        bits = []
        if ev.shared_coauthors:
            bits.append("co-authors " + ", ".join(ev.shared_coauthors[:4]))
        if ev.top_terms:
            bits.append("topics " + ", ".join(ev.top_terms[:4]))
        if ev.years:
            bits.append("-".join(str(y) for y in sorted(set(ev.years))))
        if ev.name_forms:
            bits.append("printed as " + " / ".join(ev.name_forms[:3]))
        lines.append(f"Group {i} ({len(c.work_ids)} works): " + "; ".join(bits))
    lines += result.reasons
    payload: dict[str, Any] = {
        "key": key,
        "listing_id": listing_id,
        "method": result.method,
        "confidence": result.confidence,
        "clusters": [c.model_dump() for c in big],
        "unassigned": unassigned,
    }
    return Proposal(
        kind="split",
        researcher_id=researcher_id,
        payload=payload,
        summary=summary,
        reason="\n".join(lines),
        confidence=result.confidence,
        job_id=job_id,
    )


def accept_split(store: Store, proposal_id: int, who: str) -> list[int]:
    """Create one researcher per cluster, linked to the original listing by its works and to the original
    researcher by `split_from`; the original keeps only the unassigned works of that listing."""
    actor = human(who)
    with store.transaction():
        p = pending_proposal(store, proposal_id, "split")
        assert p.researcher_id is not None  # a split proposal always names the researcher it splits
        original = store.get_researcher(p.researcher_id)
        listing_id = p.payload["listing_id"]
        new_ids = []
        for cluster in p.payload["clusters"]:
            rid = store.insert_row(
                "researchers",
                {
                    "name": original.name,
                    "name_origin": f"split:{proposal_id}",
                    "split_from": original.id,
                    "created_at": utcnow(),
                },
            )
            store.insert_row(
                "researcher_listings",
                {"researcher_id": rid, "listing_id": listing_id, "works": json.dumps(cluster["work_ids"])},
                replace=True,
            )
            new_ids.append(rid)
        store.insert_row(
            "researcher_listings",
            {
                "researcher_id": original.id,
                "listing_id": listing_id,
                "works": json.dumps(p.payload.get("unassigned", [])),
            },
            replace=True,
        )
        audit.record(
            store,
            actor,
            "split",
            researcher_id=original.id,
            proposal_id=proposal_id,
            job_id=p.job_id,
            before={"listing_id": listing_id, "works": "all"},
            after={"listing_id": listing_id, "researchers": new_ids},
        )
        audit.decide(store, proposal_id, "accepted", actor)
    return new_ids


def reject_split(store: Store, proposal_id: int, who: str) -> None:
    """A person says the listing is one person: mark the researcher so the agent continues normally and does not
    propose the split again."""
    actor = human(who)
    with store.transaction():
        p = pending_proposal(store, proposal_id, "split")
        store.db.execute("UPDATE researchers SET single_person = 1 WHERE id = ?", [p.researcher_id])
        audit.record(
            store,
            actor,
            "reject",
            researcher_id=p.researcher_id,
            proposal_id=proposal_id,
            job_id=p.job_id,
            before=None,
            after={"single_person": True},
        )
        audit.decide(store, proposal_id, "rejected", actor)


# ----------------------------------------------------------------- merge


def _pair(a: int, b: int) -> list[int]:
    return sorted([a, b])


def propose_merge(
    store: Store,
    researcher_a: int,
    researcher_b: int,
    shared_work_ids: list[Any],
    evidence: dict[str, Any] | list[Any] | str | None = None,
    job_id: str | None = None,
) -> int | None:
    """Propose that two researchers are one person: a group of two (propose_merge_group)."""
    if researcher_a == researcher_b:
        raise StoreError("a researcher cannot be merged with itself")
    shared = [list(x) if isinstance(x, tuple) else x for x in shared_work_ids]
    return propose_merge_group(store, [researcher_a, researcher_b], shared, evidence=evidence, job_id=job_id)


def _merge_proposals_touching(store: Store, members: list[int]) -> list[tuple[int, str, set[int]]]:
    """(id, state, members) of the pending or rejected merge proposals that involve any of these researchers."""
    found: dict[int, tuple[str, set[int]]] = {}
    conn = store.db.conn
    for chunk, marks in in_chunks(members):
        for pid, state in conn.execute(
            "SELECT DISTINCT p.id, p.state FROM merge_members m JOIN proposals p ON p.id = m.proposal_id "
            f"WHERE m.researcher_id IN ({marks}) AND p.state IN ('pending', 'rejected')",
            chunk,
        ):
            found[pid] = (state, set())
    for pid in found:
        found[pid][1].update(
            r for (r,) in conn.execute("SELECT researcher_id FROM merge_members WHERE proposal_id = ?", [pid])
        )
    return [(pid, state, ms) for pid, (state, ms) in sorted(found.items())]


def propose_merge_group(
    store: Store,
    researchers: list[int],
    shared_works: list[Any],
    *,
    shared_count: int | None = None,
    evidence: dict[str, Any] | list[Any] | str | None = None,
    job_id: str | None = None,
) -> int | None:
    """Propose that a group of researchers (listings sharing works) is one person: ONE proposal for the group,
    never an automatic merge; accepted, the others merge into the first (lowest id). Returns the proposal id; the
    existing one when the same group is pending; None when a person rejected a group that covers this one. A
    pending proposal for part of the group is withdrawn: the group's proposal replaces it."""
    members = sorted(set(researchers))
    if len(members) < 2:
        raise StoreError("a merge needs two or more researchers")
    people = [store.get_researcher(r) for r in members]
    touching = _merge_proposals_touching(store, members)
    for pid, state, ms in touching:
        if state == "pending" and ms == set(members):
            return pid
        if state == "rejected" and set(members) <= ms:
            return None
    with store.transaction():
        for pid, state, ms in touching:
            if state == "pending" and ms <= set(members):
                store.db.conn.execute(
                    "UPDATE proposals SET state = 'withdrawn', decided_at = ?, decided_by = ? WHERE id = ?",
                    [utcnow(), "agent:merge-detection", pid],
                )
        a, others = people[0], people[1:]
        n = shared_count if shared_count is not None else len(shared_works)
        name = a.name or f"#{a.id}"
        if len(others) == 1:
            b = others[0]
            summary = f"Merge {b.name or b.id} (#{b.id}) into {name} (#{a.id})"
        else:
            summary = f"Merge {len(others)} researchers into {name} (#{a.id})"
        reason = (
            f"{'The two' if len(members) == 2 else f'These {len(members)}'} researchers' listings share "
            f"{n} work{'s' if n != 1 else ''} and their names are compatible."
        )
        earlier = [pid for pid, state, ms in touching if state == "rejected"]
        if earlier:
            reason += " A person rejected merging some of them before (proposal " + ", ".join(map(str, earlier)) + ")."
        payload: dict[str, Any] = {
            "researchers": members,
            "researcher_a": a.id,
            "researcher_b": others[0].id,
            "shared_works": shared_works,
            "shared_count": n,
            "evidence": evidence,
        }
        if len(members) == 2:
            payload["pair"] = members
        pid = store.create_proposal(
            Proposal(
                kind="merge",
                researcher_id=a.id,
                payload=payload,
                summary=summary,
                reason=reason,
                confidence=min(0.99, 0.6 + 0.15 * n),
                job_id=job_id,
            )
        )
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO merge_members (researcher_id, proposal_id) VALUES (?, ?)",
            [(r, pid) for r in members],
        )
    return pid


def accept_merge(store: Store, proposal_id: int, who: str) -> int:
    """Move the other researchers' listing links to the first (researcher_a); returns its id. The others keep
    their ids and history, but no listings, and are marked merged into it (they leave `enrich list` and the
    export)."""
    actor = human(who)
    with store.transaction():
        p = pending_proposal(store, proposal_id, "merge")
        a: int = p.payload["researcher_a"]
        others = [r for r in (p.payload.get("researchers") or [a, p.payload["researcher_b"]]) if r != a]
        moved = []
        for b in others:
            for link in select(store, "SELECT listing_id, works FROM researcher_listings WHERE researcher_id = ?", [b]):
                mine = select_one(
                    store,
                    "SELECT works FROM researcher_listings WHERE researcher_id = ? AND listing_id = ?",
                    [a, link["listing_id"]],
                )
                works = link["works"]
                if mine is not None:  # both own part of one listing (e.g. split siblings): the union
                    works = (
                        None
                        if mine["works"] is None or works is None
                        else json.dumps(sorted(set(json.loads(mine["works"])) | set(json.loads(works))))
                    )
                store.insert_row(
                    "researcher_listings",
                    {"researcher_id": a, "listing_id": link["listing_id"], "works": works},
                    replace=True,
                )
                moved.append(link["listing_id"])
            store.db.execute("DELETE FROM researcher_listings WHERE researcher_id = ?", [b])
            store.db.execute("UPDATE researchers SET merged_into = ? WHERE id = ?", [a, b])
        audit.record(
            store,
            actor,
            "merge",
            researcher_id=a,
            proposal_id=proposal_id,
            job_id=p.job_id,
            before={"researcher_b": others[0]} if len(others) == 1 else {"researchers": others},
            after={"merged_into": a, "listings": moved},
        )
        audit.decide(store, proposal_id, "accepted", actor)
    return a


def reject_merge(store: Store, proposal_id: int, who: str) -> None:
    actor = human(who)
    with store.transaction():
        p = pending_proposal(store, proposal_id, "merge")
        audit.record(
            store,
            actor,
            "reject",
            researcher_id=p.researcher_id,
            proposal_id=proposal_id,
            job_id=p.job_id,
            before=None,
            after={"merge": p.payload.get("researchers") or p.payload.get("pair")},
        )
        audit.decide(store, proposal_id, "rejected", actor)
