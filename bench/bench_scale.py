"""A platform's worth of profiles: ingest, run, review and export at 100,000 researchers.

    .venv/bin/python bench/bench_scale.py                       # 100,000 researchers (takes a while: nice it)
    .venv/bin/python bench/bench_scale.py --researchers 5000    # a quick look
    .venv/bin/python bench/bench_scale.py --repeat-dev /work/shared/eval/dev --copies 660
    .venv/bin/python bench/bench_scale.py --reuse --workdir DIR       # web + review again on a kept store

Scale mode builds distinct synthetic researchers from two real layouts (a BZPEER profile as in seeds/, an
author page as in the ACL-style listings), each 5-6 KB of text with 6-12 works, plus 2 % duplicate profiles (the
same works under the other layout and a name printed with an initial), and ~3 % pages that mix two same-name
people (split candidates). Everything is made here from word lists and templates (nothing read from shared data).
It then measures, each step in its own process (wall time, CPU time, peak RSS, the load average around it):
  - `enrich ingest --jsonl` (listings/s),
  - `enrich run --backend fake` (the agent with the fake model; merge detection included),
  - the store's bytes per researcher (sqlite dbstat: everything but the call log, and the call log per call),
  - `enrich export` (lines/s),
  - loopback GETs of every web page (median of 20 warm requests) against `enrich serve`,
  - `enrich review --json --limit 50` (in-process, warm, median of 20; and as a fresh process).

Repeat mode (`--repeat-dev DIR`) ingests each listing of DIR `--copies` times (distinct by trailing white space),
runs `enrich run --backend fake` and counts the merge proposals (one per repeated page is the goal). The pages are
read at run time and never stored in the repository.

The last lines print each figure next to its goal (MET / NOT MET). On a shared machine the wall times mostly
measure the other work: compare the CPU seconds, and the load averages printed with each phase.
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
import threading
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


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (worker processes), from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: list[str], env: dict | None = None, stdout=subprocess.DEVNULL) -> dict:
    """Run a command; its wall time, CPU time (with its worker processes') and peak memory: its own (wait4) and
    the largest sum over it and its worker processes (sampled from /proc every 0.2 s)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    peak_tree = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak_tree[0] = max(peak_tree[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = b""
    while proc.stderr and (chunk := proc.stderr.read(1 << 16)):
        err = (err + chunk)[-8192:]  # a job prints a line per step and researcher: keep the end
    stop.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        # CPU time of the process and its reaped workers: on a shared machine the wall time mostly measures the others
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(max(usage.ru_maxrss, peak_tree[0]) / 1024, 1),
        "peak_rss_own_mb": round(usage.ru_maxrss / 1024, 1),
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


GOALS = {
    "ingest listings/s": ">= 1,000 (wall; RSS < 500 MB)",
    "export lines/s": ">= 5,000 (wall; constant memory)",
    "bytes per researcher before the call log": "<= 10,240",
    "call log bytes per call": "reported",
    "web page median": "< 50 ms each, page size independent of the queue length",
    "review --limit 50 median": "< 50 ms (warm, in process)",
    "repeat run": "< 120 s wall, < 1 GB peak RSS, one merge proposal per repeated page",
}


BUILT_AS = "built-as.txt"  # in the workdir: which kind of store the build made (--reuse reads it)


def _built_as(work: Path) -> str:
    f = work / BUILT_AS
    return f.read_text().strip() if f.exists() else "unknown"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def phase(report: dict, name: str, fn, *args, **kwargs):
    """Run one measured phase; its load average before and after go into its report (the machine may be shared)."""
    before = _load()
    out = fn(*args, **kwargs)
    if isinstance(out, dict):
        out["load_avg_before_after"] = [before, _load()]
    report[name] = out
    print(json.dumps({name: out}), flush=True)
    return out


def verdicts(report: dict, repeat: bool) -> list[str]:
    """Each figure next to its goal."""
    lines = []

    def line(goal: str, figure: str, met: bool | None) -> None:
        mark = "n/a " if met is None else ("MET " if met else "NOT MET")
        lines.append(f"{mark:8} {goal}: {figure}   [goal {GOALS[goal]}]")

    ing = report.get("ingest")
    if repeat:  # the ingest and size goals are the synthetic store's; repeated pages are bigger than its
        ing = None
    if ing:
        line(
            "ingest listings/s",
            f"{ing['listings_per_s']}/s wall, {ing['listings_per_cpu_s']}/CPU-s, peak RSS {ing['peak_rss_mb']} MB",
            ing["listings_per_s"] >= 1000 and ing["peak_rss_mb"] < 500,
        )
    st = report.get("store")
    if st:
        b = st["bytes_per_researcher_before_call_log"]
        if repeat:
            kind = report.get("built_as", "repeat")  # the goal is the synthetic store's
            why = f"{b} bytes (not judged: the store was built as {kind!r}, the goal is for the synthetic one)"
            line("bytes per researcher before the call log", why, None)
        else:
            line("bytes per researcher before the call log", f"{b} bytes", b <= 10_240)
        line("call log bytes per call", f"{st['call_log_bytes_per_call']} bytes ({st['calls']} calls)", None)
    exp = report.get("export")
    if exp:
        line(
            "export lines/s",
            f"{exp['lines_per_s']}/s wall, {exp['lines_per_cpu_s']}/CPU-s, peak RSS {exp['peak_rss_mb']} MB",
            exp["lines_per_s"] >= 5000,
        )
    for page, t in (report.get("web") or {}).items():
        if not isinstance(t, dict):  # the load averages around the phase
            continue
        line(
            "web page median",
            f"{page}: {t['median_ms']} ms, {t['bytes']} bytes (HTTP {t['status']})",
            t["median_ms"] < 50,
        )
    rv = report.get("review_limit_50")
    if rv:
        line(
            "review --limit 50 median",
            f"{rv['in_process_median_ms']} ms in process ({rv['rows']} rows); a fresh process {rv['fresh_process_median_ms']} ms",
            rv["in_process_median_ms"] < 50,
        )
    if repeat and report.get("run"):
        run, mp = report["run"], report.get("merge_proposals", {})
        want = report.get("pages")
        line(
            "repeat run",
            f"{run['seconds']} s wall, {run['cpu_seconds']} CPU-s, peak RSS {run['peak_rss_mb']} MB, "
            f"{mp.get('count')} merge proposals for {want} pages (group sizes {sorted(set(mp.get('group_sizes', [])))})",
            run["seconds"] < 120 and run["peak_rss_mb"] < 1024 and mp.get("count") == want,
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--researchers", type=int, default=100_000)
    ap.add_argument("--repeat-dev", type=Path, default=None, help="Repeat mode: the listings of this folder.")
    ap.add_argument("--copies", type=int, default=660)
    ap.add_argument("--workdir", type=Path, default=None, help="Keep the store here (default: a temporary folder).")
    ap.add_argument("--skip-web", action="store_true")
    ap.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="`enrich run --processes` (default: this machine's CPUs).",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="Build nothing: measure the web pages and `enrich review` on the store already in --workdir.",
    )
    args = ap.parse_args()
    if args.reuse and args.workdir is None:
        ap.error("--reuse needs --workdir (the folder of a store built before)")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    db, src = work / "scale.db", work / "listings.jsonl"
    env = {**os.environ, "ENRICH_BACKEND": "fake", "ENRICH_DB": str(db)}
    report: dict = {"workdir": str(work), "cpus": os.cpu_count(), "load_avg_at_start": _load()}
    try:
        if args.reuse:
            if not db.exists():
                ap.error(f"no store at {db}")
            report["store"] = store_bytes(db)
            # the size goal is the synthetic store's: judged again only when the build said it made one
            report["built_as"] = _built_as(work)
            phase(report, "web", web_timings, db, env)
            phase(report, "review_limit_50", review_timings, db, env)
        else:
            for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                f.unlink(missing_ok=True)
            (work / BUILT_AS).write_text("repeat" if args.repeat_dev else "synthetic")
            if args.repeat_dev:
                report["records"] = repeated_jsonl(src, args.repeat_dev, args.copies)
                report["pages"] = report["records"] // args.copies
            else:
                report["generated"] = synthetic_jsonl(src, args.researchers)
            n = report.get("records") or report["generated"]["records"]

            def ingest() -> dict:
                out = timed([ENRICH, "--db", str(db), "ingest", "--jsonl", str(src), "--no-llm"], env)
                out["listings_per_s"] = round(n / out["seconds"])
                out["listings_per_cpu_s"] = round(n / max(out["cpu_seconds"], 1e-6))
                return out

            phase(report, "ingest", ingest)
            run_cmd = [ENRICH, "--db", str(db), "run", "--backend", "fake", "--processes", str(args.processes)]
            report["run_command"] = " ".join(run_cmd[1:])
            phase(report, "run", timed, run_cmd, env)
            phase(report, "store", store_bytes, db)
            if args.repeat_dev:
                from enrich.store import Store, stats

                store = Store.open(db)
                sizes = stats.pending_merge_group_sizes(store)
                store.close()
                report["merge_proposals"] = {"count": len(sizes), "group_sizes": sizes}
            else:

                def export() -> dict:
                    out_file = work / "export.jsonl"
                    out = timed([ENRICH, "--db", str(db), "export", "-o", str(out_file)], env)
                    lines = sum(1 for _ in out_file.open())
                    out.update(
                        lines=lines,
                        lines_per_s=round(lines / out["seconds"]),
                        lines_per_cpu_s=round(lines / max(out["cpu_seconds"], 1e-6)),
                    )
                    return out

                phase(report, "export", export)
                if not args.skip_web:
                    phase(report, "web", web_timings, db, env)
                    phase(report, "review_limit_50", review_timings, db, env)
        report["load_avg_at_end"] = _load()
        print(json.dumps(report, indent=2))
        print(f"\nGoals (issue 17), {os.cpu_count()} CPUs, load average {report['load_avg_at_start']} -> {_load()}:")
        for ln in verdicts(report, bool(args.repeat_dev) if not args.reuse else report["built_as"] != "synthetic"):
            print("  " + ln)
        if not args.reuse:
            print(f"\nThe store: {db}  (web and review again, nothing rebuilt: {sys.argv[0]} --reuse --workdir {work})")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
