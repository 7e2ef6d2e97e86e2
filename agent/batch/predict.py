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

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json

from enrich.schemas import DerivedFact, FieldValue, Listing, Proposal, Researcher, Work, WriteResult
from enrich.schemas.conflation import ConflationResult
from enrich.schemas.fields import SLOTTED, base_field
from enrich.store import Store, slots, structural
from enrich.store.core import EncodedWrite, Held, WriteDecision

NEW_ID = 9_000_000_000_000_000  # ids of rows not written yet; far above any real rowid, within SQLite's integers
_NEW_ID_TEXT = str(NEW_ID)[:12]  # how one looks in a text (a step's detail quoting a new proposal's id)
_NEW_ID_BYTES = _NEW_ID_TEXT.encode()
_NONE = object()  # nothing read ahead
T = TypeVar("T")


class Unsure(Exception):  # noqa: N818 -- not an error: the researcher runs in the build's process
    """The stand-in cannot predict this call."""


@dataclass
class Call:
    """One store call of a step: the store function's name, its arguments, what it returned to the step."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any
    # a write's decision, for `apply` (no reads made again): submit's EncodedWrite when it writes a row,
    # submit_all's list of them (None where nothing is written), propose_split's new Proposal
    decision: Any = None


@dataclass
class Predicted:
    """One researcher's steps as a worker ran them: the store calls to replay (None: run the steps in the build's
    process instead, and why), and what the steps produced besides."""

    researcher_id: int
    calls: list[Call] | None
    unsure: str = ""
    lines: list[bytes] = field(default_factory=list)  # the request lines, JSON-encoded, in UTF-8
    rows: list[tuple[str, int, str, str, int]] = field(default_factory=list)  # (custom_id, rid, step, hash, tokens)
    outcomes: dict[str, int] = field(default_factory=dict)  # step:status -> count (steps.base.count_outcomes)
    still_out: int = 0
    listings: frozenset[int] = frozenset()  # the researcher's listings, as the worker read them


class PredictingStore:
    """`ctx.store` in a bulk build's worker (see module docstring). `read_ahead` before a chunk of researchers,
    `begin` before each researcher's steps; `calls` / `unsure` after them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ahead: dict[tuple[str, int], Any] = {}
        self.begin()

    def read_ahead(self, researcher_ids: list[int]) -> None:
        """Reads what these researchers' steps read of the committed store, a query per table for all of them
        instead of one per researcher. Each answer is handed out once, as that read would have returned it: a
        step's own writes are never in the committed store (the worker writes nothing), the writer's are other
        researchers' rows (the writer checks the reads of a listing several researchers hold: `Trust`)."""
        s = self.store
        listings = s.listings_by_researcher(researcher_ids)
        held = [x for xs in listings.values() for x in xs]
        listing_ids = sorted({x.id for x in held if x.id is not None})
        works = s.works_by_researcher(researcher_ids, held)
        fields = s.fields_held(researcher_ids)
        conflated = structural.judged_conflated(s, researcher_ids)
        ahead: dict[tuple[str, int], Any] = {
            ("researcher", r.id): r for r in s.researchers_by_id(researcher_ids).values() if r.id is not None
        }
        for rid in researcher_ids:
            ahead["listings", rid] = listings.get(rid, [])
            ahead["works", rid] = works.get(rid, [])
            ahead["fields", rid] = fields.get(rid, {})
            ahead["conflated", rid] = rid in conflated
        for base in SLOTTED:
            for rid, got in slots.held(s, researcher_ids, base).items():
                ahead[f"slots of {base}", rid] = got
        verdicts = structural.verdicts_by_listing(s, listing_ids)
        hints = s.hints_by_listing(listing_ids)
        for lid in listing_ids:
            ahead["verdict", lid] = verdicts.get(lid)
            ahead["hints", lid] = hints.get(lid, [])
        self.ahead = ahead

    def _take(self, what: str, key: int, read: Callable[[], T]) -> T:
        """The answer read ahead of `what` for `key`, once; else (a researcher or listing not read ahead, or asked
        again) `read()` from the store."""
        got = self.ahead.pop((what, key), _NONE)
        return read() if got is _NONE else got

    def begin(self) -> None:
        self.calls: list[Call] = []
        self.unsure = ""
        self.next_id = NEW_ID
        self.held: dict[tuple[int, str], Held] = {}  # fields this researcher's steps wrote
        self.fields: dict[int, dict[str, Held]] = {}  # the fields as committed (Store.fields_held), read once
        self.verdicts: dict[int, ConflationResult] = {}  # conflation verdicts they saved, by listing
        self.added: list[DerivedFact] = []  # facts they derived
        self.listings: dict[int, set[int]] = {}  # the listings a researcher holds, as read
        self.read: set[int] = set()  # the researchers whose rows were read (researchers are never deleted)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _record(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any, decision: Any = None
    ) -> Any:
        self.calls.append(Call(name, args, kwargs, result, decision))
        return result

    def cannot(self, why: str) -> Unsure:
        """Mark this researcher for the build's process (the first reason stays); the exception to raise."""
        self.unsure = self.unsure or why
        return Unsure(why)

    def __getattr__(self, name: str) -> Any:  # a store method the stand-in does not know
        raise self.cannot(f"store.{name}")

    # the researcher's context: what the import wrote, which no step writes -------------------------------

    def get_researcher(self, researcher_id: int) -> Researcher:
        got = self._take("researcher", researcher_id, lambda: self.store.get_researcher(researcher_id))
        self.read.add(researcher_id)
        return got

    def researcher_listings(self, researcher_id: int) -> list[Listing]:
        got = self._take("listings", researcher_id, lambda: self.store.researcher_listings(researcher_id))
        self.listings.setdefault(researcher_id, set()).update(x.id for x in got if x.id is not None)
        return got

    def researcher_works(self, researcher_id: int, listings: Any = ()) -> list[Work]:
        return self._take("works", researcher_id, lambda: self.store.researcher_works(researcher_id, listings))

    def listing_hints(self, listing_id: int) -> list[dict[str, Any]]:
        return self._take("hints", listing_id, lambda: self.store.listing_hints(listing_id))

    # reads -------------------------------------------------------------------------------------------------

    def _committed(self, researcher_id: int) -> dict[str, Held]:
        got = self.fields.get(researcher_id)
        if got is None:
            got = self.fields[researcher_id] = self._take(
                "fields", researcher_id, lambda: self.store.fields_held([researcher_id]).get(researcher_id, {})
            )
        return got

    def _held(self, researcher_id: int, field: str) -> Held:
        """The field as this researcher's steps left it, else as committed."""
        return self.held.get((researcher_id, field)) or self._committed(researcher_id).get(field) or Held(None, [], {})

    def current(self, researcher_id: int, field: str) -> FieldValue | None:
        return self._record("current", (researcher_id, field), {}, self._held(researcher_id, field).current)

    def current_all(self, researcher_id: int, fields: Any = None) -> dict[str, FieldValue]:
        got = {
            h.current.field: h.current
            for h in self._committed(researcher_id).values()
            if h.current is not None and (fields is None or h.current.field in fields)
        }
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

    def _predict(self, fv: FieldValue, auto_apply: bool) -> WriteDecision:
        key = (fv.researcher_id, fv.field)
        try:
            known = fv.researcher_id in self.read
            held = self._held(*key)
            d = self.store.decide_write(fv, auto_apply=auto_apply, held=held, researcher_read=known)
        except Exception as exc:  # e.g. a value the schema refuses: the step sees it raise in the writer
            raise self.cannot(f"submit raised {type(exc).__name__}") from exc
        if d.writes is not None:
            new = {"value_id": self._new_id()}
            if d.writes == "proposal":
                new["proposal_id"] = self._new_id()
            d.result = d.result.model_copy(update=new)
            after = self.held[key] = d.held_after()
            after.rejected = held.rejected  # a write rejects nothing
        return d

    def submit(self, fv: FieldValue, *, auto_apply: bool = False) -> WriteResult:
        d = self._predict(fv, auto_apply)
        return self._record("submit", (fv,), {"auto_apply": auto_apply}, d.result, _writing(d))

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
        got: Any
        if name == "get_conflation":
            listing_id = kwargs.get("listing_id")
            if listing_id in self.verdicts:
                got = self.verdicts[listing_id]
            elif listing_id is not None:
                got = self._take("verdict", listing_id, lambda: fn(self.store, *args, **kwargs))
            else:
                got = fn(self.store, *args, **kwargs)
        elif name == "save_conflation":  # handed over encoded (structural.save_verdict stores it)
            listing_id, rid, result = args
            self.verdicts[listing_id] = result
            return self._record(name, (listing_id, rid, structural.verdict_columns(result)), {}, None)
        elif name == "is_flagged":
            got = self._flagged(*args, **kwargs)
        elif name == "propose_split":
            split = structural.split_to_propose(self.store, *args, **kwargs)
            if isinstance(split, Proposal):
                return self._record(name, args, kwargs, self._new_id(), split)
            got = split
        elif name == "submit_all":
            decided = self._submit_all(*args, **kwargs)
            got = [None if x is None else (x[0], x[1].result) for x in decided]
            return self._record(name, args, kwargs, got, [None if x is None else _writing(x[1]) for x in decided])
        else:
            raise self.cannot(f"store function {name}")
        return self._record(name, args, kwargs, got)

    def _flagged(self, researcher_id: int, researcher: Researcher | None = None) -> bool:
        """`structural.is_flagged`, a listing judged conflated by this researcher's steps included."""
        r = (
            researcher
            if researcher is not None and researcher.id == researcher_id
            else self.store.get_researcher(researcher_id)
        )
        if r.single_person:
            return False
        return self._take(
            "conflated",
            researcher_id,
            lambda: researcher_id in structural.judged_conflated(self.store, [researcher_id]),
        ) or any(v.detected for v in self.verdicts.values())

    def _submit_all(self, values: Any, *, auto_apply: Any = False) -> list[tuple[FieldValue, WriteDecision] | None]:
        if not values:
            return []
        first = values[0][0]
        base = base_field(first.field)
        if any(base_field(f) == base for _, f in self.held):  # `place` reads the slots as committed
            raise self.cannot("a slotted field written twice")
        known = self._take(f"slots of {base}", first.researcher_id, lambda: None)  # None: `place` reads them
        return [
            None if p is None else (p, self._predict(p, ok))
            for p, ok in zip(slots.place(self.store, values, known), slots.per_value(auto_apply, values), strict=True)
        ]


def _writing(d: WriteDecision) -> EncodedWrite | None:
    """The decision to hand to the writer, encoded: only one that writes a row."""
    return d.encoded_write() if d.writes is not None else None


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
    "save_conflation": structural.save_verdict,  # its verdict encoded by the worker (`take_call`)
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
                args, kwargs = _with_real_ids((c.args, c.kwargs), ids)
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


def _with_real_ids(x: Any, ids: dict[int, int]) -> Any:
    """`_real_ids(x, ids)`, walked only when a predicted id may be in `x`, as a number or in a text (one
    serialisation in pydantic's compiled code: most calls' arguments hold none, and walking them costs more)."""
    if not ids:
        return x
    try:
        quotes = _NEW_ID_BYTES in to_json(x, fallback=repr)
    except Exception:  # noqa: BLE001 -- something it cannot serialise: walk it
        quotes = True
    return _real_ids(x, ids) if quotes else x


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


# the writer's trusted side: the predicted writes applied, no read made again ---------------------------------

_READS = frozenset({"current", "current_all", "derived", "get_conflation", "is_flagged"})
_OF_RESEARCHER = frozenset({"current", "current_all", "is_flagged", "propose_split", "record_step_miss"})


class Trust:
    """When the writer may `apply` a worker's predictions instead of `replay`ing them. A worker read the store as
    committed; the writer holds that plus its own writes. Its own writes are other researchers' (the plan holds
    each researcher once), and a researcher's steps read and write only that researcher's rows, and the
    conflation verdicts of its listings. So what a worker read is what the writer would read when (1) nothing but
    the writer committed since the worker read (`Store.data_version`, which changes only on other connections'
    commits: a person's review, an import; a build's work keys are written by the writer), and (2) the
    researcher's calls name no other researcher, and only listings of its own that no other researcher holds
    (`may_apply`).

    For (1), `chunk` is asked inside each chunk's transaction (no other connection commits while the writer holds
    the write lock): a change seen there may have come before any chunk handed out so far was read, so the chunks
    handed out so far are replayed; chunks handed out later were read after it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen = store.data_version()  # before any worker reads
        self.trusted_from = 0
        self._holders()

    def _holders(self) -> None:
        shared = self.store.shared_listings()
        self.shared = {listing for listing, _ in shared}
        self.sharing = {rid for _, rid in shared}

    def chunk(self, index: int, handed_out: int) -> bool:
        """Whether chunk `index` may be applied; `handed_out`: the chunks given to workers so far."""
        now = self.store.data_version()
        if now != self.seen:
            self.seen, self.trusted_from = now, handed_out
            self._holders()  # a person may have split a listing
        return index >= self.trusted_from

    def may_apply(self, p: Predicted) -> bool:
        """Whether every call of the researcher's touches only its own rows and listings."""
        rid = p.researcher_id
        if p.calls is None or rid in self.sharing:
            return False
        for c in p.calls:
            n = c.name
            if n in _OF_RESEARCHER or n == "clear_step_miss":
                who = c.args[0] if c.args else c.kwargs.get("researcher_id")
            elif n == "submit":
                who = c.args[0].researcher_id
            elif n == "submit_all":
                if any(fv.researcher_id != rid for fv, _ in c.args[0]):
                    return False
                continue
            elif n in ("get_conflation", "save_conflation"):  # a listing of its own, which no other one holds
                listing = c.kwargs.get("listing_id") if n == "get_conflation" else c.args[0]
                if listing not in p.listings or listing in self.shared:
                    return False
                continue
            elif n in ("derived", "add_derived"):  # the values of this researcher the steps read or wrote
                continue
            else:
                return False
            if who != rid:
                return False
        return True


def apply(store: Store, run: list[Predicted]) -> str:
    """Make researchers' predicted writes through the real store, researcher after researcher and each in order,
    inside one savepoint, making none of their reads again (`Trust` says when that is exact): a write the store
    decided in the worker is applied as decided (`Store.write_encoded`). Returns "" when done, else why not
    (everything written is rolled back)."""
    try:
        with store.transaction():
            for predicted in run:
                _apply_one(store, predicted)
    except Exception as exc:  # noqa: BLE001 -- the researcher runs in the writer, where it raises as in one process
        return f"applying {type(exc).__name__}"
    return ""


def _apply_one(store: Store, predicted: Predicted) -> None:
    assert predicted.calls is not None
    ids: dict[int, int] = {}  # predicted id -> real id
    for c in predicted.calls:
        n = c.name
        if n in _READS:
            continue
        args, kwargs = _with_real_ids((c.args, c.kwargs), ids)
        if n == "submit":
            if c.decision is not None:  # args[0]: the value with its ids made real
                _apply_write(store, c.decision, args[0], (c.args[0], c.result), ids)
        elif n == "submit_all":
            for d, got in zip(c.decision, c.result, strict=True):
                if d is not None:  # got: (the value as placed, what the store did)
                    placed = _with_real_ids(got[0], ids)
                    _apply_write(store, d, placed, got, ids)
        elif n == "propose_split":
            if c.decision is not None:
                ids[c.result] = store.create_proposal(_real_ids(c.decision, ids) if ids else c.decision)
        elif n == "add_derived":
            ids[c.result] = store.add_derived(*args, **kwargs)
        else:  # save_conflation, record_step_miss, clear_step_miss
            _REPLAY[n](store, *args, **kwargs)


def _apply_write(
    store: Store, w: EncodedWrite, fv: FieldValue, predicted: tuple[FieldValue, WriteResult], ids: dict[int, int]
) -> None:
    """Make the worker's encoded decision `w`; `fv`: its value with real ids, `predicted`: the value as the worker
    had it and the result it predicted. Binds the ids of the rows written."""
    if fv is not predicted[0]:  # a predicted id in the value's columns, made real
        w = w.of_value(fv)
    if ids and (
        (w.cur_id is not None and w.cur_id >= NEW_ID) or any(p >= NEW_ID for p in w.withdraw)
    ):  # this researcher's own rows, written earlier in its steps
        w = dataclasses.replace(w, cur_id=_real_ids(w.cur_id, ids), withdraw=_real_ids(w.withdraw, ids))
    vid, pid = store.write_encoded(w)
    result = predicted[1]
    assert result.value_id is not None  # a row was written
    ids[result.value_id] = vid
    if result.proposal_id is not None and pid is not None:
        ids[result.proposal_id] = pid
