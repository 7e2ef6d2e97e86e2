"""The compact store: a listing's text kept once (compressed), abstracts the text holds stored as references into
it, and everything read back exactly as given."""

from __future__ import annotations

from enrich.schemas import ParsedListing, Work
from enrich.store import Store


def test_text_once_and_abstracts_by_reference(tmp_path):
    abstract = "We parse tables in scientific papers with neural models, and we measure it carefully. " * 3
    text = f"Ada Lovelace\nPublications\nNeural parsing (2021)\n{abstract}\nA paper with an outside abstract (2022)\n"
    start = text.index("Neural parsing")
    works = [
        Work(title="Neural parsing", year=2021, abstract=abstract, start=start, end=start + 16 + len(abstract)),
        Work(title="A paper with an outside abstract", year=2022, abstract="Not printed on this page."),
    ]
    store = Store.open(tmp_path / "c.db")
    res = store.record_import(
        ParsedListing(format="text", kind="person", name="Ada Lovelace", works=works), text=text, path="ada.txt"
    )
    raw_text = store.db.conn.execute("SELECT text FROM listings").fetchone()[0]
    assert isinstance(raw_text, bytes) and len(raw_text) < len(text)
    stored = [r[0] for r in store.db.conn.execute("SELECT abstract FROM works ORDER BY ordinal")]
    assert isinstance(stored[0], bytes) and len(stored[0]) == 9  # a reference, not a copy
    assert stored[1] == "Not printed on this page."  # not in the text: kept as it is
    assert store.get_listing(res.listing_id).text == text
    assert [w.abstract for w in store.researcher_works(res.researcher_id)] == [abstract, "Not printed on this page."]
    assert [w.abstract for w in store.listing_works(res.listing_id)] == [abstract, "Not printed on this page."]
    store.close()
