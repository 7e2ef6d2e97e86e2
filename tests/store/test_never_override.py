"""The never-override rule, proved against an independent model of the write policy.

`PolicyModel` below re-states the table of issue 2 (writer x current status -> result) in plain Python, without
looking at store/policy.py. The state machine replays random imports, model writes (with and without auto-apply),
sets, accepts, edits, rejects and undos against a real in-memory store and the model, and compares the current
value, its status and origin, and the pending proposals after every step.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlite_utils import Database
from store_sql import rows as sql_rows

from enrich.schemas import FieldValue
from enrich.schemas.listing import ParsedListing
from enrich.store import Store, StoreError
from enrich.store.core import Held

# A tiny value pool so that the same value comes back often (duplicates, re-proposals after a reject).
VALUES = ["MIT", "KAIST", "ETH Zurich"]
FIELD = "affiliation"
IMPORT_ORIGINS = ["import:arxiv", "import:ieee"]
LLM_ORIGINS = ["llm:fake/a", "llm:fake/b"]
PEOPLE = ["ann", "bob"]
N_RESEARCHERS = 2

PROTECTED = {"verified", "accepted"}


def aff(name: str) -> dict:
    return {"name": name}


# ---------------------------------------------------------------------------------------------------- the model


@dataclass
class Applied:
    value: str
    status: str
    origin: str


@dataclass
class ModelProposal:
    pid: int  # the store's proposal id, learned when the model predicted a proposal and the store made one
    origin: str
    value: str
    state: str = "pending"  # pending | accepted | rejected | withdrawn


@dataclass
class HumanAction:
    kind: str  # set | accept | edit | reject
    rid: int
    before: Applied | None
    after: Applied | None
    pid: int | None = None


@dataclass
class PolicyModel:
    current: dict[int, Applied | None] = field(default_factory=dict)
    proposals: dict[int, list[ModelProposal]] = field(default_factory=dict)
    undo_stack: list[HumanAction] = field(default_factory=list)

    def pending(self, rid: int) -> list[ModelProposal]:
        return [p for p in self.proposals[rid] if p.state == "pending"]

    def expect_submit(self, rid: int, origin: str, value: str, auto_apply: bool) -> str:
        """What the write policy says an automatic writer's value becomes:
        unchanged | skipped_rejected | duplicate | imported | generated | proposed."""
        cur = self.current[rid]
        if cur is not None and cur.value == value:
            return "unchanged"
        if any(p.state == "rejected" and p.origin == origin and p.value == value for p in self.proposals[rid]):
            return "skipped_rejected"  # a person said no to this value from this origin
        if any(p.origin == origin and p.value == value for p in self.pending(rid)):
            return "duplicate"
        writer = origin.split(":")[0]
        if cur is None:
            status = "proposed" if self.pending(rid) else "empty"
        else:
            status = cur.status
        if writer == "import":
            # a page import refreshes what a page said (and fills empty fields); it never beats a person
            return "proposed" if status in PROTECTED else "imported"
        # a model only ever fills a truly empty field, and only when the auto-apply policy allows it
        return "generated" if status == "empty" and auto_apply else "proposed"

    def apply_submit(self, rid: int, origin: str, value: str, outcome: str, pid: int | None) -> None:
        if outcome in ("imported", "generated"):
            self.current[rid] = Applied(value, outcome, origin)
        elif outcome == "proposed":
            for p in self.pending(rid):  # a newer proposal from the same origin replaces the older one
                if p.origin == origin:
                    p.state = "withdrawn"
            assert pid is not None
            self.proposals[rid].append(ModelProposal(pid, origin, value))

    def set(self, rid: int, who: str, value: str) -> None:
        after = Applied(value, "verified", f"human:{who}")
        self.undo_stack.append(HumanAction("set", rid, self.current[rid], after))
        self.current[rid] = after

    def accept(self, rid: int, p: ModelProposal, who: str, edited: str | None) -> None:
        after = (
            Applied(p.value, "accepted", p.origin) if edited is None else Applied(edited, "accepted", f"human:{who}")
        )
        self.undo_stack.append(HumanAction("edit" if edited else "accept", rid, self.current[rid], after, p.pid))
        self.current[rid] = after
        p.state = "accepted"

    def reject(self, rid: int, p: ModelProposal) -> None:
        self.undo_stack.append(HumanAction("reject", rid, self.current[rid], self.current[rid], p.pid))
        p.state = "rejected"

    def find(self, rid: int, pid: int) -> ModelProposal:
        return next(p for p in self.proposals[rid] if p.pid == pid)

    def undo(self) -> None:
        action = self.undo_stack.pop()
        if action.kind != "reject":
            self.current[action.rid] = action.before
        if action.pid is not None:
            self.find(action.rid, action.pid).state = "pending"


# ---------------------------------------------------------------------------------------------------- the machine


def _template() -> tuple[Store, list[int]]:
    """A freshly migrated in-memory store with the researchers, built once: each example gets a private copy
    (sqlite's backup API, ~0.5 ms) instead of re-running the migrations (~25 ms)."""
    store = Store.open(":memory:")
    rids = [
        store.record_import(
            ParsedListing(format="text", kind="person", name=f"Person {i}"), text=f"Person {i}", path=f"p{i}.txt"
        ).researcher_id
        for i in range(N_RESEARCHERS)
    ]
    return store, rids


TEMPLATE, TEMPLATE_RIDS = _template()


def fresh_store() -> Store:
    conn = sqlite3.connect(":memory:")
    TEMPLATE.db.conn.backup(conn)
    store = Store(Database(conn))
    store.db.execute("PRAGMA foreign_keys = ON")
    return store


class NeverOverride(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = fresh_store()
        self.model = PolicyModel()
        self.rids = list(TEMPLATE_RIDS)
        for rid in self.rids:
            self.model.current[rid] = None
            self.model.proposals[rid] = []

    def teardown(self) -> None:
        self.store.close()

    def _submit(self, i: int, origin: str, value: str, auto_apply: bool) -> None:
        rid = self.rids[i]
        expected = self.model.expect_submit(rid, origin, value, auto_apply)
        fv = FieldValue(
            researcher_id=rid, field=FIELD, value=aff(value), status="proposed", origin=origin, confidence=0.9
        )
        # what a bulk build's worker decides from the researcher's fields read at once (Store.fields_held) is what
        # the store decides reading them one by one
        held = self.store.fields_held([rid]).get(rid, {}).get(FIELD, Held(None, [], {}))
        ahead, alone = (self.store.decide_write(fv, auto_apply=auto_apply, held=h) for h in (held, None))
        assert (ahead.result, ahead.writes, ahead.state, ahead.cur, ahead.pending) == (
            alone.result,
            alone.writes,
            alone.state,
            alone.cur,
            alone.pending,
        )
        got = self.store.submit(fv, auto_apply=auto_apply)
        outcome = got.status if got.outcome == "applied" else got.outcome
        assert outcome == expected, f"{origin} {value!r} (auto_apply={auto_apply}): store {got}, model {expected}"
        cur = self.model.current[rid]
        event(
            f"{origin.split(':')[0]} over {cur.status if cur else 'none'}: {outcome}"
        )  # coverage, in --hypothesis-show-statistics
        self.model.apply_submit(rid, origin, value, outcome, got.proposal_id)

    @rule(i=st.integers(0, N_RESEARCHERS - 1), origin=st.sampled_from(IMPORT_ORIGINS), value=st.sampled_from(VALUES))
    def page_import(self, i: int, origin: str, value: str) -> None:
        self._submit(i, origin, value, auto_apply=False)

    @rule(
        i=st.integers(0, N_RESEARCHERS - 1),
        origin=st.sampled_from(LLM_ORIGINS),
        value=st.sampled_from(VALUES),
        auto_apply=st.booleans(),
    )
    def model_write(self, i: int, origin: str, value: str, auto_apply: bool) -> None:
        self._submit(i, origin, value, auto_apply)

    @rule(i=st.integers(0, N_RESEARCHERS - 1), who=st.sampled_from(PEOPLE), value=st.sampled_from(VALUES))
    def person_sets(self, i: int, who: str, value: str) -> None:
        rid = self.rids[i]
        got = self.store.set_value(rid, FIELD, aff(value), who)
        assert got.status == "verified"
        self.model.set(rid, who, value)

    def _pick_pending(self, data: st.DataObject) -> tuple[int, ModelProposal]:
        choices = [(rid, p) for rid in self.rids for p in self.model.pending(rid)]
        return data.draw(st.sampled_from(choices))

    def _has_pending(self) -> bool:
        return any(self.model.pending(rid) for rid in self.rids)

    @precondition(lambda self: self._has_pending())
    @rule(data=st.data(), who=st.sampled_from(PEOPLE))
    def person_accepts(self, data: st.DataObject, who: str) -> None:
        rid, p = self._pick_pending(data)
        got = self.store.accept(p.pid, who)
        assert got.status == "accepted"
        self.model.accept(rid, p, who, None)

    @precondition(lambda self: self._has_pending())
    @rule(data=st.data(), who=st.sampled_from(PEOPLE), value=st.sampled_from(VALUES))
    def person_edits(self, data: st.DataObject, who: str, value: str) -> None:
        rid, p = self._pick_pending(data)
        got = self.store.accept(p.pid, who, value=aff(value))
        assert got.status == "accepted"
        self.model.accept(rid, p, who, value)

    @precondition(lambda self: self._has_pending())
    @rule(data=st.data(), who=st.sampled_from(PEOPLE))
    def person_rejects(self, data: st.DataObject, who: str) -> None:
        rid, p = self._pick_pending(data)
        self.store.reject(p.pid, who)
        self.model.reject(rid, p)

    @rule(who=st.sampled_from(PEOPLE))
    def person_undoes(self, who: str) -> None:
        if not self.model.undo_stack:
            with pytest.raises(StoreError, match="nothing to undo"):
                self.store.undo(who)
            return
        self.store.undo(who)
        self.model.undo()

    @precondition(lambda self: any(p.state != "pending" for rid in self.rids for p in self.model.proposals[rid]))
    @rule(data=st.data(), who=st.sampled_from(PEOPLE))
    def deciding_twice_is_refused(self, data: st.DataObject, who: str) -> None:
        decided = [p for rid in self.rids for p in self.model.proposals[rid] if p.state != "pending"]
        p = data.draw(st.sampled_from(decided))
        with pytest.raises(StoreError, match="not pending"):
            self.store.accept(p.pid, who)

    @invariant()
    def store_agrees_with_model(self) -> None:
        for rid in self.rids:
            want = self.model.current[rid]
            cur = self.store.current(rid, FIELD)
            got = None if cur is None else Applied(cur.value["name"], cur.status, cur.origin)
            assert got == want, f"researcher {rid}: store {got}, model {want}"
            pending = {
                (p.id, p.proposed.origin, p.proposed.value["name"])
                for p in self.store.proposals("pending", researcher_id=rid)
            }
            assert pending == {(p.pid, p.origin, p.value) for p in self.model.pending(rid)}

    @invariant()
    def model_values_never_sit_on_protected_history(self) -> None:
        """Every time a current value changed away from verified/accepted, a person's audit row says so."""
        rows = sql_rows(
            self.store,
            "SELECT a.actor, a.action FROM audit_log a JOIN field_values fv ON fv.id = a.before_value_id "
            "WHERE fv.status IN ('verified', 'accepted') AND a.before_value_id IS NOT a.after_value_id",
        )
        assert all(r["actor"].startswith("human:") for r in rows), rows


NeverOverride.TestCase.settings = settings(
    max_examples=2000,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_never_override_state_machine = NeverOverride.TestCase


# ---------------------------------------------------------------------------------------------------- direct tests


@pytest.fixture
def store_with_person():
    store = Store.open(":memory:")
    rid = store.record_import(ParsedListing(format="text", kind="person", name="Ada"), text="Ada", path="a.txt")
    yield store, rid.researcher_id
    store.close()


def test_llm_value_over_verified_becomes_a_proposal(store_with_person):
    store, rid = store_with_person
    verified = store.set_value(rid, FIELD, aff("KAIST"), "ann")
    got = store.submit(
        FieldValue(
            researcher_id=rid,
            field=FIELD,
            value=aff("MIT"),
            status="generated",
            origin="llm:openai/gpt-4o-mini",
            confidence=0.99,
        ),
        auto_apply=True,
    )
    assert got.outcome == "proposed" and got.proposal_id is not None
    cur = store.current(rid, FIELD)
    assert cur.id == verified.value_id and cur.value == {"name": "KAIST"} and cur.status == "verified"
    [p] = store.proposals("pending", researcher_id=rid)
    assert p.proposed.value == {"name": "MIT"} and p.current.id == verified.value_id


def test_rejected_value_is_not_proposed_again_by_the_same_origin(store_with_person):
    store, rid = store_with_person
    store.set_value(rid, FIELD, aff("KAIST"), "ann")
    fv = FieldValue(researcher_id=rid, field=FIELD, value=aff("MIT"), status="proposed", origin="llm:fake/a")
    store.reject(store.submit(fv).proposal_id, "ann")
    assert store.submit(fv).outcome == "skipped_rejected"
    assert store.submit(fv.model_copy(update={"origin": "llm:fake/b"})).outcome == "proposed"


def _verified_row(store: Store, rid: int) -> tuple[int, int]:
    verified = store.set_value(rid, FIELD, aff("KAIST"), "ann").value_id
    llm = store.submit(
        FieldValue(researcher_id=rid, field=FIELD, value=aff("MIT"), status="proposed", origin="llm:fake/a")
    ).value_id
    return verified, llm


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE current_values SET value_id = {llm}",
        "DELETE FROM current_values",
        'UPDATE field_values SET value = \'{{"name": "MIT"}}\' WHERE id = {verified}',
        "UPDATE field_values SET status = 'generated' WHERE id = {llm}",
        "DELETE FROM field_values WHERE id = {llm}",
        "INSERT INTO field_values (researcher_id, field, value, value_hash, status, origin, created_at) "
        "VALUES ({rid}, 'affiliation', '{{\"name\": \"MIT\"}}', 'x', 'verified', 'llm:fake/a', '2024-01-01')",
        "DELETE FROM audit_log",
    ],
)
def test_raw_sql_bypassing_the_store_is_refused(store_with_person, sql):
    store, rid = store_with_person
    verified, llm = _verified_row(store, rid)
    with pytest.raises(sqlite3.DatabaseError, match="never-override|append-only|current value must be"):
        store.db.execute(sql.format(llm=llm, verified=verified, rid=rid))
    cur = store.current(rid, FIELD)
    assert cur.id == verified and cur.value == {"name": "KAIST"}


def test_raw_sql_cannot_move_a_verified_value_to_another_applied_value(store_with_person):
    """Even an applied (imported) row cannot be swapped in under a verified one without a person's audit row."""
    store, rid = store_with_person
    imported = store.submit(
        FieldValue(researcher_id=rid, field=FIELD, value=aff("ETH Zurich"), status="imported", origin="import:arxiv")
    ).value_id
    verified = store.set_value(rid, FIELD, aff("KAIST"), "ann").value_id
    with pytest.raises(sqlite3.IntegrityError, match="never-override"):
        store.db.execute("UPDATE current_values SET value_id = ?", [imported])
    assert store.current(rid, FIELD).id == verified
