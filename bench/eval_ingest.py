"""Parse every eval dev listing (../shared/eval/dev) without a model; per file: kind, works parsed vs the count the
page states, and agreement with the gold titles/years and co-authors (gold.jsonl `papers`).

    .venv/bin/python bench/eval_ingest.py [DEV_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from enrich.agent.ingest import detect_format, parse  # noqa: E402
from enrich.agent.ingest.reader import read_listing  # noqa: E402


def main() -> int:
    dev = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/eval/dev"
    gold = {}
    if (dev / "gold.jsonl").exists():
        for line in (dev / "gold.jsonl").read_text().splitlines():
            g = json.loads(line)
            gold[g["source_file"]] = g
    bad = 0
    print(
        f"{'file':18} {'format':8} {'layout':13} {'kind':6} {'parsed':>6} {'stated':>6} {'gold':>4} "
        f"{'titles':>6} {'years':>5} {'authors':>7}  name"
    )
    for f in sorted(dev.glob("*.txt")):
        text = read_listing(f)
        p = parse(text)
        g = gold.get(f.name, {})
        gp = {x["title"]: x.get("year") for x in g.get("papers", [])}
        titles = sum(w.title in gp for w in p.works)
        years = sum(w.title in gp and gp[w.title] == w.year for w in p.works)
        with_authors = sum(bool(w.authors) for w in p.works)
        ok = (
            p.kind == "person"
            and detect_format(text) is not None
            and (not gp or titles == len(gp) == len(p.works))
            and years == titles
            and with_authors == len(p.works)
            and (p.stated_work_count is None or p.stated_work_count == len(p.works))
        )
        bad += not ok
        print(
            f"{f.name:18} {p.format:8} {p.facts.get('layout') or '-':13} {p.kind:6} {len(p.works):6} "
            f"{p.stated_work_count if p.stated_work_count is not None else '-':>6} {len(gp) or '-':>4} "
            f"{titles:6} {years:5} {with_authors:7}  {p.name}{'' if ok else '   <-- MISMATCH'}"
        )
    print(f"\n{bad} file(s) with a mismatch")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
