"""Benchmark of the local ROR index: import time of both subset dumps, matching throughput on real affiliation
strings, match latency, ROR-id accuracy on the dev set.

Run by hand:  .venv/bin/python bench/bench_ror.py [--shared ../shared] [--strings FILE] [--rounds 20] [--json]
Reads ../shared/data/ror/*.json.gz, the real strings of --strings (default: ROR's Springer test set in
../shared/eval/ror-match/; plain lines, JSONL or a JSON array) and ../shared/eval/dev/gold.jsonl (header and byline
affiliation cases: match the page's `evidence` string, alone and with the case's e-mail addresses, against the gold
`ror_id`), plus the first line of seeds/ieee-author-page.txt (gold https://ror.org/05d2yfz11) and strings that name
no institution.

Throughput is one process, one thread, index built and warmed on the first 200 strings, then one timed pass over
every string (each seen once: no cache helps it); wall-clock and CPU time are both reported, since the machines
this runs on are shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from enrich.agent.ror import RorIndex, match, match_all  # noqa: E402
from enrich.agent.ror_dump import read_dump  # noqa: E402
from enrich.agent.ror_input import read_affiliations  # noqa: E402
from enrich.store import Store  # noqa: E402
from enrich.store.ror import load_orgs  # noqa: E402

DUMPS = ["data/ror/ror-v2-subset.json.gz", "data/ror/ror-v1-only-latest.json.gz"]
IEEE_GOLD = "https://ror.org/05d2yfz11"
NO_INSTITUTION = [
    "Open to collaborate",
    "Researcher profile",
    "Independent researcher",
    "PhD student",
    "Natural Language Processing",
    "Beijing, China",
    "Department of Computer Science",
    "Tao Sun",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="The shared reference folder.")
    parser.add_argument("--rounds", type=int, default=20, help="Timed rounds over all query strings.")
    parser.add_argument(
        "--strings",
        default=None,
        help="Real affiliation strings for the throughput run (default: SHARED/eval/ror-match/ror-api-springer_2023_10_31.json).",
    )
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    args = parser.parse_args()
    shared = Path(args.shared)

    report: dict = {"imports": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")  # WAL, migrated
        for rel in DUMPS:
            release, orgs = read_dump(shared / rel)
            started = time.perf_counter()
            counts = load_orgs(store, orgs, release=release, source=rel)
            report["imports"].append(
                {
                    "file": rel,
                    "records": counts.records,
                    "names": counts.names,
                    "domains": counts.domains,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
        report["import_seconds_total"] = round(sum(i["seconds"] for i in report["imports"]), 2)

        index = RorIndex.of(store)
        started = time.perf_counter()
        match("warm-up: University of Essex", index=index)  # builds the in-memory index
        report["first_match_ms"] = round((time.perf_counter() - started) * 1000, 1)
        strings = read_affiliations(args.strings or str(shared / "eval/ror-match/ror-api-springer_2023_10_31.json"))
        memory = index.memory
        for text in strings[:200]:
            match_all(text, index=memory)
        wall, cpu = time.perf_counter(), time.process_time()
        for text in strings:
            match_all(text, index=memory)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report["throughput"] = {
            "strings": len(strings),
            "per_second_wall": round(len(strings) / wall),
            "per_second_cpu": round(len(strings) / cpu),
        }

        cases = []
        for line in (shared / "eval/dev/gold.jsonl").read_text().splitlines():
            case = json.loads(line)
            if case["kind"] in ("header_affiliation", "byline_affiliation") and case.get("evidence"):
                emails = [e for e in case.get("evidence_all") or [] if "@" in e and " " not in e]
                cases.append((case["case_id"], case["evidence"], emails, case["ror_id"]))
        ieee_line = (ROOT / "seeds/ieee-author-page.txt").read_text().splitlines()[0].strip()
        cases.append(("seed:ieee", ieee_line, [], IEEE_GOLD))

        rows = []
        for case_id, text, emails, gold in cases:
            alone = match(text, index=index)
            with_mail = match(text, emails=emails, index=index)
            rows.append(
                {
                    "case": case_id,
                    "evidence": text,
                    "gold": gold,
                    "got": alone.ror_id if alone else None,
                    "score": alone.score if alone else None,
                    "ok": bool(alone and alone.ror_id == gold),
                    "ok_with_email": bool(with_mail and with_mail.ror_id == gold),
                }
            )
        negatives = {t: match(t, index=index) for t in NO_INSTITUTION}

        queries = [c[1] for c in cases] + NO_INSTITUTION
        latencies = []
        for _ in range(args.rounds):
            for text in queries:
                started = time.perf_counter()
                match(text, index=index)
                latencies.append((time.perf_counter() - started) * 1000)

    dev = [r for r in rows if r["case"] != "seed:ieee"]
    report.update(
        {
            "dev_cases": len(dev),
            "dev_accuracy": round(sum(r["ok"] for r in dev) / len(dev), 3),
            "dev_accuracy_with_email": round(sum(r["ok_with_email"] for r in dev) / len(dev), 3),
            "ieee_seed": next(r for r in rows if r["case"] == "seed:ieee"),
            "no_institution_none": f"{sum(v is None for v in negatives.values())}/{len(negatives)}",
            "latency_ms": {
                "n": len(latencies),
                "p50": round(statistics.median(latencies), 2),
                "p95": round(percentile(latencies, 95), 2),
                "max": round(max(latencies), 2),
            },
            "misses": [r for r in rows if not r["ok"]],
        }
    )
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    for imp in report["imports"]:
        print(
            f"import {imp['file']}: {imp['records']:,} records, {imp['names']:,} names, {imp['domains']:,} domains"
            f" in {imp['seconds']} s"
        )
    print(f"first match (in-memory index build): {report['first_match_ms']} ms")
    tp = report["throughput"]
    print(
        f"throughput over {tp['strings']:,} real strings, one process: {tp['per_second_wall']:,} strings/s wall-clock,"
        f" {tp['per_second_cpu']:,} strings/s of CPU time"
    )
    lat = report["latency_ms"]
    print(f"match latency over {lat['n']} calls: p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms")
    print(
        f"dev ROR-id accuracy (header+byline, evidence only): {report['dev_accuracy']:.1%} of {len(dev)};"
        f" with e-mails: {report['dev_accuracy_with_email']:.1%}"
    )
    seed = report["ieee_seed"]
    print(f"IEEE seed {seed['evidence']!r} -> {seed['got']} ({'ok' if seed['ok'] else 'WRONG'})")
    print(f"strings naming no institution answered None: {report['no_institution_none']}")
    for miss in report["misses"]:
        print(f"  miss {miss['case']}: {miss['evidence']!r} -> {miss['got']} (gold {miss['gold']})")


if __name__ == "__main__":
    main()
