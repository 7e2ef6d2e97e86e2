"""Bulk mode's job: build the request files (`enrich run --batch`), submit them, and collect the answers
(`enrich batch collect`). See README "Bulk mode".

Build runs the online loop's own pieces (planning, contexts, the step boundary `run_researcher`) with a
RecordingClient: deterministic steps and cached answers finish at once, exactly as online; every other question
becomes one request line. Collect runs each answered step again through the same step boundary with a
ReplayClient, which hands the batch's answer to the step's own checks.

Collecting is idempotent and resumable: the answers of a window of the output (COLLECT_CHUNK lines) are applied in
one store transaction together with their call-log rows and their request states, so a crash loses at most the
window being applied (it is applied again by the next collect) and an answer already applied, or a line repeated
in the output, is skipped.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enrich.agent.llm.base import LLMError
from enrich.agent.loop import (
    STEPS,
    JobRunner,
    Plan,
    RunOptions,
    as_ready,
    end_pool,
    make_context,
    new_job_id,
    open_in_worker,
    remember_misses,
    run_researcher,
    spawn_lock,
    spawn_pool,
)
from enrich.agent.steps.base import StepOutcome, add_counts, count_outcomes
from enrich.schemas import Job, utcnow
from enrich.store import batches as bstore

from .build_pipeline import Pipeline, collect_less, fewer_collections
from .clients import BatchAnswer, NewRequest, Reasked, RecordingClient, ReplayClient, Stale
from .files import SplitWriter
from .lines import ACTIVE_STATES, MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, Answer, Failure, Malformed, input_line
from .lines import parse_output_line as parse_line
from .predict import Predicted, Trust, apply, replay

COLLECT_CHUNK = int(os.environ.get("ENRICH_BATCH_CHUNK", "500"))  # output lines applied per transaction
BUILD_CHUNK = 200  # researchers whose deterministic steps commit together in a build
STALL_AFTER = int(os.environ.get("ENRICH_TEST_COLLECT_STALL_AFTER", "0"))  # crash tests only
STEP_ORDER = {s: i for i, s in enumerate(STEPS)}


class _DryRun(Exception):  # noqa: N818 -- rolls the dry run's transaction back
    pass


@dataclass
class BuildReport:
    job_id: str
    researchers: int = 0
    requests: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    still_out: int = 0  # questions not asked again: a waiting bulk job has them out already
    processes: int = 1  # worker processes the steps ran in (1: all in this process)
    # researchers a worker's prediction left to this process, by why
    ran_here: dict[str, int] = field(default_factory=dict)
    # researchers whose predicted writes were applied as decided (predict.apply), and replayed and checked
    applied: int = 0
    replayed: int = 0
    dry_run: bool = False
    seconds: float = 0.0


def _answer_tokens(step: str) -> int:
    """The step's own estimate of its answer's length (for --dry-run)."""
    est = STEPS[step].estimate([])
    return est.tokens_out if est else 0


def _folder(settings: Any, job_id: str, folder: str | Path | None) -> Path:
    if folder:
        return Path(folder)
    db = str(getattr(settings, "db", "enrich.db"))
    base = Path(db).parent if db != ":memory:" else Path(".")
    return base / "batches" / job_id


def build(
    store: Any,
    settings: Any,
    online: Any,
    opts: RunOptions,
    *,
    folder: str | Path | None = None,
    submit: bool = True,
    dry_run: bool = False,
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_BYTES_PER_FILE,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """`enrich run --batch`. With `submit`, upload + create each file's batch; otherwise only write the files.
    `dry_run`: everything runs (so the counts are the real ones) inside a transaction that is rolled back, and no
    file is written.

    `opts.processes` > 1: the steps and merge detection run in that many worker processes, their store writes
    are made (and checked) here (agent/batch/build_pipeline.py)."""
    from enrich.agent import merges, ror
    from enrich.agent.llm.pricing import batch_cost_usd

    t0 = time.perf_counter()
    job_id = new_job_id()
    report = BuildReport(job_id, dry_run=dry_run)
    out = _folder(settings, job_id, folder)
    writer = SplitWriter(out, job_id, max_requests=max_requests, max_bytes=max_bytes, dry_run=dry_run)
    rows: list[tuple] = []  # (custom_id, researcher_id, step, first_hash, tokens_in, file number)
    out_tokens: dict[str, int] = {}

    def _record(line: str | bytes, cid: str, rid: int, step: str, first: str, tokens: int) -> None:
        writer.add(cid, line)
        rows.append((cid, rid, step, first, tokens, len(writer.files)))
        report.tokens_in += tokens
        answer = out_tokens.get(step)
        if answer is None:  # once per step (setdefault would ask the step every time)
            answer = out_tokens[step] = _answer_tokens(step)
        report.tokens_out += answer

    def sink(req: NewRequest) -> None:
        line = input_line(req.custom_id, req.body)
        _record(line, req.custom_id, req.researcher_id, req.step, req.first_hash, req.tokens_in)

    in_flight = bstore.questions_in_flight(store)
    recorder = RecordingClient(online, sink, job_id, in_flight)
    runner = JobRunner(store, recorder, settings)
    plans = [p for p in runner.plans(opts) if p.steps]
    report.researchers = len(plans)
    ror_loaded = ror.index_status(store) is not None
    index = ror.RorIndex.of(store) if ror_loaded else None
    params = {**{k: v for k, v in opts.__dict__.items() if k != "resume"}, "batch": {"folder": str(out)}}
    params["batch"].update(mode="remote" if submit else "files", backend=online.backend, model=online.model)
    # workers only for a database file, and not for a dry run (its writes are rolled back in this process)
    report.processes = opts.processes if opts.processes > 1 and not dry_run and store.file_path() else 1

    def take(got: Predicted) -> None:  # a researcher a worker predicted, replayed here: its lines into the files
        for line, row in zip(got.lines, got.rows, strict=True):
            _record(line, *row)
        add_counts(report.outcomes, got.outcomes)
        recorder.still_out += got.still_out

    def run_here(plan: Plan) -> None:
        recorder.researcher_id = plan.researcher_id
        ctx = make_context(store, recorder, settings, plan.researcher_id, job_id, index)
        outcomes = run_researcher(ctx, plan.steps)
        remember_misses(ctx, plan, outcomes)
        count_outcomes(report.outcomes, outcomes)

    def settle(plan: Plan, got: Predicted | None, *, applicable: bool) -> None:
        """One researcher: its predicted writes applied (`applicable`: `Trust` allows it) or replayed, else its
        steps run here."""
        if got is not None:
            if applicable:
                why = apply(store, [got])
                report.applied += not why
            else:
                why = replay(store, got)
                report.replayed += not why
            if not why:
                take(got)
                return
            # not predicted, or contradicted: this researcher's steps run here, as in one process
            report.ran_here[why] = report.ran_here.get(why, 0) + 1
        run_here(plan)

    def apply_run(run: list[tuple[Plan, Predicted]]) -> None:
        """Researchers whose predictions may be applied, all in one savepoint; when that fails (all rolled back),
        each one in its own, as `settle` does."""
        if run and not apply(store, [got for _, got in run]):
            report.applied += len(run)
            for _, got in run:
                take(got)
            return
        for plan, got in run:
            settle(plan, got, applicable=True)

    def run_all() -> None:
        pipe = trust = None
        if report.processes > 1:
            trust = Trust(store)  # before any worker reads
            pipe = Pipeline(store, settings, job_id, ror_loaded, report.processes, in_flight, plans, BUILD_CHUNK)
        try:
            if pipe:
                pipe.start_merges([p.researcher_id for p in plans])
            for n, start in enumerate(range(0, len(plans), BUILD_CHUNK)):
                chunk = plans[start : start + BUILD_CHUNK]
                predicted = pipe.next() if pipe else [None] * len(chunk)
                # the deterministic steps' writes of a chunk of researchers commit together (a commit per step write
                # was a tenth of the build); a build that stops leaves no request rows, and the next one redoes it
                with store.transaction():
                    trusted = trust is not None and pipe is not None and trust.chunk(n, pipe.handed_out)
                    run: list[tuple[Plan, Predicted]] = []  # consecutive researchers whose predictions may be applied
                    for plan, got in zip(chunk, predicted, strict=True):
                        if trusted and trust is not None and got is not None and trust.may_apply(got):
                            run.append((plan, got))
                            continue
                        apply_run(run)
                        run = []
                        settle(plan, got, applicable=False)
                    apply_run(run)
                if on_progress:
                    on_progress(min(start + BUILD_CHUNK, len(plans)), len(plans))
            if pipe:
                merges.propose_groups(store, pipe.finish(), job_id)
            else:
                runner.propose_merges(job_id, [p.researcher_id for p in plans])
        finally:
            if pipe:
                pipe.close()

    try:
        if dry_run:
            try:
                with store.savepoints_in_memory(), store.transaction(), fewer_collections():
                    run_all()
                    raise _DryRun
            except _DryRun:
                pass
        else:
            store.create_job(
                Job(
                    id=job_id,
                    kind="batch",
                    params=params,
                    todo=[p.researcher_id for p in plans],
                    cursor=len(plans),
                    counts={"researchers": len(plans)},
                )
            )
            with store.savepoints_in_memory(), fewer_collections():
                run_all()
    except BaseException as exc:
        writer.abort()
        if not dry_run:
            store.update_job(job_id, state="failed", error=f"{type(exc).__name__}: {exc}"[:500], finished_at=utcnow())
            store.release_job(job_id)
        raise
    files = writer.close()
    report.requests = len(rows)
    report.still_out = recorder.still_out
    report.cost_usd = round(batch_cost_usd(online.backend, online.model, report.tokens_in, report.tokens_out), 6)
    report.files = [{"path": str(f.path), "requests": f.requests, "bytes": f.bytes} for f in files]
    if dry_run:
        report.seconds = time.perf_counter() - t0
        return report
    file_ids = []
    for f in files:
        file_ids.append(
            bstore.add_file(
                store,
                job_id=job_id,
                round=0,
                path=str(f.path),
                requests=f.requests,
                bytes=f.bytes,
                status="written",
            )
        )
    bstore.add_requests(
        store,
        (
            {
                "custom_id": cid,
                "job_id": job_id,
                "file_id": file_ids[fno] if fno < len(file_ids) else None,
                "researcher_id": rid,
                "step": step,
                "round": 0,
                "first_hash": h,
                "tokens_in": t,
            }
            for cid, rid, step, h, t, fno in rows
        ),
    )
    counts = {"researchers": len(plans), **report.outcomes, "requests": len(rows), "files": len(files)}
    try:
        if submit and rows:
            report.submitted = submit_written(store, online, job_id)
    finally:  # no process runs a waiting job: `enrich batch collect` takes it up (and submits what is left)
        store.update_job(
            job_id, counts=counts, state="waiting" if rows else "done", finished_at=None if rows else utcnow()
        )
        store.release_job(job_id)
    report.seconds = time.perf_counter() - t0
    return report


def submit_written(store: Any, online: Any, job_id: str) -> list[str]:
    """Upload and create a batch for every file of the job not submitted yet (also resumes an interrupted submit)."""
    from .remote import Remote

    remote = None
    done = []
    for f in bstore.files(store, job_id):
        if f["batch_id"] or f["status"] != "written":
            continue
        remote = remote or Remote(online)
        file_id, batch_id, status = remote.submit(Path(f["path"]), job_id)
        bstore.update_file(store, f["id"], input_file_id=file_id, batch_id=batch_id, status=status)
        done.append(batch_id)
    return done


# ------------------------------------------------------------------------------------------------------ collect


@dataclass
class CollectReport:
    job_id: str
    applied: int = 0  # answers a step finished from (value, proposal or none)
    reasked: int = 0
    failed: int = 0
    stale: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # runner error code -> count
    skipped: int = 0  # answers applied by an earlier collect
    unknown: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    missing: int = 0  # requests of a finished batch with no line in its output or error file
    waiting: list[str] = field(default_factory=list)  # batches still running
    batches: list[dict[str, Any]] = field(default_factory=list)
    followup: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    state: str = "waiting"
    seconds: float = 0.0

    def messages(self) -> list[str]:
        """The report's lines for a person."""
        out = []
        for b in self.batches:
            out.append(
                f"batch {b['batch_id'] or b['path']}: {b['status']}" + (f" -- {b['detail']}" if b.get("detail") else "")
            )
        for code, n in sorted(self.errors.items()):
            hint = (
                " (not run before the batch ended; `enrich run --batch` asks them again)"
                if code in ("batch_expired", "batch_cancelled", "missing")
                else ""
            )
            out.append(f"{n} request(s) came back as errors: {code}{hint}")
        if self.missing:
            out.append(f"{self.missing} request(s) of finished batches had no output line (partial output)")
        if self.unknown:
            out.append(
                f"{len(self.unknown)} line(s) with a custom_id this job never sent, ignored: "
                + ", ".join(self.unknown[:5])
            )
        for m in self.malformed[:10]:
            out.append(f"malformed line ignored: {m}")
        if len(self.malformed) > 10:
            out.append(f"... and {len(self.malformed) - 10} more malformed line(s)")
        if self.stale:
            out.append(f"{self.stale} answer(s) not applied: the researcher's listing or the prompt changed since")
        return out


def _answers_in(path: Path) -> Iterator[Answer | Failure | Malformed]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            got = parse_line(line, n)
            if isinstance(got, Malformed):
                got.reason = f"{path.name}:{n}: {got.reason}"
            if got is not None:
                yield got


def collect(
    store: Any,
    settings: Any,
    online: Any,
    job_id: str,
    *,
    results: list[Path] | None = None,
    max_reasks: int | None = None,
    processes: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> CollectReport:
    """`enrich batch collect`. `results`: output files to read (e.g. from `vllm run-batch`) instead of asking the
    server for the job's batches. `processes`: answers checked and applied in this many worker processes (a
    database file only)."""
    t0 = time.perf_counter()
    job = store.get_job(job_id)
    if job.kind != "batch":
        raise LLMError(f"job {job_id} is not a bulk-mode job (it was run online)")
    if job.state == "done" and not results:
        return CollectReport(job_id, state="done")
    batch = job.params.get("batch") or {}
    if not results and batch.get("mode", "files") == "files":  # said before the job is claimed: it stays waiting
        raise LLMError(
            f"job {job_id} wrote its request files only ({batch.get('folder') or _folder(settings, job_id, None)})",
            hint="run them (e.g. `vllm run-batch -i FILE -o RESULTS`) and collect with --results RESULTS...",
        )
    job = store.claim_job(job_id)  # one collector at a time; a killed one leaves the job `interrupted`
    reasks = int(max_reasks if max_reasks is not None else getattr(settings, "max_reasks", 2))
    workers = _Workers(store, settings, online, job_id, reasks, processes if store.file_path() else 1)
    try:
        with fewer_collections():
            return _collect(store, settings, online, job, workers, on_progress, results, t0)
    except BaseException as exc:
        workers.close(stopped=True)
        store.update_job(job_id, state="interrupted", error=f"collect stopped: {type(exc).__name__}: {exc}"[:500])
        raise
    finally:
        workers.close()
        store.release_job(job_id)


@dataclass
class _Group:
    """Output lines applied in one store transaction: the answers of whole researchers, each (request row,
    completion, batch id), and the states of the error lines among them."""

    researchers: list[tuple[int, list[tuple[dict[str, Any], dict[str, Any], str | None]]]]
    errors: list[tuple[str, str | None, int | None, str]]
    before: int  # output lines handed out before this group (the crash tests' stall point)

    @property
    def lines(self) -> int:
        return sum(len(items) for _rid, items in self.researchers) + len(self.errors)


@dataclass
class _Applied:
    """What applying a group did (added up into the CollectReport)."""

    lines: int = 0
    applied: int = 0
    reasked: int = 0
    failed: int = 0
    stale: int = 0
    skipped: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    followups: list[NewRequest] = field(default_factory=list)  # re-asks (their request rows are written)


class _Applier:
    """Applies groups of answers: each researcher's answered steps run again through the loop's one step boundary
    (run_researcher) with the ReplayClient, and the group's answers, call-log rows, values and request states
    commit in one transaction. A step that raises is recorded as online (failed, or a job error), and the collect
    goes on with the next researcher. With `check_first` (worker processes), every answer is parsed and validated
    before the transaction, so a process holds the store's write lock only while the steps write."""

    def __init__(self, store: Any, settings: Any, online: Any, job_id: str, max_reasks: int, *, check_first: bool):
        from enrich.agent import ror

        self.store, self.settings, self.job_id, self.check_first = store, settings, job_id, check_first
        self.replay = ReplayClient(online, max_reasks=max_reasks)
        self.index = ror.RorIndex.of(store) if ror.index_status(store) is not None else None

    def apply(self, group: _Group) -> _Applied:
        done = _Applied(lines=group.lines)
        ready = []
        for rid, items in group.researchers:  # read (and checked) outside the write lock
            items.sort(key=lambda x: STEP_ORDER.get(x[0]["step"], 99))
            ctx = make_context(self.store, self.replay, self.settings, rid, self.job_id, self.index)
            answers = {row["step"]: BatchAnswer(row, completion, batch_id) for row, completion, batch_id in items}
            if self.check_first:
                self._check(ctx, answers)
            ready.append((ctx, answers))
        applied = group.before
        with self.store.transaction():
            # still pending now that this process holds the write lock: an earlier collect, or another group, may
            # have applied a line since it was handed out
            pending = bstore.still_pending(
                self.store,
                [a.row["custom_id"] for _c, ans in ready for a in ans.values()] + [e[3] for e in group.errors],
            )
            states = [e for e in group.errors if e[3] in pending]
            done.skipped += len(group.errors) - len(states)
            missed = bstore.missed_fields(self.store, [ctx.researcher_id for ctx, _a in ready])
            for ctx, answers in ready:
                todo = {s: a for s, a in answers.items() if a.row["custom_id"] in pending}
                done.skipped += len(answers) - len(todo)
                if todo:
                    self._apply_researcher(ctx, todo, missed.get(ctx.researcher_id, set()), states, done)
                applied += len(answers)
                if STALL_AFTER and applied >= STALL_AFTER:  # crash tests: stop inside the transaction, to be killed
                    print(f"stalled after {applied} answers", file=sys.stderr, flush=True)
                    time.sleep(3600)
            bstore.set_requests(self.store, states)  # the group's request states, in the same transaction
            # and the re-asks' requests: a collect that stops before it writes their files leaves them to the next
            bstore.add_requests(self.store, (_request_row(r, self.job_id) for r in done.followups))
        return done

    def _check(self, ctx: Any, answers: dict[str, BatchAnswer]) -> None:
        """Parse and validate each answer through its step (which stops with `Checked` before it writes); the
        ReplayClient keeps the results on the answers. Whatever else happens here happens again, and is recorded,
        when the step runs for real."""
        self.replay.begin(answers, checking=True)
        for step in answers:
            try:
                STEPS[step].run(ctx)
            except Exception:  # noqa: S112 -- Checked, Stale, or an error the real run records
                continue

    def _apply_researcher(
        self, ctx: Any, answers: dict[str, BatchAnswer], missed: set[str], states: list, done: _Applied
    ) -> None:
        replay = self.replay
        replay.begin(answers)
        outcomes = run_researcher(ctx, list(answers))
        finished: list[StepOutcome] = []
        for (step, answer), out in zip(answers.items(), outcomes, strict=True):
            row = answer.row
            event = replay.deferred.get(step)
            if isinstance(event, Reasked):
                done.followups.append(event.request)
                states.append(("reasked", event.error[:500], answer.call_id, row["custom_id"]))
                done.reasked += 1
                continue
            if isinstance(event, Stale):
                states.append(("stale", event.detail[:500], answer.call_id, row["custom_id"]))
                done.stale += 1
                continue
            finished.append(out)
            if out.status in ("failed", "error", "skipped"):  # still invalid after max_reasks, cut off, or raised
                detail = out.detail if out.status == "failed" else f"{out.status}: {out.detail}"
                states.append(("failed", detail[:500], answer.call_id, row["custom_id"]))
                done.failed += 1
                continue
            states.append(("applied", out.status, answer.call_id, row["custom_id"]))
            done.applied += 1
            done.tokens_in += out.tokens_in
            done.tokens_out += out.tokens_out
            done.cost_usd += out.cost_usd
        count_outcomes(done.outcomes, finished)
        plan = Plan(ctx.researcher_id, ctx.researcher.name, [o.step for o in finished], {}, missed_before=missed)
        remember_misses(ctx, plan, finished)


GROUP_RESEARCHERS = 16  # researchers a worker process applies per transaction


class _Workers:
    """Where groups of answers are applied: in this process, or in worker processes (spawned fresh, each with its
    own store connection and client; they queue on one shared lock for the store's write lock instead of sleeping
    in SQLite's busy handler). Results come back as soon as they are ready; `run` returns when every group it was
    given has been applied, so this process reads and writes the store after it as alone."""

    def __init__(self, store: Any, settings: Any, online: Any, job_id: str, max_reasks: int, processes: int):
        self.processes = max(1, processes)
        self.args = (store.file_path(), settings, job_id, max_reasks)
        self.local = (
            _Applier(store, settings, online, job_id, max_reasks, check_first=False) if self.processes == 1 else None
        )
        self.pool: Any = None

    @property
    def group_size(self) -> int | None:
        """Researchers per group: a whole window in one process (one transaction per window, as before)."""
        return None if self.local else GROUP_RESEARCHERS

    def run(self, groups: Iterator[_Group]) -> Iterator[_Applied]:
        if self.local is not None:
            for g in groups:
                yield self.local.apply(g)
            return
        if self.pool is None:
            self.pool = spawn_pool(self.processes, _worker_init, (*self.args, spawn_lock()))
        yield from as_ready(lambda g: self.pool.submit(_worker_apply, g), groups, 2 * self.processes, lambda: True)

    def close(self, *, stopped: bool = False) -> None:
        """`stopped` (the collect stopped early): the workers are ended at once; a group cut short is not
        committed, and the next collect applies it."""
        if self.pool is not None:
            end_pool(self.pool, at_once=stopped)
            self.pool = None


_WORKER: dict[str, _Applier] = {}


def _worker_init(db_path: str, settings: Any, job_id: str, max_reasks: int, lock: Any) -> None:
    store, online = open_in_worker(db_path, settings, lock)
    _WORKER["applier"] = _Applier(store, settings, online, job_id, max_reasks, check_first=True)
    collect_less()


def _worker_apply(group: _Group) -> _Applied:
    return _WORKER["applier"].apply(group)


def _collect(store, settings, online, job, workers, on_progress, results, t0) -> CollectReport:
    job_id = job.id
    report = CollectReport(job_id)
    mode = (job.params.get("batch") or {}).get("mode", "files")
    folder = Path((job.params.get("batch") or {}).get("folder") or _folder(settings, job_id, None))
    handed_out: set[str] = set()  # custom_ids given to an applier in this collect: a repeated line is skipped
    read = [0]  # output lines read
    done = [0]  # output lines applied, skipped or reported

    def groups(lines: Iterator[Answer | Failure | Malformed], batch_id: str | None) -> Iterator[_Group]:
        window: list[Answer | Failure] = []
        for item in lines:
            if isinstance(item, Malformed):
                report.malformed.append(f"{item.reason} ({item.raw[:80]})")
                continue
            window.append(item)
            if len(window) >= COLLECT_CHUNK:
                yield from _window_groups(window, batch_id)
                window = []
        if window:
            yield from _window_groups(window, batch_id)

    def _window_groups(window: list[Answer | Failure], batch_id: str | None) -> Iterator[_Group]:
        rows = bstore.requests_by_id(store, [a.custom_id for a in window])
        by_researcher: dict[int, list[tuple[dict[str, Any], dict[str, Any], str | None]]] = {}
        errors: list[tuple[str, str | None, int | None, str]] = []
        before = read[0]
        read[0] += len(window)
        for item in window:
            row = rows.get(item.custom_id)
            if row is None or row["job_id"] != job_id:
                report.unknown.append(item.custom_id)
                continue
            if row["state"] != "pending" or item.custom_id in handed_out:  # applied before, or a repeated line
                report.skipped += 1
                continue
            handed_out.add(item.custom_id)
            if isinstance(item, Failure):
                report.errors[item.code] = report.errors.get(item.code, 0) + 1
                errors.append(("error", f"{item.code}: {item.message}"[:500], None, item.custom_id))
                continue
            by_researcher.setdefault(row["researcher_id"], []).append(
                (row, item.completion, batch_id or batch_of_file.get(row["file_id"]))
            )
        done[0] += len(window) - sum(len(v) for v in by_researcher.values()) - len(errors)
        researchers = list(by_researcher.items())
        size = workers.group_size or max(1, len(researchers))
        for start in range(0, max(1, len(researchers)), size):
            g = _Group(researchers[start : start + size], errors if start == 0 else [], before)
            before += g.lines
            if g.lines:
                yield g

    def apply_all(lines: Iterator[Answer | Failure | Malformed], batch_id: str | None) -> None:
        for got in workers.run(groups(lines, batch_id)):
            report.applied += got.applied
            report.reasked += got.reasked
            report.failed += got.failed
            report.stale += got.stale
            report.skipped += got.skipped
            report.tokens_in += got.tokens_in
            report.tokens_out += got.tokens_out
            report.cost_usd += got.cost_usd
            add_counts(report.outcomes, got.outcomes)
            done[0] += got.lines
            if on_progress:
                on_progress(done[0])

    file_rows = {f["id"]: f for f in bstore.files(store, job_id)}
    batch_of_file = {f["id"]: f["batch_id"] for f in file_rows.values()}

    if results:
        for path in results:
            apply_all(_answers_in(Path(path)), None)
            report.batches.append({"batch_id": None, "path": str(path), "status": "read"})
        for f in file_rows.values():  # a local file is collected when none of its requests is still pending
            if not bstore.pending_in_file(store, f["id"]) and f["status"] != "collected":
                bstore.update_file(store, f["id"], status="collected", collected_at=utcnow())
    else:  # remote (a files-only job without --results was refused before it was claimed)
        from .remote import Remote

        submit_written(store, online, job_id)
        file_rows = {f["id"]: f for f in bstore.files(store, job_id)}
        batch_of_file.update({f["id"]: f["batch_id"] for f in file_rows.values()})
        remote = Remote(online)
        for f in file_rows.values():
            if f["status"] == "collected" or not f["batch_id"]:
                continue
            b = remote.status(f["batch_id"])
            entry = {"batch_id": f["batch_id"], "path": f["path"], "status": b.status, "detail": ""}
            report.batches.append(entry)
            if b.status in ACTIVE_STATES:
                counts = b.request_counts
                entry["detail"] = f"{counts.completed}/{counts.total} done" if counts else ""
                bstore.update_file(store, f["id"], status=b.status)
                report.waiting.append(f["batch_id"])
                continue
            if b.status == "failed":
                why = "; ".join(f"{e.code}: {e.message}" for e in (b.errors.data or [])) if b.errors else ""
                entry["detail"] = why or "the batch failed validation"
            for kind, fid in (("output", b.output_file_id), ("error", b.error_file_id)):
                if fid:
                    dest = folder / f"{f['batch_id']}-{kind}.jsonl"
                    if not dest.exists():
                        folder.mkdir(parents=True, exist_ok=True)
                        remote.download(fid, dest)
                    apply_all(_answers_in(dest), f["batch_id"])
            missing = bstore.pending_in_file(store, f["id"])
            if missing:
                code = "missing" if b.status == "completed" else f"batch_{b.status}"
                with store.transaction():
                    why = f"{code}: no line in the output or error file"
                    bstore.set_requests(store, [("error", why, None, cid) for cid in missing])
                report.errors[code] = report.errors.get(code, 0) + len(missing)
                report.missing += len(missing) if code == "missing" else 0
            bstore.update_file(
                store,
                f["id"],
                status="collected",
                output_file_id=b.output_file_id,
                error_file_id=b.error_file_id,
                detail=(f"{b.status}" + (f": {entry['detail']}" if entry["detail"] else ""))[:500],
                collected_at=utcnow(),
            )

    report.followup = _write_followups(store, online, job, folder, submit=mode == "remote")
    _finish_job(store, job, report)
    report.seconds = time.perf_counter() - t0
    return report


def _request_row(r: NewRequest, job_id: str) -> dict[str, Any]:
    return {
        "custom_id": r.custom_id,
        "job_id": job_id,
        "file_id": None,
        "researcher_id": r.researcher_id,
        "step": r.step,
        "round": r.round,
        "first_hash": r.first_hash,
        "body": r.body,
        "tokens_in": r.tokens_in,
    }


def _write_followups(store: Any, online: Any, job: Job, folder: Path, *, submit: bool) -> list[dict[str, Any]]:
    """The re-ask round: the follow-up requests not in a file yet (the invalid answers' with the error fed back,
    written with their re-asked state), as new files (and batches)."""
    reqs = bstore.unfiled_requests(store, job.id)
    if not reqs:
        return []
    rnd = max(r["round"] for r in reqs)
    prefix = f"{job.id}-reask{rnd}"
    n = 1
    while (folder / f"{prefix}-001.jsonl").exists():  # a later collect of the same round
        n += 1
        prefix = f"{job.id}-reask{rnd}-{n}"
    writer = SplitWriter(folder, prefix)
    for r in reqs:
        writer.add(r["custom_id"], input_line(r["custom_id"], json.loads(r["body"])))
    files = writer.close()
    for f in files:
        file_id = bstore.add_file(
            store, job_id=job.id, round=rnd, path=str(f.path), requests=f.requests, bytes=f.bytes, status="written"
        )
        bstore.assign_file(store, f.custom_ids, file_id)
    if submit:
        submit_written(store, online, job.id)
    return [{"path": str(f.path), "requests": f.requests} for f in files]


def _finish_job(store: Any, job: Job, report: CollectReport) -> None:
    counts = dict(store.get_job(job.id).counts)
    states = bstore.request_counts(store, job.id)
    for s in ("pending", "applied", "reasked", "failed", "error", "stale"):
        counts[f"requests_{s}"] = states.get(s, 0)
    add_counts(counts, report.outcomes)
    usage = bstore.answer_usage(store, job.id)
    counts["calls"] = usage["calls"]
    state = "waiting" if states.get("pending") else "done"
    report.state = state
    store.update_job(
        job.id,
        counts=counts,
        tokens_in=usage["tin"],
        tokens_out=usage["tout"],
        cost_usd=round(usage["cost"], 6),
        state=state,
        finished_at=utcnow() if state == "done" else None,
    )


def cancel(store: Any, online: Any, job_id: str) -> dict[str, Any]:
    """`enrich batch cancel`: give up a bulk job's questions. Its running batches are cancelled on the server (what
    they answered before stopping is still collected, the rest comes back as batch_cancelled); requests that no
    runner has (files never submitted, the files of a files-only job, or re-asks a stopped collect left without a
    file) end here as errors, so the next `enrich run --batch` asks them again."""
    job = store.get_job(job_id)
    if job.kind != "batch":
        raise LLMError(f"job {job_id} is not a bulk-mode job (it was run online)")
    running: list[str] = []
    if (job.params.get("batch") or {}).get("mode") == "remote":
        from .lines import FINAL_STATES
        from .remote import Remote

        remote = None
        for f in bstore.files(store, job_id):
            if f["batch_id"] and f["status"] not in ("collected", *FINAL_STATES):
                remote = remote or Remote(online)
                bstore.update_file(store, f["id"], status=remote.cancel(f["batch_id"]).status)
                running.append(f["batch_id"])
    job = store.claim_job(job_id)
    try:
        unsent_files = [f for f in bstore.files(store, job_id) if not f["batch_id"] and f["status"] == "written"]
        unsent = [cid for f in unsent_files for cid in bstore.pending_in_file(store, f["id"])]
        unsent += bstore.unfiled_ids(store, job_id)
        with store.transaction():
            bstore.set_requests(store, [("error", "cancelled: never sent to a runner", None, c) for c in unsent])
            for f in unsent_files:
                bstore.update_file(store, f["id"], status="cancelled")
        report = CollectReport(job_id)
        _finish_job(store, job, report)
    finally:
        store.release_job(job_id)
    return {"job_id": job_id, "cancelled_batches": running, "requests_ended": len(unsent), "state": report.state}


def status(store: Any, online: Any | None, job_id: str) -> dict[str, Any]:
    """`enrich batch status`: the job's files/batches (asking the server for the running ones) and request states."""
    job = store.get_job(job_id)
    if job.kind != "batch":
        raise LLMError(f"job {job_id} is not a bulk-mode job (it was run online)")
    rows = bstore.files(store, job_id)
    remote = None
    out = []
    for f in rows:
        entry = {k: f[k] for k in ("round", "path", "requests", "bytes", "batch_id", "status", "detail")}
        if online is not None and f["batch_id"] and f["status"] in ("written", *ACTIVE_STATES, "validating"):
            from .remote import Remote

            remote = remote or Remote(online)
            b = remote.status(f["batch_id"])
            entry["status"] = b.status
            if b.request_counts:
                entry["progress"] = f"{b.request_counts.completed + b.request_counts.failed}/{b.request_counts.total}"
            if b.status != f["status"]:
                bstore.update_file(store, f["id"], status=b.status)
        out.append(entry)
    return {
        "job_id": job_id,
        "state": job.state,
        "mode": (job.params.get("batch") or {}).get("mode"),
        "batches": out,
        "requests": bstore.request_counts(store, job_id),
    }
