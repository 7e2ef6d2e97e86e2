"""Benchmark the embedded model on the five seeds (run by hand: `python bench/bench_embedded.py [--model NAME]`).

Reports: model assembly time (first use only), server load time, prompt tokens/s and output tokens/s (from
llama.cpp's own timing lines in the server log), seconds per extraction (wall clock through the normal
openai+instructor path, re-asks included), and the server subprocess's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from pydantic import BaseModel, Field  # noqa: E402

from enrich.agent import settings as settings_mod  # noqa: E402
from enrich.agent.llm.embedded import EmbeddedServer, assemble, get_model, model_path  # noqa: E402
from enrich.agent.llm.instructor_client import InstructorClient  # noqa: E402
from enrich.agent.llm.modes import mode_for  # noqa: E402
from enrich.store import Store  # noqa: E402

PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
EVAL = re.compile(r"^\s*(?:llama_perf_context_print:)?\s*eval time =\s*([\d.]+) ms /\s*(\d+) runs", re.MULTILINE)


class Profile(BaseModel):
    """A small stand-in for the agent's steps: the shape of work they ask for."""

    affiliation: str | None = Field(None, description="the institution the page states, or null")
    topics: list[str] = Field(description="3 to 5 research topics")
    summary: str = Field(description="two plain-language sentences about the research")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="embedded model name (default: settings)")
    ap.add_argument("--seeds", default=str(ROOT / "seeds"), help="folder of seed listings")
    ap.add_argument("--chars", type=int, default=6000, help="characters of each seed sent to the model")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    settings = settings_mod.load()
    spec = get_model(args.model or settings.embedded_model)
    target = model_path(spec, settings.model_cache)
    t0 = time.perf_counter()
    path = assemble(spec, settings.model_cache)
    assemble_s = time.perf_counter() - t0

    log = target.with_name("bench-server.log")
    log.write_text("")
    server = EmbeddedServer(path, alias=spec.name, n_ctx=8192, log_path=log, verbose=True)
    db = Store.open(":memory:")
    per_seed = []
    with server:
        client = InstructorClient(
            backend="embedded",
            model=spec.name,
            mode=mode_for("embedded"),
            base_url=server.base_url,
            store=db,
            max_concurrency=1,
            timeout=600,
            max_reasks=settings.max_reasks,
        )
        for seed in sorted(Path(args.seeds).glob("*.txt")):
            text = seed.read_text(errors="replace")[: args.chars]
            messages = [
                {
                    "role": "system",
                    "content": "You read a researcher's publication listing and describe the "
                    "research. Use only facts on the page.",
                },
                {"role": "user", "content": f"Listing:\n{text}"},
            ]
            before = len(log.read_text(errors="replace"))
            start = time.perf_counter()
            try:
                res = client.extract(Profile, messages, context={"text": text})
                ok, tokens_in, tokens_out, attempts = True, res.tokens_in, res.tokens_out, res.attempts
            except Exception as exc:  # noqa: BLE001 -- a benchmark reports failures, it does not stop
                ok, tokens_in, tokens_out, attempts = False, 0, 0, None
                print(f"{seed.name}: {exc}", file=sys.stderr)
            seconds = time.perf_counter() - start
            new_log = log.read_text(errors="replace")[before:]
            p_ms = sum(float(m[0]) for m in PROMPT_EVAL.findall(new_log))
            p_tok = sum(int(m[1]) for m in PROMPT_EVAL.findall(new_log))
            e_ms = sum(float(m[0]) for m in EVAL.findall(new_log))
            e_tok = sum(int(m[1]) for m in EVAL.findall(new_log))
            per_seed.append(
                {
                    "seed": seed.name,
                    "ok": ok,
                    "attempts": attempts,
                    "seconds": round(seconds, 2),
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "prompt_tok_per_s": round(p_tok / (p_ms / 1000), 1) if p_ms else None,
                    "output_tok_per_s": round(e_tok / (e_ms / 1000), 1) if e_ms else None,
                }
            )
            print(json.dumps(per_seed[-1]), file=sys.stderr)
        rss = peak_rss_mb(server.pid)
        load_s = server.load_seconds

    def med(key: str) -> float | None:
        vals = [r[key] for r in per_seed if r[key] is not None]
        return round(statistics.median(vals), 2) if vals else None

    result = {
        "model": spec.name,
        "file_mb": round(path.stat().st_size / 2**20),
        "assemble_s": round(assemble_s, 1),
        "load_s": round(load_s, 1),
        "seconds_per_extraction_median": med("seconds"),
        "prompt_tok_per_s_median": med("prompt_tok_per_s"),
        "output_tok_per_s_median": med("output_tok_per_s"),
        "peak_rss_mb": round(rss),
        "ok": sum(r["ok"] for r in per_seed),
        "seeds": per_seed,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "seeds":
                print(f"{key:32} {value}")
        for row in per_seed:
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
