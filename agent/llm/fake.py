"""Test doubles that honour the `LLMClient` contract without a model.

- `FakeModel`: canned answers, either a list consumed in order or a dict keyed by the response model (class or
  class name); a list as a dict value is consumed in order for that schema.
- `FunctionModel`: `fn(response_model, messages, context) -> instance | dict | str(JSON)`.

Both run the answer through pydantic WITH the caller's validation context, so step validators are exercised. An
answer that fails validation is logged as a failed attempt and counts as a re-ask, exactly like the real client:
the next canned answer (or the next fn call, which sees the validation error appended as a user message) is tried,
up to `max_reasks` re-asks, then LLMError. With a store, every attempt is an llm_calls row with backend "fake".
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from enrich.agent.llm.base import ExtractResult, LLMClient, LLMError, PromptRef, T, effective_deadline
from enrich.agent.llm.redact import redact_obj
from enrich.store import llm_log

Answer = BaseModel | dict | str
KEEP_CALLS = 1000  # attempts a fake client remembers for inspection (tests read the recent ones)


class _FakeBase(LLMClient):
    backend = "fake"

    def __init__(self, *, model: str = "fake", store: Any = None, max_reasks: int = 2) -> None:
        self.model, self.store, self.max_reasks = model, store, max_reasks
        self.calls: list[dict[str, Any]] = []  # the last KEEP_CALLS attempts: response_model, messages, context

    def _answer(
        self, response_model: type[BaseModel], messages: list[dict[str, Any]], context: dict[str, Any] | None
    ) -> Answer:
        raise NotImplementedError

    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, Any]],
        *,
        prompt: PromptRef | None = None,
        context: dict[str, Any] | None = None,
        job_id: str | None = None,
        max_tokens: int | None = None,
        deadline: float | None = None,
    ) -> ExtractResult[T]:
        messages = copy.deepcopy(messages)
        deadline = effective_deadline(deadline)
        group = uuid.uuid4().hex
        row_ids: list[int] = []
        last_error = ""
        for turn in range(self.max_reasks + 1):
            if deadline is not None and time.monotonic() >= deadline:
                raise LLMError(
                    f"{response_model.__name__}: no answer within the step's time budget ({turn} attempt(s))",
                    call_ids=row_ids,
                )
            self.calls.append(
                {"response_model": response_model, "messages": copy.deepcopy(messages), "context": context}
            )
            if len(self.calls) > KEEP_CALLS:  # a long job must not hold every prompt it sent
                del self.calls[0]
            answer = self._answer(response_model, messages, context)
            raw = _as_text(answer)
            row = {
                "call_group": group,
                "attempt": turn + 1,
                "backend": self.backend,
                "model": self.model,
                "mode": "fake",
                "prompt_name": prompt.name if prompt else None,
                "prompt_version": prompt.version if prompt else None,
                "schema_name": response_model.__name__,
                "input_hash": llm_log.sha256_json({"messages": messages, "context": context or {}}),
                "messages": redact_obj(messages),
                "response": raw,
                "reasks": turn,
                "job_id": job_id,
            }
            try:
                value = response_model.model_validate(_as_data(answer), context=context)
            except (ValidationError, ValueError) as exc:
                last_error = f"validation: {exc}"
                row_ids += self._log(row, error=last_error)
                messages.append({"role": "assistant", "content": raw})
                messages.append({"role": "user", "content": f"Recall the function correctly, fix the errors\n{exc}"})
                continue
            row_ids += self._log(row, parsed=value.model_dump(mode="json"))
            return ExtractResult(
                value=value,
                call_id=row_ids[-1] if row_ids else None,
                attempts=turn + 1,
                reasks=turn,
                origin=self.origin,
            )
        raise LLMError(
            f"{response_model.__name__}: the fake's answers did not validate after {self.max_reasks} "
            f"re-ask(s): {last_error[:300]}",
            call_ids=row_ids,
        )

    def _log(self, row: dict[str, Any], **fields: Any) -> list[int]:
        if self.store is None:
            return []
        return [llm_log.insert_call(self.store, **row, **fields)]


class FakeModel(_FakeBase):
    """Canned answers: `FakeModel([a, b])` in order, or `FakeModel({Affiliation: a, "Topics": [t1, t2]})`."""

    def __init__(self, answers: list[Answer] | dict[type | str, Answer | list[Answer]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(answers, dict):
            self._by_schema = {_key(k): deque(v if isinstance(v, list) else [v]) for k, v in answers.items()}
            self._sticky = {_key(k) for k, v in answers.items() if not isinstance(v, list)}
            self._queue: deque | None = None
        else:
            self._queue, self._by_schema, self._sticky = deque(answers), {}, set()

    def _answer(self, response_model, messages, context) -> Answer:
        if self._queue is not None:
            if not self._queue:
                raise LLMError(f"FakeModel has no answer left for {response_model.__name__}")
            return self._queue.popleft()
        key = response_model.__name__
        answers = self._by_schema.get(key)
        if not answers:
            raise LLMError(f"FakeModel has no answer for {key}", hint=f"known: {', '.join(self._by_schema)}")
        return answers[0] if key in self._sticky else answers.popleft()  # a single answer repeats


class FunctionModel(_FakeBase):
    """Answers computed by `fn(response_model, messages, context)`."""

    def __init__(
        self, fn: Callable[[type[BaseModel], list[dict[str, Any]], dict[str, Any] | None], Answer], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.fn = fn

    def _answer(self, response_model, messages, context) -> Answer:
        return self.fn(response_model, messages, context)


def _key(k: type | str) -> str:
    return k if isinstance(k, str) else k.__name__


def _as_data(answer: Answer) -> Any:
    if isinstance(answer, BaseModel):
        return answer.model_dump()
    if isinstance(answer, str):
        return json.loads(answer)
    return answer


def _as_text(answer: Answer) -> str:
    if isinstance(answer, BaseModel):
        return answer.model_dump_json()
    if isinstance(answer, str):
        return answer
    return json.dumps(answer, ensure_ascii=False, default=str)
