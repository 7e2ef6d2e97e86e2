"""Merge detection in near-linear time: listings that share works, grouped, one proposal per group.

Two researchers may be one person when their listings share a work (the same normalised title, or the same
stretch of abstract: store/work_keys.py) *and* their names are compatible -- two co-authors listing the same paper
are two people. The store hands over, key by key, the researchers holding each shared key (an index look-up per
key, never a comparison of every pair); researchers with compatible names under a key are joined (union-find), so
a chain A-B, B-C makes one group {A, B, C}. Each group becomes ONE merge proposal whose evidence is the shared
works; a group is reviewed once (store.structural.propose_merge_group).

A key printed under many different names is no evidence: a generic title ("Introduction", "Editorial") or a stock
abstract phrase repeated across a platform, or a paper with hundreds of authors, says nothing about two same-name
listings being one person -- and comparing its names would cost the square of its holders. Such a key is skipped
(`MAX_NAMES_PER_KEY`); many copies of one person's work carry a few names and still count.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from enrich.agent.names import PersonName
from enrich.store import Store, structural, work_keys

MAX_EVIDENCE_WORKS = 20  # shared works listed in a proposal (the count is always complete)
MAX_NAMES_PER_KEY = 50  # distinct printed names holding one work key: beyond, the key is generic, not evidence


def names_compatible(a: str | None, b: str | None) -> bool:
    """Could both names be one person? Same surname with compatible given names (initials match full names),
    or the same tokens in another order ("Sun Tao" / "Tao Sun"). A missing name matches nothing: there is no
    telling a co-author apart."""
    if not a or not b:
        return False
    return forms_compatible(PersonName.parse(a), PersonName.parse(b))


def forms_compatible(fa: PersonName | None, fb: PersonName | None) -> bool:
    if fa is None or fb is None:
        return False
    if fa.compatible(fb):
        return True
    return sorted((*fa.given, fa.surname)) == sorted((*fb.given, fb.surname))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class MergeGroup:
    researchers: list[int]  # sorted; the first is the one the others merge into
    shared: dict[int, dict] = field(default_factory=dict)  # key -> {"work_id", "title", "listings": n}

    def shared_works(self) -> list[dict]:
        """The shared works, most widely shared first; a title and its abstract's windows name one work."""
        works = sorted(self.shared.values(), key=lambda w: (-w["listings"], w["title"] or "", w["work_id"]))
        seen: set[str] = set()
        out = []
        for w in works:
            if w["work_id"] in seen or (w["title"] and w["title"].lower() in seen):
                continue
            seen.update(x for x in (w["work_id"], (w["title"] or "").lower()) if x)
            out.append(dict(w))
        return out


def find_groups(store: Store, among: Collection[int] | None = None) -> list[MergeGroup]:
    """Groups of two or more researchers whose listings share works and whose names are compatible. With
    `among` (a job's researchers), only groups that contain at least one of them."""
    uf = _UnionFind()
    facts: dict[int, tuple[str | None, int | None]] = {}
    forms: dict[int, PersonName | None] = {}
    # per shared key, what the evidence needs: (key, a researcher joined under it, work id, title, listings)
    edges: list[tuple[int, int, str, str | None, int]] = []
    for postings in work_keys.shared_postings(store, among):
        # (not `set - facts.keys()`: that walks every researcher seen so far, for each key)
        missing = {p.researcher_id for p in postings if p.researcher_id not in facts}
        if missing:
            new = work_keys.researcher_facts(store, missing)
            facts.update(new)
            forms.update({rid: PersonName.parse(name) if name else None for rid, (name, _) in new.items()})
        if _too_common(postings, forms):
            continue
        for joined in _join_compatible(store, uf, postings, facts, forms):
            first = joined[0]
            n = len({p.listing_id for p in joined})
            edges.append((first.key, first.researcher_id, *work_keys.work_of(store, first), n))
    groups: dict[int, MergeGroup] = {}
    for key, rid, work_id, title, listings in edges:
        g = groups.setdefault(uf.find(rid), MergeGroup([]))
        entry = g.shared.setdefault(key, {"work_id": work_id, "title": title, "listings": 0})
        entry["listings"] = max(entry["listings"], listings)
    members: dict[int, set[int]] = {}
    for rid in list(uf.parent):
        members.setdefault(uf.find(rid), set()).add(rid)
    wanted = None if among is None else set(among)
    out = []
    for root, g in groups.items():
        g.researchers = sorted(members.get(root, {root}) | {root})
        if len(g.researchers) > 1 and (wanted is None or wanted.intersection(g.researchers)):
            out.append(g)
    return sorted(out, key=lambda g: g.researchers[0])


def _too_common(postings: list[work_keys.Posting], forms: dict[int, PersonName | None]) -> bool:
    """Do more than MAX_NAMES_PER_KEY distinct names hold this key? (One pass, stopping at the first name over.)"""
    names: set[tuple[str, tuple[str, ...]] | None] = set()
    for p in postings:
        form = forms.get(p.researcher_id)
        names.add((form.surname, form.given) if form is not None else None)
        if len(names) > MAX_NAMES_PER_KEY:
            return True
    return False


def _join_compatible(
    store: Store,
    uf: _UnionFind,
    postings: list[work_keys.Posting],
    facts: dict[int, tuple[str | None, int | None]],
    forms: dict[int, PersonName | None],
) -> list[list[work_keys.Posting]]:
    """Join the researchers of one key whose names are compatible (blocked by surname; each joins the first
    compatible representative). Split siblings are never joined: a person already said they are different.
    Returns, per representative that others joined, its postings and theirs."""
    by_surname: dict[str, list[work_keys.Posting]] = {}
    for p in postings:
        form = forms.get(p.researcher_id)
        if form is not None:
            by_surname.setdefault(form.surname, []).append(p)
            if form.given and len(form.given[0]) > 1:  # "Sun Tao" must meet "Tao Sun": the order may be swapped
                by_surname.setdefault(form.given[0], []).append(p)
    joined: dict[int, list[work_keys.Posting]] = {}
    for group in by_surname.values():
        reps: list[work_keys.Posting] = []
        for p in group:
            for rep in reps:
                if rep.researcher_id == p.researcher_id:
                    break
                if _related(facts, rep.researcher_id, p.researcher_id):
                    continue
                if forms_compatible(forms[rep.researcher_id], forms[p.researcher_id]) and _same_work(store, uf, rep, p):
                    uf.union(rep.researcher_id, p.researcher_id)
                    joined.setdefault(rep.researcher_id, [rep]).append(p)
                    break
            else:
                reps.append(p)
    return list(joined.values())


def _same_work(store: Store, uf: _UnionFind, a: work_keys.Posting, b: work_keys.Posting) -> bool:
    """A title names one work; an abstract key (an identical opening, a min-hash) is only a candidate, checked
    against the two abstracts -- unless the two researchers are already joined."""
    if work_keys.is_title_key(a.key) or uf.find(a.researcher_id) == uf.find(b.researcher_id):
        return True
    return work_keys.similar_abstracts(store, (a.listing_id, a.ordinal), (b.listing_id, b.ordinal))


def _related(facts: dict[int, tuple[str | None, int | None]], a: int, b: int) -> bool:
    pa, pb = facts.get(a, (None, None))[1], facts.get(b, (None, None))[1]
    return pa == b or pb == a or (pa is not None and pa == pb)


def propose_merges(store: Store, among: Collection[int] | None, job_id: str | None = None) -> list[int]:
    """One merge proposal per group (the existing one when the same group is pending; none when a person
    rejected a group that covers it). Returns the proposal ids."""
    return propose_groups(store, find_groups(store, among), job_id)


def propose_groups(store: Store, groups: list[MergeGroup], job_id: str | None = None) -> list[int]:
    """`propose_merges` for groups found already (a bulk build finds them in a worker, its writer proposes them)."""
    ids = []
    for g in groups:
        pid = structural.propose_merge_group(
            store,
            g.researchers,
            g.shared_works()[:MAX_EVIDENCE_WORKS],
            shared_count=len(g.shared_works()),
            job_id=job_id,
        )
        if pid is not None:
            ids.append(pid)
    return ids
