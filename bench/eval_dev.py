#!/usr/bin/env python3
"""Evaluate the whole pipeline on the development set in ../shared/eval/dev (not part of the project).

    .venv/bin/python bench/eval_dev.py [--backend embedded|fake] [--only affiliation] [--keep DIR]

Runs exactly what a user would: `enrich ror import` (both ROR subset files), `enrich ingest` of the listing files,
`enrich run`, `enrich export --format jsonl`, then ../shared/eval/score.py on the export. Prints the headline
metrics (affiliations applied on pages that state none, header/byline name and ROR accuracy, conflation P/R/F1,
pairwise cluster F1) and writes the full metrics JSON next to the database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ENRICH = [sys.executable, "-m", "enrich.agent.cli"]


def sh(args: list[str], env: dict[str, str]) -> str:
    t = time.monotonic()
    res = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode not in (0,):
        sys.stderr.write(res.stdout[-2000:] + res.stderr[-4000:])
        raise SystemExit(f"failed ({res.returncode}): {' '.join(args[3:])}")
    print(f"  {' '.join(args[3:])[:90]:<90} {time.monotonic() - t:6.1f}s", file=sys.stderr)
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--keep", help="work directory to keep (default: a temp dir)")
    ap.add_argument("--shared", default=str(SHARED), help="the shared folder (default: ../shared beside the checkout)")
    ap.add_argument("--split", default=None, help="listing folder (default: SHARED/eval/dev)")
    a = ap.parse_args()
    shared = Path(a.shared)
    a.split = a.split or str(shared / "eval" / "dev")
    work = Path(a.keep or tempfile.mkdtemp(prefix="enrich-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "eval.db"
    env = {**os.environ, "ENRICH_DB": str(db), "ENRICH_BACKEND": a.backend}
    split = Path(a.split)
    t0 = time.monotonic()
    for dump in sorted((shared / "data" / "ror").glob("*.json.gz")):
        sh([*ENRICH, "ror", "import", str(dump)], env)
    sh([*ENRICH, "ingest", *sorted(str(p) for p in split.glob("*.txt"))], env)
    run = [*ENRICH, "run", "--json"] + [x for f in a.only for x in ("--only", f)]
    job = json.loads(sh(run, env))
    export = work / "export.jsonl"
    sh([*ENRICH, "export", "--format", "jsonl", "--output", str(export)], env)
    metrics = json.loads(
        subprocess.run(
            [
                sys.executable,
                str(shared / "eval" / "score.py"),
                str(split),
                str(export),
                "--ror",
                str(shared / "data" / "ror" / "ror-v2-subset.json.gz"),
                "--out",
                str(work / "metrics.json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    aff = metrics["affiliation"]
    conf = metrics["conflation"]
    print(
        json.dumps(
            {
                "work_dir": str(work),
                "backend": a.backend,
                "seconds": round(time.monotonic() - t0, 1),
                "job": {k: job.get(k) for k in ("id", "state", "counts", "tokens_in", "tokens_out")},
                "acl_page_false_apply": metrics["acl_page"]["false_apply"],
                "acl_page_n": metrics["acl_page"]["n"],
                "header+byline": {
                    k: aff["header+byline"][k]
                    for k in (
                        "n",
                        "applied",
                        "name_acc_at_applied",
                        "ror_acc_at_applied",
                        "name_acc_overall",
                        "ror_acc_overall",
                        "evidence_grounded_rate_at_applied",
                    )
                },
                "header": {
                    k: aff["header_affiliation"][k] for k in ("n", "applied", "name_acc_overall", "ror_acc_overall")
                },
                "byline": {
                    k: aff["byline_affiliation"][k] for k in ("n", "applied", "name_acc_overall", "ror_acc_overall")
                },
                "conflation_detection": {
                    k: conf["detection"][k] for k in ("precision", "recall", "f1", "tp", "fp", "fn")
                },
                "conflation_pairwise": {k: conf["pairwise_clusters"][k] for k in ("precision", "recall", "f1")},
                "affiliation_applied_on_conflated": conf["affiliation_applied_on_conflated"],
                "topics_weak": metrics["topics_weak"]["any_token_overlap_rate"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
