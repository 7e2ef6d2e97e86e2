"""Pick and build the model client from settings.

settings.backend: "auto" (default) = openai-compatible when a base URL is set, else openai when an API key is set,
else the embedded model. Or name one explicitly: embedded | openai | openai-compatible | fake.
"""

from __future__ import annotations

import os
from typing import Any

from enrich.agent.llm.base import LLMClient, LLMError

BACKENDS = ("embedded", "openai", "openai-compatible", "fake")
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "openai-compatible": "default"}


def _get(settings: Any, name: str, default: Any = None) -> Any:
    return getattr(settings, name, default)


def choose_backend(settings: Any) -> tuple[str, str]:
    """(backend, why) -- the why is shown by `enrich models`."""
    backend = (_get(settings, "backend") or "auto").lower()
    if backend != "auto":
        if backend not in BACKENDS:
            raise LLMError(f"unknown backend {backend!r}", hint=f"set ENRICH_BACKEND to auto or one of {BACKENDS}")
        return backend, "set explicitly"
    if _get(settings, "base_url"):
        return "openai-compatible", "auto: ENRICH_BASE_URL is set"
    if _get(settings, "api_key"):
        return "openai", "auto: OPENAI_API_KEY is set"
    return "embedded", "auto: no base URL and no API key, so the offline embedded model"


def _mode_override(settings: Any) -> str | None:
    # not (yet) in agent/settings.SPEC; read it if the lead adds it, else the env var
    return _get(settings, "mode") or os.environ.get("ENRICH_MODE") or None


EMBEDDED_TIMEOUT = 600.0


def make_client(settings: Any, store: Any = None, **overrides: Any) -> LLMClient:
    """The client for these settings. `overrides` go to the client constructor (e.g. http_client in tests)."""
    from enrich.agent.llm.modes import mode_for

    backend, _why = choose_backend(settings)
    common = dict(
        store=store,
        max_retries=int(_get(settings, "max_retries", 3)),
        max_reasks=int(_get(settings, "max_reasks", 2)),
        timeout=float(_get(settings, "timeout", 120.0)),
    )
    common.update(overrides)
    if backend == "fake":
        from enrich.agent.fake_answers import grounded_answer
        from enrich.agent.llm.fake import FunctionModel

        return FunctionModel(grounded_answer, store=store, max_reasks=common["max_reasks"])
    if backend == "embedded":
        from enrich.agent.llm.embedded import EmbeddedClient

        if getattr(settings, "sources", {}).get("timeout", "default") == "default":
            # a small model on a few CPU cores answers slowly, and far more slowly when the machine is busy
            common["timeout"] = EMBEDDED_TIMEOUT

        return EmbeddedClient(
            model_name=_get(settings, "embedded_model") or "qwen2.5-coder-1.5b",
            model_cache=_get(settings, "model_cache"),
            mode_override=_mode_override(settings),
            retry_timeouts=False,  # the same prompt on the same local model times out again
            **common,
        )

    from enrich.agent.llm.instructor_client import InstructorClient

    # HTTP backends take as many requests at once as the job runs researchers (JobRunner uses the smaller of the
    # two); the embedded server above stays at one.
    common.setdefault("max_concurrency", max(1, int(_get(settings, "concurrency", 4) or 1)))
    model = _get(settings, "model") or DEFAULT_MODELS[backend]
    if backend == "openai":
        if not _get(settings, "api_key"):
            raise LLMError(
                "the openai backend needs an API key",
                hint="export OPENAI_API_KEY=... (or use --backend embedded for the offline model)",
            )
        return InstructorClient(
            backend="openai",
            model=model,
            mode=mode_for("openai", _mode_override(settings)),
            api_key=_get(settings, "api_key"),
            base_url=None,
            **common,
        )
    base_url = _get(settings, "base_url")
    if not base_url:
        raise LLMError(
            "the openai-compatible backend needs a server URL",
            hint="export ENRICH_BASE_URL=http://127.0.0.1:11434/v1 (Ollama) or your server's /v1 URL",
        )
    return InstructorClient(
        backend="openai-compatible",
        model=model,
        mode=mode_for("openai-compatible", _mode_override(settings)),
        api_key=_get(settings, "api_key"),
        base_url=base_url,
        unreachable_hint=f"start the server at {base_url} or fix ENRICH_BASE_URL",
        **common,
    )
