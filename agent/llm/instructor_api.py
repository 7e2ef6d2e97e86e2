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
- `reask_request`: one step of that loop on its own, for bulk mode (agent/batch), where the answer comes back from a
  batch: the next turn's body after an answer failed.

Some of these are instructor internals (`retry_sync`, `handle_response_model`, `prepare_response_model`) rather
than its public `from_openai` client: that client renders every message as a Jinja template when given a
validation context (page text with "{{ x }}" would change, "{%" would raise), and it walks the request through
the openai SDK's TypedDicts; the caller here sends the body itself.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, TypeVar, cast

import instructor
from instructor.core import IncompleteOutputException, InstructorRetryException
from instructor.core.retry import retry_sync  # type: ignore[attr-defined]  # the module opts out of typing as a whole
from instructor.processing.response import handle_reask_kwargs, handle_response_model
from instructor.utils.core import prepare_response_model
from pydantic import BaseModel, ValidationError
from tenacity import Retrying

Mode = instructor.Mode
M = TypeVar("M", bound=BaseModel)
Truncated = IncompleteOutputException  # the answer hit max_tokens (finish_reason=length)
ReasksExhausted = InstructorRetryException  # every turn of run_turns failed validation

__all__ = [
    "Mode",
    "ReasksExhausted",
    "Truncated",
    "answer_key",
    "answer_text",
    "canonical_json",
    "compact_json",
    "as_own_class",
    "compact_reasks",
    "drop_answers",
    "earlier_answers",
    "exhausted_cause",
    "is_not_json",
    "parse_answer",
    "prepare_request",
    "prepared_model",
    "request_text",
    "RequestText",
    "reask_request",
    "run_turns",
]


@functools.lru_cache(maxsize=256)
def prepared_model(response_model: type[BaseModel]) -> type[BaseModel]:
    """instructor's wrapper class for a response model (it would build a new one, schema and all, on every call),
    with its JSON schema built once: instructor asks for it on every request (JSON modes embed it in the prompt),
    and pydantic rebuilds it each time (the largest CPU cost per call at high concurrency: bench/bench_agent.py)."""
    prepared = prepare_response_model(response_model)
    assert prepared is not None  # None only for a None response model
    schema_json = json.dumps(prepared.model_json_schema())

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        # a fresh copy, so a caller that edits the schema cannot change the next request's (parsing JSON text is
        # several times faster than copy.deepcopy of the dict)
        if args or kwargs:
            return BaseModel.model_json_schema.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined]
        result: dict[str, Any] = json.loads(schema_json)
        return result

    prepared.model_json_schema = classmethod(model_json_schema)  # type: ignore[method-assign,assignment]
    return prepared


def _instructor_request(
    response_model: type[BaseModel], mode: Mode, messages: list[dict[str, Any]], **params: Any
) -> tuple[type[BaseModel], dict[str, Any]]:
    prepared, body = handle_response_model(
        response_model=prepared_model(response_model), mode=mode, messages=messages, **params
    )
    assert prepared is not None
    return prepared, body


# instructor rebuilds the schema-derived parts of a request (JSON modes: the schema pretty-printed into the system
# message, dedented) on every call, which cost more than everything else a batch build does per request. Those parts
# do not depend on the message texts, so instructor is asked once per shape with placeholder texts and the real texts
# are put in place of the placeholders; the first calls of each shape are built both ways and compared, and a shape
# whose results differ is never templated (tests/llm/test_request_templates.py).
_TEMPLATES: dict[tuple[Any, ...], dict[str, Any]] = {}
_TEMPLATE_CHECKS = 2
_SLOT = "\x00enrich-slot-{}\x00"


def prepare_request(
    response_model: type[BaseModel], mode: Mode, messages: list[dict[str, Any]], **params: Any
) -> tuple[type[BaseModel], dict[str, Any]]:
    """(the model to parse answers with, the request body). `params` go into the body as they are (model,
    max_tokens, temperature, ...); `messages` may be extended in place (JSON modes add the schema): pass a copy."""
    entry = _template(response_model, mode, messages, params)
    if entry is None or not entry["ok"]:
        return _instructor_request(response_model, mode, messages, **params)
    body: dict[str, Any] = json.loads(entry["body"])
    for m in body.get("messages", []):
        text = m.get("content")
        if isinstance(text, str) and "\x00enrich-slot-" in text:
            m["content"] = _SLOT_IN_TEXT.sub(lambda slot: messages[int(slot[1])]["content"], text)
    if entry["checks"] < _TEMPLATE_CHECKS:
        entry["checks"] += 1
        direct = _instructor_request(response_model, mode, json.loads(json.dumps(messages)), **params)
        if direct[1] != body:
            entry["ok"] = False
            return direct
    return prepared_model(response_model), body


def _template(
    response_model: type[BaseModel], mode: Mode, messages: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any] | None:
    """The template of the request's shape (made on first use); None for messages that are not plain texts (an
    empty one included: instructor sends it as an empty list of parts)."""
    if not messages:  # instructor's JSON modes would fail on it with an IndexError; no server takes it either
        raise ValueError("a request needs at least one message")
    if not all(set(m) == {"role", "content"} and isinstance(m["content"], str) and m["content"] for m in messages):
        return None
    key = (response_model, mode, tuple(m["role"] for m in messages), _PARAMS_KEY.encode(params))
    entry = _TEMPLATES.get(key)
    if entry is None:
        skeleton = [{"role": m["role"], "content": _SLOT.format(i)} for i, m in enumerate(messages)]
        _, template = _instructor_request(response_model, mode, skeleton, **params)
        entry = _TEMPLATES.setdefault(key, {"body": json.dumps(template), "checks": 0, "ok": True})
    return entry


_PARAMS_KEY = json.JSONEncoder(sort_keys=True, default=str)  # one encoder: json.dumps with options builds one per call
_SLOT_IN_TEXT = re.compile("\x00enrich-slot-(\\d+)\x00")
_SLOT_IN_JSON = re.compile(r"\\u0000enrich-slot-(\d+)\\u0000")  # a placeholder as JSON writes it


def compact_json(body: dict[str, Any]) -> str:
    """A body's JSON text as a Batch API input line holds it (its own key order, no spaces)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def canonical_json(body: dict[str, Any]) -> str:
    """A body's JSON text with sorted keys: the same text for the same body, however it was built."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class RequestText:
    """A request body as JSON text, for a request that is written into a file rather than sent (bulk mode):
    `compact` as a Batch API line holds it (the body's own key order, no spaces), `canonical` with sorted keys (a
    body's hash is taken of it), and the length of its message texts and of its tool definitions (token
    estimates)."""

    compact: str
    canonical: str
    message_chars: int
    tools_chars: int

    @classmethod
    def of(cls, body: dict[str, Any]) -> RequestText:
        return cls(
            compact_json(body),
            canonical_json(body),
            sum(len(m.get("content") or "") for m in body.get("messages", [])),
            len(json.dumps(body.get("tools", ""))),
        )


@dataclass(frozen=True)
class _Filled:
    """A template's JSON text split at its placeholders: `parts[0]`, the text of message `slots[0]`, `parts[1]`, ...
    (split once per template, so a request's text is one join instead of a search through the whole body)."""

    parts: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Filled:
        pieces = _SLOT_IN_JSON.split(text)  # literal, slot number, literal, ...
        return cls(tuple(pieces[0::2]), tuple(int(i) for i in pieces[1::2]))

    def fill(self, escaped: list[str]) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out += (escaped[slot], part)
        return "".join(out)


@dataclass(frozen=True)
class _TemplateText:
    """A checked template's body as text, with the placeholders where the message texts go."""

    compact: _Filled
    canonical: _Filled
    chars: int  # of the message texts, without the placeholders
    slots: tuple[int, ...]  # the message each placeholder in the message texts stands for
    tools_chars: int

    @classmethod
    def of(cls, template: dict[str, Any]) -> _TemplateText:
        whole = RequestText.of(template)
        texts = [m.get("content") or "" for m in template.get("messages", [])]
        # a checked template has placeholders in message texts only (prepare_request fills in nothing else)
        slots = tuple(int(i) for t in texts if isinstance(t, str) for i in _SLOT_IN_TEXT.findall(t))
        chars = sum(len(_SLOT_IN_TEXT.sub("", t) if isinstance(t, str) else t) for t in texts)
        return cls(_Filled.of(whole.compact), _Filled.of(whole.canonical), chars, slots, whole.tools_chars)


def escaped_texts(messages: list[dict[str, Any]]) -> list[str] | None:
    """The message texts as JSON writes them (`json.dumps(text, ensure_ascii=False)` without its quotes), for
    messages that are a role and a text only; None for any other. Escaped once, they go into a question's input
    hash (`messages_json`) and into its request text."""
    if all(
        isinstance(m, dict) and m.keys() == _ROLE_TEXT and isinstance(m["role"], str) and isinstance(m["content"], str)
        for m in messages
    ):
        return [encode_basestring(m["content"])[1:-1] for m in messages]
    return None


_ROLE_TEXT = {"role", "content"}


def messages_json(messages: list[dict[str, Any]], escaped: list[str]) -> str:
    """`messages` (of `escaped_texts`) as JSON with sorted keys and no spaces, written from their escaped texts."""
    parts = (
        f'{{"content":"{e}","role":{encode_basestring(m["role"])}}}' for m, e in zip(messages, escaped, strict=True)
    )
    return "[" + ",".join(parts) + "]"


def request_text(
    response_model: type[BaseModel],
    mode: Mode,
    messages: list[dict[str, Any]],
    *,
    escaped: list[str] | None = None,
    **params: Any,
) -> RequestText:
    """`prepare_request`'s body as text. For a checked template, the template's text with the message texts, escaped
    as JSON escapes them, in place of the placeholders (JSON escapes a string character by character, so that is
    the encoding of the filled-in body): no body is built, copied or encoded per request. `escaped`: the messages'
    `escaped_texts`, if the caller has them."""
    entry = _template(response_model, mode, messages, params)
    if entry is None or not entry["ok"] or entry["checks"] < _TEMPLATE_CHECKS:
        return RequestText.of(prepare_request(response_model, mode, messages, **params)[1])
    text: _TemplateText | None = entry.get("text")
    if text is None:
        text = entry["text"] = _TemplateText.of(json.loads(entry["body"]))
    if escaped is None:
        escaped = escaped_texts(messages)
        assert escaped is not None  # a template is made for role-and-text messages only
    return RequestText(
        text.compact.fill(escaped),
        text.canonical.fill(escaped),
        text.chars + sum(len(messages[i]["content"]) for i in text.slots),
        text.tools_chars,
    )


def parse_answer(
    prepared: type[BaseModel], completion: Any, *, mode: Mode, context: dict[str, Any] | None = None
) -> BaseModel:
    """One chat completion -> the validated answer (an instance of `prepared`, a subclass of the response model).
    What instructor's `process_response` does for a plain model class (the only kind `prepared_model` makes),
    without a debug message it formats whether or not debug logging is on -- the repr of the whole completion, a
    twentieth of a bulk collect's CPU -- and without attaching the raw completion to the answer (nothing here reads
    it back)."""
    value = cast(Any, prepared).from_response(completion, validation_context=context, strict=None, mode=mode)
    assert isinstance(value, prepared)
    return value


def as_own_class(value: BaseModel, response_model: type[M]) -> M:
    """instructor's answer as an instance of the caller's own class. instructor validates with a private subclass
    of the response model (the same fields and validators, run with the caller's context), so the fields are
    taken over as they are: validating them again would run every validator (the summary's sentence checks are
    the largest CPU cost of an answer) a second time for the same result."""
    if type(value) is response_model:
        return value
    assert isinstance(value, response_model)
    fields = {name: getattr(value, name) for name in response_model.model_fields}
    return response_model.model_construct(_fields_set=set(value.model_fields_set), **fields)


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


def reask_request(body: dict[str, Any], mode: Mode, completion: Any, exc: Exception) -> dict[str, Any]:
    """The next turn's body after `completion` failed with `exc` -- what run_turns does between two turns: for a
    validation error instructor's re-ask (the answer and the error appended for the model to fix); for an answer
    that is not JSON at all, which instructor would simply repeat, the answer and the parse error (as the online
    client adds them, InstructorClient._note_failure)."""
    body = json.loads(json.dumps(body))
    if is_not_json(exc) and not isinstance(exc, ValidationError):
        body["messages"] = [*body.get("messages", []), *not_json_reask(answer_text(completion), exc)]
        return body
    out: dict[str, Any] = handle_reask_kwargs(kwargs=body, mode=mode, response=completion, exception=exc)
    out["messages"] = compact_reasks(out.get("messages", []))
    return out


def not_json_reask(answer: str | None, exc: BaseException) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": answer or ""},
        {"role": "user", "content": f"Recall the function correctly, fix the errors:\n{exc}"},
    ]


def answer_text(completion: Any) -> str | None:
    """The model's answer: message text (JSON modes) or the tool call's arguments (TOOLS mode)."""
    try:
        message = completion.choices[0].message
    except (AttributeError, IndexError):
        return None
    if getattr(message, "tool_calls", None):
        return str(message.tool_calls[0].function.arguments)
    return message.content if isinstance(message.content, str) else None


def answer_key(text: str) -> str:
    """An answer as it compares with another: its JSON re-serialised when it parses (the model spaces the same JSON
    differently from turn to turn), else its words."""
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return " ".join(text.split())


def earlier_answers(messages: list[dict[str, Any]]) -> set[str]:
    """The keys of the model's answers a re-ask's conversation holds (the turns that failed before it)."""
    out = set()
    for m in messages:
        if m.get("role") != "assistant":
            continue
        calls = m.get("tool_calls") or []
        text = (calls[0].get("function") or {}).get("arguments") if calls else m.get("content")
        if isinstance(text, str) and text.strip():
            out.add(answer_key(text))
    return out


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


# instructor's re-ask text: every earlier failed attempt with its whole ChatCompletion repr, then the last error,
# each pydantic error line with the input repeated and a documentation link
_FAILED_ATTEMPTS = re.compile(r"<failed_attempts>.*?</failed_attempts>\s*", re.DOTALL)
_LAST_EXCEPTION = re.compile(r"<last_exception>\s*(.*?)\s*</last_exception>", re.DOTALL)
_PYDANTIC_NOISE = re.compile(
    r"\s*\[type=\w+, input_value=.*?, input_type=\w+\]|\n\s*For further information visit \S+", re.DOTALL
)


def compact_reasks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` with instructor's re-ask texts cut to the last error itself: the earlier attempts (their answers
    are in the conversation already), the input pydantic repeats and its links go. Each re-ask otherwise grew by
    about a thousand tokens, which a local model reads at some ten tokens a second, for nothing it can use."""
    out: list[dict[str, Any]] = []
    for m in messages:
        text = m.get("content")
        if (
            m.get("role") in ("tool", "user")
            and isinstance(text, str)
            and ("<last_exception>" in text or "errors.pydantic.dev" in text)
        ):
            text = _FAILED_ATTEMPTS.sub("", text)
            text = _LAST_EXCEPTION.sub(lambda x: x.group(1), text)
            m = {**m, "content": _PYDANTIC_NOISE.sub("", text)}
        out.append(m)
    return out
