"""Everything this project uses from instructor, in one file: an instructor upgrade touches this module (and its
contract test, tests/llm/test_instructor_api.py), nothing else. No other module imports instructor.

instructor does three jobs for us, and each has one function here:
- `prepare_request`: the request body for a response model in a mode (the tool definition and tool_choice in TOOLS
  mode, the schema in the system prompt and `response_format` in JSON modes). A Batch API request body is built the
  same way.
- `parse_answer`: one chat completion -> the validated response model (raises `ValidationError`, a not-JSON
  `ValueError` or `Truncated`).
- `run_turns`: the re-ask loop: call `create(**body)` per turn; on a validation error instructor appends the answer
  and the error to the messages and asks again, within the given tenacity `Retrying`.

Some of these are instructor internals (`retry_sync`, `handle_response_model`, `prepare_response_model`) rather
than its public `from_openai` client: that client renders every message as a Jinja template when given a
validation context (page text with "{{ x }}" would change, "{%" would raise), and it walks the request through
the openai SDK's TypedDicts; the caller here sends the body itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import instructor
from instructor.core import IncompleteOutputException, InstructorRetryException
from instructor.core.retry import retry_sync
from instructor.processing.response import handle_response_model, process_response
from instructor.utils.core import prepare_response_model
from pydantic import BaseModel
from tenacity import Retrying

Mode = instructor.Mode
Truncated = IncompleteOutputException  # the answer hit max_tokens (finish_reason=length)
ReasksExhausted = InstructorRetryException  # every turn of run_turns failed validation

__all__ = [
    "Mode",
    "ReasksExhausted",
    "Truncated",
    "drop_answers",
    "exhausted_cause",
    "is_not_json",
    "parse_answer",
    "prepare_request",
    "run_turns",
]


@functools.lru_cache(maxsize=256)
def _prepared(response_model: type[BaseModel]) -> type[BaseModel]:
    """instructor's wrapper class for a response model (it would build a new one, schema and all, on every call),
    with its JSON schema built once: instructor asks for it on every request (JSON modes embed it in the prompt),
    and pydantic rebuilds it each time (the largest CPU cost per call at high concurrency: bench/bench_agent.py)."""
    prepared = prepare_response_model(response_model)
    schema_json = json.dumps(prepared.model_json_schema())

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        # a fresh copy, so a caller that edits the schema cannot change the next request's (parsing JSON text is
        # several times faster than copy.deepcopy of the dict)
        if args or kwargs:
            return BaseModel.model_json_schema.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined,no-any-return]
        result: dict[str, Any] = json.loads(schema_json)
        return result

    prepared.model_json_schema = classmethod(model_json_schema)  # type: ignore[method-assign,assignment,arg-type]
    return prepared


def prepare_request(
    response_model: type[BaseModel], mode: Mode, messages: list[dict[str, Any]], **params: Any
) -> tuple[type[BaseModel], dict[str, Any]]:
    """(the model to parse answers with, the request body). `params` go into the body as they are (model,
    max_tokens, temperature, ...); `messages` may be extended in place (JSON modes add the schema): pass a copy."""
    prepared, body = handle_response_model(
        response_model=_prepared(response_model), mode=mode, messages=messages, **params
    )
    assert prepared is not None
    return prepared, body


def parse_answer(
    prepared: type[BaseModel], completion: Any, *, mode: Mode, context: dict[str, Any] | None = None
) -> BaseModel:
    """One chat completion -> the validated answer (an instance of `prepared`, a subclass of the response model)."""
    value = process_response(completion, response_model=prepared, stream=False, validation_context=context, mode=mode)
    assert isinstance(value, BaseModel)
    return value


def run_turns(
    create: Callable[..., Any],
    prepared: type[BaseModel],
    body: dict[str, Any],
    *,
    mode: Mode,
    reasks: Retrying,
    context: dict[str, Any] | None = None,
) -> BaseModel:
    """Ask (`create(**body)` returns a ChatCompletion) until the answer validates; raises `ReasksExhausted` when
    `reasks` stops, `Truncated` at once for a cut-off answer, and whatever `create` raises (transport errors)."""
    value = retry_sync(
        func=create,
        response_model=prepared,
        args=(),
        kwargs=body,
        context=context,
        max_retries=reasks,
        strict=False,
        mode=mode,
    )
    assert isinstance(value, BaseModel)
    return value


def is_not_json(exc: BaseException) -> bool:
    """The answer was not JSON at all (instructor raises a plain ValueError and simply repeats the request)."""
    return isinstance(exc, ValueError) and "parse JSON" in str(exc)


def exhausted_cause(exc: ReasksExhausted) -> BaseException:
    """The last turn's own error inside a `ReasksExhausted` (not tenacity's wrapper)."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else (exc.__cause__ or exc)


def drop_answers(messages: list[dict[str, Any]], answers: set[str]) -> list[dict[str, Any]]:
    """`messages` without the assistant turns whose answer is one of `answers`, nor the error messages that
    instructor's re-ask put after them (tool results in TOOLS mode, one user message in JSON modes): a cut-off
    answer is never sent back to the model."""
    out: list[dict[str, Any]] = []
    skipping = False
    for m in messages:
        role = m.get("role")
        if role == "assistant":
            calls = m.get("tool_calls") or []
            text = calls[0].get("function", {}).get("arguments") if calls else m.get("content")
            skipping = text in answers
            if skipping:
                continue
        elif skipping and role == "tool":
            continue
        elif skipping and role == "user":
            skipping = False
            continue
        else:
            skipping = False
        out.append(m)
    return out
