#!/usr/bin/env python3
"""Evaluate summaries sentence by sentence.

    .venv/bin/python bench/eval_summaries.py [LISTINGS_DIR] [--backend embedded|fake] [--keep DIR] [--limit N]
    .venv/bin/python bench/eval_summaries.py --checks CASES.jsonl --listings DIR [--out PREDICTIONS.jsonl]

Without --checks: ingests the listings (default ../shared/eval/dev) into a fresh database, runs the summary step
(`enrich run --only summary`), prints every applied sentence with the titles it cites, then the aggregate figures:
summaries applied / proposed / failed, works cited per sentence, share passing the support check, fragments,
near-duplicates, filler, readability, validation failures, answers cut off at the cap, step time against its budget.

With --checks: runs the project's own sentence checks (no model) on labelled cases -- each case's listing is parsed,
`researcher`, `previous`, `sentence` and `cites` (titles) are taken as given -- and writes predictions
`{"case", "accepted", "reason"}`, one per line, for the cases folder's score.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside a checkout; a worktree in wt/<name> finds it one level further up
SHARED = next(
    (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()), ROOT.parent / "shared"
)
ENRICH = [sys.executable, "-m", "enrich.agent.cli"]


def _norm(title: str) -> str:
    return " ".join(title.split()).casefold()


def checker_for(listing_path: Path, researcher: str):
    from enrich.agent.ingest import parse
    from enrich.agent.steps.support import SupportChecker, WorkText

    parsed = parse(listing_path.read_text(encoding="utf-8"), path=str(listing_path))
    works = [
        WorkText(key=_norm(w.title or f"#{i}"), title=w.title or "", abstract=w.abstract or "")
        for i, w in enumerate(parsed.works)
    ]
    return SupportChecker(works, researcher or parsed.name or "")


def run_checks(cases_path: Path, listings: Path, out_path: Path) -> None:
    checkers: dict[tuple[str, str], object] = {}
    tally: Counter[str] = Counter()
    with cases_path.open(encoding="utf-8") as fh, out_path.open("w", encoding="utf-8") as out:
        for line in fh:
            if not line.strip():
                continue
            case = json.loads(line)
            key = (case["listing"], case["researcher"])
            if key not in checkers:
                checkers[key] = checker_for(listings / case["listing"], case["researcher"])
            verdict = checkers[key].check(case["sentence"], [_norm(t) for t in case["cites"]], case["previous"])
            tally[verdict.reason or "accepted"] += 1
            out.write(json.dumps({"case": case["case"], "accepted": verdict.accepted, "reason": verdict.reason}) + "\n")
    print(f"wrote {out_path}: {dict(tally)}", file=sys.stderr)


def sh(args: list[str], env: dict[str, str]) -> str:
    t = time.monotonic()
    res = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-2000:] + res.stderr[-4000:])
        raise SystemExit(f"failed ({res.returncode}): {' '.join(args[3:])}")
    print(f"  {' '.join(args[3:])[:90]:<90} {time.monotonic() - t:6.1f}s", file=sys.stderr)
    return res.stdout


def run_step(listings: Path, backend: str, work: Path, limit: int | None) -> None:
    from enrich.agent.readability import readability
    from enrich.agent.steps.support import SupportChecker, WorkText

    db = work / "eval.db"
    env = {**os.environ, "ENRICH_DB": str(db), "ENRICH_BACKEND": backend}
    files = sorted(str(p) for p in listings.glob("*.txt"))[: limit or None]
    sh([*ENRICH, "ingest", *files], env)
    t0 = time.monotonic()
    job = json.loads(sh([*ENRICH, "run", "--json", "--only", "summary"], env))
    wall = time.monotonic() - t0
    export = work / "export.jsonl"
    sh([*ENRICH, "export", "--format", "jsonl", "--output", str(export)], env)
    lines = [json.loads(x) for x in export.read_text().splitlines() if x.strip()]

    from enrich.store import Store

    store = Store.open(db)
    status: Counter[str] = Counter()
    cites, passed, total, grades, acronyms = [], 0, 0, [], []
    bad: Counter[str] = Counter()
    for line in lines:
        s = line.get("summary")
        conflated = (line.get("conflation") or {}).get("detected")
        if not s:
            status["conflated (skipped)" if conflated else "none"] += 1
            continue
        status[s["status"]] += 1
        if s["status"] not in ("generated", "accepted", "verified"):
            continue
        works = store.researcher_works(line["researcher_id"])
        titles = {w.work_id: w.title for w in works}
        checker = SupportChecker([WorkText(w.work_id, w.title or "", w.abstract or "") for w in works], line["name"])
        fv = store.current(line["researcher_id"], "summary")
        print(
            f"\n## {line['name']} ({Path(line['listings'][0]['path']).name}, confidence {fv.confidence if fv else '?'})"
        )
        previous: list[str] = []
        for sent in s["sentences"]:
            verdict = checker.check(sent["text"], sent["works"], previous)
            total += 1
            passed += verdict.accepted
            if not verdict.accepted:
                bad[verdict.reason] += 1
            cites.append(len(sent["works"]))
            mark = "ok" if verdict.accepted else f"REFUSED {verdict.reason}: {verdict.detail}"
            print(f"- {sent['text']}  [{mark}]")
            for w in sent["works"]:
                print(f"    cites: {titles.get(w, w)}")
            previous.append(sent["text"])
        r = readability(s["text"])
        grades.append(r["grade"])
        acronyms.append(r["unexplained_acronyms"])

    from enrich.store import Store, llm_log

    store = Store.open(db, migrate=False)
    rows = [
        (r["call_group"], r["error"], r["tokens_out"], r["latency_ms"])
        for r in llm_log.recent_calls(store, limit=1_000_000)
        if r["prompt_name"] == "summary" and not r["cached"]
    ]
    store.close()
    failed_validation = sum(1 for r in rows if r[1] and r[1].startswith("validation"))
    cut = sum(1 for r in rows if r[1] and ("truncated" in r[1] or "cut off" in r[1]))
    groups: dict[str, float] = {}
    for g, _e, _t, ms in rows:
        groups[g] = groups.get(g, 0.0) + (ms or 0) / 1000
    from enrich.agent.settings import load

    budget = load().step_budget
    single = sum(1 for x in lines if not (x.get("conflation") or {}).get("detected"))
    applied = sum(v for k, v in status.items() if k in ("generated", "accepted", "verified"))
    figures = {
        "listings": len(lines),
        "single_person": single,
        "summary_status": dict(status),
        "applied_share_single": round(applied / single, 3) if single else None,
        "sentences_applied": total,
        "works_per_sentence": round(sum(cites) / len(cites), 2) if cites else None,
        "passing_support_check": round(passed / total, 3) if total else None,
        "refused_applied": dict(bad),
        "fragments": bad["fragment"],
        "near_duplicates": bad["paraphrase_repeat"],
        "filler": bad["filler"],
        "readability_grade_mean": round(sum(grades) / len(grades), 2) if grades else None,
        "unexplained_acronyms_mean": round(sum(acronyms) / len(acronyms), 2) if acronyms else None,
        "attempts": len(rows),
        "attempts_failed_validation": failed_validation,
        "attempts_failed_validation_share": round(failed_validation / len(rows), 3) if rows else None,
        "attempts_cut_off": cut,
        "step_budget_s": budget,
        "step_time_max_s": round(max(groups.values()), 1) if groups else None,
        "steps_over_budget": sum(1 for v in groups.values() if v > budget),
        "job_wall_s": round(wall, 1),
        "job": {k: job.get(k) for k in ("id", "state", "counts") if isinstance(job, dict)},
    }
    print("\n" + json.dumps(figures, indent=2))
    (work / "summary-figures.json").write_text(json.dumps(figures, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("listings_dir", nargs="?", default=str(SHARED / "eval" / "dev"))
    ap.add_argument("--checks", help="labelled cases (JSONL): run the sentence checks only, no model")
    ap.add_argument("--listings", help="folder of the cases' listing files (with --checks)")
    ap.add_argument("--out", default="predictions.jsonl", help="predictions file (with --checks)")
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--keep", help="work directory to keep (default: a temp dir)")
    ap.add_argument("--limit", type=int, help="only the first N listing files")
    a = ap.parse_args()
    if a.checks:
        cases = Path(a.checks)
        listings = Path(a.listings) if a.listings else cases.parent
        if not listings.is_dir():
            raise SystemExit(f"--listings {listings}: not a folder")
        run_checks(cases, listings, Path(a.out))
        return
    work = Path(a.keep or tempfile.mkdtemp(prefix="enrich-summaries-"))
    work.mkdir(parents=True, exist_ok=True)
    run_step(Path(a.listings_dir), a.backend, work, a.limit)


if __name__ == "__main__":
    main()
