"""A reviewer corrects a pending split proposal before deciding it: move a work, merge two clusters, split one.

Each correction rewrites the proposal's clusters (the payload keeps its key, so the agent does not propose the
original split again) and writes an audit row `correct-split` (actor `human:<who>`) holding the clusters before
and after; `Store.undo` puts the clusters back. Accepting the proposal then creates the corrected researchers.
Undoing an accepted split (audit action `split`) is also here: the proposal is pending again and the researchers
it created leave the lists, as long as nothing was recorded about them since.

Clusters are numbered from 1 as `enrich review show` and the web page print them; 0 means "stays with the
original researcher" (the payload's `unassigned` works).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from enrich.schemas import Proposal

from . import audit
from .errors import StoreError
from .rows import select_one
from .structural import MIN_CLUSTER_WORKS, human, pending_proposal

if TYPE_CHECKING:
    from .core import Store

OPERATIONS = ("move", "merge", "split")
ACTION = "correct-split"


def _state(p: Proposal) -> dict[str, Any]:
    return {"clusters": p.payload.get("clusters") or [], "unassigned": list(p.payload.get("unassigned") or [])}


def _evidence(store: Store, p: Proposal, work_ids: list[str]) -> dict[str, Any]:
    """Plain facts for a corrected cluster (years, venues, co-authors on >= 2 of its works, printed names): the
    step's TF-IDF terms are not recomputed here."""
    by_id = {w.work_id: w for w in store.listing_works(p.payload["listing_id"])}
    works = [by_id[w] for w in work_ids if w in by_id]
    subject = (store.get_researcher(p.researcher_id).name or "").split()[-1:] if p.researcher_id else []
    co: Counter[str] = Counter()
    forms: set[str] = set()
    for w in works:
        for a in dict.fromkeys(w.authors):
            if subject and a.split() and a.split()[-1] == subject[0]:
                forms.add(a)
            else:
                co[a] += 1
    years = sorted(w.year for w in works if w.year)
    venues = Counter(v for v in ((w.category or w.venue) for w in works) if v)
    return {
        "shared_coauthors": [a for a, n in co.most_common() if n >= 2][:8],
        "top_terms": [],
        "years": [years[0], years[-1]] if years else [],
        "venues": [v for v, _ in venues.most_common(3)],
        "name_forms": sorted(forms),
    }


def _titles(store: Store, p: Proposal) -> dict[str, str | None]:
    titles: dict[str, str | None] = {}
    for c in p.payload.get("clusters") or []:
        titles.update(zip(c.get("work_ids", []), c.get("titles") or []))
    for w in store.listing_works(p.payload["listing_id"]):
        titles.setdefault(w.work_id, w.title)
    return titles


def _cluster_index(clusters: list[list[str]], number: int, what: str) -> int:
    if not 1 <= number <= len(clusters):
        raise StoreError(f"{what} {number} does not exist (clusters are numbered 1-{len(clusters)})")
    return number - 1


def _apply(state: dict[str, Any], op: str, args: dict[str, Any]) -> tuple[list[list[str]], list[str], str]:
    """(new clusters as work-id lists, new unassigned, a one-line description)."""
    groups = [list(c["work_ids"]) for c in state["clusters"]]
    unassigned = list(state["unassigned"])
    if op == "move":
        wid, to = str(args["work_id"]), args["to"]
        where = next((i for i, g in enumerate(groups) if wid in g), None)
        if where is None and wid not in unassigned:
            raise StoreError(f"work {wid} is not part of this split (see `enrich review show`)")
        if to == "new":
            groups.append([])
            dest = len(groups) - 1
        elif to in (0, "0", "none"):
            dest = None
        else:
            dest = _cluster_index(groups, int(to), "cluster")
        if dest == where:
            raise StoreError(f"work {wid} is already in that cluster")
        (groups[where] if where is not None else unassigned).remove(wid)
        if dest is None:
            unassigned.append(wid)
        else:
            groups[dest].append(wid)
        target = "the original researcher" if dest is None else f"cluster {dest + 1}"
        desc = f"moved work {wid} to {target}"
    elif op == "merge":
        a = _cluster_index(groups, int(args["into"]), "cluster")
        b = _cluster_index(groups, int(args["cluster"]), "cluster")
        if a == b:
            raise StoreError("a cluster cannot be merged with itself")
        if len(groups) <= 2:
            raise StoreError("merging would leave one cluster: reject the split instead if this is one person")
        groups[a] += groups[b]
        groups[b] = []
        desc = f"merged cluster {b + 1} into cluster {a + 1}"
    elif op == "split":
        c = _cluster_index(groups, int(args["cluster"]), "cluster")
        ids = [str(w) for w in args.get("work_ids") or []]
        missing = [w for w in ids if w not in groups[c]]
        if not ids or missing:
            raise StoreError(
                f"give work ids of cluster {c + 1} to split off" + (f" (not in it: {missing})" if missing else "")
            )
        if len(ids) == len(groups[c]):
            raise StoreError("splitting off every work of a cluster changes nothing")
        groups[c] = [w for w in groups[c] if w not in ids]
        groups.append(ids)
        desc = f"split {len(ids)} work(s) off cluster {c + 1} into a new cluster"
    else:
        raise StoreError(f"unknown correction {op!r} (one of {', '.join(OPERATIONS)})")
    kept = [g for g in groups if g]
    if len(kept) < 2 and op != "merge":
        raise StoreError("a split needs at least two clusters: reject it instead if this is one person")
    return kept, unassigned, desc


def correct_split(store: Store, proposal_id: int, who: str, op: str, **args: Any) -> str:
    """Apply one correction to a pending split proposal; returns what was done in one line.

    op "move": work_id, to (a cluster number, "new", or 0 for the original researcher);
    op "merge": cluster, into; op "split": cluster, work_ids (they form a new cluster)."""
    actor = human(who)
    with store.transaction():
        p = pending_proposal(store, proposal_id, "split")
        before = _state(p)
        groups, unassigned, desc = _apply(before, op, args)
        old = {tuple(c["work_ids"]): c for c in before["clusters"]}
        titles = _titles(store, p)
        clusters = []
        for g in groups:
            same = old.get(tuple(g))
            clusters.append(
                same
                if same is not None
                else {
                    "work_ids": g,
                    "titles": [titles.get(w) for w in g],
                    "evidence": _evidence(store, p, g),
                }
            )
        after = {"clusters": clusters, "unassigned": unassigned}
        _write(store, p, after)
        audit.record(
            store,
            actor,
            ACTION,
            researcher_id=p.researcher_id,
            proposal_id=proposal_id,
            job_id=p.job_id,
            before={**before, "operation": op},
            after={**after, "operation": desc},
        )
    return desc


def _write(store: Store, p: Proposal, state: dict[str, Any]) -> None:
    payload = {**p.payload, "clusters": state["clusters"], "unassigned": state["unassigned"]}
    big = [c for c in state["clusters"] if len(c["work_ids"]) >= 1]
    name = store.get_researcher(p.researcher_id).name if p.researcher_id else None
    sizes = ", ".join(str(len(c["work_ids"])) for c in big)
    summary = f"Split {name or f'researcher {p.researcher_id}'} into {len(big)} researchers ({sizes} works)"
    if payload.get("corrected") is None:
        payload["corrected"] = True
    store.db.execute(
        "UPDATE proposals SET payload = ?, summary = ? WHERE id = ?",
        [json.dumps(payload, ensure_ascii=False), summary, p.id],
    )


def undo_correction(store: Store, row: dict[str, Any], actor: str) -> None:
    """Put back the clusters an audited correction replaced (inside Store.undo's transaction)."""
    p = store.get_proposal(row["proposal_id"])
    if p.state != "pending":
        raise StoreError(f"proposal {p.id} was decided since ({p.state}); undo that first")
    after = json.loads(row["after"])
    if _state(p)["clusters"] != after["clusters"]:
        raise StoreError(f"proposal {p.id} was corrected again since; undo the later correction first")
    before = json.loads(row["before"])
    state = {"clusters": before["clusters"], "unassigned": before["unassigned"]}
    _write(store, p, state)
    audit.record(
        store,
        actor,
        "undo",
        researcher_id=row["researcher_id"],
        proposal_id=p.id,
        job_id=row["job_id"],
        before=after,
        after=state,
        undoes=row["id"],
    )


def undo_accepted_split(store: Store, row: dict[str, Any], actor: str) -> None:
    """Undo an accepted split: the original researcher owns the whole listing again, the researchers the split
    created leave the lists (marked merged into the original), and the proposal is pending again. Refused when a
    value or another decision was recorded about a created researcher since."""
    after = json.loads(row["after"])
    created = after["researchers"]
    listing_id = after["listing_id"]
    original = row["researcher_id"]
    for rid in created:
        if select_one(store, "SELECT 1 FROM field_values WHERE researcher_id = ? LIMIT 1", [rid]) or select_one(
            store, "SELECT 1 FROM proposals WHERE researcher_id = ? LIMIT 1", [rid]
        ):
            raise StoreError(f"researcher {rid} (from the split) has values or proposals since; cannot undo the split")
    for rid in created:
        store.db.execute("DELETE FROM researcher_listings WHERE researcher_id = ?", [rid])
        store.db.execute("UPDATE researchers SET merged_into = ? WHERE id = ?", [original, rid])
    store.insert_row(
        "researcher_listings", {"researcher_id": original, "listing_id": listing_id, "works": None}, replace=True
    )
    audit.record(
        store,
        actor,
        "undo",
        researcher_id=original,
        proposal_id=row["proposal_id"],
        job_id=row["job_id"],
        before=after,
        after={"listing_id": listing_id, "works": "all"},
        undoes=row["id"],
    )
    store.db.execute(
        "UPDATE proposals SET state = 'pending', decided_at = NULL, decided_by = NULL, result_value_id = NULL "
        "WHERE id = ?",
        [row["proposal_id"]],
    )


__all__ = ["OPERATIONS", "correct_split", "undo_correction", "undo_accepted_split", "MIN_CLUSTER_WORKS"]
