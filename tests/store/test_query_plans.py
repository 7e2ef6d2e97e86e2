"""Reads that run once per researcher use an index on that researcher, never a walk over the whole queue (which
made a job's split proposals quadratic in the number of pending splits)."""

from __future__ import annotations

from enrich.schemas import FieldValue, ParsedListing
from enrich.store import Store


def plans_of(store: Store, call) -> list[str]:
    """The query plan of every SELECT that `call()` runs on the store's connection."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.lstrip().upper().startswith("SELECT") else None
    )
    try:
        call()
    finally:
        store.db.conn.set_trace_callback(None)
    return [" ".join(r[3] for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql)) for sql in seen]


def person_with_a_proposal(store: Store, name: str, path: str, confidence: float | None = None) -> int:
    """A researcher imported from a one-line page, with one pending affiliation proposal."""
    rid = store.record_import(
        ParsedListing(format="text", kind="person", name=name), text=f"{name}\n", path=path
    ).researcher_id
    store.submit(
        FieldValue(
            researcher_id=rid,
            field="affiliation",
            value={"name": "University of Leeds"},
            status="proposed",
            origin="llm:f/m",
            confidence=confidence,
        )
    )
    return rid


def test_a_researchers_pending_proposals_are_read_through_the_researcher_index(tmp_path):
    store = Store.open(tmp_path / "q.db")
    rids = [person_with_a_proposal(store, f"Person {i}", f"p{i}") for i in range(3)]
    for kind in ("split", None):
        plan = plans_of(store, lambda kind=kind: store.proposals("pending", researcher_id=rids[1], kind=kind))[0]
        assert "proposals_queue_researcher" in plan, plan
    assert [p.researcher_id for p in store.proposals("pending", researcher_id=rids[1])] == [rids[1]]
    store.close()


def test_every_queue_filter_and_sort_reads_a_page_in_index_order(tmp_path):
    """A page of the queue never sorts (or scans) every matching proposal: each filter and sort walks an index in
    the page's order."""
    from enrich.store.paging import QueueQuery, proposal_page

    store = Store.open(tmp_path / "q.db")
    rid = person_with_a_proposal(store, "Ada", "ada", confidence=0.7)
    queries = [
        QueueQuery(),
        QueueQuery(researcher_id=rid),
        QueueQuery(min_confidence=0.5),
        QueueQuery(min_confidence=0.5, sort="confidence"),
        QueueQuery(field="topics", min_confidence=0.5),
        QueueQuery(kind="merge"),
        QueueQuery(job_id="J1"),
        QueueQuery(sort="confidence"),
        QueueQuery(sort="researcher", researcher_id=rid),
    ]
    for q in queries:
        plan = plans_of(store, lambda q=q: proposal_page(store, q, limit=10))[0]
        assert "TEMP B-TREE" not in plan and "SCAN p" not in plan, (q, plan)
        if q.researcher_id is not None:  # not a walk over the whole queue, filtering on the researcher
            assert "proposals_queue_researcher" in plan, (q, plan)
    store.close()


def test_one_researchers_proposals_in_every_state_are_read_through_the_researcher_index(tmp_path):
    """`state=None` with a researcher (the researcher's history) reads that researcher's ranges of the index, one
    per state, not the whole queue; the rows are the same as walking the queue and filtering."""
    from enrich.store.paging import QueueQuery, proposal_page

    store = Store.open(tmp_path / "q.db")
    rids = [person_with_a_proposal(store, f"Person {i}", f"p{i}", confidence=0.5 + i / 10) for i in range(3)]
    store.accept(store.proposals("pending", researcher_id=rids[1])[0].id, "reviewer")
    store.submit(  # and a pending one after it
        FieldValue(
            researcher_id=rids[1],
            field="affiliation",
            value={"name": "University of York"},
            status="proposed",
            origin="llm:f/m",
            confidence=0.9,
        )
    )
    for sort in ("id", "confidence", "researcher"):
        q = QueueQuery(state=None, researcher_id=rids[1], sort=sort)
        plan = plans_of(store, lambda q=q: proposal_page(store, q, limit=10))[0]
        assert "proposals_queue_researcher" in plan and "SCAN p" not in plan, (sort, plan)
    every = [p for p in store.proposals(None) if p.researcher_id == rids[1]]
    assert {p.state for p in every} == {"accepted", "pending"}
    assert [p.id for p in store.proposals(None, researcher_id=rids[1])] == [p.id for p in every]
    page = proposal_page(store, QueueQuery(state=None, researcher_id=rids[1]), limit=1)
    rest = proposal_page(store, QueueQuery(state=None, researcher_id=rids[1]), limit=10, after=page.next)
    assert [r["id"] for r in page.rows + rest.rows] == [p.id for p in every]
    store.close()


def test_what_a_write_decision_reads_is_read_through_the_researchers_index(tmp_path):
    """A write's decision (pending proposals, rejected values) and a bulk build worker's reading of all of a
    researcher's fields read that researcher's range of proposals_state, never a walk over the whole queue (which
    made every write of a bulk build slower as the queue grew)."""
    store = Store.open(tmp_path / "q.db")
    rids = [person_with_a_proposal(store, f"Person {i}", f"p{i}") for i in range(3)]
    store.reject(store.proposals("pending", researcher_id=rids[0])[0].id, "reviewer")
    fv = FieldValue(
        researcher_id=rids[1],
        field="affiliation",
        value={"name": "University of York"},
        status="proposed",
        origin="llm:f/m",
    )
    for call in (lambda: store.fields_held([rids[1]]), lambda: store.decide_write(fv)):
        proposal_reads = [p for p in plans_of(store, call) if "SEARCH p " in p or "SCAN p" in p]
        assert proposal_reads and all("proposals_state" in p for p in proposal_reads), proposal_reads
    held = store.fields_held([rids[0]])[rids[0]]["affiliation"]
    assert held.pending == [] and held.rejected and held.current is None
    store.close()
