"""Evaluate the conflation step on a shared split (../shared/eval/dev, ../shared/eval/dev-conflation).

    .venv/bin/python bench/eval_conflation.py [--dev DIR] [--direct] [--json] [-v]

Default (the splits' README protocol): every listing goes into a FRESH store through the CLI a user runs
(`enrich --db NEW ingest FILE`, `enrich run --backend fake`, `enrich export --format jsonl`), the
exports are concatenated and scored by the split's own ../score.py; its conflation figures are printed. The CLI runs
in this process (click's runner), one new database per listing, so no cache or store state crosses listings. A
listing whose run fails keeps whatever its export holds (no conflation verdict = not detected), as the scorer counts.

--direct skips the store: it parses each listing and calls detect() (faster, for iterating), scored as below.

Reports detection precision / recall / F1 (positives: kind=conflated; negatives: acl_page, header_affiliation,
byline_affiliation) and the pairwise cluster precision / recall / F1, micro over the conflated cases, with the
same definition as the shared score.py (`pairwise`): titles normalised, a truncated title matches a gold title by
prefix (>= 20 chars, unique), an unflagged listing counts as one cluster, unassigned gold titles as singletons.

Listings are parsed with `enrich.agent.ingest.parse`, as `enrich ingest` parses them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.steps.conflation import detect, page_states_affiliation  # noqa: E402
from enrich.schemas import Work  # noqa: E402

DEFAULT_DEV = next(
    (p for p in (ROOT.parent / "shared" / "eval" / "dev", Path("/work/shared/eval/dev")) if p.exists()),
    ROOT.parent / "shared" / "eval" / "dev",
)
NEGATIVE_KINDS = {"acl_page", "header_affiliation", "byline_affiliation"}


# ----------------------------------------------------------------- metric (same definition as score.py `pairwise`)


def norm_title(s: str | None) -> str:
    s = unicodedata.normalize("NFKD", str(s or "")).encode("ascii", "ignore").decode().lower()
    s = s.replace("&", " and ")
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    return re.sub(r"^the ", "", s)


def pairwise_counts(
    gold_parts: list[list[str]], pred_clusters: list[list[str]], detected: bool
) -> tuple[int, int, int]:
    """(tp, fp, fn) over pairs of gold titles: same gold person vs same predicted cluster."""
    gold_of = {norm_title(t): i for i, part in enumerate(gold_parts) for t in part}
    pred_of: dict[str, int] = {}
    if detected:
        for j, cluster in enumerate(pred_clusters):
            for t in cluster:
                k: str | None = norm_title(t)
                if k not in gold_of:  # a truncated title matches a unique gold title by prefix
                    cand = [g for g in gold_of if len(k) >= 20 and (g.startswith(k) or k.startswith(g))]
                    k = cand[0] if len(cand) == 1 else None
                if k is not None and k not in pred_of:
                    pred_of[k] = j
    singleton = 10**6
    for t in sorted(gold_of):
        if t not in pred_of:
            pred_of[t] = singleton if detected else -1
            singleton += 1 if detected else 0
    tp = fp = fn = 0
    for a, b in combinations(sorted(gold_of), 2):
        same_gold, same_pred = gold_of[a] == gold_of[b], pred_of[a] == pred_of[b]
        tp += same_gold and same_pred
        fp += (not same_gold) and same_pred
        fn += same_gold and not same_pred
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


# ----------------------------------------------------------------- parsing


def load_listing(path: Path) -> tuple[str | None, list[Work], bool, str]:
    """(name, works, whether the page states an affiliation for its subject, parser)."""
    parsed = parse(path.read_text(encoding="utf-8"))
    stated = page_states_affiliation([h.value for h in parsed.hints], parsed.name)
    return parsed.name, parsed.works, stated, "enrich.agent.ingest"


# ----------------------------------------------------------------- run


def evaluate(dev: Path, verbose: bool = False) -> dict:
    gold = [json.loads(line) for line in (dev / "gold.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    tp = fp = fn = 0
    ptp = pfp = pfn = 0
    rows, parser_used, elapsed = [], set(), 0.0
    for g in gold:
        if g["kind"] != "conflated" and g["kind"] not in NEGATIVE_KINDS:
            continue
        name, works, stated, how = load_listing(dev / g["source_file"])
        parser_used.add(how)
        t0 = time.perf_counter()
        res = detect(works, name, page_affiliation=stated)
        elapsed += time.perf_counter() - t0
        positive = g["kind"] == "conflated"
        tp += positive and res.detected
        fn += positive and not res.detected
        fp += (not positive) and res.detected
        row = {
            "case_id": g["case_id"],
            "kind": g["kind"],
            "name": name,
            "works": len(works),
            "detected": res.detected,
            "confidence": round(res.confidence, 3),
            "clusters": [len(c.work_ids) for c in res.clusters],
        }
        if positive:
            clusters = [[t for t in c.titles if t] for c in res.clusters]
            t, f_, n_ = pairwise_counts(g["partition"], clusters, res.detected and bool(clusters))
            ptp, pfp, pfn = ptp + t, pfp + f_, pfn + n_
            row["pairwise_f1"] = prf(t, f_, n_)["f1"]
        rows.append(row)
        if verbose:
            print(json.dumps(row), file=sys.stderr)
            if positive or res.detected:
                for c in res.clusters:
                    print("    ", c.evidence.years, c.evidence.shared_coauthors[:3], c.titles, file=sys.stderr)
                print("    ", res.reasons, file=sys.stderr)
    return {
        "detection": prf(tp, fp, fn),
        "pairwise_clusters": prf(ptp, pfp, pfn),
        "cases": len(rows),
        "parser": sorted(parser_used),
        "detect_seconds_total": round(elapsed, 3),
        "rows": rows,
    }


def fresh_store_protocol(dev: Path, verbose: bool = False) -> dict:
    """Each listing in its own new database through the CLI, the exports scored by the split's score.py."""
    import subprocess
    import tempfile

    from click.testing import CliRunner

    from enrich.agent.cli import cli

    scorer = dev.parent / "score.py"
    if not scorer.exists():
        sys.exit(f"error: no score.py next to {dev}")
    files = sorted(dev.glob("listing-*.txt"))
    runner = CliRunner()
    failures: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="enrich-eval-conflation-") as tmp:
        preds = Path(tmp) / "predictions.jsonl"
        with preds.open("w", encoding="utf-8") as out:
            for k, f in enumerate(files, 1):
                db = Path(tmp) / f"{f.stem}.db"
                export = Path(tmp) / f"{f.stem}.jsonl"
                steps = (
                    ["ingest", str(f)],
                    ["run", "--backend", "fake"],
                    ["export", "--format", "jsonl", "--output", str(export)],
                )
                for args in steps:
                    res = runner.invoke(cli, ["--db", str(db), *args], catch_exceptions=True)
                    if res.exit_code != 0:
                        last = (res.output or repr(res.exception)).strip().splitlines()[-1:] or ["?"]
                        failures.append(f"{f.name}: {args[0]}: {last[0][:200]}")
                if export.exists():
                    out.write(export.read_text(encoding="utf-8"))
                if verbose:
                    print(f"[{k}/{len(files)}] {f.name}", file=sys.stderr)
        elapsed = time.perf_counter() - t0
        metrics = json.loads(
            subprocess.run(
                [sys.executable, str(scorer), str(dev), str(preds)], capture_output=True, text=True, check=True
            ).stdout
        )
    c = metrics["conflation"]
    return {
        "protocol": "fresh store per listing (CLI: ingest, run --backend fake, export)",
        "detection": c["detection"],
        "pairwise_clusters": c["pairwise_clusters"],
        "cases": len(files),
        "failures": failures,
        "seconds": round(elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="Score the conflation step on a shared split (fresh store per listing).")
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="split folder holding gold.jsonl")
    ap.add_argument("--direct", action="store_true", help="parse + detect() without the store (faster)")
    ap.add_argument("--json", action="store_true", help="print the full metrics (with per-case rows) as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-case lines and clusters on stderr")
    a = ap.parse_args()
    if not (a.dev / "gold.jsonl").exists():
        sys.exit(f"error: no gold.jsonl in {a.dev} (pass --dev)")
    if not a.direct:
        m = fresh_store_protocol(a.dev, a.verbose)
        if a.json:
            print(json.dumps(m, indent=1))
            return
        d, p = m["detection"], m["pairwise_clusters"]
        print(f"{m['cases']} listings, one fresh store each, scored by score.py ({m['seconds']}s)")
        print(f"detection  P {d['precision']}  R {d['recall']}  F1 {d['f1']}  (tp {d['tp']} fp {d['fp']} fn {d['fn']})")
        print(f"pairwise   P {p['precision']}  R {p['recall']}  F1 {p['f1']}  (micro over conflated cases)")
        for line in m["failures"]:
            print("failed:", line)
        return
    m = evaluate(a.dev, a.verbose)
    if a.json:
        print(json.dumps(m, indent=1))
        return
    d, p = m["detection"], m["pairwise_clusters"]
    print(f"cases {m['cases']}  parser {','.join(m['parser'])}  detect() total {m['detect_seconds_total']}s")
    print(
        f"detection  P {d['precision']:.3f}  R {d['recall']:.3f}  F1 {d['f1']:.3f}  (tp {d['tp']} fp {d['fp']} fn {d['fn']})"
    )
    print(f"pairwise   P {p['precision']:.3f}  R {p['recall']:.3f}  F1 {p['f1']:.3f}  (micro over conflated cases)")


if __name__ == "__main__":
    main()
