"""A bulk build over worker processes (`enrich run --batch --processes N`), with one writer.

SQLite has one writer, and the deterministic steps (conflation, affiliation lines, topics) write as they go. The
workers run every step of a chunk of researchers against a stand-in for the store that predicts each store call's
result and records the calls (agent/batch/predict.py); they hand back, per researcher, the calls, the request
lines (JSON-encoded) and their rows. This process takes the chunks in plan order, replays each researcher's calls
through the real store and checks every result against the prediction (`predict.replay`): what matched stays, a
researcher with a contradicted prediction runs here instead, exactly as in one process. So rows, ids and request
lines come out in the one-process build's order, and this process spends its time on the writes only.
Merge detection (agent.merges), which reads the listings, works and names only (the steps change none of them),
finds its groups in a worker beside the steps; this process proposes them after the steps' writes, as one process
does. The work keys it reads are made in a worker first and written here, between chunks (`Pipeline.next`): only
this process commits during a build, so nothing makes it check predictions again (below).

A researcher's predicted writes are applied without making its reads again (`predict.apply`) when nothing but
this process committed since the worker read and its calls touch only its own rows (`predict.Trust`); otherwise
they are replayed and checked.

A build that stops leaves no request rows (they are written at the end), so the next build asks again.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from enrich.agent.loop import (
    Plan,
    end_pool,
    make_context,
    open_in_worker,
    remember_misses,
    run_researcher,
    spawn_lock,
    spawn_pool,
)
from enrich.agent.steps.base import StepOutcome, count_outcomes
from enrich.store import llm_log, locks, work_keys

from .clients import NewRequest, RecordingClient
from .lines import input_line
from .predict import Predicted, PredictingStore, Unsure

InFlight = dict[tuple[int, str], tuple[str, str]]
AHEAD = 4  # chunks handed to each worker ahead of the writer: work while it writes, bounded memory
# listings whose work keys a worker makes per task and the writer writes in one transaction: more than catch_up's
# chunk (each page of the key index is written fewer times), bounded memory however many were never keyed
KEY_LISTINGS = 16_000


class _PredictingClient(RecordingClient):
    """The worker's recording client. A cached answer writes its call-log row as the step reads it (as online):
    the researcher runs in the writer instead. The cache is read as the store is (`PredictingStore.read_ahead`):
    whether it holds any answer once per chunk (a bulk build's store seldom holds any), each question's only then."""

    def __init__(self, *args: Any, stand_in: PredictingStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stand_in = stand_in
        self.read_ahead()

    def read_ahead(self) -> None:
        online = self.online
        self.cache_held = online.store is not None and online.use_cache and llm_log.cache_held(online.store)

    def from_cache(self, call: Any, response_model: Any, context: Any) -> Any:
        if self.cache_held and llm_log.cache_get(self.online.store, call.cache_key):
            raise self.stand_in.cannot("a cached answer")
        return None


_WORKER: dict[str, Any] = {}  # a worker process's stand-in, recording client, settings, ROR index


def _init(db_path: str, settings: Any, job_id: str, ror_loaded: bool, write_lock: Any) -> None:
    from enrich.agent import ror
    from enrich.agent.llm.instructor_client import InstructorClient

    store, online = open_in_worker(db_path, settings, write_lock)
    assert isinstance(online, InstructorClient)  # bulk mode runs only for OpenAI-compatible backends
    made: list[NewRequest] = []
    stand_in = PredictingStore(store)
    recorder = _PredictingClient(online, made.append, job_id, stand_in=stand_in)
    index = ror.RorIndex.of(store) if ror_loaded else None
    _WORKER.update(stand_in=stand_in, recorder=recorder, made=made, settings=settings, job_id=job_id, index=index)
    _pickle_models_plainly()
    collect_less()


def _pickle_models_plainly() -> None:
    """This worker pickles the package's pydantic models (the predictions are full of them) by `_model_reduce`."""
    from multiprocessing.reduction import ForkingPickler

    from pydantic import BaseModel, RootModel

    todo, seen = [BaseModel], set()
    while todo:
        for cls in todo.pop().__subclasses__():
            if cls not in seen:
                seen.add(cls)
                todo.append(cls)
                if cls.__module__.startswith("enrich.") and not issubclass(cls, RootModel):
                    ForkingPickler.register(cls, _model_reduce)


def _model_reduce(m: Any) -> Any:
    """A pydantic model as `_model` rebuilds it: its class, fields and the set of fields given. Pydantic's own
    way (a state dict read and written by its Python __getstate__ / __setstate__) costs more in both processes."""
    if m.__pydantic_extra__ is not None or m.__pydantic_private__ is not None:
        return m.__reduce_ex__(2)
    return _model, (type(m), m.__dict__, m.__pydantic_fields_set__)


_set = object.__setattr__


def _model(cls: Any, fields: dict[str, Any], fields_set: set[str]) -> Any:
    m = cls.__new__(cls)
    _set(m, "__dict__", fields)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


# The cyclic GC in a bulk job's processes (a build's, a collect's): what lives through the job (modules, plans, the
# ROR index) is frozen out of its passes, and the young generation is collected every GC_THRESHOLD[0] allocations
# instead of 700. The steps and the hand-over (unpickling the predictions) make many short-lived objects and few
# cycles, and the full passes over the long-lived heap were a large part of the writer's CPU (see
# bench/bench_batch.py).
GC_THRESHOLD = (20_000, 20, 20)


def collect_less() -> None:
    """The GC of a worker process, for the rest of its life (see GC_THRESHOLD)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The GC as in a worker while the job runs in this process; as it was afterwards."""
    old = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _run_chunk(plans: list[Plan], in_flight: InFlight) -> list[Predicted]:
    w = _WORKER
    stand_in: PredictingStore = w["stand_in"]
    recorder: _PredictingClient = w["recorder"]
    made: list[NewRequest] = w["made"]
    recorder.in_flight = in_flight
    stand_in.read_ahead([p.researcher_id for p in plans])
    recorder.read_ahead()
    out = []
    for plan in plans:
        rid = plan.researcher_id
        made.clear()
        stand_in.begin()
        recorder.researcher_id, recorder.still_out = rid, 0
        outcomes: list[StepOutcome] = []
        try:
            ctx = make_context(stand_in, recorder, w["settings"], rid, w["job_id"], w["index"])
            outcomes = run_researcher(ctx, plan.steps)
            remember_misses(ctx, plan, outcomes)
        except Exception as exc:  # Unsure, or what would stop a one-process build: the writer meets it there
            stand_in.cannot(f"{type(exc).__name__} in the worker" if not isinstance(exc, Unsure) else str(exc))
        if stand_in.unsure:
            out.append(Predicted(rid, None, stand_in.unsure))
            continue
        counts: dict[str, int] = {}
        count_outcomes(counts, outcomes)
        out.append(
            Predicted(
                rid,
                stand_in.calls,
                lines=[input_line(r.custom_id, r.body).encode() for r in made],  # the writer writes them as they are
                rows=[(r.custom_id, r.researcher_id, r.step, r.first_hash, r.tokens_in) for r in made],
                outcomes=counts,
                still_out=recorder.still_out,
                listings=frozenset(stand_in.listings.get(rid, ())),
            )
        )
    return out


def _new_keys(after: int | None, listings: int) -> work_keys.NewKeys | None:
    """The keys of the next `listings` listings past `after` (None: the store's state); None when none is left."""
    return next(work_keys.new_keys(_WORKER["stand_in"].store, after, listings), None)


def _merge_groups(researcher_ids: list[int]) -> list[Any]:
    from enrich.agent import merges

    return merges.find_groups(_WORKER["stand_in"].store, researcher_ids)


class Pipeline:
    """The chunks of `plans` (each `chunk` researchers) predicted in `workers` processes; `next()` gives the next
    chunk's predictions in plan order (waiting for them), `finish()` waits for merge detection's groups (found in a
    worker; the writer proposes them, after the steps' writes as in one process). Merge detection starts once the
    work keys it needs are written: workers make them, KEY_LISTINGS listings per task, and this process writes each
    task's keys when `next()` finds them made (a commit from a worker's connection would make `Trust` replay every
    chunk handed out so far)."""

    def __init__(
        self,
        store: Any,
        settings: Any,
        job_id: str,
        ror_loaded: bool,
        workers: int,
        in_flight: InFlight,
        plans: list[Plan],
        chunk: int,
    ) -> None:
        self.in_flight = in_flight
        self.chunks = deque(plans[i : i + chunk] for i in range(0, len(plans), chunk))
        # one write lock for this process and the workers: a worker's writes (work keys of listings imported during
        # the build) wait on it and wake when a chunk commits, instead of polling SQLite's busy handler past its timeout
        lock = spawn_lock()
        self.store, self.own_lock = store, locks.of(store.db)
        locks.share(store, lock)
        self.pool = spawn_pool(workers, _init, (store.file_path(), settings, job_id, ror_loaded, lock))
        self.running: deque[Future[list[Predicted]]] = deque()
        self.merge_among: list[int] | None = None  # merge detection's researchers, once started
        self.keying: Future[work_keys.NewKeys | None] | None = None
        self.keyed_upto: int | None = None  # the last listing keyed so far (None: none yet, from the store's state)
        self.merging: Future[list[Any]] | None = None
        self.ahead = AHEAD * workers
        self.handed_out = 0  # chunks given to the workers so far
        self.finished = False

    def start_merges(self, researcher_ids: list[int]) -> None:
        self.merge_among = researcher_ids
        self._merges()

    def _merges(self, *, wait: bool = False) -> None:
        """Writes the work keys a worker made (waits for all of them with `wait`) in this process's transactions,
        asking for the next ones first, and hands merge detection to a worker once every listing is keyed."""
        while self.merge_among is not None and self.merging is None:
            if self.keying is None:
                self.keying = self.pool.submit(_new_keys, self.keyed_upto, KEY_LISTINGS)
            if not wait and not self.keying.done():
                return
            keys, self.keying = self.keying.result(), None
            if keys is None:
                self.merging = self.pool.submit(_merge_groups, self.merge_among)
            else:
                self.keyed_upto = keys.upto
                self.keying = self.pool.submit(_new_keys, keys.upto, KEY_LISTINGS)  # made while these are written
                work_keys.add_keys(self.store, keys)

    def _send(self) -> None:
        while self.chunks and len(self.running) < self.ahead:
            plans = self.chunks.popleft()
            flying = {k: v for p in plans for s in p.steps if (v := self.in_flight.get(k := (p.researcher_id, s)))}
            self.running.append(self.pool.submit(_run_chunk, plans, flying))
            self.handed_out += 1

    def next(self) -> list[Predicted]:
        self._send()
        got = self.running.popleft().result()  # a worker's fatal error stops the build here
        self._merges()
        self._send()
        return got

    def finish(self) -> list[Any]:
        """Waits for merge detection; returns the groups to propose (agent.merges.MergeGroup)."""
        self._merges(wait=True)
        groups = self.merging.result() if self.merging is not None else []
        self.finished = True
        return groups

    def close(self) -> None:
        end_pool(self.pool, at_once=not self.finished)  # stopped early (an error, Ctrl-C): ended at once
        locks.share(self.store, self.own_lock)
