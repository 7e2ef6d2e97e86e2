#!/usr/bin/env python3
"""Evaluate summaries sentence by sentence.

    .venv/bin/python bench/eval_summaries.py [LISTINGS_DIR] [--backend embedded|fake] [--keep DIR] [--limit N]
    .venv/bin/python bench/eval_summaries.py [LISTINGS_DIR] --report DIR
    .venv/bin/python bench/eval_summaries.py --checks CASES.jsonl --listings DIR [--out PREDICTIONS.jsonl]

Without --checks: ingests the listings (default ../shared/eval/dev) into a fresh database, runs the summary step
(`enrich run --only summary`), prints each listing's outcome and every applied sentence with the titles it cites,
then the aggregate figures: summaries applied / proposed / failed (share of the single-person listings, taken from
the folder's gold.jsonl when it has one), works cited per sentence, share passing the support check, fragments,
near-duplicates, filler and copies among the applied sentences (each measured apart from the step's own checks),
readability, attempts that failed validation / were cut off at the cap / timed out, each step's model time against
its budget, steps that failed at the budget, and the job's wall and CPU time. `--report DIR` reports again on the
work directory an earlier run kept.

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


APPLIED = ("generated", "accepted", "verified")
NEAR_DUPLICATE = 80  # rapidfuzz token_sort_ratio of two sentences of one summary (independent of the step's checks)


def gold_people(listings: Path) -> dict[str, int]:
    """Listing file -> number of people on it, from the folder's gold.jsonl when it has one (else empty)."""
    gold = listings / "gold.jsonl"
    if not gold.is_file():
        return {}
    out = {}
    for line in gold.read_text(encoding="utf-8").splitlines():
        if line.strip():
            g = json.loads(line)
            out[g.get("source_file") or f"{g['case_id']}.txt"] = int(g.get("n_persons") or 1)
    return out


def sentence_figures(sentences: list[dict], works: list[tuple[str, str, str]], name: str) -> dict:
    """Per applied summary: sentence problems measured apart from the step's own acceptance (which passed them):
    fragments (the splitter finds more than one sentence, or a fragment test fails), near-duplicate pairs (token-set
    similarity), filler (no content term of any listed work), copies of an abstract sentence, and how many still
    pass the step's support check."""
    from rapidfuzz import fuzz

    from enrich.agent.sentences import fragment_reason, split_sentences
    from enrich.agent.steps.support import SupportChecker, WorkText, matching

    checker = SupportChecker([WorkText(k, t, a) for k, t, a in works], name)
    texts = [x["text"] for x in sentences]
    fragments = sum(1 for t in texts if len(split_sentences(t)) != 1 or fragment_reason(t, [name]))
    dupes = sum(
        1
        for i, a in enumerate(texts)
        for b in texts[i + 1 :]
        if fuzz.token_sort_ratio(a.casefold(), b.casefold()) >= NEAR_DUPLICATE
    )
    filler = sum(
        1 for t in texts if not any(matching(checker.sentence_terms(t), terms) for terms in checker.terms.values())
    )
    copied = sum(1 for x in sentences if checker.copied_from(x["text"], x["works"]))
    verdicts, previous = [], []
    for x in sentences:
        verdicts.append(checker.check(x["text"], x["works"], previous))
        previous.append(x["text"])
    return {
        "fragments": fragments,
        "near_duplicates": dupes,
        "filler": filler,
        "copied": copied,
        "passing": sum(v.accepted for v in verdicts),
        "verdicts": verdicts,
    }


def call_figures(rows: list[dict], budget: float) -> dict:
    """From the summary step's call-log rows (cached answers left out): attempts, failed validation, cut off at the
    token cap, and each step's time (its call group's summed latency) against the step budget."""
    attempts = [r for r in rows if not r.get("cached")]
    failed = sum(1 for r in attempts if (r.get("error") or "").startswith("validation"))
    cut = sum(1 for r in attempts if (r.get("error") or "").startswith("truncated"))
    timeouts = sum(1 for r in attempts if (r.get("error") or "").startswith("timeout"))
    groups: dict[str, float] = {}
    for r in attempts:
        groups[r["call_group"]] = groups.get(r["call_group"], 0.0) + (r.get("latency_ms") or 0) / 1000
    times = sorted(groups.values())
    return {
        "steps_asking": len(groups),
        "attempts": len(attempts),
        "attempts_per_step": round(len(attempts) / len(groups), 2) if groups else None,
        "attempts_failed_validation": failed,
        "attempts_failed_validation_share": round(failed / len(attempts), 3) if attempts else None,
        "attempts_cut_off": cut,
        "attempts_timed_out": timeouts,
        "tokens_in_mean": round(sum(r.get("tokens_in") or 0 for r in attempts) / len(attempts)) if attempts else None,
        "tokens_out_mean": round(sum(r.get("tokens_out") or 0 for r in attempts) / len(attempts)) if attempts else None,
        "step_budget_s": budget,
        "step_time_median_s": round(times[len(times) // 2], 1) if times else None,
        "step_time_max_s": round(times[-1], 1) if times else None,
        "steps_over_budget": sum(1 for t in times if budget and t > budget),
    }


def run_step(listings: Path, backend: str, work: Path, limit: int | None) -> None:
    db = work / "eval.db"
    env = {**os.environ, "ENRICH_DB": str(db), "ENRICH_BACKEND": backend}
    files = sorted(str(p) for p in listings.glob("*.txt"))[: limit or None]
    sh([*ENRICH, "ingest", *files], env)
    t0, cpu0 = time.monotonic(), os.times()
    job = json.loads(sh([*ENRICH, "run", "--json", "--only", "summary"], env))
    cpu1 = os.times()
    wall = time.monotonic() - t0
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    (work / "job.json").write_text(json.dumps({"job": job, "wall_s": wall, "cpu_s": cpu}))
    report(listings, work)


def report(listings: Path, work: Path) -> None:
    """Every single-person listing's outcome and every applied sentence with the titles it cites, then the figures."""
    from enrich.agent.readability import readability
    from enrich.agent.settings import load
    from enrich.agent.steps.summary import digest
    from enrich.store import Store, llm_log

    db = work / "eval.db"
    env = {**os.environ, "ENRICH_DB": str(db)}
    export = work / "export.jsonl"
    sh([*ENRICH, "export", "--format", "jsonl", "--output", str(export)], env)
    lines = [json.loads(x) for x in export.read_text().splitlines() if x.strip()]
    run = json.loads((work / "job.json").read_text()) if (work / "job.json").is_file() else {}
    people = gold_people(listings)
    store = Store.open(db, migrate=False)
    missed = {rid: f["missed"].get("summary") for rid, f in store.planning_facts().items()}
    status: Counter[str] = Counter()
    outcome_single: Counter[str] = Counter()
    cites, grades, acronyms = [], [], []
    totals: Counter[str] = Counter()
    for line in sorted(lines, key=lambda x: x["listings"][0]["path"]):
        file = Path(line["listings"][0]["path"]).name
        single = people.get(file, 1) == 1 if people else not (line.get("conflation") or {}).get("detected")
        s = line.get("summary")
        fv = store.current(line["researcher_id"], "summary")
        miss = missed.get(line["researcher_id"])
        pending = store.proposals("pending", researcher_id=line["researcher_id"], field="summary")
        if not s and pending and pending[-1].proposed:
            fv = pending[-1].proposed
            s = {**fv.value, "status": "proposed", "confidence": fv.confidence}
        if s:
            state = s["status"]
        elif (line.get("conflation") or {}).get("detected"):
            state = "skipped (conflated)"
        else:
            state = f"no summary ({miss['status']})" if miss else "no summary"
        status[state] += 1
        if single:
            outcome_single["applied" if state in APPLIED else state] += 1
        why = f": {miss['detail'][:160]}" if miss and not s else ""
        conf = f", confidence {fv.confidence}" if fv else (f", confidence {s.get('confidence')}" if s else "")
        print(f"\n## {line['name']} ({file}, {'one person' if single else 'several people'}): {state}{conf}{why}")
        if not s:
            continue
        if state not in APPLIED:  # shown to be read, not counted
            for sent in s["sentences"]:
                print(f"- {sent['text']}  ({len(sent['works'])} cited)")
            continue
        works = store.researcher_works(line["researcher_id"])
        titles = {w.work_id: w.title for w in works}
        shown = digest(works)[1]  # the works the step showed the model and checked the sentences against
        fig = sentence_figures(
            s["sentences"], [(w.work_id, w.title or "", w.abstract or "") for w in shown], line["name"]
        )
        for key in ("fragments", "near_duplicates", "filler", "copied", "passing"):
            totals[key] += fig[key]
        for sent, verdict in zip(s["sentences"], fig["verdicts"], strict=True):
            totals["sentences"] += 1
            cites.append(len(sent["works"]))
            mark = "" if verdict.accepted else f"  [now refused: {verdict.reason}: {verdict.detail}]"
            print(f"- {sent['text']}{mark}")
            for w in sent["works"]:
                print(f"    cites: {titles.get(w, w)}")
        r = readability(s["text"])
        grades.append(r["grade"])
        acronyms.append(r["unexplained_acronyms"])
        print(f"  readability grade {r['grade']}, unexplained acronyms {r['unexplained_acronyms']}")

    rows = [r for r in llm_log.recent_calls(store, limit=1_000_000) if r["prompt_name"] == "summary"]
    store.close()
    budget_failures = sum(1 for m in missed.values() if m and "time budget" in (m.get("detail") or ""))
    single = sum(outcome_single.values())
    applied = outcome_single["applied"]
    n = totals["sentences"]
    figures = {
        "listings": len(lines),
        "single_person": single,
        "single_person_from": "gold.jsonl" if people else "conflation detection",
        "single_person_outcomes": dict(outcome_single),
        "applied_share_single": round(applied / single, 3) if single else None,
        "summary_status": dict(status),
        "sentences_applied": n,
        "works_per_sentence": round(sum(cites) / len(cites), 2) if cites else None,
        "passing_support_check": round(totals["passing"] / n, 3) if n else None,
        "fragments": totals["fragments"],
        "near_duplicates": totals["near_duplicates"],
        "filler": totals["filler"],
        "copied": totals["copied"],
        "readability_grade_mean": round(sum(grades) / len(grades), 2) if grades else None,
        "readability_grade_max": max(grades) if grades else None,
        "unexplained_acronyms_mean": round(sum(acronyms) / len(acronyms), 2) if acronyms else None,
        **call_figures(rows, load().step_budget),
        "steps_failed_at_budget": budget_failures,
        "job_wall_s": round(run["wall_s"], 1) if run else None,
        "job_cpu_s": round(run["cpu_s"], 1) if run else None,
        "job": {k: run["job"].get(k) for k in ("id", "state", "counts")}
        if run and isinstance(run["job"], dict)
        else None,
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
    ap.add_argument("--report", help="report on the work directory of an earlier run (its --keep), no model calls")
    a = ap.parse_args()
    if a.checks:
        cases = Path(a.checks)
        listings = Path(a.listings) if a.listings else cases.parent
        if not listings.is_dir():
            raise SystemExit(f"--listings {listings}: not a folder")
        run_checks(cases, listings, Path(a.out))
        return
    if a.report:
        report(Path(a.listings_dir), Path(a.report))
        return
    work = Path(a.keep or tempfile.mkdtemp(prefix="enrich-summaries-"))
    work.mkdir(parents=True, exist_ok=True)
    run_step(Path(a.listings_dir), a.backend, work, a.limit)


if __name__ == "__main__":
    main()
