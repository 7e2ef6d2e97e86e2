"""The one interface the agent uses to talk to any model: "give me an instance of this pydantic model for these
messages". Every backend (OpenAI, an OpenAI-compatible server, the embedded llama.cpp server, the fakes) implements
it; the real ones through the same openai + instructor code path."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


# The deadline (time.monotonic()) of the step now running in this thread: a client's extract() sends no request after
# it. Set by `time_budget` around each agent step, so every step has one total budget across its attempts.
STEP_DEADLINE: ContextVar[float | None] = ContextVar("STEP_DEADLINE", default=None)


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Model calls inside the block send no request after `seconds` from now (None or <= 0: no budget)."""
    token = STEP_DEADLINE.set(time.monotonic() + seconds if seconds and seconds > 0 else None)
    try:
        yield
    finally:
        STEP_DEADLINE.reset(token)


def effective_deadline(deadline: float | None) -> float | None:
    """The caller's deadline, else the running step's."""
    return deadline if deadline is not None else STEP_DEADLINE.get()


@dataclass
class PromptRef:
    """Which prompt file produced the messages (recorded on every call and every derived value)."""

    name: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class ExtractResult(Generic[T]):
    value: T
    call_id: int | None = None  # llm_calls row of the successful attempt (or of the cache hit)
    attempts: int = 1
    reasks: int = 0
    retries: int = 0
    cached: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    origin: str = ""  # "llm:<backend>/<model>"


@dataclass
class LLMError(Exception):
    """A model call failed for good (after retries / re-asks). `hint` tells the user how to fix it, when we know."""

    message: str
    hint: str | None = None
    call_ids: list[int] = field(default_factory=list)
    fatal: bool = False  # every further call would fail the same way (no key, server unreachable, no model)

    def __str__(self) -> str:
        return f"{self.message}" + (f" -- {self.hint}" if self.hint else "")


class LLMClient(ABC):
    backend: str = "abstract"
    model: str = "none"
    max_concurrency: int = 8

    @property
    def origin(self) -> str:
        return f"llm:{self.backend}/{self.model}"

    @abstractmethod
    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, Any]],
        *,
        prompt: PromptRef | None = None,
        context: dict[str, Any] | None = None,  # passed to pydantic validators (e.g. the source text for quote checks)
        job_id: str | None = None,
        max_tokens: int | None = None,  # cap on the answer's length; None = the client's default
        deadline: float | None = None,  # time.monotonic() after which no request is sent (a step's time budget)
    ) -> ExtractResult[T]: ...

    def close(self) -> None:  # noqa: B027 -- optional hook: stop subprocesses, close HTTP pools
        return None


class Deferred(Exception):  # noqa: N818 -- not an error: control flow of bulk mode
    """Bulk mode: the question was written into a batch request instead of being sent; the step finishes when the
    answer is collected (agent/batch). The loop records the step as `queued`."""

    def __init__(self, custom_id: str, detail: str = "") -> None:
        super().__init__(custom_id)
        self.custom_id, self.detail = custom_id, detail or f"queued as {custom_id}"
