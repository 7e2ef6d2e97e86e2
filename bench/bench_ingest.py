"""Parse throughput (listings/s) on the five seed pages repeated to >= 10,000 listings (detection + parse, no I/O).

.venv/bin/python bench/bench_ingest.py [N]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from enrich.agent.ingest import parse  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seeds = sorted((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in seeds]
    per_format: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    works = 0
    t0 = time.perf_counter()
    for i in range(n):
        text = texts[i % len(texts)]
        t = time.perf_counter()
        parsed = parse(text)
        seconds[parsed.format] += time.perf_counter() - t
        per_format[parsed.format] += 1
        works += len(parsed.works)
    total = time.perf_counter() - t0
    mb = sum(len(texts[i % len(texts)]) for i in range(n)) / 1e6
    print(
        f"{n} listings, {works} works, {mb:.0f} MB of text in {total:.2f} s: "
        f"{n / total:,.0f} listings/s, {works / total:,.0f} works/s, {mb / total:.1f} MB/s"
    )
    for fmt in sorted(per_format):
        print(f"  {fmt:10} {per_format[fmt] / seconds[fmt]:10,.0f} listings/s")


if __name__ == "__main__":
    main()
