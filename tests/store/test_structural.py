"""Split and merge proposals through the store: accept, reject, idempotency, audit rows, merge detection."""

from __future__ import annotations

import json

import pytest
from store_sql import one as sql_one
from store_sql import rows as sql_rows

from enrich.agent.merges import find_groups
from enrich.schemas import ParsedListing, Work
from enrich.schemas.conflation import Cluster, ClusterEvidence, ConflationResult
from enrich.store import Store, StoreError
from enrich.store import structural as st


def works(prefix: str, n: int, abstract: bool = False) -> list[Work]:
    return [
        Work(
            title=f"{prefix} paper {i}",
            year=2020 + i,
            authors=["Yan Sun", f"{prefix} Coauthor"],
            abstract=f"{prefix} abstract {i} " + "x" * 90 if abstract else None,
            ordinal=i,
        )
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "t.db")
    yield s
    s.close()


def import_listing(store: Store, name: str, ws: list[Work], path: str) -> tuple[int, int]:
    parsed = ParsedListing(format="arxiv", kind="person", name=name, works=ws)
    r = store.record_import(parsed, text=f"{path}\n" + "\n".join(w.title or "" for w in ws), path=path)
    return r.listing_id, r.researcher_id


def result_for(store: Store, listing_id: int) -> ConflationResult:
    ws = store.listing_works(listing_id)
    fed, gait, lone = ws[:3], ws[3:5], ws[5:]
    mk = lambda g, co: Cluster(  # noqa: E731
        work_ids=[w.work_id for w in g],
        titles=[w.title for w in g],
        evidence=ClusterEvidence(shared_coauthors=[co], years=[2020, 2022]),
    )
    return ConflationResult(
        detected=True,
        confidence=0.9,
        method="test",
        clusters=[mk(fed, "Li Shen"), mk(gait, "Xueling Feng"), mk(lone, "")],
        reasons=["the groups publish in the same years"],
    )


def setup_conflated(store: Store) -> tuple[int, int, ConflationResult]:
    lid, rid = import_listing(store, "Yan Sun", works("Fed", 3) + works("Gait", 2) + works("Lone", 1), "a.txt")
    res = result_for(store, lid)
    st.save_conflation(store, lid, rid, res)
    return lid, rid, res


def test_save_and_read_conflation_and_flag(store):
    lid, rid, res = setup_conflated(store)
    got = st.get_conflation(store, researcher_id=rid)
    assert got is not None and got.detected is True and got.confidence == 0.9
    assert [len(c.work_ids) for c in got.clusters] == [3, 2, 1]
    assert st.is_flagged(store, rid) is True  # the agent must not auto-apply an affiliation to this researcher
    st.save_conflation(store, lid, rid, res.model_copy(update={"detected": False, "confidence": 0.1}))
    assert sql_one(store, "SELECT count(*) AS n FROM conflation")["n"] == 1  # same listing + method: replaced
    assert st.is_flagged(store, rid) is False


def test_propose_split_is_idempotent_and_readable(store):
    lid, rid, res = setup_conflated(store)
    pid = st.propose_split(store, rid, lid, res, job_id="j1")
    assert st.propose_split(store, rid, lid, res) == pid
    p = store.get_proposal(pid)
    assert p.kind == "split" and p.state == "pending" and p.job_id == "j1"
    assert p.summary == "Split Yan Sun into 2 researchers (3, 2 works)"
    assert "co-authors Li Shen" in p.reason and "confidence 0.90" in p.reason
    assert [len(c["work_ids"]) for c in p.payload["clusters"]] == [3, 2]
    assert p.payload["unassigned"] == [store.listing_works(lid)[5].work_id]


def test_accept_split_creates_one_researcher_per_cluster_with_provenance(store):
    lid, rid, res = setup_conflated(store)
    pid = st.propose_split(store, rid, lid, res)
    result = store.accept(pid, "ann")  # the store dispatches to structural.accept_split
    assert result.outcome == "applied"
    children = [r for r in store.researchers() if r.split_from == rid]
    assert len(children) == 2 and all(r.name == "Yan Sun" for r in children)
    titles = sorted(sorted(w.title for w in store.researcher_works(r.id)) for r in children)
    assert titles == [["Fed paper 0", "Fed paper 1", "Fed paper 2"], ["Gait paper 0", "Gait paper 1"]]
    assert all(store.researcher_listings(r.id)[0].id == lid for r in children)
    assert [w.title for w in store.researcher_works(rid)] == ["Lone paper 0"]
    assert store.get_proposal(pid).state == "accepted"
    audit = sql_rows(store, "SELECT actor, action, after FROM audit_log WHERE proposal_id = ?", [pid])
    assert audit[-1]["actor"] == "human:ann" and audit[-1]["action"] == "split"
    assert sorted(json.loads(audit[-1]["after"])["researchers"]) == sorted(r.id for r in children)
    with pytest.raises(StoreError):
        st.accept_split(store, pid, "ann")


def test_reject_split_marks_single_person_and_stops_reproposals(store):
    lid, rid, res = setup_conflated(store)
    pid = st.propose_split(store, rid, lid, res)
    st.reject_split(store, pid, "bob")
    assert store.get_researcher(rid).single_person is True
    assert store.get_proposal(pid).state == "rejected"
    assert st.is_flagged(store, rid) is False
    assert st.propose_split(store, rid, lid, res) is None
    assert len(store.researchers()) == 1
    audit = sql_rows(store, "SELECT actor, action FROM audit_log WHERE proposal_id = ?", [pid])
    assert audit == [{"actor": "human:bob", "action": "reject"}]


def test_find_shared_works_and_merge(store):
    shared = Work(
        title=None,
        abstract="Mixture-of-Experts (MoE) has become a dominant architecture for scaling "
        "large language models due to their sparse activation mechanism. However ...",
    )
    ieee_lid, a = import_listing(store, "Tao Sun", [shared, *works("Ieee", 2, abstract=True)], "ieee.txt")
    same = Work(
        title="MoLS: mixture of layer skipping",
        abstract="Mixture-of-Experts (MoE) has become a dominant architecture for scaling large language "
        "models due to their sparse activation mechanism. However, the substantial number",
    )
    _, b = import_listing(store, "Tao Sun", [same, *works("Bz", 2)], "bz.txt")
    _, c = import_listing(store, "Other Person", works("Other", 2), "other.txt")
    [group] = find_groups(store)
    # a job's own researchers: the group is found from either side (title-less abstract or titled one), not from
    # a job that touched neither
    assert [g.researchers for g in find_groups(store, among=[a])] == [
        g.researchers for g in find_groups(store, among=[b])
    ]
    assert find_groups(store, among=[c]) == []
    ra, rb = group.researchers
    pairs = [w["work_id"] for w in group.shared_works()]
    assert (ra, rb) == (a, b) and len(pairs) == 1
    pid = st.propose_merge(store, ra, rb, pairs, {"note": "same abstract"})
    assert st.propose_merge(store, rb, ra, pairs, None) == pid  # pending already, either order
    assert store.get_proposal(pid).summary == f"Merge Tao Sun (#{b}) into Tao Sun (#{a})"
    store.accept(pid, "ann")
    assert store.researcher_listings(b) == []
    # b keeps its id and history but leaves the lists (and the export); its name now finds a alone
    assert b not in {r.id for r in store.researchers()} and store.get_researcher(b).merged_into == a
    assert {r.id for r in store.researchers(include_merged=True)} == {a, b, c}
    assert store.find_researcher("Tao Sun").id == a
    assert {li.path for li in store.researcher_listings(a)} == {"ieee.txt", "bz.txt"}
    assert sql_rows(store, "SELECT action FROM audit_log WHERE proposal_id = ?", [pid]) == [{"action": "merge"}]
    assert find_groups(store) == []  # one researcher now holds both copies
    assert c not in (ra, rb)


def test_rejected_merge_is_not_proposed_again(store):
    _, a = import_listing(store, "Tao Sun", works("Same", 2), "x.txt")
    _, b = import_listing(store, "Tao Sun", works("Same", 2)[:1], "y.txt")
    pairs = [w["work_id"] for w in find_groups(store)[0].shared_works()]
    pid = st.propose_merge(store, a, b, pairs)
    store.reject(pid, "ann")
    assert store.get_proposal(pid).state == "rejected"
    assert st.propose_merge(store, a, b, pairs) is None
    assert store.researcher_listings(b)[0].path == "y.txt"


def test_works_by_researcher_matches_researcher_works_after_a_split(store):
    lid, rid, res = setup_conflated(store)
    import_listing(store, "Other Person", works("Other", 2), "other.txt")
    store.accept(st.propose_split(store, rid, lid, res), "ann")  # one researcher per cluster, with its works
    everyone = store.works_by_researcher()
    assert len(everyone) >= 3
    for r in store.researchers():
        assert everyone.get(r.id, []) == store.researcher_works(r.id)
