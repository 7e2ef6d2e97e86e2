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


def test_a_researchers_pending_proposals_are_read_through_the_researcher_index(tmp_path):
    store = Store.open(tmp_path / "q.db")
    rids = [
        store.record_import(
            ParsedListing(format="text", kind="person", name=f"Person {i}"), text=f"Person {i}\n", path=f"p{i}"
        ).researcher_id
        for i in range(3)
    ]
    for rid in rids:
        store.submit(
            FieldValue(
                researcher_id=rid,
                field="affiliation",
                value={"name": "University of Leeds"},
                status="proposed",
                origin="llm:f/m",
            )
        )
    for kind in ("split", None):
        plan = plans_of(store, lambda kind=kind: store.proposals("pending", researcher_id=rids[1], kind=kind))[0]
        assert "proposals_queue_researcher" in plan, plan
    assert [p.researcher_id for p in store.proposals("pending", researcher_id=rids[1])] == [rids[1]]
    store.close()
