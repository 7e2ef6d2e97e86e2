"""`enrich models` (which backend, and the embedded model's state) and `enrich llm-log` (recent model calls)."""

from __future__ import annotations

import json
from typing import Any

import click

from enrich.agent.cli.common import EnrichError, emit_json, output, pass_app


def _backends(settings: Any) -> list[dict[str, Any]]:
    from enrich.agent.llm.factory import DEFAULT_MODELS, choose_backend
    from enrich.agent.llm.modes import mode_for

    try:
        chosen, why = choose_backend(settings)
    except Exception as exc:  # an unknown backend name: still show the table
        chosen, why = None, str(exc)
    key = "set" if settings.api_key else "not set"
    rows = [
        {
            "backend": "openai",
            "model": settings.model or DEFAULT_MODELS["openai"],
            "mode": mode_for("openai").value,
            "ready": bool(settings.api_key),
            "detail": f"OPENAI_API_KEY {key}",
        },
        {
            "backend": "openai-compatible",
            "model": settings.model or DEFAULT_MODELS["openai-compatible"],
            "mode": mode_for("openai-compatible").value,
            "ready": bool(settings.base_url),
            "detail": f"ENRICH_BASE_URL={settings.base_url}" if settings.base_url else "ENRICH_BASE_URL not set",
        },
        {
            "backend": "embedded",
            "model": settings.embedded_model,
            "mode": mode_for("embedded").value,
            "ready": None,
            "detail": "local llama.cpp server, concurrency 1",
        },
        {"backend": "fake", "model": "fake", "mode": "fake", "ready": True, "detail": "tests only"},
    ]
    for row in rows:
        row["selected"] = row["backend"] == chosen
        row["why"] = why if row["selected"] else ""
    return rows


def _embedded(settings: Any, verify: bool) -> dict[str, Any]:
    from enrich.agent.llm.base import LLMError
    from enrich.agent.llm.embedded import INSTALL_HINT, get_model, model_status

    try:
        spec = get_model(settings.embedded_model)
    except LLMError as exc:
        return {"name": settings.embedded_model, "ready": False, "fix": str(exc)}
    status = model_status(spec, settings.model_cache, verify=verify)
    if not status["packages_installed"] and not status["assembled"]:
        status["fix"] = status["packages_error"]
    elif not status["llama_cpp_importable"]:
        status["fix"] = f"llama-cpp-python is missing: {INSTALL_HINT}"
    elif status["assembled"] and status["sha256_ok"] is False:
        status["fix"] = f"the assembled file is damaged: delete {status['path']} (it is re-assembled on first use)"
    else:
        status["fix"] = None if status["assembled"] else "assembled automatically on first use"
    status["ready"] = status["llama_cpp_importable"] and (status["packages_installed"] or bool(status["sha256_ok"]))
    return status


@click.command("models")
@click.option(
    "--verify",
    is_flag=True,
    help="Re-hash the assembled model file (a few seconds) instead of trusting "
    "the checksum recorded when it was assembled.",
)
@click.option(
    "--ping",
    is_flag=True,
    help="Also send one tiny request to the selected backend (starts the embedded server if that is the one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pass_app
def models_cmd(app, verify: bool, ping: bool, as_json: bool) -> None:
    """List the model backends, which one `auto` picks and why, and the embedded model's status."""
    settings = app.settings
    backends = _backends(settings)
    embedded = _embedded(settings, verify)
    for row in backends:
        if row["backend"] == "embedded":
            row["ready"] = embedded["ready"]
    result: dict[str, Any] = {"backends": backends, "embedded": embedded}
    if ping:
        result["ping"] = _ping(settings)
    if as_json:
        emit_json(result)
        return
    output(backends, ["backend", "selected", "why", "model", "mode", "ready", "detail"], False, title="Backends")
    rows = [{"key": k, "value": v} for k, v in embedded.items() if k != "packages_error"]
    output(rows, ["key", "value"], False, title="Embedded model")
    if ping:
        click.echo(f"ping: {json.dumps(result['ping'])}")


def _ping(settings: Any) -> dict[str, Any]:
    from pydantic import BaseModel

    from enrich.agent.llm import make_client
    from enrich.agent.llm.base import LLMError
    from enrich.agent.prompts import load_prompt

    class Ping(BaseModel):
        echo: str
        number: int

    prompt = load_prompt("ping")
    try:
        client = make_client(settings)
        try:
            res = client.extract(Ping, prompt.messages(word="pong", number=7), prompt=prompt.prompt_ref)
        finally:
            client.close()
    except LLMError as exc:
        raise EnrichError(str(exc)) from None
    return {
        "origin": res.origin,
        "value": res.value.model_dump(),
        "ok": res.value.number == 7,
        "tokens_in": res.tokens_in,
        "tokens_out": res.tokens_out,
    }


LOG_COLUMNS = [
    "id",
    "created_at",
    "origin",
    "prompt",
    "schema_name",
    "attempt",
    "tokens",
    "latency_ms",
    "cost_usd",
    "result",
]


@click.command("llm-log")
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="How many recent attempts to show.")
@click.option("--job", "job_id", default=None, help="Only calls made by this job.")
@click.option("--full", is_flag=True, help="Include messages and raw responses (with --json).")
@click.option(
    "--prune-before",
    "prune_before",
    default=None,
    metavar="JOB|TIME",
    help="Retention: drop the prompt and raw answer of calls made before this job started or this ISO time (each "
    "call's row, tokens, cost and parse result stay); run `sqlite3 DB VACUUM` afterwards to shrink the file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def llm_log_cmd(app, limit: int, job_id: str | None, full: bool, prune_before: str | None, as_json: bool) -> None:
    """Show recent model calls, newest first: one row per attempt, failed attempts included."""
    from enrich.store import llm_log

    if prune_before:
        from enrich.agent.cli.common import EnrichError
        from enrich.agent.export import resolve_since
        from enrich.store import StoreError

        try:
            before = resolve_since(app.store, prune_before)
        except StoreError as exc:
            raise EnrichError(str(exc).replace("--since", "--prune-before")) from None
        n = llm_log.prune_bodies(app.store, before)
        click.echo(f"dropped the bodies of {n} call(s) made before {before}")
        return

    rows = llm_log.recent_calls(app.store, limit=limit, job_id=job_id)
    for row in rows:
        row["prompt"] = f"{row['prompt_name']}@{row['prompt_version']}" if row["prompt_name"] else ""
        row["result"] = ("ERROR " + row["error"][:80]) if row["error"] else ("cached" if row["cached"] else "ok")
        row["cached"] = bool(row["cached"])
        row["origin"] = f"{row['backend']}/{row['model']}"
        row["tokens"] = f"{row['tokens_in']}/{row['tokens_out']}"
        row["latency_ms"] = round(row["latency_ms"] or 0)
        if as_json:
            for key in ("messages", "parsed"):
                row[key] = json.loads(row[key]) if row.get(key) else None
            if not full:
                row.pop("messages", None)
                row.pop("response", None)
    output(rows, LOG_COLUMNS, as_json, title="LLM calls (newest first)")
