"""`enrich run --batch --processes N`: workers run the steps against a stand-in that predicts the store's answers,
this process replays the writes and checks each prediction (agent/batch/predict.py). On a store people have worked
on (values of every kind, pending and rejected proposals, a detected conflation with its split pending) the build
leaves exactly what a one-process build leaves, rows in the same order with the same ids; a prediction the real
store contradicts (a person's write between the worker's read and the replay) is rolled back and the researcher
runs here, as in one process."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import store_sql as sql

from enrich.agent.batch import job as batch_job
from enrich.agent.batch import predict
from enrich.agent.batch.build_pipeline import Pipeline
from enrich.agent.batch.job import build
from enrich.agent.ingest import parse
from enrich.agent.llm.factory import make_client
from enrich.agent.loop import STEPS, RunOptions
from enrich.schemas import DerivedFact, FieldValue
from enrich.store import Store, slots, structural
from enrich.store.errors import StoreError

from .bulk_helpers import export, files_settings, ingest, store_facts

N = 30
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
OTHER = "llm:openai-compatible/other-model"


def _ingested(db: Path, *, seeds: bool = True) -> tuple[Any, Store]:
    settings = files_settings(db)
    store = Store.open(settings.db)
    ingest(store, N)
    for p in sorted(SEEDS.glob("*.txt")) if seeds else ():  # the arXiv listing mixes two people: a split
        text = p.read_text()
        store.record_import(parse(text, path=str(p)), text=text, path=str(p))
    return settings, store


def _topics(store: Store, rid: int) -> FieldValue:
    fv = store.current(rid, "topics")
    assert fv is not None
    return fv


def _worked_on(tmp_path: Path) -> Path:
    """A store after a first build (conflation and affiliations; topics left out) on which people and another
    model have worked; returns its database file (closed)."""
    settings, store = _ingested(tmp_path / "base" / "b.db")
    client = make_client(settings, store)
    origin = client.origin
    build(store, settings, client, RunOptions(only=["affiliation"]), folder=tmp_path / "f0", submit=False)
    # the topics a build would write, learnt on a copy: a person rejected some of them when proposed before
    scratch = tmp_path / "scratch.db"
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(settings.db, scratch)
    s2 = Store.open(scratch)
    c2 = make_client(files_settings(scratch), s2)
    build(s2, files_settings(scratch), c2, RunOptions(), folder=tmp_path / "f1", submit=False)
    c2.close()
    learnt = {rid: _topics(s2, rid) for rid in (3, 4, 5, 6, 7)}
    s2.close()

    def proposal(rid: int, value: Any, origin: str, **more: Any) -> int:
        fv = FieldValue(researcher_id=rid, field="topics", value=value, status="proposed", origin=origin, **more)
        res = store.submit(fv)
        assert res.outcome == "proposed" and res.proposal_id
        return res.proposal_id

    store.reject(proposal(3, learnt[3].value, origin, prompt_version=learnt[3].prompt_version), "ann")
    store.reject(proposal(4, learnt[4].value, origin, prompt_version=learnt[4].prompt_version), "ann")
    proposal(5, learnt[6].value, OTHER)  # another model's proposal is pending
    proposal(6, learnt[7].value, origin, prompt_version="topics@0")  # this model's, from an older prompt
    generated = FieldValue(researcher_id=7, field="topics", value=learnt[5].value, status="generated", origin=OTHER)
    assert store.submit(generated, auto_apply=True).outcome == "applied"  # another model's value is applied
    store.set_value(8, "topics", learnt[4].value, "ann")  # a person's value
    store.set_value(9, "affiliation", {"name": "Institute for Advanced Study"}, "ann")
    assert sql.one(store, "SELECT count(*) AS n FROM proposals WHERE kind = 'split' AND state = 'pending'")["n"] == 1
    client.close()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return Path(settings.db)


def _copy(db: Path, tmp_path: Path, name: str) -> tuple[Any, Store, Any]:
    dst = tmp_path / name / "b.db"
    dst.parent.mkdir(parents=True)
    shutil.copy(db, dst)
    settings = files_settings(dst)
    store = Store.open(settings.db)
    return settings, store, make_client(settings, store)


def _lines(rep: Any) -> list[str]:
    """The request lines in file order (job id normalised): the same order as one process."""
    out = []
    for f in rep.files:
        out += [re.sub(r"J\d{8}-\d{6}-[0-9a-f]{4}", "JOB", x) for x in Path(f["path"]).read_text().splitlines()]
    return out


ROWS = {  # every row the steps and merge detection write, in id order, with the ids
    "field_values": "SELECT id, researcher_id, field, status, origin, confidence, value, listing_id FROM field_values",
    "current_values": "SELECT researcher_id, field, value_id FROM current_values ORDER BY researcher_id, field",
    "proposals": "SELECT id, kind, researcher_id, field, value_id, state, summary, reason FROM proposals",
    "audit_log": "SELECT id, actor, action, researcher_id, field, before_value_id, after_value_id FROM audit_log",
    "derived_facts": "SELECT id, value_id, kind, value FROM derived_facts",
    "conflation": "SELECT rowid, listing_id, researcher_id, detected, confidence, clusters FROM conflation",
    "step_misses": "SELECT researcher_id, field, status, origin, detail FROM step_misses ORDER BY researcher_id, field",
}


def _rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {t: sql.rows(store, q if "ORDER BY" in q else q + " ORDER BY 1") for t, q in ROWS.items()}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store just ingested (closed), the seed listings among them (the arXiv one is split in a worker), its work
    keys not made yet (a worker makes them, the build's writer writes them: nothing but the test commits from
    another connection during a build)."""
    settings, store = _ingested(tmp_path_factory.mktemp("fresh") / "b.db")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return Path(settings.db)


@pytest.fixture(scope="module")
def worked_on(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _worked_on(tmp_path_factory.mktemp("worked"))


def test_a_store_people_worked_on_gets_what_one_process_writes(worked_on, tmp_path):
    one, two = _copy(worked_on, tmp_path, "one"), _copy(worked_on, tmp_path, "two")
    opts = {"refresh": True}  # another model's applied value is planned again
    rep1 = build(one[1], one[0], one[2], RunOptions(**opts), folder=tmp_path / "f1", submit=False)
    rep2 = build(two[1], two[0], two[2], RunOptions(processes=2, **opts), folder=tmp_path / "f2", submit=False)
    assert (rep1.processes, rep2.processes) == (1, 2)
    # the cases the store people worked on holds, as this build met them
    for outcome in ("topics:skipped_rejected", "topics:proposed", "topics:applied", "conflation:proposed"):
        assert rep1.outcomes.get(outcome), outcome
    assert rep2.outcomes == rep1.outcomes and rep2.requests == rep1.requests > N
    assert _lines(rep2) == _lines(rep1)
    assert _rows(two[1]) == _rows(one[1])
    assert export(two[1]) == export(one[1]) and store_facts(two[1]) == store_facts(one[1])
    assert rep2.ran_here == {}  # every prediction held: nothing ran in this process
    # nothing but the writer committed, no listing is shared: every researcher's predicted writes were applied as
    # decided, none of its reads made again
    assert (rep2.applied, rep2.replayed) == (rep2.researchers, 0)
    withdrawn = sql.one(two[1], "SELECT count(*) AS n FROM proposals WHERE state = 'withdrawn' AND field = 'topics'")
    assert withdrawn["n"] == 1  # this model's older proposal, replaced by the new one
    for _s, store, client in (one, two):
        client.close()
        store.close()


def test_an_outside_commit_is_replayed_and_a_contradicted_prediction_runs_here(fresh, tmp_path, monkeypatch):
    """A person verifies researcher 12's topics (another connection commits) while the build runs: after the worker
    read the store, before this process takes researcher 12's chunk (the test's only one). The writer sees the
    outside commit, so it replays the chunk's predictions instead of applying them; the replay meets the person's
    value, rolls back what it wrote for 12 (its conflation verdict among them) and runs 12's steps here: the
    person's value stays, the model's is proposed."""

    def person(store: Store) -> None:
        store.set_value(12, "topics", [{"tag": "cs.LG", "label": "Machine Learning", "score": 1.0}], "bob")

    one, two = _copy(fresh, tmp_path, "one"), _copy(fresh, tmp_path, "two")
    make_context, replay, apply = batch_job.make_context, batch_job.replay, batch_job.apply
    done: list[bool] = []

    def before_steps(store: Any, *args: Any) -> Any:
        if not done:  # the reference: one process, the person's value after planning, before the chunk's steps
            done.append(True)
            person(store)
        return make_context(store, *args)

    monkeypatch.setattr(batch_job, "make_context", before_steps)
    rep1 = build(one[1], one[0], one[2], RunOptions(), folder=tmp_path / "f1", submit=False)
    monkeypatch.setattr(batch_job, "make_context", make_context)

    next_chunk = Pipeline.next

    def read_then_person(self: Pipeline) -> list[predict.Predicted]:
        got = next_chunk(self)  # the worker read the store
        if any(p.researcher_id == 12 for p in got):
            other = Store.open(two[0].db)  # another connection: a person at the review page
            person(other)
            other.close()
        return got

    replayed: list[int] = []

    def watched_replay(store: Store, got: predict.Predicted) -> str:
        replayed.append(got.researcher_id)
        if got.researcher_id == 12:
            assert got.calls and got.calls[1].name == "save_conflation"  # a write before the contradicted read
        return replay(store, got)

    def no_apply(store: Store, run: list[predict.Predicted]) -> str:
        raise AssertionError("applied without reading again after an outside commit")

    monkeypatch.setattr(Pipeline, "next", read_then_person)
    monkeypatch.setattr(batch_job, "replay", watched_replay)
    monkeypatch.setattr(batch_job, "apply", no_apply)
    rep2 = build(two[1], two[0], two[2], RunOptions(processes=2), folder=tmp_path / "f2", submit=False)
    assert 12 in replayed and rep2.ran_here == {"current returned otherwise than predicted": 1}
    assert rep2.applied == 0 and rep2.replayed == rep2.researchers - 1
    assert rep1.outcomes["topics:proposed"] >= 1 and rep2.outcomes == rep1.outcomes
    assert _lines(rep2) == _lines(rep1)
    assert _rows(two[1]) == _rows(one[1])
    assert export(two[1]) == export(one[1]) and store_facts(two[1]) == store_facts(one[1])
    assert _topics(two[1], 12).origin == "human:bob"
    monkeypatch.setattr(batch_job, "apply", apply)
    for _s, store, client in (one, two):
        client.close()
        store.close()


def test_a_researcher_of_a_listing_split_before_is_replayed(fresh, tmp_path):
    """After a person accepted the arXiv listing's split, its researchers hold one listing (each its works): one
    researcher's conflation verdict is another's read, so their predictions are replayed and checked, the other
    researchers' applied; the build leaves what one process leaves."""
    copies = []
    for name in ("one", "two"):
        settings, store, client = _copy(fresh, tmp_path, name)
        build(store, settings, client, RunOptions(only=["affiliation"]), folder=tmp_path / f"c{name}", submit=False)
        (split,) = store.proposals("pending", kind="split")
        assert split.id is not None
        structural.accept_split(store, split.id, "ann")
        copies.append((settings, store, client))
    one, two = copies
    sharing = {rid for _, rid in two[1].shared_listings()}
    assert len(sharing) >= 3  # the original researcher and one per cluster
    rep1 = build(one[1], one[0], one[2], RunOptions(), folder=tmp_path / "f1", submit=False)
    rep2 = build(two[1], two[0], two[2], RunOptions(processes=2), folder=tmp_path / "f2", submit=False)
    planned = sql.one(two[1], "SELECT count(DISTINCT researcher_id) AS n FROM batch_requests")["n"]
    assert rep2.ran_here == {} and rep2.replayed >= 1 and rep2.applied + rep2.replayed == rep2.researchers
    assert rep2.replayed <= len(sharing) and planned > 0
    assert rep2.outcomes == rep1.outcomes and _lines(rep2) == _lines(rep1)
    assert _rows(two[1]) == _rows(one[1])
    assert export(two[1]) == export(one[1]) and store_facts(two[1]) == store_facts(one[1])
    for _s, store, client in (one, two):
        client.close()
        store.close()


def test_a_step_that_raised_in_this_process_skips_the_steps_that_need_it(fresh, tmp_path, monkeypatch):
    """A researcher the workers could not settle runs here through the step boundary, as in one process: a step
    that raises is recorded and the steps needing it are skipped."""

    def broken(self: Any, ctx: Any) -> Any:
        if ctx.researcher_id == 2:
            raise RuntimeError("conflation broke on this listing")
        return original(self, ctx)

    conflation = type(STEPS["conflation"])
    original = conflation.run
    monkeypatch.setattr(conflation, "run", broken)  # in this process only
    # whichever takes the prediction; a run of researchers applied together fails with it, and each is then
    # applied alone
    replay, apply = batch_job.replay, batch_job.apply
    monkeypatch.setattr(
        batch_job, "replay", lambda store, got: "forced" if got.researcher_id == 2 else replay(store, got)
    )
    monkeypatch.setattr(
        batch_job, "apply", lambda store, run: "forced" if any(p.researcher_id == 2 for p in run) else apply(store, run)
    )
    settings, store, client = _copy(fresh, tmp_path, "e")
    rep = build(store, settings, client, RunOptions(processes=2), folder=tmp_path / "f", submit=False)
    assert rep.ran_here == {"forced": 1}
    # skipped: researcher 2's summary, and the arXiv seed's (a listing of two people)
    assert rep.outcomes["conflation:error"] == 1 and rep.outcomes["summary:skipped"] == 2
    assert not any(".2.summary.0" in x for x in _lines(rep))
    client.close()
    store.close()


@pytest.mark.parametrize("how", ["replay", "apply", "apply together"])
def test_predicted_then_replayed_the_steps_write_what_they_write_online(tmp_path, how):
    """In one process: every researcher of a fresh store (a conflated
    listing among them) predicted first against the store as it is, then all replayed (reads made again and
    checked) or applied (the worker's decisions written as decided: `Trust` allows it, nothing else committed;
    researcher by researcher, or all in one savepoint) in plan order, leaves the rows a one-process build's steps
    leave, ids included; the split proposal's predicted id is bound to the real one."""
    from enrich.agent.batch.build_pipeline import _PredictingClient
    from enrich.agent.batch.clients import RecordingClient
    from enrich.agent.loop import JobRunner, make_context, remember_misses, run_researcher

    _ingested(tmp_path / "base" / "b.db")[1].close()
    (s1, a, ca), (s2, b, cb) = (
        _copy(tmp_path / "base" / "b.db", tmp_path, "a"),
        _copy(tmp_path / "base" / "b.db", tmp_path, "b"),
    )
    made_a: list[Any] = []
    made_b: list[Any] = []
    rec_a = RecordingClient(ca, made_a.append, "J1")
    plans = [p for p in JobRunner(a, rec_a, s1).plans(RunOptions()) if p.steps]
    with a.transaction():
        for plan in plans:
            rec_a.researcher_id = plan.researcher_id
            ctx = make_context(a, rec_a, s1, plan.researcher_id, "J1", None)
            remember_misses(ctx, plan, run_researcher(ctx, plan.steps))
    stand_in = predict.PredictingStore(b)
    rec_b = _PredictingClient(cb, made_b.append, "J1", stand_in=stand_in)
    predicted = []
    for plan in plans:
        stand_in.begin()
        rec_b.researcher_id = plan.researcher_id
        ctx = make_context(stand_in, rec_b, s2, plan.researcher_id, "J1", None)
        remember_misses(ctx, plan, run_researcher(ctx, plan.steps))
        assert not stand_in.unsure
        listings = frozenset(stand_in.listings.get(plan.researcher_id, ()))
        predicted.append(predict.Predicted(plan.researcher_id, stand_in.calls, listings=listings))
    splits = [c for p in predicted for c in p.calls or () if c.name == "propose_split"]
    assert len(splits) == 1 and splits[0].result >= predict.NEW_ID  # a new row: its id is the writer's to give
    trust = predict.Trust(b)
    with b.transaction():
        if how != "replay":
            assert trust.chunk(0, 1) and all(trust.may_apply(p) for p in predicted)
        if how == "apply together":  # a run that fails part-way is rolled back whole
            fact = DerivedFact(value_id=10**12, kind="ror_id", value="x", origin="match:test")  # of no value row
            fails = predict.Predicted(0, [predict.Call("add_derived", (fact,), {}, predict.NEW_ID + 1)])
            before = _rows(b)
            assert predict.apply(b, [*predicted, fails]) == "applying IntegrityError" and _rows(b) == before
            assert predict.apply(b, predicted) == ""
        else:
            one = (lambda p: predict.apply(b, [p])) if how == "apply" else (lambda p: predict.replay(b, p))
            assert [one(p) for p in predicted] == [""] * len(plans)
    assert [r.custom_id for r in made_b] == [r.custom_id for r in made_a]
    assert _rows(b) == _rows(a) and export(b) == export(a)
    assert sql.one(b, "SELECT count(*) AS n FROM proposals WHERE kind = 'split'")["n"] == 1
    for store, client in ((a, ca), (b, cb)):
        client.close()
        store.close()


def _reads_ahead_as_one_by_one(store: Store) -> None:
    """What a worker's stand-in reads ahead for a chunk of researchers (an id of none among them) is what the store
    reads for each of them, and reading it makes no query; asked again, the stand-in reads the store (as for a
    listing's answers another researcher holding it was given)."""
    ids = [r.id for r in store.researchers(include_merged=True) if r.id is not None] + [10_000]
    stand_in = predict.PredictingStore(store)
    stand_in.read_ahead(ids)
    statements: list[str] = []
    given: set[int | None] = set()  # listings whose answers were handed out
    occupied = 0
    for rid in ids:
        stand_in.begin()
        if rid == 10_000:
            with pytest.raises(StoreError):
                stand_in.get_researcher(rid)
            assert stand_in.researcher_listings(rid) == [] and stand_in.researcher_works(rid) == []
            continue
        for again in (False, True):  # the answer read ahead, then the store's
            store.db.conn.set_trace_callback(statements.append)
            researcher = stand_in.get_researcher(rid)
            listings = stand_in.researcher_listings(rid)
            got = [
                researcher,
                listings,
                stand_in.researcher_works(rid, listings),
                [stand_in.listing_hints(x.id) for x in listings if x.id is not None],
                [structural.get_conflation(stand_in, listing_id=x.id) for x in listings],
                structural.is_flagged(stand_in, rid, researcher),
            ]
            stand_in.fields.clear()
            fields = stand_in._committed(rid)
            got.append(stand_in._take("slots of affiliation", rid, lambda: None))
            store.db.conn.set_trace_callback(None)
            assert bool(statements) is (again or any(x.id in given for x in listings)), statements
            statements.clear()
            assert got == [
                store.get_researcher(rid),
                store.researcher_listings(rid),
                store.researcher_works(rid),
                [store.listing_hints(x.id) for x in listings if x.id is not None],
                [structural.get_conflation(store, listing_id=x.id) for x in listings],
                structural.is_flagged(store, rid),
                None if again else slots.held(store, [rid], "affiliation")[rid],
            ]
            assert fields == store.fields_held([rid]).get(rid, {})
        given.update(x.id for x in listings)
        held = slots.held(store, [rid], "affiliation")[rid]
        occupied += any(s.occupied for s in held.slots) and bool(held.stated)
    assert occupied  # affiliations held and stated: what the slots read is not empty


def test_what_a_worker_reads_ahead_is_what_it_reads_one_by_one(worked_on, tmp_path):
    """On a store people worked on (values, pending and rejected proposals, conflation verdicts, a listing judged
    conflated, a person's affiliation), and after its split was accepted (researchers holding part of a listing)."""
    _settings, store, client = _copy(worked_on, tmp_path, "ahead")
    flagged = [r.id for r in store.researchers() if r.id is not None and structural.is_flagged(store, r.id)]
    assert flagged and store.shared_listings() == []
    _reads_ahead_as_one_by_one(store)
    (split,) = store.proposals("pending", kind="split")
    assert split.id is not None
    structural.accept_split(store, split.id, "ann")
    assert store.shared_listings()
    _reads_ahead_as_one_by_one(store)
    client.close()
    store.close()
