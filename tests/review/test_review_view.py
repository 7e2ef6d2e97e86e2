"""The generic proposal view model shared by the CLI and the web page."""

from __future__ import annotations

from enrich.agent.review_view import Segment, evidence_segments, evidence_view, proposal_view, split_origin
from enrich.schemas import Evidence

TEXT = "alpha beta gamma delta epsilon zeta eta theta"


def test_segments_put_the_quote_between_its_context_without_cutting_words():
    start = TEXT.index("delta")
    assert evidence_segments(TEXT, start, start + 5, context=9) == [
        Segment("…gamma "),
        Segment("delta", True),
        Segment(" epsilon…"),
    ]
    assert evidence_segments(TEXT, 0, 5, context=100) == [Segment("alpha", True), Segment(TEXT[5:])]


def test_split_origin():
    assert split_origin("llm:openai/gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_origin("import:arxiv") == (None, None)
    assert split_origin(None) == (None, None)


def test_evidence_with_stale_offsets_is_found_by_search(seeded, open_store):
    store = open_store()
    ev = evidence_view(store, Evidence(quote="Norway", listing_id=seeded.ada_listing, start=0, end=6))
    assert ev.located and not ev.checked
    assert [s.text for s in ev.segments if s.highlight] == ["Norway"]


def test_evidence_not_in_listing_or_without_quote_says_so(seeded, open_store):
    store = open_store()
    missing = evidence_view(store, Evidence(quote="Atlantis", listing_id=seeded.ada_listing, start=0, end=8))
    assert (missing.located, missing.note, missing.segments) == (
        False,
        "quote not found in the listing text",
        [Segment("Atlantis", True)],
    )
    none = evidence_view(store, Evidence(quote=None, note="model inference, no quote"))
    assert (none.segments, none.note, none.listing_path) == ([], "model inference, no quote", None)


def test_field_view_shows_the_live_current_value(seeded, open_store):
    store = open_store()
    store.set_value(seeded.ada, "affiliation", {"name": "Bergen Uni"}, "alice")
    view = proposal_view(store, seeded.affiliation_pid)
    assert (view.current, view.current_status, view.current_origin) == ("Bergen Uni", "verified", "human:alice")
    assert (view.proposed, view.edit_text, view.confidence) == ("University of Bergen", "University of Bergen", 0.92)
    assert view.evidence[0].listing_path == "ada.txt" and view.evidence[0].checked
