"""Bulk-mode benchmark (issue 18): build and collect N Batch API requests (default 100,000).

    .venv/bin/python bench/bench_batch.py [--requests 100000] [--processes 1] [--invalid-every 0] [--json]

1. ingest   -- synthetic generic author pages (tests/batch/bulk_helpers.page: 3 works each; a third of them ask the
               model for the affiliation; the topics step settles these pages from evidence), enough researchers for
               about --requests requests (4/3 each). Not timed as part of bulk mode.
2. build    -- `enrich run --batch --batch-files DIR`'s work (agent.batch.job.build, files only): planning, the
               steps with the recording client, request lines written and split into files, the request rows.
               Requests/s.
3. answer   -- the files answered in `vllm run-batch`'s line format by bench/fake_openai_server.answer_for (the
               stand-in for a GPU cluster; not timed as part of bulk mode).
4. collect  -- `enrich batch collect JOB --results ... --processes N` (agent.batch.job.collect): every answer
               parsed, validated with the step's context, checked, written through the store's policy, logged.
               Answers/s.

Peak RSS (ru_maxrss) is reported after each phase (this process's, and the largest worker process's: at most this
process and N workers are held at once), and the CPU time of each phase beside the wall time -- this
process's and that of every process it started and waited for (RUSAGE_CHILDREN), so worker processes count too (on a
machine shared with other work, requests per CPU-second is the figure that does not depend on the load; on a quiet
machine with one process the two agree), with the load average before and after and the processes the build used. Each figure is printed next to its goal
(issue 18, default install, 2-core machine): build >= 2,000 requests/s, collect >= 1,000 answers/s, RSS < 1 GB.
Uses a temporary folder; no network. One command; run it on a quiet machine for the wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "batch"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from enrich.agent.batch.job import build, collect  # noqa: E402
from enrich.agent.llm.factory import make_client  # noqa: E402
from enrich.agent.loop import RunOptions  # noqa: E402
from enrich.agent.settings import load  # noqa: E402
from enrich.store import Store  # noqa: E402

REQUESTS_PER_RESEARCHER = 4 / 3  # a summary each, an affiliation for one page in three (topics: evidence decides)
GOALS = {"build": 2000, "collect": 1000, "rss_mb": 1024}  # issue 18's "Done when"


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def cpu_s() -> float:
    """User + system CPU seconds of this process and of its children that have ended (worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def own_cpu_s() -> float:
    """User + system CPU seconds of this process only (the build's writer)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    # imported here, not at the top: the build's worker processes start by importing this module (spawn), and
    # the test helpers are not part of what `enrich run --batch` loads
    from bulk_helpers import ingest, run_like_vllm

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument(
        "--processes",
        type=int,
        default=1,
        help="as `enrich run --batch --processes N` and `enrich batch collect --processes N`",
    )
    ap.add_argument("--invalid-every", type=int, default=0, help="spoil every N-th first answer (re-ask round)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = int(args.requests / REQUESTS_PER_RESEARCHER) + 1
    out: dict = {"researchers": n, "load_before": [round(x, 2) for x in os.getloadavg()], "goals": GOALS}
    with tempfile.TemporaryDirectory(prefix="enrich-bench-batch-") as tmp:
        settings = load(
            db=str(Path(tmp) / "b.db"), backend="openai-compatible", base_url="http://127.0.0.1:9/v1", model="default"
        )
        store = Store.open(settings.db)
        t = time.perf_counter()
        ingest(store, n)
        out["ingest_s"] = round(time.perf_counter() - t, 1)
        out["rss_mb_after_ingest"] = rss_mb()
        client = make_client(settings, store)

        t, cpu, own = time.perf_counter(), cpu_s(), own_cpu_s()
        opts = RunOptions(processes=args.processes)
        rep = build(store, settings, client, opts, folder=Path(tmp) / "files", submit=False)
        build_s, build_cpu, build_own = time.perf_counter() - t, cpu_s() - cpu, own_cpu_s() - own
        out.update(
            processes_asked=args.processes,
            build_processes=rep.processes,
            requests=rep.requests,
            files=len(rep.files),
            file_mb=round(sum(f["bytes"] for f in rep.files) / 1e6, 1),
            build_s=round(build_s, 1),
            build_requests_per_s=round(rep.requests / build_s),
            build_cpu_s=round(build_cpu, 1),
            build_requests_per_cpu_s=round(rep.requests / build_cpu),
            build_writer_cpu_s=round(build_own, 1),  # this process: with workers, the writer
            # researchers whose predicted writes were applied as decided, replayed and checked, run in this process
            build_applied=rep.applied,
            build_replayed=rep.replayed,
            build_ran_here=rep.ran_here,
            rss_mb_after_build=rss_mb(),
        )
        t = time.perf_counter()
        results = []
        for i, f in enumerate(rep.files):
            dst = Path(tmp) / f"results-{i}.jsonl"
            run_like_vllm(Path(f["path"]), dst, invalid_every=args.invalid_every)
            results.append(dst)
        out["answer_s"] = round(time.perf_counter() - t, 1)

        t, cpu = time.perf_counter(), cpu_s()
        got = collect(store, settings, client, rep.job_id, results=results, processes=args.processes)
        collect_s, collect_cpu = time.perf_counter() - t, cpu_s() - cpu
        answers = got.applied + got.reasked + got.failed
        out.update(
            answers=answers,
            applied=got.applied,
            reasked=got.reasked,
            collect_s=round(collect_s, 1),
            collect_answers_per_s=round(answers / collect_s),
            collect_cpu_s=round(collect_cpu, 1),
            collect_answers_per_cpu_s=round(answers / collect_cpu),
            rss_mb_peak=rss_mb(),
            rss_mb_worker_peak=rss_mb(resource.RUSAGE_CHILDREN),
            outcomes=got.outcomes,
        )
        client.close()
        store.close()
    workers = args.processes if args.processes > 1 else 0
    out["rss_mb_total"] = round(out["rss_mb_peak"] + workers * out["rss_mb_worker_peak"], 1)  # at most, at once
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out["met"] = {
        "build": out["build_requests_per_s"] >= GOALS["build"],
        "collect": out["collect_answers_per_s"] >= GOALS["collect"],
        "rss": out["rss_mb_total"] < GOALS["rss_mb"],
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"{out['researchers']} researchers ingested in {out['ingest_s']} s (peak RSS {out['rss_mb_after_ingest']} MB);"
        f" load average {out['load_before']} before, {out['load_after']} after (2 cores: above 2, wall times stretch)"
    )
    print(
        f"build:   {out['requests']} requests in {out['files']} file(s), {out['file_mb']} MB, {out['build_s']} s wall,"
        f" {out['build_cpu_s']} CPU-s ({out['build_processes']} process(es)) -> {out['build_requests_per_s']} requests/s wall,"
        f" {out['build_requests_per_cpu_s']} per CPU-second; goal >= {GOALS['build']:,}/s: {verdict(out['met']['build'])}"
    )
    if out["build_processes"] > 1:
        print(
            f"         writer {out['build_writer_cpu_s']} CPU-s; researchers applied as predicted"
            f" {out['build_applied']}, replayed and checked {out['build_replayed']}, run in the writer"
            f" {sum(out['build_ran_here'].values())}"
        )
    print(f"answer:  {out['answer_s']} s (fake runner, vllm run-batch line format; not part of bulk mode)")
    print(
        f"collect: {out['answers']} answers ({out['applied']} applied, {out['reasked']} re-asked) in"
        f" {out['collect_s']} s wall, {out['collect_cpu_s']} CPU-s ({args.processes} process(es))"
        f" -> {out['collect_answers_per_s']} answers/s wall,"
        f" {out['collect_answers_per_cpu_s']} per CPU-second; goal >= {GOALS['collect']:,}/s:"
        f" {verdict(out['met']['collect'])}"
    )
    print(
        f"memory:  peak RSS {out['rss_mb_total']} MB at most (this process {out['rss_mb_peak']} MB, after build"
        f" {out['rss_mb_after_build']} MB; + {workers} worker(s) of at most {out['rss_mb_worker_peak']} MB);"
        f" goal < {GOALS['rss_mb']} MB: {verdict(out['met']['rss'])}"
    )


if __name__ == "__main__":
    main()
