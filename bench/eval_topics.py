#!/usr/bin/env python3
"""Topic tags on a folder of listings: what each researcher gets, the works behind each tag, and the field checks.

    .venv/bin/python bench/eval_topics.py [FOLDER] [--backend embedded|fake] [--keep DIR] [--db FILE] [--json]

Ingests the folder's listing files into a fresh database, runs `enrich run --only topics`, then prints each
researcher's applied and proposed tags with their supporting works. For the listings whose works are all
ACL-venue papers (an ACL Anthology id on every work, or a venue the shipped venue map calls computational
linguistics) it prints: the share with `cs.CL` applied, the applied tags outside `cs.*`/`stat.ML`, applied tags
with too little support (< 2 works, or not all works when a listing has fewer than 4), applied tags that a page
printing categories (arXiv listings) does not print, and a reliability table of
the tag scores (share of tags that are `cs.CL` / inside CS per score bin: weak labels, since such a listing's field
is known but its finer topics are not). FOLDER defaults to ../shared/eval/dev. `--db FILE` reads a database an
earlier run left (no ingest, no model call).
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
ENRICH = [sys.executable, "-m", "enrich.agent.cli"]
IN_CS = ("cs.", "stat.ML")


def sh(args: list[str], env: dict[str, str]) -> str:
    t = time.monotonic()
    res = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-2000:] + res.stderr[-4000:])
        raise SystemExit(f"failed ({res.returncode}): {' '.join(args[3:])}")
    print(f"  {' '.join(args[3:])[:90]:<90} {time.monotonic() - t:6.1f}s", file=sys.stderr)
    return res.stdout


def acl_venue_listing(works) -> bool:
    from enrich.agent.venues import load_venue_map, venue_evidence

    fields = load_venue_map()
    return bool(works) and all(
        "acl" in w.ids or ((v := venue_evidence(w, "arxiv", fields)) and v.field == "computational linguistics")
        for w in works
    )


def collect(db: Path) -> list[dict]:
    from enrich.agent.taxonomy import load_taxonomy
    from enrich.store import Store

    store = Store.open(db)
    taxonomy = load_taxonomy()
    pending: dict[int, list] = {}
    for p in store.proposals(state="pending"):
        if p.kind == "field" and p.field == "topics" and p.proposed is not None:
            pending.setdefault(p.researcher_id, []).append(p.proposed)
    rows = []
    for r in store.researchers():
        works = [w for w in store.researcher_works(r.id) if w.title or w.abstract]
        titles = {w.work_id: (w.title or (w.abstract or "")[:60]) for w in works}
        printed = [t.tag for w in works if (t := taxonomy.from_page_category(w.category))]
        cur = store.current(r.id, "topics")
        applied = list(cur.value) if cur is not None and cur.status in ("generated", "accepted", "verified") else []
        shown = {t["tag"] for t in applied}
        proposed = [t for fv in pending.get(r.id, []) for t in fv.value if t["tag"] not in shown]
        rows.append(
            {
                "researcher_id": r.id,
                "name": r.name,
                "listings": [Path(lst.path).name for lst in store.researcher_listings(r.id)],
                "works": len(works),
                "acl_venue": acl_venue_listing(works),
                "printed": sorted(set(printed)) if len(printed) >= len(works) / 2 else None,
                "confidence": cur.confidence if cur is not None else None,
                "applied": [
                    {**t, "titles": [titles.get(w, w) for w in t["works"]]} for t in applied if isinstance(t, dict)
                ],
                "proposed": [{**t, "titles": [titles.get(w, w) for w in t["works"]]} for t in proposed],
            }
        )
    return rows


def field_checks(rows: list[dict]) -> dict:
    acl = [r for r in rows if r["acl_venue"]]
    with_cl = [r for r in acl if any(t["tag"] == "cs.CL" for t in r["applied"])]
    outside = [(r["name"], t["tag"]) for r in acl for t in r["applied"] if not t["tag"].startswith(IN_CS)]
    thin = [
        (r["name"], t["tag"], len(t["works"]))
        for r in rows
        for t in r["applied"]
        if len(t["works"]) < (r["works"] if r["works"] < 4 else 2)
    ]
    not_printed = [
        (r["name"], t["tag"]) for r in rows if r["printed"] for t in r["applied"] if t["tag"] not in r["printed"]
    ]
    bins = [(0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]
    table = []
    for lo, hi in bins:
        tags = [t for r in acl for t in r["applied"] + r["proposed"] if lo <= t["score"] < hi]
        if tags:
            table.append(
                {
                    "score": f"[{lo:.1f}, {min(hi, 1.0):.1f}{')' if hi <= 1 else ']'}",
                    "tags": len(tags),
                    "applied": sum(1 for r in acl for t in r["applied"] if lo <= t["score"] < hi),
                    "cs.CL": round(sum(t["tag"] == "cs.CL" for t in tags) / len(tags), 2),
                    "in_cs": round(sum(t["tag"].startswith(IN_CS) for t in tags) / len(tags), 2),
                }
            )
    return {
        "listings": len(rows),
        "acl_venue_listings": len(acl),
        "cs.CL_applied": len(with_cl),
        "cs.CL_applied_share": round(len(with_cl) / len(acl), 3) if acl else None,
        "acl_without_cs.CL": [r["name"] for r in acl if r not in with_cl],
        "applied_outside_cs_on_acl": outside,
        "applied_with_too_little_support": thin,
        "listings_with_printed_categories": sum(1 for r in rows if r["printed"]),
        "applied_not_printed_on_those": not_printed,
        "reliability_acl": table,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "eval" / "dev"))
    ap.add_argument("--backend", default="embedded")
    ap.add_argument("--keep", help="work directory to keep (default: a temp dir)")
    ap.add_argument("--db", help="read this database instead of running (an earlier run's eval.db)")
    ap.add_argument("--json", action="store_true", help="print everything as JSON")
    a = ap.parse_args()
    t0 = time.monotonic()
    job = None
    if a.db:
        db = Path(a.db)
    else:
        work = Path(a.keep or tempfile.mkdtemp(prefix="enrich-topics-"))
        work.mkdir(parents=True, exist_ok=True)
        db = work / "eval.db"
        env = {**os.environ, "ENRICH_DB": str(db), "ENRICH_BACKEND": a.backend}
        files = sorted(str(p) for p in Path(a.folder).glob("*.txt"))
        if not files:
            raise SystemExit(f"no .txt listings in {a.folder}")
        sh([*ENRICH, "ingest", *files], env)
        job = json.loads(sh([*ENRICH, "run", "--only", "topics", "--json"], env))
    rows = collect(db)
    checks = field_checks(rows)
    if a.json:
        print(json.dumps({"db": str(db), "job": job, "researchers": rows, "checks": checks}, indent=1))
        return
    for r in rows:
        print(
            f"\n#{r['researcher_id']} {r['name'] or '(unnamed)'}  {', '.join(r['listings'])}  "
            f"({r['works']} works{', ACL venues' if r['acl_venue'] else ''}; confidence {r['confidence']})"
        )
        for kind in ("applied", "proposed"):
            for t in r[kind]:
                ev = t.get("evidence", {})
                print(
                    f"  {kind:<8} {t['tag']:<9} {t['score']:.2f}  printed {ev.get('printed', '?')}, venue "
                    f"{ev.get('venue', '?')}, text {ev.get('text', '?')}, model {ev.get('model', '?')}; "
                    f"{len(t['works'])} works: "
                    + "; ".join(x[:50] for x in t["titles"][:3])
                    + (" ..." if len(t["titles"]) > 3 else "")
                )
    print(f"\n{json.dumps({'db': str(db), 'seconds': round(time.monotonic() - t0, 1), **checks}, indent=1)}")


if __name__ == "__main__":
    main()
