"""The enrichment job: pick researchers with missing or stale fields, plan the steps each needs, run them, and
keep a resumable job row (cursor, counts, tokens, cost) -- after datasette-enrichments' jobs table.

Writes go through the store, which decides value vs proposal. A crash or Ctrl-C leaves the job `interrupted`;
`enrich run --resume JOB` continues from its cursor. Redoing a researcher is harmless: proposals are idempotent and
model answers are cached, so nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from enrich.schemas import Job, utcnow

from .llm.base import Deferred, LLMError, time_budget
from .steps.affiliation import AffiliationStep
from .steps.base import Step, StepContext, StepOutcome, add_counts
from .steps.conflate import ConflationStep
from .steps.summary import SummaryStep
from .steps.topics import TopicsStep

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor  # imported when a pool is made: it loads multiprocessing

# Every step, in the order a researcher's steps run (a step's `needs` come before it).
STEPS: dict[str, Step] = {s.name: s for s in (ConflationStep(), AffiliationStep(), TopicsStep(), SummaryStep())}
# The steps that fill a field of the researcher (they ask the model); the others serve them.
FIELD_STEPS = tuple(name for name, step in STEPS.items() if step.answer is not None)


@dataclass
class RunOptions:
    only: list[str] = field(default_factory=list)
    researcher_ids: list[int] = field(default_factory=list)
    concurrency: int = 1
    processes: int = 1  # researchers in this many worker processes (CPU-bound jobs: more cores)
    budget_usd: float | None = None
    dry_run: bool = False
    refresh: bool = False
    retry_failed: bool = False
    resume: str | None = None


@dataclass
class Plan:
    researcher_id: int
    name: str | None
    steps: list[str]
    reasons: dict[str, str]
    held_back: dict[str, str] = field(default_factory=dict)  # field -> why: it failed before on the same inputs
    missed_before: set[str] = field(default_factory=set)  # planned fields with a recorded miss (cleared by a value)


_R = TypeVar("_R")
_T = TypeVar("_T")


def new_job_id() -> str:
    return "J" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _prompt_ref(step: str) -> str:
    """Each field step has a prompt of the same name."""
    from .prompts import load_prompt

    return load_prompt(step).prompt_ref.ref


@functools.cache
def _question(step: str) -> str:
    """What a remembered miss was asked with: the prompt version and the answer schema (as in the answer cache's
    key), so a new prompt or schema asks again."""
    from enrich.store.llm_log import sha256_json

    answer = STEPS[step].answer
    if answer is None:  # a step that asks no model (conflation): a remembered error is keyed by the step alone
        return step
    return f"{_prompt_ref(step)}+{sha256_json(answer.model_json_schema())[:12]}"


def plan_researcher(
    store: Any, researcher_id: int, *, only: list[str], refresh: bool, origin: str, retry_failed: bool = False
) -> Plan:
    """Which steps a researcher needs (see `plan_from_facts`)."""
    facts = store.planning_facts([researcher_id]).get(researcher_id)
    if facts is None:  # no listing: nothing to enrich from
        return Plan(researcher_id, store.get_researcher(researcher_id).name, [], {})
    return plan_from_facts(researcher_id, facts, only=only, refresh=refresh, origin=origin, retry_failed=retry_failed)


def plan_from_facts(
    researcher_id: int,
    facts: dict[str, Any],
    *,
    only: list[str],
    refresh: bool,
    origin: str,
    retry_failed: bool = False,
) -> Plan:
    """A field is planned when it is empty with nothing pending, or stale (its listing changed; with --refresh
    also an older prompt version or another model) -- unless the step asked the model before on the same listings,
    prompt version and model and got no value (it failed, or the model found none): the answer would be the same.
    `retry_failed` asks again; a held-back failure is counted for the user, a found-none is not.
    `facts`: one entry of Store.planning_facts."""
    latest = facts["listing_ids"]
    wanted = [f for f in FIELD_STEPS if not only or f in only]
    steps, reasons = [], {}
    for f in wanted:
        cur = facts["current"].get(f)
        ref = _prompt_ref(f)
        mine = [p for p in facts["pending"].get(f, []) if p["origin"] == origin]
        if cur is None:
            if (
                mine
                and all(p["listing_id"] in latest for p in mine)
                and (not refresh or all(p["prompt_version"] == ref for p in mine))
            ):
                continue  # already proposed from this listing version: waiting for review
            steps.append(f)
            reasons[f] = "missing"
        elif cur["origin"].startswith(("import:", "human:")):
            if f == "affiliation":  # stated by the page or a person: only normalise (no model call)
                steps.append(f)
                reasons[f] = "normalise"
        elif cur["listing_id"] is not None and cur["listing_id"] not in latest:
            steps.append(f)
            reasons[f] = "stale: listing changed"
        elif refresh and (cur["prompt_version"] != ref or cur["origin"] != origin):
            steps.append(f)
            reasons[f] = "refresh: older prompt or another model"
    held_back: dict[str, str] = {}
    for f in [f for f in steps if reasons[f] != "normalise" and f in facts["missed"]]:
        miss = facts["missed"][f]
        if (
            not retry_failed
            and miss["origin"] == origin
            and miss["asked_with"] == _question(f)
            and miss["listing_ids"] == latest
        ):
            steps.remove(f)
            if miss["status"] == "failed":
                held_back[f] = f"failed in job {miss['job_id']}: {miss['detail'][:160]}"
    needed = {need for s in steps for need in STEPS[s].needs}
    for need in sorted(needed):
        miss = facts["missed"].get(need)
        if miss and miss["status"] == "failed" and not retry_failed and miss["listing_ids"] == latest:
            # a needed step raised on these listings before: the steps that need it wait for --retry-failed
            needed.discard(need)
            for s in [s for s in steps if need in STEPS[s].needs]:
                steps.remove(s)
                held_back[s] = f"{need} failed in job {miss['job_id']}: {miss['detail'][:160]}"
    steps = [s for s in STEPS if s in steps or s in needed]
    return Plan(researcher_id, facts["name"], steps, reasons, held_back, {f for f in steps if f in facts["missed"]})


def make_context(
    store: Any, client: Any, settings: Any, researcher_id: int, job_id: str | None, ror_index: Any
) -> StepContext:
    researcher = store.get_researcher(researcher_id)
    listings = store.researcher_listings(researcher_id)
    return StepContext(
        store=store,
        client=client,
        settings=settings,
        researcher=researcher,
        listings=listings,
        works=store.researcher_works(researcher_id, listings),
        job_id=job_id,
        ror=ror_index,
    )


def record_error(store: Any, exc: BaseException, *, job_id: str | None, researcher_id: int, step: str) -> str:
    """Record an exception of one researcher's step in the job errors table; returns the outcome's detail."""
    from .job_errors import describe

    err = describe(exc, job_id=job_id or "", researcher_id=researcher_id, step=step)
    if job_id is not None:
        store.record_job_error(err)
    return f"{err.error_type}: {err.message}"[:300] + (f" (at {err.location})" if err.location else "")


def run_researcher(ctx: StepContext, steps: list[str], before: list[StepOutcome] | None = None) -> list[StepOutcome]:
    """The step boundary: the one place a step runs for a researcher. A step that raises is that researcher's
    problem: a model failure is `failed`, any other exception is recorded in the job errors table as `error`; the
    steps that need it are skipped, the others and the next researchers go on. Only what concerns every researcher
    (job_errors.is_fatal: no key, no server, no model, no database) stops the job. `before`: the outcomes of this
    researcher's earlier steps, run elsewhere (a bulk build's worker runs the last ones)."""
    from .job_errors import is_fatal

    outcomes: list[StepOutcome] = []
    for name in steps:
        broken = [o.step for o in (*(before or ()), *outcomes) if o.step in STEPS[name].needs and o.status == "error"]
        if broken:  # e.g. without the conflation check the listing may mix people: no single affiliation
            outcomes.append(StepOutcome(name, "skipped", detail=f"{broken[0]} raised an error"))
            continue
        try:
            with time_budget(getattr(ctx.settings, "step_budget", None)):
                outcomes.append(STEPS[name].run(ctx))
        except Deferred as d:  # bulk mode: the question went into a batch file; collected later
            outcomes.append(StepOutcome(name, "queued", detail=d.detail))
        except Exception as exc:
            if is_fatal(exc):
                raise  # every other researcher would fail too: the job stops, resumable
            if isinstance(exc, (LLMError, ValidationError)):  # the model's answers never passed the checks
                calls = len(exc.call_ids) if isinstance(exc, LLMError) else 0  # failed attempts were calls too
                outcomes.append(StepOutcome(name, "failed", detail=str(exc)[:300], calls=calls))
            else:
                detail = record_error(ctx.store, exc, job_id=ctx.job_id, researcher_id=ctx.researcher_id, step=name)
                outcomes.append(StepOutcome(name, "error", detail=detail))
    return outcomes


def remember_misses(ctx: StepContext, plan: Plan, outcomes: list[StepOutcome]) -> None:
    """A field step that asked the model and got no value is recorded with its inputs, so an unchanged re-run does
    not ask again (a step that made no model call is cheap to run again, and may depend on the ROR index). A step
    that missed before and now did not forgets it."""
    for o in outcomes:
        if o.step not in STEPS or o.status == "queued":  # queued: a batch answer decides later
            continue
        asked = o.calls > 0 or o.cached
        if o.status in ("failed", "error") or (o.status == "none" and asked and o.step in FIELD_STEPS):
            # an error is remembered as a failure (any step's): an unchanged re-run does not run into it again
            ctx.store.record_step_miss(
                plan.researcher_id,
                o.step,
                status="none" if o.status == "none" else "failed",
                origin=ctx.client.origin,
                asked_with=_question(o.step),
                listing_ids={lst.id for lst in ctx.listings},
                detail=(f"error: {o.detail}" if o.status == "error" else o.detail) or o.status,
                job_id=ctx.job_id,
            )
        elif o.step in plan.missed_before and o.status != "skipped":
            ctx.store.clear_step_miss(plan.researcher_id, o.step)


@dataclass(frozen=True)
class JobSetup:
    """What enriching one researcher of a job needs besides a store and a client (a worker process gets a copy)."""

    job_id: str
    only: list[str]
    refresh: bool
    retry_failed: bool
    ror_loaded: bool


def enrich_one(
    store: Any, client: Any, settings: Any, setup: JobSetup, rid: int, plan: Plan | None
) -> tuple[Plan, list[StepOutcome]]:
    """Plan (unless `plan` is given: the one made when the job was created), run and remember one researcher's
    steps. A failure to read the researcher is recorded and returned as an outcome; only a fatal error raises."""
    from . import ror
    from .job_errors import is_fatal

    try:
        plan = plan or plan_researcher(
            store, rid, only=setup.only, refresh=setup.refresh, origin=client.origin, retry_failed=setup.retry_failed
        )
        ctx = make_context(
            store, client, settings, rid, setup.job_id, ror.RorIndex.of(store) if setup.ror_loaded else None
        )
    except Exception as exc:  # reading this researcher failed: recorded, the job goes on
        if is_fatal(exc):
            raise
        detail = record_error(store, exc, job_id=setup.job_id, researcher_id=rid, step="prepare")
        return Plan(rid, None, [], {}), [StepOutcome("prepare", "error", detail=detail)]
    outcomes = run_researcher(ctx, plan.steps)
    try:
        remember_misses(ctx, plan, outcomes)
    except Exception as exc:
        if is_fatal(exc):
            raise
        detail = record_error(store, exc, job_id=setup.job_id, researcher_id=rid, step="remember")
        outcomes.append(StepOutcome("remember", "error", detail=detail))
    return plan, outcomes


def estimate(store: Any, plans: list[Plan], client: Any) -> dict[str, Any]:
    """--dry-run: calls, tokens and cost without calling the model."""
    from .llm.pricing import cost_usd

    plans = [p for p in plans if p.steps]
    calls = tin = tout = 0
    for p in plans:
        works = store.researcher_works(p.researcher_id)
        for s in p.steps:
            call = None if p.reasons.get(s) == "normalise" else STEPS[s].estimate(works)
            if call is not None:
                calls += 1
                tin += call.tokens_in
                tout += call.tokens_out
    return {
        "researchers": len(plans),
        "calls": calls,
        "tokens_in": tin,
        "tokens_out": tout,
        "cost_usd": round(cost_usd(client.backend, client.model, tin, tout), 6),
        "note": "upper bound: cached answers and deterministic affiliations make no call",
    }


def run_in_workers(
    work: Callable[[int], _R], items: Iterable[int], workers: int, keep_going: Callable[[], bool]
) -> Iterator[_R]:
    """`work(item)` for each item, each result as soon as it is ready; no new item starts once `keep_going()` is
    false (those already started finish and are returned). One worker runs on the calling thread (the store's
    connection belongs to it, and Ctrl-C stops it at once); more run in a thread pool with at most `workers`
    items started and not yet returned."""
    if workers <= 1:
        for item in items:
            if not keep_going():
                return
            yield work(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from as_ready(lambda item: pool.submit(work, item), items, workers, keep_going)


def as_ready(
    submit: Callable[[_T], Future[_R]], items: Iterable[_T], ahead: int, keep_going: Callable[[], bool]
) -> Iterator[_R]:
    """`submit(item)` for each item while `keep_going()`, with at most `ahead` submitted and not yet returned; each
    result as soon as it is ready (a pool's threads or processes run them)."""
    queue = iter(items)
    running: set[Future[_R]] = set()
    while True:
        while len(running) < ahead and keep_going() and (item := next(queue, None)) is not None:
            running.add(submit(item))
        if not running:
            return
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()


def spawn_lock() -> Any:
    """A lock the worker processes of `spawn_pool` can share (e.g. as their store's write lock: store/locks.py)."""
    import multiprocessing

    return multiprocessing.get_context("spawn").RLock()


def spawn_pool(processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> ProcessPoolExecutor:
    """Worker processes started fresh (spawn: nothing of this process's open database is inherited)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def end_pool(pool: ProcessPoolExecutor, *, at_once: bool) -> None:
    """Shut a worker pool down. `at_once` (the work stopped early: Ctrl-C, a fatal error): its workers are ended
    first; what one was doing is not committed and is redone by the next run, which is harmless."""
    if at_once:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def open_in_worker(db_path: str, settings: Any, write_lock: Any = None) -> tuple[Any, Any]:
    """A worker process's own store connection and model client. Ctrl-C is left to the parent, which ends the
    workers; `write_lock` (from `spawn_lock`) is shared with the other processes of the job."""
    import signal

    from enrich.store import Store, locks

    from .llm import make_client

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = Store.open(db_path, migrate=False)
    if write_lock is not None:
        locks.share(store, write_lock)
    return store, make_client(settings, store=store)


_WORKER: dict[str, Any] = {}  # a worker process's store, client, settings and job setup


def _worker_init(db_path: str, settings: Any, setup: JobSetup) -> None:
    store, client = open_in_worker(db_path, settings)
    _WORKER.update(store=store, client=client, settings=settings, setup=setup)


def _worker_run(index: int, rid: int, plan: Plan | None) -> tuple[int, Plan, list[StepOutcome]]:
    w = _WORKER
    plan, outcomes = enrich_one(w["store"], w["client"], w["settings"], w["setup"], rid, plan)
    for o in outcomes:  # the values are in the store; the job counts and prints the rest (sending them back costs)
        o.value, o.extra = None, {}
    return index, plan, outcomes


def run_in_processes(
    items: Iterable[tuple[int, int, Plan | None]],
    processes: int,
    keep_going: Callable[[], bool],
    init_args: tuple[str, Any, JobSetup],
) -> Iterator[tuple[int, Plan, list[StepOutcome]]]:
    """Each (index, researcher id, plan) enriched in one of `processes` worker processes, each with its own store
    connection and client (the steps are Python: threads share one core), each result as soon as it is ready; at
    most two items per process are handed out ahead. Workers start fresh (spawn: nothing of this process's open
    database is inherited). When the job stops early (Ctrl-C, a fatal error) the workers are ended at once: a
    researcher cut short is redone on resume, which is harmless."""
    pool = spawn_pool(processes, _worker_init, init_args)
    finished = False
    try:
        yield from as_ready(lambda item: pool.submit(_worker_run, *item), items, 2 * processes, keep_going)
        finished = True
    finally:
        end_pool(pool, at_once=not finished)


class JobRunner:
    """Runs one job. `on_progress(done, total, plan, outcomes)` lets the CLI draw a progress bar."""

    def __init__(
        self,
        store: Any,
        client: Any,
        settings: Any,
        *,
        thread_store: Any = None,
        on_progress: Callable[..., None] | None = None,
        on_note: Callable[[str], None] | None = None,
    ):
        self.store, self.client, self.settings = store, client, settings
        self.thread_store = thread_store or store
        self.on_progress = on_progress or (lambda *a, **k: None)
        self.on_note = on_note or (lambda msg: None)

    def plans(self, opts: RunOptions) -> list[Plan]:
        facts = self.store.planning_facts(opts.researcher_ids or None)
        ids = opts.researcher_ids or sorted(facts)
        plans = [
            plan_from_facts(
                i,
                facts[i],
                only=opts.only,
                refresh=opts.refresh,
                origin=self.client.origin,
                retry_failed=opts.retry_failed,
            )
            for i in ids
            if i in facts
        ]
        return [p for p in plans if p.steps or p.held_back]

    def start(self, opts: RunOptions) -> Job:
        if opts.resume:
            job = self.store.get_job(opts.resume)
            if job.state == "done":
                return job
            opts = RunOptions(**{**job.params, "resume": job.id})
            job = self.store.claim_job(job.id)  # refused while another live process runs it
            planned: dict[int, Plan] = {}
        else:
            everyone = self.plans(opts)
            plans = [p for p in everyone if p.steps]
            counts = {"researchers": len(plans)}
            held = sum(len(p.held_back) for p in everyone)
            if held:
                counts["not_retried"] = held
            job = Job(
                id=new_job_id(),
                params={k: v for k, v in opts.__dict__.items() if k != "resume"},
                todo=[p.researcher_id for p in plans],
                counts=counts,
            )
            self.store.create_job(job)  # this process holds the job until it stops
            planned = {p.researcher_id: p for p in plans}
        try:
            return self._run(self.store.get_job(job.id), opts, planned)
        finally:
            self.store.release_job(job.id)

    def _run(self, job: Job, opts: RunOptions, planned: dict[int, Plan]) -> Job:
        """`planned`: the plans made when the job was created (a resumed job plans each researcher again, since
        the store may have changed since)."""
        from . import ror

        # decided once per job: asking the store whether an index is loaded counts the index's tables
        ror_loaded = ror.index_status(self.store) is not None
        if not ror_loaded and (not opts.only or "affiliation" in opts.only):
            self.on_note(ror.NO_INDEX_MESSAGE)
        counts = dict(job.counts)
        tokens_in, tokens_out, cost = job.tokens_in, job.tokens_out, job.cost_usd
        todo, cursor = job.todo, job.cursor
        total = len(todo)
        done_flags = [i < cursor for i in range(total)]
        workers = max(1, min(opts.concurrency, getattr(self.client, "max_concurrency", 1)))

        setup = JobSetup(job.id, list(opts.only), opts.refresh, opts.retry_failed, ror_loaded)

        def work(index: int) -> tuple[int, Plan, list[StepOutcome]]:
            rid = todo[index]
            plan, outcomes = enrich_one(
                self.thread_store, self.client, self.settings, setup, rid, planned.pop(rid, None)
            )
            return index, plan, outcomes

        def account(plan: Plan, outcomes: list[StepOutcome]) -> None:
            nonlocal tokens_in, tokens_out, cost
            for o in outcomes:
                add_counts(counts, {f"{o.step}:{o.status}": 1, "calls": o.calls, "cached": int(o.cached)})
                tokens_in += o.tokens_in
                tokens_out += o.tokens_out
                cost += o.cost_usd

        last_save = [0.0]

        def save(state: str = "running", error: str | None = None) -> None:
            # progress is written at most once a second while running (a crash redoes at most that much, which is
            # harmless: proposals are idempotent and answers cached), and always when the job stops
            nonlocal cursor
            while cursor < total and done_flags[cursor]:
                cursor += 1
            now = time.monotonic()
            if state == "running" and now - last_save[0] < 1.0:
                return
            last_save[0] = now
            self.store.update_job(
                job.id,
                cursor=cursor,
                counts=counts,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=round(cost, 6),
                state=state,
                error=error,
                finished_at=utcnow() if state != "running" else None,
            )

        def within_budget() -> bool:
            return opts.budget_usd is None or cost < opts.budget_usd

        t0 = time.monotonic()
        try:
            processes = self._processes(opts)
            if processes > 1:
                results = run_in_processes(
                    ((i, todo[i], planned.pop(todo[i], None)) for i in range(cursor, total)),
                    processes,
                    within_budget,
                    (self.store.file_path(), self.settings, setup),
                )
            else:
                results = run_in_workers(work, range(cursor, total), workers, within_budget)
            for i, plan, outcomes in results:
                account(plan, outcomes)
                done_flags[i] = True
                save()
                self.on_progress(sum(done_flags), total, plan, outcomes)
            if not all(done_flags):  # run_in_workers stopped starting researchers
                save("interrupted", f"budget of ${opts.budget_usd} reached")
                return self.store.get_job(job.id)
            self.propose_merges(job.id, todo)
        except KeyboardInterrupt:
            save("interrupted", "interrupted by the user")
            raise
        except LLMError as exc:
            save("interrupted", str(exc)[:500])
            raise
        except Exception as exc:
            save("failed", f"{type(exc).__name__}: {exc}"[:500])
            raise
        counts["seconds"] = int(time.monotonic() - t0)
        save("done")
        return self.store.get_job(job.id)

    def _processes(self, opts: RunOptions) -> int:
        """Worker processes for this job: more than one only when asked, for a database file, and a client that
        answers several researchers at once (not the embedded model: one server, one request at a time)."""
        if opts.processes <= 1 or getattr(self.client, "max_concurrency", 1) <= 1:
            return 1
        return opts.processes if self.store.file_path() else 1

    def propose_merges(self, job_id: str, researcher_ids: list[int]) -> None:
        """Listings sharing works may be one person: ONE `merge` proposal per group (never an automatic merge),
        for the groups that involve this job's researchers (agent.merges: blocking on work keys, near-linear)."""
        from . import merges

        merges.propose_merges(self.store, researcher_ids, job_id=job_id)
