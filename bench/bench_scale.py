"""A platform's worth of profiles: ingest, run, review and export at 100,000 researchers.

    .venv/bin/python bench/bench_scale.py                       # 100,000 researchers (takes a while: nice it)
    .venv/bin/python bench/bench_scale.py --researchers 5000    # a quick look
    .venv/bin/python bench/bench_scale.py --repeat-dev /work/shared/eval/dev --copies 660

Scale mode builds distinct synthetic researchers from two real layouts (a BZPEER profile as in seeds/, an
author page as in the ACL-style listings), each 5-6 KB of text with 6-12 works, plus 2 % duplicate profiles (the
same works under the other layout and a name printed with an initial), and ~3 % pages that mix two same-name
people (split candidates). Everything is made here from word lists and templates (nothing read from shared data).
It then measures, each step in its own process (wall time, peak RSS):
  - `enrich ingest --jsonl` (listings/s),
  - `enrich run --backend fake` (the agent with the fake model; merge detection included),
  - the store's bytes per researcher (sqlite dbstat: everything but the call log, and the call log per call),
  - `enrich export` (lines/s),
  - loopback GETs of every web page (median of 20 warm requests) against `enrich serve`,
  - `enrich review --json --limit 50` (in-process, warm, median of 20; and as a fresh process).

Repeat mode (`--repeat-dev DIR`) ingests each listing of DIR `--copies` times (distinct by trailing white space),
runs `enrich run --backend fake` and counts the merge proposals (one per repeated page is the goal). The pages are
read at run time and never stored in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENRICH = str(Path(sys.executable).with_name("enrich"))

GIVEN = (
    "Ada Alan Amir Ana Anika Arjun Aziz Bao Beatriz Bilal Carla Chen Chiara Dara Dmitri Elena Emre Esther Farah "
    "Felix Fatima Giulia Hana Hiro Ines Ivan Jamal Jia Jonas Julia Kai Kenji Lara Lena Liam Lin Lucas Maya Mei "
    "Mateo Nadia Nikhil Noor Omar Olga Paulo Priya Quentin Rafael Rania Ravi Rosa Sara Sergei Shan Sofia Tariq "
    "Tomas Uma Valentina Victor Wei Xin Yara Yusuf Zara Zhen"
).split()
SURNAME = (
    "Abara Adeyemi Almeida Andersen Arslan Bauer Becker Bianchi Castro Chandra Costa Dahl Demir Dubois Eriksen "
    "Fischer Fonseca Garcia Gupta Haddad Hansen Horvat Ibrahim Ito Jensen Kaur Keller Kim Kowalski Kumar Larsen "
    "Lindqvist Lopez Mahmoud Martins Meyer Moreau Nakamura Novak Okafor Olsen Park Petrov Quispe Rahman Rossi Sato "
    "Schmidt Silva Singh Sokolov Tanaka Torres Ueda Vasquez Wagner Watanabe Weber Yamamoto Yilmaz Zhang Zhou Zimmer"
).split()
TOPIC_WORDS = {
    "nlp": "language parsing translation dialogue summarisation tokens corpora syntax semantics speech".split(),
    "vision": "images segmentation detection video depth pixels scenes cameras recognition tracking".split(),
    "learning": "gradients optimisation generalisation regularisation kernels bandits embeddings priors".split(),
    "systems": "scheduling caching storage consensus networks compilers latency throughput replication".split(),
    "bio": "proteins genomes cells sequencing enzymes folding expression pathways microbiomes assays".split(),
    "physics": "plasmas lattices spectra photons turbulence superconductors quasars neutrinos optics".split(),
}
VERBS = "Learning Modelling Scaling Measuring Revisiting Understanding Detecting Predicting Optimising".split()
ADJ = "robust sparse adaptive efficient scalable interpretable hierarchical federated causal stochastic".split()
SENTENCES = [
    "We study {a} methods for {t1} and {t2} under realistic constraints.",
    "Existing approaches to {t1} rely on assumptions that rarely hold for {t2}.",
    "We propose a {a} framework that couples {t1} with {t2} and analyse its behaviour.",
    "Experiments on {n} benchmarks show consistent gains over strong baselines in {t1}.",
    "Our analysis explains when {t2} helps and when it hurts {t1}.",
    "The method scales to {n} million examples on commodity hardware.",
    "We release code and data to support further work on {a} {t1}.",
    "A theoretical bound relates the error of {t1} to the diversity of {t2}.",
    "Ablations isolate the contribution of each component of the {a} design.",
]
VENUES = ["NeurIPS", "ICML", "ACL", "EMNLP", "CVPR", "SIGMOD", "OSDI", "Nature Methods", "PRL", "Bioinformatics"]
ORGS = ["University of {c}", "{c} Institute of Technology", "National Laboratory of {c}", "{c} Research Centre"]
CITIES = "Oslo Lyon Porto Kyoto Austin Leeds Graz Delft Pune Accra Lima Turku Busan Perth Basel Quito".split()


# ---------------------------------------------------------------------------------------------- synthetic pages


def _abstract(rng: random.Random, topic: str, length: int, title: str) -> str:
    words = TOPIC_WORDS[topic]
    # real abstracts open differently: the first sentence names the work's own subject
    out = [f"This work on {title.lower()} asks what {rng.choice(words)} can tell us about {rng.choice(words)}."]
    while sum(len(s) + 1 for s in out) < length:
        t1, t2 = rng.sample(words, 2)
        s = rng.choice(SENTENCES).format(a=rng.choice(ADJ), t1=t1, t2=t2, n=rng.randint(2, 40))
        out.append(s + f" ({rng.randint(1000, 99999)})" if rng.random() < 0.15 else s)
    return " ".join(out)


def _work(rng: random.Random, topic: str, me: str, serial: int, length: int) -> dict:
    words = TOPIC_WORDS[topic]
    title = f"{rng.choice(VERBS)} {rng.choice(ADJ)} {rng.choice(words)} for {rng.choice(words)} ({serial})"
    coauthors = [f"{rng.choice(GIVEN)} {rng.choice(SURNAME)}" for _ in range(rng.randint(1, 4))]
    authors = coauthors[:]
    authors.insert(rng.randint(0, len(authors)), me)
    return {
        "title": title,
        "year": rng.randint(2012, 2025),
        "venue": rng.choice(VENUES),
        "authors": authors,
        "abstract": _abstract(rng, topic, length, title),
    }


def person(rng: random.Random, serial: int, *, works: int | None = None) -> dict:
    name = f"{rng.choice(GIVEN)} {rng.choice(SURNAME)}"
    topic = rng.choice(list(TOPIC_WORDS))
    n = works or rng.randint(6, 12)
    length = 4000 // n  # abstracts share ~4 KB: a page of 5-6 KB whatever its number of works
    return {
        "name": name,
        "org": rng.choice(ORGS).format(c=rng.choice(CITIES)),
        "works": [_work(rng, topic, name, serial * 100 + i, length) for i in range(n)],
    }


def bzpeer_page(p: dict) -> str:
    head = (
        f"Researcher profile\n\n{p['name']}\n\n{p['name']} contributes to research discovery and scholarly "
        f"infrastructure.\n\nResearcherAffiliation not importedOpen to collaborate\n\nTrust snapshot\n\nQuick read\n\n"
        f"Trust 15 - UnverifiedVerification L1Unclaimed author\n{len(p['works'])}works\n0followers\n5topics\n"
        f"4close collaborators\n\nPublished work\n\n{len(p['works'])} published item(s)\n\n"
    )
    body = "".join(f"preprint{w['year']}arXiv\n\n{w['title']}\n\n{w['abstract']}\n\n" for w in p["works"])
    return head + body


def author_page(p: dict, name: str | None = None) -> str:
    out = [f"{name or p['name']}\n", f"{p['org']}\n", f"Publications ({len(p['works'])})\n"]
    for w in p["works"]:
        out.append(
            f"{w['title']}\n{'; '.join(w['authors'])}\nProceedings of {w['venue']} {w['year']}\n"
            f"Year: {w['year']} | Conference Paper | {w['venue']} {w['year']}\nAbstract: {w['abstract']}\n"
        )
    return "\n".join(out)


def synthetic_jsonl(path: Path, n: int, seed: int = 17, dup_rate: float = 0.02, mix_rate: float = 0.03) -> dict:
    """n distinct researchers (+ dup_rate duplicates) as JSONL records; returns what was written."""
    rng = random.Random(seed)
    counts = {"records": 0, "duplicates": 0, "mixed": 0, "bytes": 0}
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            p = person(rng, i)
            layout = bzpeer_page if i % 2 else author_page
            if rng.random() < mix_rate:  # two same-name people on one page: split candidates
                other = person(rng, n + i, works=rng.randint(3, 6))
                other_works = [
                    dict(w, authors=[p["name"] if a == other["name"] else a for a in w["authors"]])
                    for w in other["works"]
                ]
                p = dict(p, works=p["works"][: max(3, len(p["works"]) // 2)] + other_works)
                counts["mixed"] += 1
            text = layout(p)
            fh.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")
            counts["records"] += 1
            counts["bytes"] += len(text)
            if rng.random() < dup_rate:  # the same person on another platform page: the other layout
                given, _, surname = p["name"].partition(" ")
                twin = author_page(p, f"{given[0]}. {surname}") if layout is bzpeer_page else bzpeer_page(p)
                fh.write(json.dumps({"id": f"r{i}-dup", "text": twin}) + "\n")
                counts["records"] += 1
                counts["duplicates"] += 1
    return counts


def repeated_jsonl(path: Path, folder: Path, copies: int) -> int:
    pages = sorted(f for f in folder.iterdir() if f.suffix in (".txt", ".html", ".md"))
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for k in range(copies):
            for f in pages:
                text = f.read_text(encoding="utf-8").rstrip() + "\n" + " " * k  # distinct text, same page
                fh.write(json.dumps({"id": f"{f.stem}-{k}", "text": text}) + "\n")
                n += 1
    return n


# ---------------------------------------------------------------------------------------------- measuring


def timed(cmd: list[str], env: dict | None = None, stdout=subprocess.DEVNULL) -> dict:
    """Run a command; its wall time and peak RSS (its own, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        # CPU time of the process: on a machine shared with other work, the wall time mostly measures the others
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": proc.returncode,
        "stderr_tail": err.decode(errors="replace").strip().splitlines()[-3:],
    }


def store_bytes(db: Path) -> dict:
    from enrich.store import Store, stats

    store = Store.open(db)
    try:
        per_table, n = stats.table_bytes(store), stats.counts(store)
    finally:
        store.close()
    call_log = per_table.get("llm_calls", 0) + per_table.get("llm_cache", 0)
    total = sum(per_table.values())
    return {
        "file_bytes": db.stat().st_size,
        **n,
        "bytes_per_researcher_before_call_log": round((total - call_log) / max(n["researchers"], 1)),
        "call_log_bytes": call_log,
        "call_log_bytes_per_call": round(call_log / n["calls"]) if n["calls"] else None,
        "largest_tables": dict(sorted(per_table.items(), key=lambda kv: -kv[1])[:8]),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_timings(db: Path, env: dict, warm: int = 20) -> dict:
    import httpx

    token, port = secrets.token_urlsafe(16), _free_port()
    server = subprocess.Popen(
        [ENRICH, "--db", str(db), "serve", "--port", str(port), "--token", token],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/static/app.css", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        out = {}
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as c:
            c.get(f"/?token={token}")
            from enrich.store import Store, stats

            store = Store.open(db)
            ids = stats.sample_ids(store)
            store.close()
            rid, deep = ids["researcher"] or 1, ids["deep"] or 0
            pages = {
                "queue": "/",
                "queue deep page": f"/?after={deep}",
                "queue field=summary": "/?field=summary",
                "queue kind=merge": "/?kind=merge",
                "queue sort=confidence": "/?sort=confidence",
                "proposal (middle)": f"/proposals/{ids['middle'] or 1}",
                "researchers": "/researchers",
                "researchers deep page": f"/researchers?after={max(rid - 100, 0)}",
                "researcher": f"/researchers/{rid}",
                "audit": "/audit",
                "bulk confirmation (field=topics)": "/bulk?field=topics&action=accept",
            }
            for label, url in pages.items():
                c.get(url)  # warm-up
                times, size = [], 0
                for _ in range(warm):
                    t0 = time.perf_counter()
                    r = c.get(url)
                    times.append((time.perf_counter() - t0) * 1000)
                    size = len(r.content)
                out[label] = {"median_ms": round(statistics.median(times), 1), "bytes": size, "status": r.status_code}
        return out
    finally:
        server.terminate()
        server.wait(10)


def review_timings(db: Path, env: dict, warm: int = 20) -> dict:
    from click.testing import CliRunner

    os.environ["ENRICH_DB"] = str(db)
    from enrich.agent.cli import cli

    runner = CliRunner()
    args = ["--db", str(db), "review", "--json", "--limit", "50"]
    runner.invoke(cli, args)
    times = []
    for _ in range(warm):
        t0 = time.perf_counter()
        res = runner.invoke(cli, args)
        times.append((time.perf_counter() - t0) * 1000)
    process = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([ENRICH, *args], env=env, stdout=subprocess.DEVNULL, check=True)
        process.append((time.perf_counter() - t0) * 1000)
    return {
        "in_process_median_ms": round(statistics.median(times), 1),
        "rows": len(json.loads(res.stdout)),
        "fresh_process_median_ms": round(statistics.median(process), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--researchers", type=int, default=100_000)
    ap.add_argument("--repeat-dev", type=Path, default=None, help="Repeat mode: the listings of this folder.")
    ap.add_argument("--copies", type=int, default=660)
    ap.add_argument("--workdir", type=Path, default=None, help="Keep the store here (default: a temporary folder).")
    ap.add_argument("--skip-web", action="store_true")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    db, src = work / "scale.db", work / "listings.jsonl"
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    env = {**os.environ, "ENRICH_BACKEND": "fake", "ENRICH_DB": str(db)}
    report: dict = {"workdir": str(work)}
    try:
        if args.repeat_dev:
            report["records"] = repeated_jsonl(src, args.repeat_dev, args.copies)
        else:
            report["generated"] = synthetic_jsonl(src, args.researchers)
        ingest = timed([ENRICH, "--db", str(db), "ingest", "--jsonl", str(src), "--no-llm"], env)
        n = report.get("records") or report["generated"]["records"]
        report["ingest"] = {
            **ingest,
            "listings_per_s": round(n / ingest["seconds"]),
            "listings_per_cpu_s": round(n / max(ingest["cpu_seconds"], 1e-6)),
        }
        print(json.dumps({"ingest": report["ingest"]}), flush=True)
        run = timed([ENRICH, "--db", str(db), "run", "--backend", "fake"], env)
        report["run"] = run
        print(json.dumps({"run": run}), flush=True)
        report["store"] = store_bytes(db)
        print(json.dumps({"store": report["store"]}), flush=True)
        if args.repeat_dev:
            from enrich.store import Store, stats

            store = Store.open(db)
            sizes = stats.pending_merge_group_sizes(store)
            store.close()
            report["merge_proposals"] = {"count": len(sizes), "group_sizes": sizes}
        else:
            out = work / "export.jsonl"
            exp = timed([ENRICH, "--db", str(db), "export", "-o", str(out)], env)
            lines = sum(1 for _ in out.open())
            report["export"] = {
                **exp,
                "lines": lines,
                "lines_per_s": round(lines / exp["seconds"]),
                "lines_per_cpu_s": round(lines / max(exp["cpu_seconds"], 1e-6)),
            }
            print(json.dumps({"export": report["export"]}), flush=True)
            if not args.skip_web:
                report["web"] = web_timings(db, env)
                report["review_limit_50"] = review_timings(db, env)
        print(json.dumps(report, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
