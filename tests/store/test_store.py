"""The store's write policy cell by cell, imports and work ids, history, undo, derived facts, lookups."""

from __future__ import annotations

import pytest
from store_sql import rows as sql_rows

from enrich.schemas import DerivedFact, FieldValue, Job
from enrich.schemas.listing import ParsedListing, StatedValue, Work
from enrich.store import Store, StoreError

F = "affiliation"
LLM = "llm:fake/m"
IMPORT = "import:generic"


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


def person(store: Store, name: str = "Ada", text: str | None = None, path: str = "ada.txt") -> int:
    return store.record_import(
        ParsedListing(format="generic", kind="person", name=name), text=text or name, path=path
    ).researcher_id


def fv(rid: int, origin: str, name: str, **kw) -> FieldValue:
    return FieldValue(researcher_id=rid, field=F, value={"name": name}, status="proposed", origin=origin, **kw)


def make_state(store: Store, rid: int, state: str) -> None:
    """Bring the field into one column of the policy table."""
    if state == "imported":
        store.submit(fv(rid, IMPORT, "Old Page Univ"))
    elif state == "generated":
        store.submit(fv(rid, "llm:fake/other", "Model Univ"), auto_apply=True)
    elif state == "proposed":
        store.submit(fv(rid, "llm:fake/other", "Model Univ"))
    elif state == "accepted":
        store.accept(store.submit(fv(rid, "llm:fake/other", "Model Univ")).proposal_id, "ann")
    elif state == "verified":
        store.set_value(rid, F, {"name": "Person Univ"}, "ann")
    assert (
        store.current(rid, F).status
        if store.current(rid, F)
        else ("proposed" if store.proposals("pending", researcher_id=rid) else "empty")
    ) == state


STATES = ["empty", "imported", "generated", "proposed", "accepted", "verified"]
# issue 2's table, restated: writer -> {current state -> what the field's value becomes}
EXPECTED = {
    "import": dict(
        empty="imported",
        imported="imported",
        generated="imported",
        proposed="imported",
        accepted="proposed",
        verified="proposed",
    ),
    "llm_auto": dict(
        empty="generated",
        imported="proposed",
        generated="proposed",
        proposed="proposed",
        accepted="proposed",
        verified="proposed",
    ),
    "llm": {s: "proposed" for s in STATES},
    "set": {s: "verified" for s in STATES},
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("writer", list(EXPECTED))
def test_write_policy_table(store, writer, state):
    rid = person(store)
    make_state(store, rid, state)
    before = store.current(rid, F)
    pending_before = len(store.proposals("pending", researcher_id=rid))
    if writer == "set":
        result = store.set_value(rid, F, {"name": "New Univ"}, "bob")
    else:
        origin = IMPORT if writer == "import" else LLM
        result = store.submit(fv(rid, origin, "New Univ", confidence=0.9), auto_apply=writer == "llm_auto")
    want = EXPECTED[writer][state]
    after = store.current(rid, F)
    if want == "proposed":
        assert result.outcome == "proposed"
        assert (after.id if after else None) == (before.id if before else None)  # nothing overwritten
        assert len(store.proposals("pending", researcher_id=rid)) == pending_before + 1
    else:
        assert result.outcome == "applied" and (after.value, after.status) == ({"name": "New Univ"}, want)
        # an applied value leaves other writers' pending proposals for a person to decide
        assert len(store.proposals("pending", researcher_id=rid)) == pending_before


def test_accept_keeps_the_model_origin_and_edit_takes_the_person(store):
    rid = person(store)
    p1 = store.submit(fv(rid, LLM, "Model Univ", confidence=0.7, job_id="J1")).proposal_id
    store.accept(p1, "ann")
    cur = store.current(rid, F)
    assert (cur.status, cur.origin, cur.confidence, cur.job_id) == ("accepted", LLM, 0.7, "J1")
    p2 = store.submit(fv(rid, LLM, "Other Univ")).proposal_id
    store.accept(p2, "bob", value={"name": "Corrected Univ"})
    cur = store.current(rid, F)
    assert (cur.value, cur.status, cur.origin) == ({"name": "Corrected Univ"}, "accepted", "human:bob")
    assert [a.action for a in store.audit_entries(researcher_id=rid)][:2] == ["edit", "accept"]


def test_newer_proposal_from_the_same_origin_replaces_the_older(store):
    rid = person(store)
    store.set_value(rid, F, {"name": "Person Univ"}, "ann")
    first = store.submit(fv(rid, LLM, "A Univ")).proposal_id
    assert store.submit(fv(rid, LLM, "A Univ")).outcome == "duplicate"
    second = store.submit(fv(rid, LLM, "B Univ")).proposal_id
    other = store.submit(fv(rid, "llm:fake/other", "C Univ")).proposal_id
    assert store.get_proposal(first).state == "withdrawn"
    assert {p.id for p in store.proposals("pending", researcher_id=rid)} == {second, other}


def test_same_value_as_current_is_unchanged(store):
    rid = person(store)
    store.set_value(rid, F, {"name": "Person Univ"}, "ann")
    assert store.submit(fv(rid, LLM, "Person Univ")).outcome == "unchanged"
    assert store.proposals("pending") == []


def test_undo_set_restores_the_imported_value_and_undo_reject_reopens(store):
    rid = person(store)
    imported = store.submit(fv(rid, IMPORT, "Page Univ")).value_id
    store.set_value(rid, F, {"name": "Person Univ"}, "ann")
    undo = store.undo("ann")
    assert undo.action == "undo" and store.current(rid, F).id == imported
    pid = store.submit(fv(rid, LLM, "Model Univ")).proposal_id
    store.reject(pid, "ann")
    assert store.get_proposal(pid).state == "rejected"
    store.undo("ann")
    assert store.get_proposal(pid).state == "pending"
    with pytest.raises(StoreError, match="nothing to undo"):
        store.undo("ann")


def test_undo_a_set_over_a_generated_value_restores_it(store):
    """Found by the state machine: the `generated only fills an empty field` trigger refused the undo."""
    rid = person(store)
    generated = store.submit(fv(rid, LLM, "Model Univ"), auto_apply=True).value_id
    store.set_value(rid, F, {"name": "Person Univ"}, "ann")
    store.undo("ann")
    cur = store.current(rid, F)
    assert (cur.id, cur.status) == (generated, "generated")


def test_rollback_of_an_import_over_a_generated_value_restores_it(store):
    rid = person(store)
    generated = store.submit(fv(rid, LLM, "Model Univ"), auto_apply=True).value_id
    store.submit(fv(rid, IMPORT, "Page Univ", job_id="J9"))
    assert store.rollback_job("J9", "ann") == {"reverted": 1, "kept": 0, "withdrawn": 0}
    assert store.current(rid, F).id == generated


def test_rollback_reverts_generated_values_and_withdraws_proposals(store):
    rid, other = person(store), person(store, "Bob", path="bob.txt")
    store.submit(fv(rid, LLM, "Model Univ", job_id="J1"), auto_apply=True)
    store.set_value(other, F, {"name": "Person Univ"}, "ann")
    pid = store.submit(fv(other, LLM, "Model Univ", job_id="J1")).proposal_id
    assert store.rollback_job("J1", "ann") == {"reverted": 1, "kept": 0, "withdrawn": 1}
    assert store.current(rid, F) is None and store.get_proposal(pid).state == "withdrawn"
    assert store.current(other, F).value == {"name": "Person Univ"}


def test_submit_refuses_a_person_origin(store):
    rid = person(store)
    with pytest.raises(StoreError, match="automatic writers"):
        store.submit(fv(rid, "human:ann", "Person Univ"))


def test_submit_for_an_unknown_researcher_is_refused_and_writes_nothing(store):
    person(store)
    before = sql_rows(store, "SELECT count(*) AS n FROM field_values")
    with pytest.raises(StoreError, match=r"no researcher 999 \(see `enrich list`\)"):
        store.submit(fv(999, LLM, "Person Univ"), auto_apply=True)
    assert sql_rows(store, "SELECT count(*) AS n FROM field_values") == before


def test_current_all_of_some_fields_is_those_fields_of_current_all(store):
    rid, other = person(store), person(store, "Bo", path="bo.txt")
    store.submit(fv(rid, IMPORT, "First Univ"))
    store.submit(
        FieldValue(
            researcher_id=rid, field="affiliation.2", value={"name": "Second Inst"}, status="proposed", origin=IMPORT
        )
    )
    store.submit(
        FieldValue(
            researcher_id=rid,
            field="topics",
            value=[{"tag": "cs.CL", "label": "Computation and Language", "score": 0.9}],
            status="proposed",
            origin=LLM,
            confidence=0.9,
        ),
        auto_apply=True,
    )
    store.submit(fv(other, IMPORT, "Other Univ"))
    every = store.current_all(rid)
    assert set(every) == {"affiliation", "affiliation.2", "topics"}
    slots = store.current_all(rid, ["affiliation", "affiliation.2", "affiliation.3"])
    assert slots == {f: every[f] for f in ("affiliation", "affiliation.2")}
    assert store.current_all(rid, []) == {} and store.current_all(other, ["topics"]) == {}


def test_utcnow_is_the_current_second(monkeypatch):
    """utcnow keeps the text of the current second (a bulk job stamps many rows a second): always that second's."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from enrich.schemas import utcnow, values

    now = datetime.now(UTC).isoformat(timespec="seconds")
    assert utcnow() in (now, datetime.now(UTC).isoformat(timespec="seconds"))
    for second in (1_800_000_000.0, 1_800_000_000.9, 1_800_000_001.2, 1_800_000_000.5):
        monkeypatch.setattr(values, "time", SimpleNamespace(time=lambda s=second: s))
        assert utcnow() == datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")


def test_invalid_value_is_refused_before_anything_is_written(store):
    rid = person(store)
    with pytest.raises(ValueError):
        store.submit(FieldValue(researcher_id=rid, field=F, value={"name": ""}, status="proposed", origin=LLM))
    with pytest.raises(ValueError, match="unknown field"):
        store.set_value(rid, "colour", "red", "ann")
    assert sql_rows(store, "SELECT count(*) AS n FROM field_values")[0]["n"] == 0


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("affiliation", True),
        ("affiliation.2", True),
        ("affiliation.8", True),
        ("affiliation.1", False),  # slot 1 is written `affiliation`
        ("affiliation.02", False),
        ("affiliation.\u0662", False),  # an Arabic-Indic 2: int() reads it, the store never writes it
        ("affiliation.9", False),
        ("affiliation.", False),
        ("topics.2", False),
        ("colour", False),
    ],
)
def test_only_the_spellings_the_store_writes_are_field_names(name, known):
    from enrich.schemas.fields import is_known_field

    assert is_known_field(name) is known


def test_reimport_same_text_adds_nothing_and_keeps_work_ids(store):
    text = "Ada\nUniversity of Bergen\nA paper (2020)\nA paper (2020)\n"
    parsed = ParsedListing(
        format="generic",
        kind="person",
        name="Ada",
        stated={F: StatedValue(value={"name": "University of Bergen"}, quote="University of Bergen", start=4, end=24)},
        works=[Work(title="A paper", year=2020), Work(title="A paper", year=2020, ordinal=1)],
    )
    first = store.record_import(parsed, text=text, path="ada.txt")
    ids = [w.work_id for w in store.listing_works(first.listing_id)]
    assert len(set(ids)) == 2 and ids[1] == ids[0] + "-2"  # a paper listed twice keeps two distinct ids
    again = store.record_import(parsed, text=text, path="ada.txt")
    assert (again.created, again.listing_id, again.work_count) == (False, first.listing_id, 2)
    assert store.current(first.researcher_id, F).evidence[0].checked is True
    # a changed page at the same path: a new version of the same researcher, same work ids, newer import wins
    changed = parsed.model_copy(
        update={
            "stated": {
                F: StatedValue(value={"name": "University of Oslo"}, quote="University of Oslo", start=4, end=22)
            }
        }
    )
    v2 = store.record_import(changed, text=text.replace("Bergen", "Oslo"), path="ada.txt")
    assert (v2.created, v2.version, v2.researcher_id) == (True, 2, first.researcher_id)
    assert [w.work_id for w in store.researcher_works(first.researcher_id)] == ids
    assert store.current(first.researcher_id, F).value == {"name": "University of Oslo"}
    assert [h["shown_status"] for h in store.history(first.researcher_id, F)] == ["superseded", "imported"]


def test_feed_has_no_researcher(store):
    res = store.record_import(
        ParsedListing(format="hf-papers", kind="feed", works=[Work(title="X")]), text="feed", path="feed.txt"
    )
    assert res.researcher_id is None and store.researchers() == [] and res.work_count == 1


def test_find_researcher_by_id_name_and_ambiguity(store):
    a = person(store, "Yan Sun", path="a.txt")
    person(store, "Yan Sun", text="Yan Sun 2", path="b.txt")
    assert store.find_researcher(str(a)).id == a
    with pytest.raises(StoreError, match="2 researchers are named"):
        store.find_researcher("yan sun")
    with pytest.raises(StoreError, match="no researcher named"):
        store.find_researcher("Nobody")


def test_derived_fact_sits_beside_any_status(store):
    rid = person(store)
    vid = store.set_value(rid, F, {"name": "University of Bergen"}, "ann").value_id
    store.add_derived(DerivedFact(value_id=vid, kind="ror_id", value="https://ror.org/old", origin="match:ror@v1"))
    store.add_derived(
        DerivedFact(
            value_id=vid, kind="ror_id", value="https://ror.org/03zga2b32", origin="match:ror@v2", confidence=0.95
        )
    )
    assert [d.value for d in store.derived(vid, "ror_id")] == ["https://ror.org/03zga2b32", "https://ror.org/old"]
    assert store.current(rid, F).status == "verified"  # a derived fact does not change the value


def test_jobs_round_trip(store):
    store.create_job(Job(id="J1", todo=[1, 2], counts={"proposed": 2}))
    store.update_job("J1", state="done", cursor=2, counts={"proposed": 3})
    job = store.get_job("J1")
    assert (job.state, job.cursor, job.todo, job.counts) == ("done", 2, [1, 2], {"proposed": 3})
    assert [j.id for j in store.jobs()] == ["J1"]
    with pytest.raises(StoreError, match="no job"):
        store.get_job("nope")


def test_insert_rows_stores_what_insert_row_does_row_by_row(tmp_path):
    rows = [{"name": f"n{i}", "data": {"i": i} if i % 2 else [i], "n": i} for i in range(7)]
    stores = [Store.open(tmp_path / f"{k}.db") for k in ("one", "many")]
    for s in stores:
        s.db.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data TEXT, n INTEGER)")
    with stores[0].transaction():
        for row in rows:
            stores[0].insert_row("t", row)
    with stores[1].transaction():
        stores[1].insert_rows("t", iter(rows))
        stores[1].insert_rows("t", [])
    with pytest.raises(ValueError), stores[1].transaction():  # every row has the first one's columns
        stores[1].insert_rows("t", [{"name": "x"}, {"n": 1}])
    got = [s.db.conn.execute("SELECT * FROM t ORDER BY id").fetchall() for s in stores]
    assert got[0] == got[1] and len(got[0]) == 7
    with pytest.raises(RuntimeError):  # only inside a transaction, as insert_row
        stores[1].insert_rows("t", rows)
