"""Agent benchmarks (issue 5): prompt tokens vs a naive whole-page prompt, throughput against a fake
OpenAI-compatible server, and pipeline overhead.

    .venv/bin/python bench/bench_agent.py [--json] [--only tokens,throughput,pipeline,http0]
                                          [--latency 0.2] [--concurrency 1,8,32] [--per-worker 32]
                                          [--pipeline-n 500] [--http0-n 300] [--profile]

1. tokens     -- the arXiv seed (50 works, 78 KB): each step's prompt as the step renders it (captured from the
                 step itself, run with a recording fake), what the loop actually sends (the conflation step flags
                 this listing, so it skips affiliation and summary), and instructor's JSON-mode schema text as
                 measured on the wire, vs ONE naive prompt holding the three instructions and the whole page.
                 Tokens are estimated as chars/4 (tiktoken is not installed); the ratio does not depend on it.
2. throughput -- JobRunner over synthetic researchers (2 model calls each: topics + summary) with backend
                 openai-compatible against bench/fake_openai_server.py (a subprocess, so its CPU does not share
                 our GIL) answering after --latency s; a fresh file DB per run (so the llm cache cannot hit),
                 ThreadLocalStore when concurrency > 1, make_client defaults with the concurrency setting equal to
                 the run's (the client's request slots follow it). --per-worker researchers per worker (64 calls
                 each by default: the steady state); at 32 also a short run (8 per worker, where start-up and drain
                 weigh more) and one with the setting left at its default. ideal calls/s = concurrency / latency.
3. pipeline   -- the same researchers with the in-process FunctionModel(grounded_answer): steps, checks, store
                 writes and the llm_calls log, no HTTP. Researchers/s at concurrency 1 and 2.
4. http0      -- as 2. against a 0-latency server: the cost of the openai + instructor + HTTP path itself.

Only 127.0.0.1 is used; the servers stop by themselves (--lifetime) and are terminated at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from enrich.agent.fake_answers import grounded_answer  # noqa: E402
from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.llm.fake import FunctionModel  # noqa: E402
from enrich.agent.loop import JobRunner, RunOptions, make_context  # noqa: E402
from enrich.agent.prompts import load_prompt  # noqa: E402
from enrich.agent.settings import load as load_settings  # noqa: E402
from enrich.store import Store, llm_log  # noqa: E402
from enrich.store.threads import ThreadLocalStore  # noqa: E402

ARXIV_SEED = ROOT / "seeds" / "arxiv-listing-yan-sun.txt"
ARXIV_NAME = "Yan Sun"
TOKEN_ESTIMATOR = "chars/4"


def tokens(text_or_chars: str | int) -> int:
    chars = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return round(chars / 4)


def message_chars(messages: list[dict[str, Any]]) -> int:
    return sum(len(m.get("content") or "") for m in messages)


# ---------------------------------------------------------------------------------------------- synthetic listings

FIRST = [
    "Ada",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Luca",
    "Mei",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Aiko",
    "Bjorn",
    "Carmen",
    "Dmitri",
]
LAST = [
    "Abbott",
    "Bauer",
    "Castro",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Alvarez",
    "Brennan",
    "Cho",
    "Dalton",
]
ADJ = [
    "Robust",
    "Efficient",
    "Scalable",
    "Interpretable",
    "Sparse",
    "Adaptive",
    "Federated",
    "Contrastive",
    "Probabilistic",
    "Hierarchical",
    "Causal",
    "Multilingual",
    "Self-Supervised",
    "Distributed",
    "Private",
    "Incremental",
    "Structured",
    "Neural",
    "Bayesian",
    "Low-Resource",
]
METHOD = [
    "Graph Networks",
    "Transformers",
    "Kernel Methods",
    "Decision Trees",
    "Diffusion Models",
    "Policy Gradients",
    "Retrieval Models",
    "Language Models",
    "Variational Inference",
    "Convolutional Networks",
    "Random Features",
    "Mixture Models",
    "Attention Mechanisms",
    "Optimal Transport",
    "Gaussian Processes",
    "Message Passing",
    "Autoencoders",
    "Boosting",
    "Spectral Clustering",
    "Sequence Models",
]
TASK = [
    "Question Answering",
    "Image Segmentation",
    "Machine Translation",
    "Speech Recognition",
    "Table Parsing",
    "Drug Discovery",
    "Traffic Forecasting",
    "Code Generation",
    "Anomaly Detection",
    "Entity Linking",
    "Recommendation",
    "Protein Folding",
    "Robot Navigation",
    "Document Ranking",
    "Weather Prediction",
    "Fraud Detection",
    "Summarization",
    "Object Tracking",
    "Dialogue Systems",
    "Climate Modelling",
]
VENUES = [
    "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing",
    "Proceedings of the 38th International Conference on Machine Learning",
]
WORKS_PER_PAGE = 4


def _title(k: int) -> str:
    return f"{ADJ[k % 20]} {METHOD[(k // 20) % 20]} for {TASK[(k // 400) % 20]}"


def synthetic_page(i: int) -> str:
    """A small generic author page: unique name and titles (so no cached answer and no shared works), 4 works with
    abstracts; every other page states an institution (imported: the affiliation step only normalises it), the rest
    state none (the step finds no organisation). Either way: no affiliation call, a topics call and a summary call."""
    name = (
        f"{FIRST[i % 30]} {chr(65 + (i // 900) % 26)}. {LAST[(i // 30) % 30]}"
        if i >= 900
        else f"{FIRST[i % 30]} {LAST[(i // 30) % 30]}"
    )
    co1, co2 = f"{FIRST[(i + 7) % 30]} {LAST[(i + 3) % 30]}", f"{FIRST[(i + 11) % 30]} {LAST[(i + 5) % 30]}"
    lines = [name]
    if i % 2 == 0:
        lines.append(f"Department of Computer Science, University of {LAST[(i * 7) % 30]}, Springfield, USA")
    lines += ["", f"Publications ({WORKS_PER_PAGE})", ""]
    for j in range(WORKS_PER_PAGE):
        k = (i * WORKS_PER_PAGE + j) * 7919 % 8000  # a permutation of 0..7999: unique titles up to 2000 pages
        title = _title(k)
        year = 2018 + (i + j) % 6
        lines += [
            title,
            f"{name}; {co1 if j % 2 == 0 else co2}",
            VENUES[j % 2],
            f"Year: {year} | Conference Paper | ACL Anthology {year}.bench-{i}.{j}",
            f"Abstract: We study {title.lower()} and show consistent gains on three public benchmarks "
            f"with a simpler training recipe.",
            "",
        ]
    return "\n".join(lines)


def ingest_synthetic(store: Store, n: int, offset: int = 0) -> list[int]:
    ids = []
    for i in range(offset, offset + n):
        text = synthetic_page(i)
        res = store.record_import(parse(text, path=f"synthetic/{i}.txt"), text=text, path=f"synthetic/{i}.txt")
        ids.append(res.researcher_id)
    return ids


# ---------------------------------------------------------------------------------------------- fake server process


@contextlib.contextmanager
def fake_server(latency: float, lifetime: float = 900.0) -> Iterator[str]:
    """bench/fake_openai_server.py in a subprocess; yields its /v1 base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "fake_openai_server.py"),
            "--port",
            "0",
            "--latency",
            str(latency),
            "--lifetime",
            str(lifetime),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"fake server did not start: {line} {proc.stderr.read()[:500]}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url + "/stats", timeout=5) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------------------------- 1. tokens


class Recorder(FunctionModel):
    """grounded_answer, keeping the messages of every call."""

    def __init__(self, **kw: Any):
        super().__init__(grounded_answer, **kw)


def _step_prompts(store: Store, settings: Any, rid: int) -> dict[str, dict[str, Any]]:
    """Each step's first prompt, captured from the step itself with conflation forced off."""
    from enrich.agent.steps import affiliation, summary, topics

    out = {}
    for name, mod in (("affiliation", affiliation), ("topics", topics), ("summary", summary)):
        rec = Recorder()
        ctx = make_context(store, rec, settings, rid, None, None)
        ctx.conflated = False
        outcome = mod.run(ctx)
        if rec.calls:
            msgs, how = rec.calls[0]["messages"], "sent by the step"
        elif name == "affiliation":  # the step found no organisation and asked nothing: what it would have sent
            shown, _ = affiliation.header_regions(ctx)
            msgs, how = (
                load_prompt("affiliation").messages(name=ctx.name, context=shown),
                f"not sent ({outcome.detail}); rendered from header_regions",
            )
        else:
            msgs, how = [], f"not sent ({outcome.detail})"
        out[name] = {"messages": msgs, "chars": message_chars(msgs), "how": how}
    return out


def _wire_overhead(step_messages: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Characters instructor adds in JSON mode (the schema system text), measured at a 0-latency server. A step that
    sends nothing on this listing is measured with a stand-in system + user message (the schema text does not depend
    on the messages; a naive prompt carries it all the same)."""
    from enrich.agent.llm.base import LLMError
    from enrich.agent.llm.factory import make_client
    from enrich.agent.steps.affiliation import AffiliationAnswer
    from enrich.agent.steps.summary import SummaryAnswer
    from enrich.agent.steps.topics import TopicsAnswer

    sys.path.insert(0, str(ROOT / "bench"))
    from fake_openai_server import start_in_thread

    server, url = start_in_thread(latency=0.0, lifetime=120)
    try:
        settings = load_settings(db=":memory:", backend="openai-compatible", base_url=url, model="default")
        client = make_client(settings, None, use_cache=False, max_reasks=0)
        out = {}
        for name, model in (("affiliation", AffiliationAnswer), ("topics", TopicsAnswer), ("summary", SummaryAnswer)):
            msgs = step_messages[name] or [{"role": "system", "content": "-"}, {"role": "user", "content": "-"}]
            before = server.request_chars
            try:  # no validation context: only what goes over the wire is counted, whatever the fake answers
                client.extract(model, msgs)
            except LLMError:
                pass
            out[name] = server.request_chars - before - message_chars(msgs)
        client.close()
        return out
    finally:
        server.shutdown()
        server.server_close()


def bench_tokens() -> dict[str, Any]:
    text = ARXIV_SEED.read_text(encoding="utf-8")
    settings = load_settings(db=":memory:")
    store = Store.open(":memory:")
    rid = store.record_import(
        parse(text, name=ARXIV_NAME, path=str(ARXIV_SEED)), text=text, path=str(ARXIV_SEED)
    ).researcher_id
    n_works = len(store.researcher_works(rid))
    steps = _step_prompts(store, settings, rid)
    store.close()

    # What the loop actually sends, end to end (fresh store: conflation decides).
    store = Store.open(":memory:")
    store.record_import(parse(text, name=ARXIV_NAME, path=str(ARXIV_SEED)), text=text, path=str(ARXIV_SEED))
    rec = Recorder(store=store)
    job = JobRunner(store, rec, settings).start(RunOptions())
    actual_chars = sum(message_chars(c["messages"]) for c in rec.calls)
    actual_steps = [c["response_model"].__name__ for c in rec.calls]
    conflated = job.counts.get("conflation:proposed", 0) > 0
    store.close()

    overhead = _wire_overhead({k: v["messages"] for k, v in steps.items()})

    # The naive prompt: the three instructions and the three questions around the whole page, in one call.
    sys_text = "\n\n".join(load_prompt(p).sections[0][1] for p in ("affiliation", "topics", "summary"))
    naive = [
        {"role": "system", "content": sys_text},
        {
            "role": "user",
            "content": f"Researcher: {ARXIV_NAME}\n\nThe whole profile page (data):\n<<<\n{text}\n>>>"
            "\n\nWhich organisation is this researcher affiliated with? Which topic tags "
            "describe their work? Write the summary.",
        },
    ]
    naive_chars = message_chars(naive)
    sent = {k for k, v in steps.items() if v["messages"]}  # a step that asks nothing sends no schema either
    per_step = {
        k: {
            "tokens": tokens(v["chars"]),
            "wire_tokens": tokens(v["chars"] + overhead[k] * (k in sent)),
            "how": v["how"],
        }
        for k, v in steps.items()
    }
    all_steps = sum(v["chars"] for v in steps.values())
    all_wire = all_steps + sum(overhead[k] for k in sent)
    naive_wire = naive_chars + sum(overhead.values())  # a naive call must also carry the three answer schemas
    sent_wire = actual_chars + sum(
        overhead[{"AffiliationAnswer": "affiliation", "TopicsAnswer": "topics", "SummaryAnswer": "summary"}[s]]
        for s in actual_steps
    )
    return {
        "seed": str(ARXIV_SEED.relative_to(ROOT)),
        "page_chars": len(text),
        "works": n_works,
        "estimator": TOKEN_ESTIMATOR,
        "per_step": per_step,
        "all_three_steps_tokens": tokens(all_steps),
        "all_three_steps_wire_tokens": tokens(all_wire),
        "loop_sends": {
            "calls": actual_steps,
            "conflation_flagged": conflated,
            "tokens": tokens(actual_chars),
            "wire_tokens": tokens(sent_wire),
        },
        "naive_tokens": tokens(naive_chars),
        "naive_wire_tokens": tokens(naive_wire),
        "ratio_all_three": round(all_steps / naive_chars, 3),
        "ratio_all_three_wire": round(all_wire / naive_wire, 3),
        "ratio_loop_sends_wire": round(sent_wire / naive_wire, 3),
        "goal": "<= 0.333",
    }


# ---------------------------------------------------------------------------------------------- 2-4. runs


def _run_job(n: int, concurrency: int, *, client_factory, profile: bool = False) -> dict[str, Any]:
    """A fresh file DB with n synthetic researchers, one JobRunner job; timing covers plan + run + job writes.
    A run that raises is reported, not fatal."""
    try:
        result = _run_job_once(n, concurrency, client_factory=client_factory, profile=profile)
    except Exception as exc:  # e.g. sqlite3.OperationalError: database is locked
        result = {"researchers": n, "concurrency": concurrency, "error": f"{type(exc).__name__}: {exc}"[:200]}
    result["variant"] = "as shipped"
    return result


def _run_job_once(n: int, concurrency: int, *, client_factory, profile: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="enrich-bench-") as tmp:
        db = os.path.join(tmp, "bench.db")
        store = Store.open(db)
        ingest_synthetic(store, n)
        thread_store = ThreadLocalStore(db) if concurrency > 1 else None
        settings = load_settings(db=db)
        client = client_factory(settings, thread_store or store, concurrency)
        runner = JobRunner(store, client, settings, thread_store=thread_store)
        prof = Sampler() if profile else None
        t0, cpu0 = time.perf_counter(), time.process_time()
        if prof:
            prof.start()
        try:
            job = runner.start(RunOptions(concurrency=concurrency))
        finally:
            if prof:
                prof.stop()
            seconds = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            client.close()
            if thread_store:
                thread_store.close()
        totals = llm_log.usage_totals(store)
        logged = {"n": totals["attempts"], "cached": totals["cache_hits"], "errors": totals["failed_attempts"]}
        store.close()
    counts = job.counts
    failed = {k: v for k, v in counts.items() if k.endswith(":failed")}
    result = {
        "researchers": n,
        "concurrency": concurrency,
        "workers": max(1, min(concurrency, getattr(client, "max_concurrency", 1))),
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "researchers_per_s": round(n / seconds, 1),
        "calls": counts.get("calls", 0),
        "calls_per_s": round(counts.get("calls", 0) / seconds, 1),
        "llm_calls_rows": logged["n"],
        "cached": logged["cached"] or 0,
        "errors": logged["errors"] or 0,
        "failed_steps": failed,
        "state": job.state,
        "topics": {k.split(":")[1]: v for k, v in counts.items() if k.startswith("topics:")},
        "summary": {k.split(":")[1]: v for k, v in counts.items() if k.startswith("summary:")},
    }
    if prof:
        result["profile"] = prof.summary()
    return result


def _run_variants(n: int, concurrency: int, **kw: Any) -> list[dict[str, Any]]:
    """The run as shipped (the store takes the write lock up front; the BEGIN IMMEDIATE patch this bench used to
    try is part of it)."""
    return [_run_job(n, concurrency, **kw)]


class Sampler:
    """A small sampling profiler over ALL threads (cProfile sees only the thread that enabled it): every `interval`
    seconds, the innermost frame of each worker thread and the innermost frame in this project's code."""

    def __init__(self, interval: float = 0.002):
        import threading

        self.interval, self.samples = interval, 0
        self.leaf: dict[str, int] = {}
        self.project: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @staticmethod
    def _where(frame: Any) -> str:
        path = frame.f_code.co_filename
        short = (
            path.split("site-packages/")[-1]
            if "site-packages/" in path
            else os.path.relpath(path, ROOT)
            if path.startswith(str(ROOT))
            else os.path.basename(path)
        )
        return f"{short}:{frame.f_code.co_name}"

    def _loop(self) -> None:
        import threading

        me = threading.get_ident()
        root = str(ROOT) + os.sep
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                self.samples += 1
                leaf = self._where(frame)
                self.leaf[leaf] = self.leaf.get(leaf, 0) + 1
                f = frame
                while f is not None and not (
                    f.f_code.co_filename.startswith(root)
                    and "site-packages" not in f.f_code.co_filename
                    and "bench" + os.sep not in f.f_code.co_filename
                ):
                    f = f.f_back
                if f is not None:
                    key = f"{self._where(f)} (line {f.f_lineno})"
                    self.project[key] = self.project.get(key, 0) + 1

    def summary(self, top: int = 12) -> dict[str, Any]:
        def share(d: dict[str, int]) -> list[tuple[str, float]]:
            return [(k, round(v / max(1, self.samples), 3)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

        return {"samples": self.samples, "leaf": share(self.leaf), "project": share(self.project)}


def _http_client_factory(base_url: str, *, settings_concurrency: bool = True):
    """make_client with its defaults. With `settings_concurrency` the run's concurrency is also the setting (as with
    ENRICH_CONCURRENCY=N), which sizes the client's request slots; without, the setting keeps its default."""
    from enrich.agent.llm.factory import make_client

    def make(settings: Any, store: Any, concurrency: int):
        s = settings.with_overrides(
            backend="openai-compatible",
            base_url=base_url,
            model="default",
            concurrency=concurrency if settings_concurrency else None,
        )
        return make_client(s, store)

    return make


def _fake_factory(settings: Any, store: Any, concurrency: int):
    return FunctionModel(grounded_answer, store=store)


def _with_ideal(r: dict[str, Any], concurrency: int, latency: float) -> dict[str, Any]:
    if "error" in r:
        return r
    ideal_calls = concurrency / latency
    per_researcher = r["calls"] / r["researchers"]
    r.update(
        ideal_calls_per_s=round(ideal_calls, 1),
        ideal_researchers_per_s=round(ideal_calls / per_researcher, 1) if per_researcher else None,
        efficiency=round(r["calls_per_s"] / ideal_calls, 3),
    )
    return r


SHORT_PER_WORKER = 8


def bench_throughput(latency: float, concurrencies: list[int], per_worker: int, profile: bool) -> dict[str, Any]:
    rows = []
    with fake_server(latency) as url:
        for c in concurrencies:
            n = max(16, per_worker * c)
            for r in _run_variants(
                n, c, client_factory=_http_client_factory(url), profile=profile and c == max(concurrencies)
            ):
                r["note"] = f"ENRICH_CONCURRENCY={c}"
                rows.append(_with_ideal(r, c, latency))
        if 32 in concurrencies and per_worker > SHORT_PER_WORKER:
            # a short job: the ramp-up (all workers start at once and queue for the one interpreter to build
            # their first request) and the drain weigh ~4x more than in the steady-state run above
            for r in _run_variants(SHORT_PER_WORKER * 32, 32, client_factory=_http_client_factory(url)):
                r["note"] = f"short run ({SHORT_PER_WORKER} researchers per worker): ramp-up and drain included"
                rows.append(_with_ideal(r, 32, latency))
        if 32 in concurrencies:  # RunOptions(concurrency=32) but the setting left at its default
            n = SHORT_PER_WORKER * 32
            for r in _run_variants(n, 32, client_factory=_http_client_factory(url, settings_concurrency=False)):
                r["note"] = "setting concurrency left at its default (the client's slots cap the workers)"
                rows.append(_with_ideal(r, 32, latency))
        stats = server_stats(url)
    return {"latency_s": latency, "runs": rows, "server": stats, "goal": ">= 0.9 x ideal at concurrency 32"}


def bench_pipeline(n: int, concurrencies: list[int]) -> dict[str, Any]:
    return {
        "runs": [r for c in concurrencies for r in _run_variants(n, c, client_factory=_fake_factory)],
        "cores": os.cpu_count(),
        "goal": ">= 200 researchers/s on 2 cores",
    }


def bench_http0(n: int, concurrencies: list[int]) -> dict[str, Any]:
    with fake_server(0.0) as url:
        runs = [r for c in concurrencies for r in _run_variants(n, c, client_factory=_http_client_factory(url))]
    return {"runs": runs, "cores": os.cpu_count()}


# ---------------------------------------------------------------------------------------------- output


def _print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Plain text (no wrapping in a pipe): right-aligned columns, the last column free text."""
    cells = [[str(x) for x in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header) - 1)]
    print(title)
    for k, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)) + "  " + r[-1])
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    print()


def _run_rows(runs: list[dict[str, Any]], with_ideal: bool) -> list[list[Any]]:
    rows = []
    for r in runs:
        if "error" in r:
            rows.append(
                [r["concurrency"], "", r["researchers"], "", "", "", "", ""]
                + (["", ""] if with_ideal else [])
                + [f"{r['variant']}: FAILED {r['error']}"]
            )
            continue
        row = [
            r["concurrency"],
            r["workers"],
            r["researchers"],
            r["calls"],
            r["seconds"],
            r["cpu_s"],
            r["researchers_per_s"],
            r["calls_per_s"],
        ]
        if with_ideal:
            row += [r.get("ideal_calls_per_s"), r.get("efficiency")]
        row += [
            f"{r['variant']}; {r['state']}; failed {sum(r['failed_steps'].values())}; cached {r['cached']}; "
            f"topics {r['topics']}; summary {r['summary']}" + (f"; {r['note']}" if r.get("note") else "")
        ]
        rows.append(row)
    return rows


def report(results: dict[str, Any]) -> None:
    head = ["conc", "workers", "researchers", "calls", "s", "cpu s", "res/s", "calls/s"]
    if "tokens" in results:
        t = results["tokens"]
        rows = [[k, v["tokens"], v["wire_tokens"], v["how"]] for k, v in t["per_step"].items()]
        rows += [
            ["all three steps", t["all_three_steps_tokens"], t["all_three_steps_wire_tokens"], ""],
            [
                "loop actually sends",
                t["loop_sends"]["tokens"],
                t["loop_sends"]["wire_tokens"],
                f"calls {t['loop_sends']['calls']}; conflation flagged: {t['loop_sends']['conflation_flagged']}",
            ],
            ["naive whole page", t["naive_tokens"], t["naive_wire_tokens"], "one call, three questions"],
        ]
        _print_table(
            f"1. tokens per researcher, {t['seed']} ({t['works']} works, {t['page_chars']} chars; "
            f"estimator {t['estimator']})",
            ["step", "prompt tok", "wire tok", "note"],
            rows,
        )
        print(
            f"   ratio all three steps / naive: {t['ratio_all_three']} (wire {t['ratio_all_three_wire']}); "
            f"loop / naive (wire): {t['ratio_loop_sends_wire']}; goal {t['goal']}"
        )
    if "throughput" in results:
        t = results["throughput"]
        _print_table(
            f"2. throughput, fake OpenAI-compatible server, {t['latency_s'] * 1000:.0f} ms per call",
            head + ["ideal calls/s", "x ideal", "note"],
            _run_rows(t["runs"], True),
        )
        print(f"   server: {t['server']}; goal {t['goal']}")
        for r in t["runs"]:
            if "profile" in r:
                p = r["profile"]
                print(
                    f"   sampled profile of the concurrency {r['concurrency']} run ({r['variant']}; {p['samples']} "
                    "thread samples; share of samples):"
                )
                print("     innermost frame:")
                for k, v in p["leaf"]:
                    print(f"       {v:6.1%}  {k}")
                print("     innermost frame in the project's code:")
                for k, v in p["project"]:
                    print(f"       {v:6.1%}  {k}")
    if "pipeline" in results:
        t = results["pipeline"]
        _print_table(
            f"3. pipeline overhead, in-process FunctionModel(grounded_answer), file DB, {t['cores']} cores",
            head + ["note"],
            _run_rows(t["runs"], False),
        )
        print(f"   goal {t['goal']}")
    if "http0" in results:
        t = results["http0"]
        _print_table(
            f"4. through a 0-latency HTTP fake (openai + instructor + httpx), {t['cores']} cores",
            head + ["note"],
            _run_rows(t["runs"], False),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--only", default="tokens,throughput,pipeline,http0", help="comma-separated sections")
    ap.add_argument("--latency", type=float, default=0.2, help="fake server latency per call (s)")
    ap.add_argument("--concurrency", default="1,8,32", help="throughput concurrencies")
    ap.add_argument(
        "--per-worker",
        type=int,
        default=32,
        help="researchers per worker in throughput runs (min 16 researchers); the default measures the "
        "steady state, and at 32 a short run with 8 per worker is reported too",
    )
    ap.add_argument("--pipeline-n", type=int, default=500, help="researchers in the pipeline run")
    ap.add_argument("--http0-n", type=int, default=300, help="researchers in the 0-latency HTTP run")
    ap.add_argument("--profile", action="store_true", help="sample-profile the highest-concurrency throughput run")
    args = ap.parse_args()
    only = set(args.only.split(","))
    import enrich.agent.llm as agent_llm

    agent_llm.ALLOW_REAL_CALLS = True  # the "real" client only ever talks to our 127.0.0.1 fake
    results: dict[str, Any] = {}
    if "tokens" in only:
        results["tokens"] = bench_tokens()
    if "throughput" in only:
        results["throughput"] = bench_throughput(
            args.latency, [int(c) for c in args.concurrency.split(",")], args.per_worker, args.profile
        )
    if "pipeline" in only:
        results["pipeline"] = bench_pipeline(args.pipeline_n, [1, 2])
    if "http0" in only:
        results["http0"] = bench_http0(args.http0_n, [1, 2, 8])
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        report(results)


if __name__ == "__main__":
    main()
