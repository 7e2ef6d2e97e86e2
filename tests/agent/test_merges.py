"""Merge detection by blocking on shared-work keys: connected groups (chains of shared works), one proposal per
group, names that must be compatible (co-authors listing the same paper stay apart), a group reviewed once."""

from __future__ import annotations

import pytest

from enrich.agent.merges import find_groups, names_compatible, propose_merges
from enrich.schemas import ParsedListing, Work
from enrich.store import Store

ABSTRACT = (
    "We study how decentralised stochastic gradient descent generalises when workers share gradients over a sparse "
    "communication graph, and we give high-probability bounds that match the centralised rate."
)


def listing(store: Store, name: str | None, works: list[Work], path: str) -> int:
    text = f"{name}\n" + "\n".join(f"{w.title or ''} {w.abstract or ''}" for w in works) + f"\n{path}"
    return store.record_import(
        ParsedListing(format="text", kind="person", name=name, name_origin="page", works=works), text=text, path=path
    ).researcher_id


def work(title: str | None, abstract: str | None = None, year: int = 2020) -> Work:
    return Work(title=title, abstract=abstract, year=year)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "m.db")
    yield s
    s.close()


@pytest.mark.parametrize(
    "a,b,same",
    [
        ("Tao Sun", "T. Sun", True),
        ("Tao Sun", "Sun, Tao", True),
        ("Tao Sun", "Sun Tao", True),
        ("Tao Sun", "Yan Sun", False),
        ("Jane Smith", "John Smith", False),
        ("Ada Lovelace", "Charles Babbage", False),
        (None, "Tao Sun", False),
    ],
)
def test_names_compatible(a, b, same):
    assert names_compatible(a, b) is same


def test_a_chain_of_shared_works_is_one_group_and_one_proposal(store):
    a = listing(store, "Tao Sun", [work("Decentralised SGD bounds"), work("Graph learning at scale")], "a")
    b = listing(store, "T. Sun", [work("Decentralised SGD Bounds."), work("Sparse attention for tables")], "b")
    c = listing(store, "Sun, Tao", [work("Sparse attention for tables"), work("Something else entirely")], "c")
    listing(store, "Tao Sun", [work("Unrelated paper on birds")], "d")
    [g] = find_groups(store)
    assert g.researchers == [a, b, c]
    assert sorted(w["title"] for w in g.shared_works()) == ["Decentralised SGD bounds", "Sparse attention for tables"]
    [pid] = propose_merges(store, None, job_id="J1")
    p = store.get_proposal(pid)
    assert (p.kind, p.researcher_id, p.payload["researchers"]) == ("merge", a, [a, b, c])
    assert "share 2 works" in p.reason and p.summary.startswith("Merge 2 researchers into Tao Sun")
    assert propose_merges(store, None) == [pid]  # the same group again: the pending proposal, not a new one
    assert len(store.proposals("pending", kind="merge")) == 1

    store.accept(pid, "ann")
    assert {r.id for r in store.researchers()} == {a, store.researchers()[1].id}
    assert store.get_researcher(c).merged_into == a and store.get_researcher(b).merged_into == a
    assert len(store.researcher_listings(a)) == 3
    assert find_groups(store) == []  # one researcher now holds every copy


def test_co_authors_listing_the_same_paper_stay_apart(store):
    paper = work("Neural parsing of scientific tables")
    listing(store, "Ada Lovelace", [paper, work("Topic models for policy")], "ada")
    listing(store, "Charles Babbage", [paper], "charles")
    listing(store, "Jane Smith", [paper], "jane")
    listing(store, "John Smith", [paper], "john")
    assert find_groups(store) == []


def test_only_compatible_researchers_under_one_key_are_joined(store):
    paper = work("Neural parsing of scientific tables")
    a = listing(store, "Jane Smith", [paper], "a")
    listing(store, "Bob Babbage", [paper], "bob")
    c = listing(store, "J. Smith", [paper], "c")
    [g] = find_groups(store)
    assert g.researchers == [a, c]


def test_a_generic_title_held_by_many_names_is_no_evidence_and_costs_one_pass(store, monkeypatch):
    """A title every page prints ("Introduction to the special issue") under hundreds of names: comparing their
    names would be quadratic, and sharing it says nothing about two same-surname listings being one person."""
    from enrich.agent import merges

    generic = work("Introduction to the special issue")
    syllables = ["ba", "ke", "lo", "mu", "ni", "ra", "so", "tu"]
    given = [(a + b + c).capitalize() for a in syllables for b in syllables for c in syllables][:300]
    for i, g in enumerate(given):  # one surname, 300 different given names: one block of incompatible names
        listing(store, f"{g} Wang", [generic, work(f"Own paper number {g} on graphs")], f"w{i}")
    alike = listing(store, "B. Wang", [generic], "initial")  # compatible with "Baba Wang" etc., only the generic
    a = listing(store, "Tao Sun", [generic, work("Decentralised SGD bounds")], "a")
    b = listing(store, "T. Sun", [generic, work("Decentralised SGD Bounds.")], "b")
    calls = []
    real = merges.forms_compatible
    monkeypatch.setattr(merges, "forms_compatible", lambda x, y: calls.append(1) or real(x, y))
    groups = find_groups(store)
    assert [g.researchers for g in groups] == [[a, b]]  # the real shared work still groups; the generic one none
    assert [w["title"] for w in groups[0].shared_works()] == ["Decentralised SGD bounds"]
    assert all(alike not in g.researchers for g in groups)
    assert len(calls) < 10  # the generic key's 300 names are never compared pairwise (~45,000 comparisons)
    monkeypatch.setattr(merges, "MAX_NAMES_PER_KEY", 1000)  # the same store without the rule: the square
    assert len(find_groups(store)) > 1 and len(calls) > 10_000


def test_many_copies_of_one_persons_page_are_one_group(store):
    """Hundreds of copies carry one name: a key they all hold is evidence (the rule counts names, not listings)."""
    ids = [
        listing(store, "Tao Sun", [work("Decentralised SGD bounds"), work(None, ABSTRACT)], f"c{i}") for i in range(120)
    ]
    listing(store, "Ada Lovelace", [work("Decentralised SGD bounds")], "co-author")
    assert [g.researchers for g in find_groups(store)] == [ids]
    assert len(propose_merges(store, None)) == 1


def test_abstracts_identify_untitled_works(store):
    a = listing(store, "Tao Sun", [work(None, ABSTRACT)], "a")
    changed_opening = "In this paper we " + ABSTRACT[20:]  # a different opening, the same later stretch
    b = listing(store, "Tao Sun", [work("Generalisation of D-SGD", changed_opening)], "b")
    listing(store, "Tao Sun", [work(None, "A short abstract.")], "c")  # too short to identify anything
    assert [g.researchers for g in find_groups(store)] == [[a, b]]


def test_among_limits_groups_to_the_job(store):
    a = listing(store, "Tao Sun", [work("Decentralised SGD bounds")], "a")
    b = listing(store, "Tao Sun", [work("Decentralised SGD bounds")], "b")
    c = listing(store, "Yan Sun", [work("Another paper about things")], "c")
    assert [g.researchers for g in find_groups(store, among=[b])] == [[a, b]]
    assert find_groups(store, among=[c]) == []


def test_a_rejected_group_is_not_proposed_again_and_a_grown_group_replaces_a_pending_one(store):
    paper = work("Decentralised SGD bounds")
    a = listing(store, "Tao Sun", [paper], "a")
    b = listing(store, "Tao Sun", [paper], "b")
    [first] = propose_merges(store, None)
    c = listing(store, "Tao Sun", [paper], "c")  # a third copy joins the group
    [grown] = propose_merges(store, None)
    assert grown != first and store.get_proposal(first).state == "withdrawn"
    assert store.get_proposal(grown).payload["researchers"] == [a, b, c]
    store.reject(grown, "ann")
    assert propose_merges(store, None) == []  # the group (or any part of it) was rejected: not asked again
    d = listing(store, "Tao Sun", [paper], "d")
    [again] = propose_merges(store, [d])
    assert "rejected merging some of them before" in store.get_proposal(again).reason


def test_split_siblings_are_never_joined(store):
    from enrich.schemas.conflation import Cluster, ClusterEvidence, ConflationResult
    from enrich.store import structural

    works = [work("Paper one on graphs"), work("Paper two on graphs"), work("Paper three on birds"), work("Four birds")]
    a = listing(store, "Tao Sun", works, "a")
    ids = [w.work_id for w in store.researcher_works(a)]
    result = ConflationResult(
        detected=True,
        confidence=0.9,
        clusters=[
            Cluster(work_ids=ids[:2], titles=[], evidence=ClusterEvidence()),
            Cluster(work_ids=ids[2:], titles=[], evidence=ClusterEvidence()),
        ],
        method="test",
    )
    pid = structural.propose_split(store, a, store.researcher_listings(a)[0].id, result)
    structural.accept_split(store, pid, "ann")
    assert find_groups(store) == []


def test_detection_leaves_no_transaction_open(store):
    """A later store write must commit: detection must not leave an implicit transaction on the connection."""
    listing(store, "Tao Sun", [work("Decentralised SGD bounds")], "a")
    listing(store, "Tao Sun", [work("Decentralised SGD bounds")], "b")
    find_groups(store, among=[1])
    assert not store.db.conn.in_transaction


def test_keys_are_built_when_detection_needs_them_in_chunks_and_once(store, monkeypatch):
    from enrich.store import work_keys

    monkeypatch.setattr(work_keys, "CATCH_UP_LISTINGS", 2)  # chunk boundaries inside the five listings
    keys = lambda: store.db.conn.execute("SELECT count(*) FROM work_keys").fetchone()[0]  # noqa: E731
    a = listing(store, "Tao Sun", [work("Decentralised SGD bounds", ABSTRACT)], "a")
    for i in range(3):
        listing(store, f"Person {i} Other", [work(f"Unrelated paper number {i}")], f"x{i}")
    assert keys() == 0  # an import writes no keys
    assert find_groups(store) == []
    n = keys()
    assert n > 0 and work_keys.catch_up(store) == 0  # all keyed: nothing left to do
    # a listing imported after a detection is keyed at the next one, and meets the earlier listings
    b = listing(store, "T. Sun", [work("Another title for it", ABSTRACT)], "b")
    [g] = find_groups(store)
    assert g.researchers == [a, b]
    assert work_keys.catch_up(store) == 0 and keys() > n
    with store.transaction():  # as if another process had not seen this one's catch-up: the same rows again
        store.db.conn.execute("UPDATE work_keys_state SET upto = 0")
    cache = store.db.conn.execute("PRAGMA cache_size").fetchone()[0]
    assert work_keys.catch_up(store) == 5
    assert store.db.conn.execute("PRAGMA cache_size").fetchone()[0] == cache  # larger only while keys are written
    assert [g.researchers for g in find_groups(store)] == [[a, b]]


def test_title_keys_sort_before_abstract_keys_and_say_what_they_are():
    from hypothesis import given
    from hypothesis import strategies as st

    from enrich.store.work_keys import is_title_key, stored_key

    @given(st.text(min_size=1), st.text(min_size=1), st.sampled_from(["a:", "m0:", "m1:"]))
    def check(title: str, other: str, kind: str) -> None:
        t, o = stored_key("t:" + title), stored_key(kind + other)
        assert t < o and is_title_key(t) and not is_title_key(o)
        assert -(2**63) <= t < 2**63 and -(2**63) <= o < 2**63  # an SQLite integer

    check()
