"""Time the conflation step on a 200-work listing, pinned to 2 CPU cores (goal: < 200 ms).

    .venv/bin/python bench/bench_conflation.py [--works 200] [--repeat 5]

The listing is synthesised from the seeds' works (arXiv, HF papers, BZPEER, IEEE, ACL), cycled with a suffix on
the titles until it has the requested size, under the arXiv seed's subject name.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before numpy/scikit-learn load their BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parents[1]

from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.steps.conflation import detect  # noqa: E402
from enrich.schemas import Work  # noqa: E402


def synthetic_listing(n: int) -> list[Work]:
    pool: list[Work] = []
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        pool += parse(seed.read_text(encoding="utf-8")).works
    out = []
    for i in range(n):
        w = pool[i % len(pool)]
        round_ = i // len(pool)
        title = (w.title or "") + (f" (part {round_ + 1})" if round_ else "")
        out.append(w.model_copy(update={"title": title or None, "work_id": "", "ordinal": i}))
    return [Work(**w.model_dump()) for w in out]  # recompute ids


def main() -> None:
    ap = argparse.ArgumentParser(description="Benchmark agent.steps.conflation.detect on a synthetic listing.")
    ap.add_argument("--works", type=int, default=200, help="listing size")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs (after one warm-up)")
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:2]
        os.sched_setaffinity(0, cpus)
    works = synthetic_listing(a.works)
    detect(works, "Yan Sun")  # warm-up: imports, BLAS init
    times, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = detect(works, "Yan Sun")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"conflation step, {len(works)} works, {cores} cores: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {a.repeat} runs; "
        f"CPU time median {statistics.median(cpu) * 1000:.0f} ms (wall time grows with other load on the cores) "
        f"(detected={res.detected}, {len(res.clusters)} clusters)"
    )


if __name__ == "__main__":
    main()
