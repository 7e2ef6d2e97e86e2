"""Keyset pagination of the review queue and the researcher list: boundaries (empty, one page, exact multiples),
rows added or decided between two pages, every sort order walked forward and back."""

from __future__ import annotations

import pytest

from enrich.schemas import ParsedListing, Proposal
from enrich.store import Store, paging


def researcher(store: Store, name: str) -> int:
    text = f"{name}\nPublications\n"
    return store.record_import(
        ParsedListing(format="text", kind="person", name=name, name_origin="page", works=[]),
        text=text,
        path=f"{name}.txt",
    ).researcher_id


def proposal(store: Store, rid: int, confidence: float | None, job: str = "J1") -> int:
    return store.create_proposal(
        Proposal(kind="split", researcher_id=rid, payload={}, summary="s", confidence=confidence, job_id=job)
    )


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "p.db")
    yield s
    s.close()


def walk(store: Store, q: paging.QueueQuery, limit: int) -> list[list[int]]:
    pages, after = [], None
    while True:
        page = paging.proposal_page(store, q, limit=limit, after=after)
        pages.append([r["id"] for r in page.rows])
        if page.next is None:
            return pages
        after = page.next


def test_empty_queue_is_one_empty_page(store):
    page = paging.proposal_page(store, paging.QueueQuery(), limit=50)
    assert (page.rows, page.next, page.prev) == ([], None, None)
    assert paging.count_proposals(store, paging.QueueQuery()) == 0
    assert paging.researcher_page(store).rows == []


def test_one_page_has_no_next(store):
    rid = researcher(store, "Ada")
    ids = [proposal(store, rid, 0.5) for _ in range(3)]
    page = paging.proposal_page(store, paging.QueueQuery(), limit=5)
    assert [r["id"] for r in page.rows] == ids and page.next is None and page.prev is None
    assert page.rows[0]["researcher"] == "Ada"


@pytest.mark.parametrize("n,limit", [(6, 3), (9, 3), (4, 1)])
def test_exact_multiples_end_without_an_empty_page(store, n, limit):
    rid = researcher(store, "Ada")
    ids = [proposal(store, rid, 0.5) for _ in range(n)]
    pages = walk(store, paging.QueueQuery(), limit)
    assert pages == [ids[i : i + limit] for i in range(0, n, limit)]


@pytest.mark.parametrize("sort", ["id", "confidence", "researcher"])
def test_every_order_walks_each_row_once_forward_and_back(store, sort):
    rids = [researcher(store, n) for n in ("Ada", "Bob", "Cy")]
    confidences = [0.9, None, 0.5, 0.9, 0.1, 0.5, 0.5, 0.99, None, 0.3]
    for i, c in enumerate(confidences):
        proposal(store, rids[(i * 7) % 3], c)
    q = paging.QueueQuery(sort=sort)
    everything = paging.proposal_page(store, q, limit=100).rows
    key = {
        "id": lambda r: r["id"],
        "confidence": lambda r: (-(r["confidence"] or 0), r["id"]),
        "researcher": lambda r: (r["researcher_id"], r["id"]),
    }[sort]
    assert everything == sorted(everything, key=key)
    forward = walk(store, q, 3)
    assert [i for p in forward for i in p] == [r["id"] for r in everything]
    # back from the last page, page by page, with `before`
    last = paging.proposal_page(store, q, limit=3, after=paging.encode_cursor(sort, everything[-5]))
    back, page = [], last
    while page.prev is not None:
        page = paging.proposal_page(store, q, limit=3, before=page.prev)
        back.insert(0, [r["id"] for r in page.rows])
    assert [i for p in back for i in p] == [r["id"] for r in everything[:-4]]
    # one researcher's rows in the same order, forward and back, filtered through the researcher index
    one = paging.QueueQuery(sort=sort, researcher_id=rids[1])
    theirs = [r["id"] for r in everything if r["researcher_id"] == rids[1]]
    assert [i for p in walk(store, one, 2) for i in p] == theirs
    tail = paging.proposal_page(store, one, limit=10, after=paging.proposal_page(store, one, limit=1).next)
    assert [r["id"] for r in tail.rows] == theirs[1:]
    before = paging.proposal_page(store, one, limit=10, before=tail.rows[-1]["cursor"])
    assert [r["id"] for r in before.rows] == theirs[:-1]


def test_rows_added_or_decided_between_pages_neither_repeat_nor_shift(store):
    rid = researcher(store, "Ada")
    ids = [proposal(store, rid, 0.5) for _ in range(6)]
    first = paging.proposal_page(store, paging.QueueQuery(), limit=3)
    assert [r["id"] for r in first.rows] == ids[:3]
    store.reject(ids[0], "ann")  # decided on the page already seen
    store.reject(ids[4], "ann")  # decided on the page to come
    added = proposal(store, rid, 0.5)
    second = paging.proposal_page(store, paging.QueueQuery(), limit=3, after=first.next)
    assert [r["id"] for r in second.rows] == [ids[3], ids[5], added]
    assert second.next is None


def test_a_row_added_before_the_cursor_in_confidence_order_is_not_repeated(store):
    rid = researcher(store, "Ada")
    for c in (0.9, 0.8, 0.7, 0.6):
        proposal(store, rid, c)
    q = paging.QueueQuery(sort="confidence")
    first = paging.proposal_page(store, q, limit=2)
    proposal(store, rid, 0.95)  # sorts before the cursor: belongs to a page already passed
    rest = paging.proposal_page(store, q, limit=10, after=first.next)
    assert [r["confidence"] for r in rest.rows] == [0.7, 0.6]


def test_filters_and_counts(store):
    a, b = researcher(store, "Ada"), researcher(store, "Bob")
    for i in range(5):
        proposal(store, a if i % 2 else b, 0.2 * i, job="J1" if i < 3 else "J2")
    q = paging.QueueQuery(job_id="J2")
    assert paging.count_proposals(store, q) == 2
    assert [r["job_id"] for r in paging.proposal_page(store, q).rows] == ["J2", "J2"]
    q = paging.QueueQuery(researcher_id=a, min_confidence=0.5)
    assert [r["confidence"] for r in paging.proposal_page(store, q).rows] == [0.6000000000000001]


def test_a_foreign_cursor_is_refused(store):
    with pytest.raises(paging.CursorError, match="does not belong"):
        paging.proposal_page(store, paging.QueueQuery(sort="confidence"), after="12")


def test_neighbours_and_position_come_from_the_index(store):
    rid = researcher(store, "Ada")
    ids = [proposal(store, rid, 0.5) for _ in range(4)]
    store.reject(ids[1], "ann")
    around = paging.neighbours(store, ids[2])
    assert around == {"prev": ids[0], "next": ids[3], "first": ids[0], "position": 2, "total": 3}
    assert paging.next_pending(store, ids[3]) == ids[0]  # past the end: back to the first


def test_researcher_pages(store):
    rids = [researcher(store, f"R{i}") for i in range(7)]
    proposal(store, rids[1], 0.5)
    first = paging.researcher_page(store, limit=3)
    assert [r["id"] for r in first.rows] == rids[:3] and first.rows[1]["pending"] == 1
    second = paging.researcher_page(store, limit=3, after=first.next)
    third = paging.researcher_page(store, limit=3, after=second.next)
    assert [r["id"] for r in third.rows] == rids[6:] and third.next is None
    assert [r["id"] for r in paging.researcher_page(store, limit=3, before=third.prev).rows] == rids[3:6]
    assert paging.count_researchers(store) == 7


def test_decision_counts_match_the_proposals_they_count_and_start_from_the_protected_values(store):
    """A bulk decision's confirmation: matched, structural (split/merge) and protected (the field holds a verified
    or accepted value) -- each counted through an index, equal to counting the proposals one by one."""
    from enrich.schemas import FieldValue

    rids = [researcher(store, n) for n in ("Ada", "Bob", "Cy", "Di")]

    def field_proposal(rid: int, field: str, value, job: str) -> int:
        fv = FieldValue(
            researcher_id=rid, field=field, value=value, status="proposed", origin="llm:f/m", job_id=job, confidence=0.7
        )
        return store.submit(fv).proposal_id

    aff = {"name": "University of Leeds"}
    store.set_value(rids[0], "affiliation", {"name": "University of York"}, "ann")  # verified: protected
    first = field_proposal(rids[1], "affiliation", aff, "J1")
    store.accept(first, "ann")  # accepted: protected
    for i, rid in enumerate(rids):
        field_proposal(rid, "affiliation", {"name": f"Institute {i}"}, "J1")
        field_proposal(rid, "summary", {"text": f"Works on graphs {i}.", "sentences": []}, "J2")
        proposal(store, rid, 0.5, job="J2")
    checks = [
        paging.QueueQuery(),
        paging.QueueQuery(field="affiliation"),
        paging.QueueQuery(field="summary"),
        paging.QueueQuery(job_id="J1"),
        paging.QueueQuery(job_id="J2"),
        paging.QueueQuery(kind="split"),
        paging.QueueQuery(kind="field", researcher_id=rids[0]),
        paging.QueueQuery(min_confidence=0.6),
    ]
    for q in checks:
        rows = paging.proposal_page(store, q, limit=1000).rows
        protected = [
            r
            for r in rows
            if r["kind"] == "field"
            and (cur := store.current(r["researcher_id"], r["field"])) is not None
            and cur.status in ("verified", "accepted")
        ]
        expected = {
            "matched": len(rows),
            "structural": sum(r["kind"] != "field" for r in rows),
            "protected": len(protected),
        }
        assert paging.decision_counts(store, q) == expected, q
    assert paging.decision_counts(store, paging.QueueQuery(field="affiliation"))["protected"] == 2
    from test_query_plans import plans_of

    plan = plans_of(store, lambda: paging.decision_counts(store, paging.QueueQuery(field="affiliation")))[-1]
    assert plan.startswith("SEARCH cfv USING INDEX field_values_protected"), plan
