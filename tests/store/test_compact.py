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


def test_audit_rows_name_values_instead_of_copying_them(tmp_path):
    from enrich.schemas import FieldValue

    store = Store.open(tmp_path / "a.db")
    rid = store.record_import(
        ParsedListing(format="text", kind="person", name="Ada Lovelace"), text="Ada Lovelace\n", path="ada.txt"
    ).researcher_id
    first = {"name": "University of Leeds"}
    store.submit(
        FieldValue(researcher_id=rid, field="affiliation", value=first, status="generated", origin="llm:fake/fake"),
        auto_apply=True,
    )
    store.set_value(rid, "affiliation", {"name": "University of York"}, "ann")
    store.undo("ann")
    raw = store.db.conn.execute("SELECT action, before, after FROM audit_log ORDER BY id").fetchall()
    assert [r[0] for r in raw] == ["generate", "set", "undo"]
    assert all(r[1] is None and r[2] is None for r in raw[1:])  # both sides are value rows: no copies
    assert raw[0][1] == "null" and raw[0][2] is None  # nothing before the first value
    entries = {a.action: a for a in store.audit_entries(researcher_id=rid)}
    assert (entries["generate"].before, entries["generate"].after) == (None, first)
    assert (entries["set"].before, entries["set"].after) == (first, {"name": "University of York"})
    assert (entries["undo"].before, entries["undo"].after) == ({"name": "University of York"}, first)
    assert store.current(rid, "affiliation").value == first
    # a row written with copies (before this change) reads as it was written
    with store.transaction():
        store.insert_row(
            "audit_log",
            {"actor": "human:bob", "action": "note", "researcher_id": rid, "before": '{"a": 1}', "after": "[2]",
             "created_at": "2026-01-01T00:00:00+00:00"},
        )  # fmt: skip
    old = store.audit_entries(researcher_id=rid, limit=1)[0]
    assert (old.before, old.after) == ({"a": 1}, [2])
    store.close()


def test_long_json_documents_are_packed_and_read_back_exactly(tmp_path):
    from enrich.schemas import Evidence, FieldValue
    from enrich.schemas.conflation import ConflationResult
    from enrich.store import structural

    store = Store.open(tmp_path / "j.db")
    text = "Ada Lovelace\nNeural parsing of tables\n"
    res = store.record_import(
        ParsedListing(
            format="text", kind="person", name="Ada Lovelace", works=[Work(title="Neural parsing of tables")]
        ),
        text=text,
        path="ada.txt",
    )
    rid = res.researcher_id
    summary = " ".join(["She builds neural parsers for the tables printed in scientific papers."] * 5)
    value = {"text": summary, "sentences": [{"text": summary, "works": []}], "readability": None}
    evidence = [Evidence(note="checked against the works " * 12)]
    store.submit(
        FieldValue(
            researcher_id=rid,
            field="summary",
            value=value,
            status="generated",
            origin="llm:fake/fake",
            evidence=evidence,
        ),
        auto_apply=True,
    )
    store.set_value(rid, "affiliation", {"name": "University of Leeds"}, "ann")
    raw = dict(store.db.conn.execute("SELECT field, value FROM field_values").fetchall())
    assert isinstance(raw["summary"], bytes) and len(raw["summary"]) < len(summary)  # packed
    assert raw["affiliation"] == '{"name": "University of Leeds"}'  # short: kept as text
    got = store.current(rid, "summary")
    assert got.value == value and got.evidence[0].note == evidence[0].note
    clusters = [{"work_ids": [f"W{i}"], "titles": [f"A title of some length number {i}"] * 3} for i in range(4)]
    structural.save_conflation(
        store, res.listing_id, rid, ConflationResult(detected=True, confidence=0.8, clusters=clusters, method="m")
    )
    assert isinstance(store.db.conn.execute("SELECT clusters FROM conflation").fetchone()[0], bytes)
    assert [c.model_dump() for c in structural.get_conflation(store, listing_id=res.listing_id).clusters] == [
        c.model_dump() for c in ConflationResult(detected=True, confidence=0.8, clusters=clusters, method="m").clusters
    ]
    store.close()
