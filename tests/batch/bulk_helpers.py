"""Shared by the bulk-mode tests: synthetic researchers, a runner in the exact line format of `vllm run-batch`,
and export comparison."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import store_sql as sql

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from fake_openai_server import answer_for  # noqa: E402

from enrich.agent.export import export_lines  # noqa: E402
from enrich.agent.ingest import parse  # noqa: E402


def page(i: int) -> str:
    """Small generic author pages (unique names and titles): every third states no organisation, every third
    names its organisation on a header line the parser leaves to the model (an affiliation call), the rest state
    it in the header (imported). Three works each."""
    first = ["Ada", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya", "Luca"]
    last = ["Abbott", "Bauer", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen"]
    adj = ["Robust", "Sparse", "Causal", "Federated", "Bayesian", "Neural", "Adaptive", "Private", "Scalable"]
    method = ["Graph Networks", "Transformers", "Kernel Methods", "Diffusion Models", "Retrieval Models"]
    bench = ["GLUE", "SQuAD", "ImageNet", "WMT", "MovieLens", "CASP", "HumanEval"]
    task = ["Question Answering", "Machine Translation", "Code Generation", "Protein Folding", "Recommendation"]
    name = f"{first[i % 12]} {chr(65 + (i // 12) % 26)}{chr(97 + (i // 312) % 26)}. {last[(i // 7) % 10]}"
    lines = [name]
    if i % 3 == 1:
        lines.append(f"Department of Physics, University of {last[(i * 3) % 10]}ville")
    elif i % 3 == 2:  # a paragraph before the publication list: the parser leaves it to the model
        lines += ["", f"Member of the {method[i % 5]} Lab, {last[i % 10]}stadt Institute of Technology"]
    lines += ["", "Publications (3)", ""]
    for j in range(3):
        k = i * 3 + j
        # each work of a page has its own method and task: the summary checks refuse a sentence that only repeats
        # another work's words, so near-identical titles would leave the fake model no valid summary
        title = f"{adj[k % 9]} {method[(i + j) % 5]} for {task[(i // 5 + 2 * j) % 5]}, Part {k}"
        year = 2018 + (i + j) % 6
        lines += [
            title,
            f"{name}; {first[(i + 5) % 12]} {last[(i + j) % 10]}",
            "Proceedings of the Conference on Learning",
            f"Year: {year} | Conference Paper | ACL Anthology {year}.bulk-{i}.{j}",
            # every 8-word stretch holds the work's number: no phrase is shared by every abstract (merge detection
            # keys on such phrases, and a phrase in all listings would make one candidate block of everybody)
            f"Abstract: We study {title.lower()} and report gains over {bench[k % 7]} baselines in {k} settings"
            " with a simpler recipe.",
            "",
        ]
    return "\n".join(lines)


def ingest(store: Any, n: int) -> None:
    for i in range(n):
        text = page(i)
        store.record_import(parse(text, path=f"bulk/{i}.txt"), text=text, path=f"bulk/{i}.txt")


# a backend bulk mode accepts; nothing listens on the port (the tests write request files, nothing is sent)
FILES_ENV = {
    "ENRICH_BACKEND": "openai-compatible",
    "ENRICH_BASE_URL": "http://127.0.0.1:9/v1",
    "ENRICH_MODEL": "default",
}


def files_settings(db: Path) -> Any:
    from enrich.agent.settings import load

    return load(db=str(db), **{k.removeprefix("ENRICH_").lower(): v for k, v in FILES_ENV.items()})


def built_files(db: Path, n: int, folder: Path) -> tuple[str, Path]:
    """n researchers ingested into a new store at `db` and built as request files (nothing submitted); the store is
    checkpointed and closed, so a copy of the file is the whole store. Returns the job id and the first file."""
    from enrich.agent.batch.job import build
    from enrich.agent.llm.factory import make_client
    from enrich.agent.loop import RunOptions
    from enrich.store import Store

    settings = files_settings(db)
    store = Store.open(settings.db)
    ingest(store, n)
    client = make_client(settings, store)
    rep = build(store, settings, client, RunOptions(), folder=folder, submit=False)
    client.close()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return rep.job_id, Path(rep.files[0]["path"])


def run_like_vllm(src: Path, dst: Path, *, invalid_every: int = 0, fail: set[str] = frozenset()) -> int:
    """Answer a request file the way `vllm run-batch -i src -o dst` writes its output (vllm/entrypoints/openai/
    run_batch.py): one BatchRequestOutput per line, ids `vllm-<uuid hex>`, request ids `vllm-batch-<uuid hex>`,
    vLLM's ChatCompletionResponse fields; a request that raised becomes status 400, body null, `error` a string."""
    n = 0
    with src.open() as fin, dst.open("w") as fout:
        for line in fin:
            req = json.loads(line)
            if req["custom_id"] in fail:
                out = {
                    "id": f"vllm-{uuid.uuid4().hex}",
                    "custom_id": req["custom_id"],
                    "response": {"status_code": 400, "request_id": f"vllm-batch-{uuid.uuid4().hex}", "body": None},
                    "error": "This model's maximum context length is 4096 tokens.",
                }
            else:
                body = answer_for(req["body"], invalid_every=invalid_every)
                msg = body["choices"][0]["message"]
                msg.setdefault("tool_calls", [])
                msg["reasoning_content"] = None
                body["choices"][0].update(logprobs=None, stop_reason=None)
                body.update(system_fingerprint=None, prompt_logprobs=None, kv_transfer_params=None)
                body["usage"]["prompt_tokens_details"] = None
                out = {
                    "id": f"vllm-{uuid.uuid4().hex}",
                    "custom_id": req["custom_id"],
                    "response": {"status_code": 200, "request_id": f"vllm-batch-{uuid.uuid4().hex}", "body": body},
                    "error": None,
                }
            fout.write(json.dumps(out) + "\n")
            n += 1
    return n


IGNORED = {"job_id", "cost_usd", "created_at", "updated_at", "llm_call_id", "call_id"}


def _strip(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in IGNORED}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def export(store: Any) -> list[dict[str, Any]]:
    """The export, without job ids, call ids, timestamps and cost."""
    return [_strip(line.model_dump(mode="json")) for line in export_lines(store)]


def store_facts(store: Any) -> dict[str, Any]:
    """What else a job leaves behind, comparable between two stores: field values (status, origin, confidence,
    value, prompt version), proposals, step misses."""
    values = sql.rows(
        store,
        "SELECT researcher_id, field, status, origin, confidence, value, prompt_version FROM field_values"
        " ORDER BY researcher_id, field, id",
    )
    proposals = sql.rows(
        store,
        "SELECT researcher_id, field, kind, state, confidence, summary FROM proposals ORDER BY researcher_id, field",
    )
    misses = sql.rows(
        store, "SELECT researcher_id, field, status, origin FROM step_misses ORDER BY researcher_id, field"
    )
    return {"values": values, "proposals": proposals, "misses": misses}
