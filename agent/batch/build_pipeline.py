"""A bulk build over several processes (`enrich run --batch --processes N`), without two writers.

SQLite has one writer, and the deterministic steps (conflation, affiliation lines, topics) write as they go: this
process runs them, a chunk of researchers per transaction, as a one-process build does. What writes nothing goes to
N-1 worker processes, which only read the store:
- the steps that only ask the model (`WORKER_STEPS`: the summary, which needs nothing but conflation's verdict), for
  each chunk once it has committed; the worker hands back the request lines (JSON-encoded) and their rows, and this
  process writes the files and the request rows, as before;
- merge detection (agent.merges), which reads the listings, works and names only (the steps change none of them), so
  it runs beside the steps instead of after them.
Worker processes that committed every step write of their own were measured slower than one process (a commit per
write, and each connection's page cache dropped at every commit of another): see README, Bulk mode.

A build that stops leaves no request rows (they are written at the end), so the next build asks again; a worker's
store writes are the rare ones of a cached answer, each in its own short transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from enrich.agent.llm.instructor_client import InstructorClient
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
from enrich.store import locks

from .clients import NewRequest, RecordingClient
from .lines import input_line

WORKER_STEPS = ("summary",)  # ask the model only, and need only the conflation step's verdict
InFlight = dict[tuple[int, str], tuple[str, str]]


def split_steps(steps: list[str]) -> tuple[list[str], list[str]]:
    """(the steps this process runs, the ones left to a worker): from the first worker step on, in plan order."""
    cut = next((i for i, s in enumerate(steps) if s in WORKER_STEPS), len(steps))
    return steps[:cut], steps[cut:]


@dataclass
class Later:
    """A researcher's steps left to a worker: what the steps run here decided that they need."""

    plan: Plan
    steps: list[str]
    conflated: bool
    before: list[StepOutcome]  # the outcomes here (a step whose need raised is skipped, as in run_researcher)


@dataclass
class ChunkBuilt:
    lines: list[str]  # the request lines, JSON-encoded
    rows: list[tuple[str, int, str, str, int]]  # (custom_id, researcher_id, step, first_hash, tokens_in)
    outcomes: dict[str, int]  # step:status -> count
    still_out: int  # questions left to the waiting job that asked them


_WORKER: dict[str, Any] = {}  # a worker process's store, recording client, settings, ROR index


def _init(db_path: str, settings: Any, job_id: str, ror_loaded: bool, write_lock: Any) -> None:
    from enrich.agent import ror

    store, online = open_in_worker(db_path, settings, write_lock)
    made: list[NewRequest] = []
    assert isinstance(online, InstructorClient)  # bulk mode runs only for OpenAI-compatible backends
    recorder = RecordingClient(online, made.append, job_id)
    index = ror.RorIndex.of(store) if ror_loaded else None
    _WORKER.update(store=store, recorder=recorder, made=made, settings=settings, job_id=job_id, index=index)


def _run_chunk(items: list[Later], in_flight: InFlight) -> ChunkBuilt:
    w = _WORKER
    recorder: RecordingClient = w["recorder"]
    made: list[NewRequest] = w["made"]
    made.clear()
    recorder.in_flight, recorder.still_out = in_flight, 0
    counts: dict[str, int] = {}
    for item in items:
        rid = item.plan.researcher_id
        recorder.researcher_id = rid
        ctx = make_context(w["store"], recorder, w["settings"], rid, w["job_id"], w["index"])
        ctx.conflated = item.conflated
        outcomes = run_researcher(ctx, item.steps, before=item.before)
        remember_misses(ctx, item.plan, outcomes)
        count_outcomes(counts, outcomes)
    return ChunkBuilt(
        [input_line(r.custom_id, r.body) for r in made],
        [(r.custom_id, r.researcher_id, r.step, r.first_hash, r.tokens_in) for r in made],
        counts,
        recorder.still_out,
    )


def _merges(job_id: str, researcher_ids: list[int]) -> int:
    from enrich.agent import merges

    return len(merges.propose_merges(_WORKER["store"], researcher_ids, job_id=job_id))


class Pipeline:
    """`send(items)` after each chunk's transaction committed; `take(result)` is called here, in this process, with
    each chunk's lines as they come back; `finish()` waits for the rest and for merge detection."""

    def __init__(
        self,
        store: Any,
        settings: Any,
        job_id: str,
        ror_loaded: bool,
        workers: int,
        in_flight: InFlight,
        take: Callable[[ChunkBuilt], None],
    ) -> None:
        self.workers, self.in_flight, self.take = workers, in_flight, take
        # one write lock for this process and the workers: a worker's rare writes (merge detection's keys and
        # proposals) wait on it and wake when a chunk commits, instead of polling SQLite's busy handler, which a
        # parent committing chunk after chunk could keep out past its timeout
        lock = spawn_lock()
        self.store, self.own_lock = store, locks.of(store.db)
        locks.share(store, lock)
        self.pool = spawn_pool(workers, _init, (store.file_path(), settings, job_id, ror_loaded, lock))
        self.running: set[Future[ChunkBuilt]] = set()
        self.merging: Future[int] | None = None
        self.finished = False

    def start_merges(self, job_id: str, researcher_ids: list[int]) -> None:
        self.merging = self.pool.submit(_merges, job_id, researcher_ids)

    def send(self, items: list[Later]) -> None:
        if not items:
            return
        while len(self.running) >= 32 * self.workers:  # bounded: a backlog of chunks while the workers start up
            self._collect(wait(self.running, return_when=FIRST_COMPLETED).done)
        self._collect({f for f in self.running if f.done()})
        flying = {k: v for it in items for s in it.steps if (v := self.in_flight.get(k := (it.plan.researcher_id, s)))}
        self.running.add(self.pool.submit(_run_chunk, items, flying))

    def _collect(self, done: set[Future[ChunkBuilt]]) -> None:
        for fut in done:
            self.running.discard(fut)
            self.take(fut.result())  # a worker's fatal error stops the build here

    def finish(self) -> int:
        """Waits for every chunk and for merge detection; returns the merge proposals made."""
        self._collect(wait(self.running).done)
        proposals = self.merging.result() if self.merging is not None else 0
        self.finished = True
        return proposals

    def close(self) -> None:
        end_pool(self.pool, at_once=not self.finished)  # stopped early (an error, Ctrl-C): ended at once
        locks.share(self.store, self.own_lock)
