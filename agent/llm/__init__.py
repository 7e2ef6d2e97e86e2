"""The model layer: one `LLMClient.extract` interface, implemented once with openai + instructor.

`ALLOW_REAL_CALLS` is the test-suite guard: tests/conftest.py sets it False, so any client that would send a
request to a real model (OpenAI, a base URL, the embedded server) raises instead; a test opts in with the
`real_model` marker. Fakes are always allowed.
"""

from __future__ import annotations

from enrich.agent.llm.base import ExtractResult, LLMClient, LLMError, PromptRef

ALLOW_REAL_CALLS: bool = True

__all__ = ["ALLOW_REAL_CALLS", "ExtractResult", "LLMClient", "LLMError", "PromptRef", "make_client"]


def make_client(settings, store=None) -> LLMClient:  # re-exported lazily: the factory imports openai/instructor
    from enrich.agent.llm.factory import make_client as _make

    return _make(settings, store)


def real_calls_allowed() -> bool:
    import enrich.agent.llm as me

    return me.ALLOW_REAL_CALLS


def check_real_calls_allowed(backend: str) -> None:
    if not real_calls_allowed():
        raise LLMError(
            f"real model call to backend {backend!r} blocked in tests",
            hint="use enrich.agent.llm.fake.FakeModel/FunctionModel, or mark the test @pytest.mark.real_model",
        )
