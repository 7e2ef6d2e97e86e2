"""Merge detection: two researchers whose listings share works may be one person. The loop turns each pair into a
`merge` proposal (store.structural.propose_merge); a person decides. Matching logic only: the store stores."""

from __future__ import annotations

from collections.abc import Collection
from itertools import combinations
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from enrich.schemas import Work
from enrich.schemas.text import ascii_key

if TYPE_CHECKING:
    from enrich.store import Store

ABSTRACT_PREFIX = 200  # characters of normalised abstract that identify a paper on title-less pages
FUZZY_MIN = 92  # rapidfuzz ratio over the first 300 characters for near-identical abstracts


def same_work(x: Work, y: Work) -> bool:
    """Titles when both pages give them; otherwise the abstracts' opening (identical or near-identical)."""
    if x.title and y.title:
        return ascii_key(x.title) == ascii_key(y.title)
    ax, ay = ascii_key(x.abstract), ascii_key(y.abstract)
    if len(ax) < 80 or len(ay) < 80:
        return False
    n = min(len(ax), len(ay), ABSTRACT_PREFIX)
    return ax[:n] == ay[:n] or fuzz.ratio(ax[:300], ay[:300]) >= FUZZY_MIN


def _keys(w: Work) -> set[str]:
    keys = set()
    if w.title:
        keys.add("t:" + ascii_key(w.title))
    ab = ascii_key(w.abstract)
    if len(ab) >= 80:
        keys.add("a:" + ab[:60])
    return keys


def find_shared_works(
    store: Store, among: Collection[int] | None = None
) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """Pairs of researchers whose listings share works: [(researcher_a, researcher_b, [(work_a, work_b), ...])].
    Split siblings (one split from the other or from the same original) are skipped. With `among` (a job's
    researchers), only pairs with at least one of them: the fuzzy abstract comparison then grows with the job,
    not with the square of the store."""
    among = None if among is None else set(among)

    def wanted(a: int, b: int) -> bool:
        return among is None or a in among or b in among

    people = store.researchers()
    by_researcher = store.works_by_researcher()
    works = {r.id: by_researcher.get(r.id, []) for r in people}
    parent = {r.id: r.split_from for r in people}
    index: dict[str, list[tuple[int, Work]]] = {}
    for rid, ws in works.items():
        for w in ws:
            for k in _keys(w):
                index.setdefault(k, []).append((rid, w))
    found: dict[tuple[int, int], dict[tuple[str, str], None]] = {}

    def related(a: int, b: int) -> bool:
        return parent[a] == b or parent[b] == a or (parent[a] is not None and parent[a] == parent[b])

    candidates = [v for v in index.values() if len({rid for rid, _ in v}) > 1]
    # Near-identical abstracts whose first 60 characters differ: compare the remaining abstracts pairwise.
    abstracts = [(rid, w) for rid, ws in works.items() for w in ws if not w.title and len(ascii_key(w.abstract)) >= 80]
    others = [(rid, w) for rid, ws in works.items() for w in ws if len(ascii_key(w.abstract)) >= 80]
    others_among = others if among is None else [(rid, w) for rid, w in others if rid in among]
    for rid, w in abstracts:
        for rid2, w2 in others if among is None or rid in among else others_among:
            if rid2 != rid and same_work(w, w2):
                candidates.append([(rid, w), (rid2, w2)])
    for group in candidates:
        for (ra, wa), (rb, wb) in combinations(group, 2):
            if ra == rb or not wanted(ra, rb) or related(ra, rb) or not same_work(wa, wb):
                continue
            if ra > rb:
                ra, rb, wa, wb = rb, ra, wb, wa
            found.setdefault((ra, rb), {})[(wa.work_id, wb.work_id)] = None
    return [(a, b, list(pairs)) for (a, b), pairs in sorted(found.items())]
