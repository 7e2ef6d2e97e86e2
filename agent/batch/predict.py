"""A bulk build's steps run in worker processes, their store writes are made by the build's one process.

A worker runs every step of its researchers against a `PredictingStore`: a stand-in for the store that writes
nothing, predicts what each store call returns with the store's own code (`Store.decide_write`,
`slots.place`, `structural.split_to_propose`: the write policy stays in store/) and records the call with that
result. The build's process then `replay`s a researcher's calls in plan order through the real store, inside a
savepoint, and compares each real result with the one the step saw. The steps are deterministic given what they
read, so when every call returned in the writer what it returned in the worker, the writer's store holds exactly
what running the steps there would have written. On the first difference the savepoint is rolled back and the
researcher's steps run in the build's process, as in a one-process build: a contradicted prediction costs time,
never a different result.

What a worker cannot know it predicts, and the replay checks:
- reads of the committed store (another researcher's writes earlier in the plan may not be committed yet: reads are
  made again in the writer and compared);
- reads of what this researcher's earlier steps wrote (a field written, a conflation verdict saved, a ROR id
  derived): answered from those writes;
- the ids of new rows: numbers from NEW_ID up, bound to the real ids as the writer makes the rows, and translated
  in the later calls that pass them back (a text that quotes one cannot be translated: the researcher runs in the
  writer).
A store call the stand-in does not know, a cached answer (the client writes its call-log row), or a step that
raised makes the researcher run in the writer at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from enrich.schemas import DerivedFact, FieldValue, Proposal, Researcher, WriteResult
from enrich.schemas.conflation import ConflationResult
from enrich.schemas.fields import base_field
from enrich.store import Store, slots, structural
from enrich.store.core import Held

NEW_ID = 9_000_000_000_000_000  # ids of rows not written yet; far above any real rowid, within SQLite's integers
_NEW_ID_TEXT = str(NEW_ID)[:12]  # how one looks in a text (a step's detail quoting a new proposal's id)
_NEW_ID_BYTES = _NEW_ID_TEXT.encode()


class Unsure(Exception):  # noqa: N818 -- not an error: the researcher runs in the build's process
    """The stand-in cannot predict this call."""


@dataclass
class Call:
    """One store call of a step: the store function's name, its arguments, what it returned to the step."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any


@dataclass
class Predicted:
    """One researcher's steps as a worker ran them: the store calls to replay (None: run the steps in the build's
    process instead, and why), and what the steps produced besides."""

    researcher_id: int
    calls: list[Call] | None
    unsure: str = ""
    lines: list[str] = field(default_factory=list)  # the request lines, JSON-encoded
    rows: list[tuple[str, int, str, str, int]] = field(default_factory=list)  # (custom_id, rid, step, hash, tokens)
    outcomes: dict[str, int] = field(default_factory=dict)  # step:status -> count (steps.base.count_outcomes)
    still_out: int = 0


class PredictingStore:
    """`ctx.store` in a bulk build's worker (see module docstring). `begin` before each researcher's steps;
    `calls` / `unsure` after them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.begin()

    def begin(self) -> None:
        self.calls: list[Call] = []
        self.unsure = ""
        self.next_id = NEW_ID
        self.held: dict[tuple[int, str], Held] = {}  # fields this researcher's steps wrote
        self.verdicts: dict[int, ConflationResult] = {}  # conflation verdicts they saved, by listing
        self.added: list[DerivedFact] = []  # facts they derived

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> Any:
        self.calls.append(Call(name, args, kwargs, result))
        return result

    def cannot(self, why: str) -> Unsure:
        """Mark this researcher for the build's process (the first reason stays); the exception to raise."""
        self.unsure = self.unsure or why
        return Unsure(why)

    def __getattr__(self, name: str) -> Any:  # a store method the stand-in does not know
        raise self.cannot(f"store.{name}")

    # the researcher's context: what the import wrote, which no step writes -------------------------------

    def get_researcher(self, researcher_id: int) -> Researcher:
        return self.store.get_researcher(researcher_id)

    def researcher_listings(self, researcher_id: int) -> Any:
        return self.store.researcher_listings(researcher_id)

    def researcher_works(self, researcher_id: int) -> Any:
        return self.store.researcher_works(researcher_id)

    def listing_hints(self, listing_id: int) -> Any:
        return self.store.listing_hints(listing_id)

    # reads -------------------------------------------------------------------------------------------------

    def current(self, researcher_id: int, field: str) -> FieldValue | None:
        held = self.held.get((researcher_id, field))
        got = held.current if held is not None else self.store.current(researcher_id, field)
        return self._record("current", (researcher_id, field), {}, got)

    def current_all(self, researcher_id: int, fields: Any = None) -> dict[str, FieldValue]:
        got = self.store.current_all(researcher_id, fields)
        for (rid, f), held in self.held.items():
            if rid == researcher_id and (fields is None or f in fields):
                if held.current is None:
                    got.pop(f, None)
                else:
                    got[f] = held.current
        return self._record("current_all", (researcher_id, fields), {}, got)

    def derived(self, value_id: int, kind: str | None = None) -> list[DerivedFact]:
        mine = [f for f in reversed(self.added) if f.value_id == value_id and (kind is None or f.kind == kind)]
        stored = self.store.derived(value_id, kind) if value_id < NEW_ID else []
        return self._record("derived", (value_id, kind), {}, mine + stored)

    # writes ------------------------------------------------------------------------------------------------

    def _predict(self, fv: FieldValue, auto_apply: bool) -> WriteResult:
        key = (fv.researcher_id, fv.field)
        try:
            d = self.store.decide_write(fv, auto_apply=auto_apply, held=self.held.get(key))
        except Exception as exc:  # e.g. a value the schema refuses: the step sees it raise in the writer
            raise self.cannot(f"submit raised {type(exc).__name__}") from exc
        if d.writes is not None:
            new = {"value_id": self._new_id()}
            if d.writes == "proposal":
                new["proposal_id"] = self._new_id()
            d.result = d.result.model_copy(update=new)
            self.held[key] = d.held_after()
        return d.result

    def submit(self, fv: FieldValue, *, auto_apply: bool = False) -> WriteResult:
        return self._record("submit", (fv,), {"auto_apply": auto_apply}, self._predict(fv, auto_apply))

    def add_derived(self, fact: DerivedFact) -> int:
        new = self._new_id()
        self.added.append(fact.model_copy(update={"id": new}))
        return self._record("add_derived", (fact,), {}, new)

    def record_step_miss(self, *args: Any, **kwargs: Any) -> None:
        self._record("record_step_miss", args, kwargs, None)

    def clear_step_miss(self, *args: Any, **kwargs: Any) -> None:
        self._record("clear_step_miss", args, kwargs, None)

    def record_job_error(self, err: Any) -> int:
        # the exception may be the stand-in's own (a call it could not predict): the writer runs the steps again
        raise self.cannot(f"a step raised ({err.error_type})")

    # the module-level store functions the steps call (store.stand_in.hands_over) ---------------------------

    def take_call(self, name: str, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name == "get_conflation":
            listing_id = kwargs.get("listing_id")
            got = self.verdicts[listing_id] if listing_id in self.verdicts else fn(self.store, *args, **kwargs)
        elif name == "save_conflation":
            listing_id, _rid, result = args
            self.verdicts[listing_id] = result
            got = None
        elif name == "is_flagged":
            got = fn(self.store, *args, **kwargs)
            if not got and any(v.detected for v in self.verdicts.values()):
                r = kwargs.get("researcher", args[1] if len(args) > 1 else None)
                got = not (r or self.store.get_researcher(args[0])).single_person
        elif name == "propose_split":
            split = structural.split_to_propose(self.store, *args, **kwargs)
            got = self._new_id() if isinstance(split, Proposal) else split
        elif name == "submit_all":
            got = self._submit_all(*args, **kwargs)
        else:
            raise self.cannot(f"store function {name}")
        return self._record(name, args, kwargs, got)

    def _submit_all(self, values: Any, *, auto_apply: Any = False) -> list[tuple[FieldValue, WriteResult] | None]:
        base = base_field(values[0][0].field) if values else None
        if any(base_field(f) == base for _, f in self.held):  # `place` reads the slots as committed
            raise self.cannot("a slotted field written twice")
        return [
            None if p is None else (p, self._predict(p, ok))
            for p, ok in zip(slots.place(self.store, values), slots.per_value(auto_apply, values), strict=True)
        ]


# the writer's side -----------------------------------------------------------------------------------------

_REPLAY: dict[str, Any] = {
    "current": Store.current,
    "current_all": Store.current_all,
    "derived": Store.derived,
    "submit": Store.submit,
    "add_derived": Store.add_derived,
    "record_step_miss": Store.record_step_miss,
    "clear_step_miss": Store.clear_step_miss,
    "get_conflation": structural.get_conflation,
    "save_conflation": structural.save_conflation,
    "is_flagged": structural.is_flagged,
    "propose_split": structural.propose_split,
    "submit_all": slots.submit_all,
}


class Contradicted(Exception):  # noqa: N818 -- not an error: the researcher's steps run in the build's process
    """The real store answered a call otherwise than predicted."""


def replay(store: Store, predicted: Predicted) -> str:
    """Make a researcher's recorded calls through the real store, in order, inside a savepoint (the caller's
    transaction is open), comparing each result with the predicted one. Returns "" when every one matched (the
    writes stay), else what differed (everything this researcher's calls wrote is rolled back)."""
    if predicted.calls is None:
        return predicted.unsure
    ids: dict[int, int] = {}  # predicted id -> real id
    try:
        with store.transaction():
            for c in predicted.calls:
                args, kwargs = (
                    (c.args, c.kwargs) if not ids or not _quotes_new_id(c) else _real_ids((c.args, c.kwargs), ids)
                )
                got = _REPLAY[c.name](store, *args, **kwargs)
                if not _same(c.result, got, ids):
                    raise Contradicted(c.name)
    except Contradicted as why:
        return f"{why} returned otherwise than predicted"
    return ""


def _same(predicted: Any, real: Any, ids: dict[int, int]) -> bool:
    """`predicted == real`, where a predicted new row's id matches the real id it was first seen with."""
    if predicted == real and type(predicted) is type(real):
        return True
    if type(predicted) is int and predicted >= NEW_ID:
        if predicted in ids:
            return ids[predicted] == real
        if type(real) is int:
            ids[predicted] = real
            return True
        return False
    if isinstance(predicted, BaseModel):
        return type(predicted) is type(real) and _same(predicted.__dict__, real.__dict__, ids)
    if isinstance(predicted, dict):
        return (
            isinstance(real, dict)
            and predicted.keys() == real.keys()
            and all(_same(v, real[k], ids) for k, v in predicted.items())
        )
    if isinstance(predicted, (list, tuple)):
        return (
            type(predicted) is type(real)
            and len(predicted) == len(real)
            and all(_same(a, b, ids) for a, b in zip(predicted, real, strict=True))
        )
    return False


def _quotes_new_id(c: Call) -> bool:
    """Whether a predicted id may be among the call's arguments, as a number or in a text (one serialisation in
    pydantic's compiled code: most calls hold none, and walking their values costs more)."""
    try:
        return _NEW_ID_BYTES in to_json((c.args, c.kwargs), fallback=repr)
    except Exception:  # noqa: BLE001 -- something it cannot serialise: walk it
        return True


def _real_ids(x: Any, ids: dict[int, int]) -> Any:
    """`x` with every predicted id replaced by the real one."""
    if type(x) is int:
        if x < NEW_ID:
            return x
        if x not in ids:
            raise Contradicted("an id not written yet")
        return ids[x]
    if isinstance(x, str):
        if _NEW_ID_TEXT in x:
            raise Contradicted("a text quoting an id not written yet")
        return x
    if isinstance(x, BaseModel):
        changed = {k: v2 for k, v in x.__dict__.items() if (v2 := _real_ids(v, ids)) is not v}
        return x.model_copy(update=changed) if changed else x
    if isinstance(x, dict):
        out = {k: _real_ids(v, ids) for k, v in x.items()}
        return out if any(out[k] is not x[k] for k in x) else x
    if isinstance(x, (list, tuple, set, frozenset)):
        items = [_real_ids(v, ids) for v in x]
        return type(x)(items) if any(a is not b for a, b in zip(items, x, strict=True)) else x
    return x
