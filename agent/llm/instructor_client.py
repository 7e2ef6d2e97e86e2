"""The one real implementation of `LLMClient`: the `openai` client + instructor. OpenAI, any OpenAI-compatible
server and the embedded llama.cpp server differ only in base URL, key, model name and instructor mode.

Two bounded retry layers, kept apart:
- transport retries (tenacity, exponential backoff, honours Retry-After): 429, 408/409, 5xx, timeouts, connection
  errors. The openai client's own retries are off (max_retries=0) so this is the only transport retry layer.
- re-asks (instructor): the model's output failed JSON parsing or pydantic validation (run with the caller's
  `context`), so the error goes back to the model as a new message. At most `max_reasks` re-asks. An answer cut off
  at the token cap is never sent back (it would only make the next request longer): the re-ask says it was cut off.
A caller may give a `deadline` (time.monotonic()): no turn starts after it and no request waits past it, and a
client with `retry_timeouts=False` (a local model: the same request times out again) does not re-send a request
that timed out.

Every HTTP attempt is one llm_calls row (failed ones too): the row is written right after the exchange and then
completed with the parse result or the validation error.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from json import JSONDecodeError
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
)

from enrich.agent.llm import check_real_calls_allowed
from enrich.agent.llm.base import ExtractResult, LLMClient, LLMError, PromptRef, T, effective_deadline
from enrich.agent.llm.instructor_api import (
    Mode,
    ReasksExhausted,
    RequestText,
    Truncated,
    answer_key,
    answer_text,
    as_own_class,
    compact_reasks,
    drop_answers,
    escaped_texts,
    exhausted_cause,
    is_not_json,
    messages_json,
    not_json_reask,
    parse_answer,
    prepare_request,
    prepared_model,
    request_text,
    run_turns,
)
from enrich.agent.llm.pricing import cost_usd
from enrich.agent.llm.redact import install_log_redaction, redact, redact_obj, register_secret
from enrich.store import llm_log

install_log_redaction()

TRANSIENT_STATUS = {408, 409, 429} | set(range(500, 600))


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the same request: rate limits, server errors, timeouts, dropped connections."""
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in TRANSIENT_STATUS


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a failed attempt."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout: no response within the time limit"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc}"
    if isinstance(exc, openai.APIStatusError):
        body = (exc.response.text or "")[:500] if exc.response is not None else ""
        return f"HTTP {exc.status_code}: {body}"
    if isinstance(exc, Truncated):
        return "truncated: finish_reason=length (output hit max_tokens)"
    if isinstance(exc, ReasksExhausted):
        exc = exhausted_cause(exc)
    if isinstance(exc, RetryError) and exc.last_attempt.failed:
        exc = exc.last_attempt.exception() or exc
    if isinstance(exc, ValidationError):
        return f"validation: {exc}"
    if isinstance(exc, JSONDecodeError) or is_not_json(exc):
        return f"validation: invalid JSON: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _truncated(completion: Any, max_tokens: int | None) -> bool:
    """Did the answer stop at the token cap? (llama.cpp's server may report a capped tool call as finished.)"""
    try:
        if completion.choices[0].finish_reason == "length":
            return True
    except (AttributeError, IndexError):
        pass
    usage = getattr(completion, "usage", None)
    return bool(max_tokens and usage and (usage.completion_tokens or 0) >= max_tokens)


class _BudgetSpent(Exception):
    """The caller's deadline passed: no further request is sent."""


class _Repeating(Exception):
    """The model gave an invalid answer it had already given: the next re-ask would get it again (at temperature 0
    a small model told what was wrong often repeats its answer word for word), so no further request is sent."""


@functools.lru_cache(maxsize=256)
def schema_hash(response_model: type[BaseModel]) -> str:
    """Part of the cache key. Cached per class: building the JSON schema costs more than the rest of the key."""
    return llm_log.sha256_json({"name": response_model.__name__, "schema": response_model.model_json_schema()})


def input_hash(messages: list[dict[str, Any]], context: dict[str, Any] | None, escaped: list[str] | None = None) -> str:
    """The hash of the question's messages and validation context (the context is part of the input: the same output
    may be valid for one source text only). `escaped`: the messages' `escaped_texts`, written into the same JSON
    text as `sha256_json` writes instead of escaping the texts again."""
    if escaped is None:
        return llm_log.sha256_json({"messages": messages, "context": context or {}})
    text = '{"context":' + llm_log.stable_json(context or {}) + ',"messages":' + messages_json(messages, escaped) + "}"
    return llm_log.sha256_text(text)


def json_copy(value: Any) -> Any:
    """What `json.loads(json.dumps(value))` gives -- a private copy of messages that instructor may extend in place
    -- without writing and parsing every message text (strings are immutable: they are shared). Anything JSON would
    change (a tuple, a key that is not a string, another type) takes the JSON round trip."""
    try:
        return _copy_plain(value)
    except _NotPlain:
        return json.loads(json.dumps(value))


class _NotPlain(Exception):
    pass


def _copy_plain(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise _NotPlain
        return {k: _copy_plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_plain(v) for v in value]
    raise _NotPlain


@dataclass
class PreparedCall:
    messages: list[dict[str, Any]]
    cache_key: str
    base_row: dict[str, Any]
    escaped: list[str] | None = None  # the messages' texts as JSON writes them (instructor_api.escaped_texts)


def parse_turn(completion: ChatCompletion, response_model: type[T], mode: Mode, context: dict[str, Any] | None) -> T:
    """One turn's answer -> the caller's own response model, validated with its context: what run_turns does with
    each answer (instructor_api.parse_answer), as the caller's class like `extract` returns it. Raises
    ValidationError / a not-JSON ValueError (re-ask) or Truncated."""
    value = parse_answer(prepared_model(response_model), completion, mode=mode, context=context)
    return as_own_class(value, response_model)


def completion_from(data: dict[str, Any]) -> ChatCompletion:
    """A chat.completion body as the SDK's object (its lenient construction for servers that misshape a field)."""
    try:
        return ChatCompletion.model_validate(data)
    except ValidationError:
        return ChatCompletion.construct(**data)


@dataclass
class _Group:
    """Bookkeeping for one extract(): the attempts of all turns (first ask + re-asks)."""

    call_group: str
    base_row: dict[str, Any]
    row_ids: list[int] = field(default_factory=list)
    attempts: int = 0
    turns: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    last_row: int | None = None
    last_content: str | None = None  # what the model said in the last turn
    last_truncated: bool = False  # the last answer stopped at the token cap
    truncated_answers: set[str] = field(default_factory=set)  # never sent back to the model
    failed_answers: set[str] = field(default_factory=set)  # the answers of the turns that failed
    repeating: bool = False  # the last failed answer was one of the earlier ones
    last_error: str = ""  # why the last turn failed
    max_tokens: int = 0
    deadline: float | None = None  # time.monotonic() after which no request is sent
    json_reask: list[dict[str, Any]] = field(default_factory=list)  # see _note_failure


class InstructorClient(LLMClient):
    """Talks to any OpenAI-compatible endpoint through instructor. See module docstring."""

    def __init__(
        self,
        *,
        backend: str,
        model: str,
        mode: Mode,
        base_url: str | None = None,
        api_key: str | None = None,
        store: Any = None,
        max_retries: int = 3,
        max_reasks: int = 2,
        timeout: float = 120.0,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        max_concurrency: int = 8,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        http_client: Any = None,
        unreachable_hint: str | None = None,
        use_cache: bool = True,
        retry_timeouts: bool = True,
    ) -> None:
        self.backend, self.model, self.mode = backend, model, mode
        self.base_url, self.store = base_url, store
        self.max_retries, self.max_reasks = max(0, max_retries), max(0, max_reasks)
        self.timeout, self.max_tokens, self.temperature = timeout, max_tokens, temperature
        self.max_concurrency = max_concurrency
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.unreachable_hint = unreachable_hint
        self.use_cache = use_cache
        self.retry_timeouts = retry_timeouts
        self._api_key = api_key
        register_secret(api_key)
        # the connection pool, TLS set-up included, is built with the client: built by the first request instead,
        # it held every worker of a job back until it was ready
        self._http_client = http_client if http_client is not None else openai.DefaultHttpxClient()
        self._openai: openai.OpenAI | None = None
        self._client_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency)

    # ------------------------------------------------------------ hooks for subclasses (embedded server)

    def _ensure_ready(self) -> None:
        """Make sure the endpoint is up (the embedded client starts its server here)."""

    def _request_timed_out(self) -> None:
        """A request got no answer in time and was given up (the embedded client restarts its server here)."""

    def sdk_client(self) -> openai.OpenAI:
        """The openai SDK client (also bulk mode's, for the Files and Batches endpoints)."""
        client = self._openai
        if client is None:
            # one client (and one connection pool) for all worker threads: without the lock each of 32 workers
            # starting at once built its own, loading the CA certificates 32 times
            with self._client_lock:
                if self._openai is None:
                    self._openai = openai.OpenAI(
                        api_key=self._api_key or "not-needed",  # local servers ignore it; the SDK insists on one
                        base_url=self.base_url,
                        max_retries=0,  # tenacity below is the one retry layer
                        timeout=self.timeout,
                        http_client=self._http_client,
                    )
                client = self._openai
        return client

    def close(self) -> None:
        """Close the connection pool."""
        self._openai = None
        self._http_client.close()

    # ------------------------------------------------------------ the interface

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
        check_real_calls_allowed(self.backend)
        call = self.prepare_call(response_model, messages, prompt=prompt, context=context, job_id=job_id)
        messages, key, base_row = call.messages, call.cache_key, call.base_row
        hit = self.cached(call, response_model, context)
        if hit is not None:
            return hit

        group = _Group(
            call_group=uuid.uuid4().hex,
            base_row=base_row,
            max_tokens=max_tokens or self.max_tokens,
            deadline=effective_deadline(deadline),
        )
        with self._slots:
            self._ensure_ready()
            value = self._run_instructor(group, response_model, messages, context, max_tokens or self.max_tokens)
        parsed = value.model_dump(mode="json")
        if self.store is not None and group.last_row is not None:  # the parse result and the cache entry: one commit
            llm_log.complete_call(self.store, group.last_row, parsed, key if self.use_cache else None)
        return ExtractResult(
            value=value,
            call_id=group.last_row,
            attempts=group.attempts,
            reasks=group.turns - 1,
            retries=group.retries,
            cached=False,
            tokens_in=group.tokens_in,
            tokens_out=group.tokens_out,
            cost_usd=group.cost,
            origin=self.origin,
        )

    # ------------------------------------------------------------ the pieces bulk mode shares (agent/batch)

    def prepare_call(
        self,
        response_model: type[BaseModel],
        messages: list[dict[str, Any]],
        *,
        prompt: PromptRef | None,
        context: dict[str, Any] | None,
        job_id: str | None,
    ) -> PreparedCall:
        """The messages (a deep copy: instructor appends re-asks / schema text in place), the cache key and the
        call-log fields of one question -- the same for an online call and a batch request."""
        messages = json_copy(messages)
        escaped = escaped_texts(messages)
        in_hash = input_hash(messages, context, escaped)
        key = llm_log.cache_key(
            self.model, prompt.version if prompt else None, in_hash, schema_hash(response_model), self.mode.value
        )
        base_row = {
            "backend": self.backend,
            "model": self.model,
            "mode": self.mode.value,
            "prompt_name": prompt.name if prompt else None,
            "prompt_version": prompt.version if prompt else None,
            "schema_name": response_model.__name__,
            "input_hash": in_hash,
            "job_id": job_id,
        }
        return PreparedCall(messages, key, base_row, escaped)

    def cached(self, call: PreparedCall, response_model: type[T], context: dict[str, Any] | None):
        """The cached answer to this question (still valid under today's validators), as an ExtractResult."""
        return self._from_cache(call.cache_key, response_model, context, call.base_row, call.messages)

    def request_body(
        self,
        response_model: type[BaseModel],
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        *,
        private: bool = False,
    ) -> dict[str, Any]:
        """The chat-completion request body this client sends for a question's first turn: instructor's own
        request for the client's mode (tools / response_format / schema text), model and limits. instructor may
        change the messages in place: they are copied first, unless `private` (the caller's own copy, not used
        again)."""
        return prepare_request(
            response_model,
            self.mode,
            messages if private else json_copy(messages),
            model=self.model,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
        )[1]

    def request_text(
        self,
        response_model: type[BaseModel],
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        escaped: list[str] | None = None,
    ) -> RequestText:
        """`request_body` as JSON text, for a request written into a batch file (instructor_api.request_text).
        The messages are the caller's own copy, not used again; `escaped`: their texts as JSON writes them."""
        return request_text(
            response_model,
            self.mode,
            messages,
            escaped=escaped,
            model=self.model,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
        )

    # ------------------------------------------------------------ internals

    def _run_instructor(self, group: _Group, response_model: type[T], messages, context, max_tokens: int) -> T:
        reasks = Retrying(
            stop=stop_after_attempt(self.max_reasks + 1),
            # only parse/validation failures re-ask (transport errors were already retried inside create());
            # reraise=False: when re-asks run out instructor turns tenacity's RetryError into InstructorRetryException
            retry=retry_if_exception_type((ValidationError, JSONDecodeError, ValueError, ReasksExhausted)),
            after=functools.partial(self._after_turn, group),
            reraise=False,
        )
        try:
            # instructor's re-ask loop without its client: the messages go out as written (instructor_api.py)
            prepared, body = prepare_request(
                response_model,
                self.mode,
                messages,
                model=self.model,
                max_tokens=max_tokens,
                temperature=self.temperature,
            )
            value = run_turns(self._make_create(group), prepared, body, mode=self.mode, reasks=reasks, context=context)
        except ReasksExhausted as exc:
            raise LLMError(
                f"{response_model.__name__}: the model's output did not validate after {self.max_reasks} re-ask(s): "
                + redact(describe_error(exc))[:300],
                hint="try a stronger model (--backend/--model) or raise ENRICH_MAX_REASKS",
                call_ids=group.row_ids,
            ) from None
        except Truncated:
            self._update(group.last_row, error=describe_error(Truncated()))
            raise LLMError(
                f"{response_model.__name__}: the model's output was cut off (finish_reason=length)",
                hint="shorten the input or raise max_tokens",
                call_ids=group.row_ids,
            ) from None
        except openai.APIError as exc:
            raise self._transport_error(exc, group) from None
        except _Repeating:
            raise LLMError(
                f"{response_model.__name__}: the model repeated an answer that did not validate; not asked again "
                f"({group.attempts} attempt(s)): " + redact(group.last_error)[:300],
                hint="try a stronger model (--backend/--model)",
                call_ids=group.row_ids,
            ) from None
        except _BudgetSpent:
            raise LLMError(
                f"{response_model.__name__}: no answer within the step's time budget ({group.attempts} attempt(s))",
                hint="raise ENRICH_STEP_BUDGET or use a faster model",
                call_ids=group.row_ids,
            ) from None
        # instructor returns a private subclass of response_model; hand back the caller's own class
        return as_own_class(value, response_model)

    def _make_create(self, group: _Group) -> Callable[..., Any]:
        """The function instructor calls once per turn: one request, retried on transient errors."""

        def create(**kwargs: Any) -> Any:
            if group.deadline is not None and time.monotonic() >= group.deadline:
                raise _BudgetSpent()
            if group.repeating:
                raise _Repeating()
            if group.truncated_answers:  # instructor's re-ask appended the cut-off answer: take it out again
                kwargs = {**kwargs, "messages": drop_answers(kwargs.get("messages", []), group.truncated_answers)}
            if group.turns:
                kwargs = {**kwargs, "messages": compact_reasks(kwargs.get("messages", []))}
            if group.json_reask:
                kwargs = {**kwargs, "messages": [*kwargs.get("messages", []), *group.json_reask]}
            group.turns += 1
            turn_reasks = group.turns - 1
            logged_messages = redact_obj(kwargs.get("messages", []))  # builds new lists and dicts: a copy
            transport = Retrying(
                stop=stop_after_attempt(self.max_retries + 1),
                retry=retry_if_exception(self._worth_resending),
                wait=self._wait,
                reraise=True,
            )
            for attempt in transport:
                with attempt:
                    return self._one_request(
                        group, kwargs, logged_messages, turn_reasks, attempt.retry_state.attempt_number - 1
                    )
            raise AssertionError("unreachable")

        return create

    def _worth_resending(self, exc: BaseException) -> bool:
        """Transient errors are re-sent, except a timeout when `retry_timeouts` is off (the same prompt on the same
        local model times out again) and anything once the deadline has passed."""
        if isinstance(exc, openai.APITimeoutError) and not self.retry_timeouts:
            return False
        return is_transient(exc)

    def _after_turn(self, group: _Group, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:  # tenacity calls `after` for failed turns only
            group.last_error = describe_error(exc)
            self._note_failure(group, exc)
            answer = answer_key(group.last_content or "")
            group.repeating = bool(answer) and answer in group.failed_answers
            group.failed_answers.add(answer)

    def _note_failure(self, group: _Group, exc: BaseException) -> None:
        """Record why a turn failed. instructor re-asks with the error for validation errors but simply repeats
        the request when the answer is not JSON at all; for that case the broken answer and the parse error are
        added to the next turn here, so the model sees what to fix either way -- unless the answer was cut off at
        the token cap: then only the fact goes back (the broken answer would make the next request longer and
        be cut off again)."""
        if group.last_truncated:
            group.truncated_answers.add(group.last_content or "")
            self._update(
                group.last_row,
                error=f"truncated: the answer hit max_tokens ({group.max_tokens}); {group.last_error}"[:500],
            )
            group.json_reask = [
                {
                    "role": "user",
                    "content": f"Your answer was cut off at {group.max_tokens} tokens and was not complete. "
                    "Answer again, shorter: fewer and shorter sentences.",
                }
            ]
            return
        self._update(group.last_row, error=redact(group.last_error))
        if not isinstance(exc, ValidationError) and is_not_json(exc):
            group.json_reask = not_json_reask(group.last_content, exc)
        else:
            group.json_reask = []

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, openai.APIStatusError) and exc.response is not None:
            retry_after = exc.response.headers.get("retry-after")
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                return min(float(retry_after), self.backoff_max)
        return min(self.backoff_initial * (2 ** (state.attempt_number - 1)), self.backoff_max)

    def _one_request(self, group: _Group, kwargs: dict[str, Any], logged_messages, reasks: int, retries: int):
        group.attempts += 1
        group.retries += 1 if retries else 0
        row = dict(
            group.base_row,
            call_group=group.call_group,
            attempt=group.attempts,
            messages=logged_messages,
            retries=retries,
            reasks=reasks,
        )
        start = time.perf_counter()
        options: openai.RequestOptions = {}
        if group.deadline is not None:  # a request never waits past the step's deadline
            left = group.deadline - time.monotonic()
            if left <= 1:
                raise _BudgetSpent()
            options["timeout"] = min(self.timeout, left)
        try:
            # the SDK's documented request method, not chat.completions.create: the body is sent as instructor
            # built it instead of being walked field by field against the SDK's TypedDicts (the largest share of
            # the SDK's CPU time at high concurrency: bench/bench_agent.py); the answer is built the SDK's way
            response = self.sdk_client().post("/chat/completions", body=kwargs, cast_to=httpx.Response, options=options)
            try:
                data = response.json()
            except ValueError:
                raise openai.APIResponseValidationError(
                    response,
                    response.text,
                    message=f"HTTP {response.status_code} with a body that is not JSON",
                ) from None
            completion = completion_from(data)
            group.last_content = answer_text(completion)
            group.last_truncated = _truncated(completion, kwargs.get("max_tokens"))
        except openai.APIError as exc:
            response_text = (
                exc.response.text
                if isinstance(exc, (openai.APIStatusError, openai.APIResponseValidationError))
                else None
            )
            self._insert(
                group,
                row,
                latency_ms=(time.perf_counter() - start) * 1000,
                response=redact(response_text),
                error=redact(describe_error(exc)),
            )
            raise
        latency = (time.perf_counter() - start) * 1000
        usage = completion.usage
        t_in = usage.prompt_tokens if usage else 0
        t_out = usage.completion_tokens if usage else 0
        cost = cost_usd(self.backend, self.model, t_in, t_out)
        group.tokens_in += t_in
        group.tokens_out += t_out
        group.cost += cost
        self._insert(
            group,
            row,
            latency_ms=latency,
            response=redact(response.text),
            tokens_in=t_in,
            tokens_out=t_out,
            cost_usd=cost,
        )
        return completion

    def _insert(self, group: _Group, row: dict[str, Any], **fields: Any) -> None:
        if self.store is None:
            group.last_row = None
            return
        group.last_row = llm_log.insert_call(self.store, **row, **fields)
        group.row_ids.append(group.last_row)

    def _update(self, row_id: int | None, **fields: Any) -> None:
        if self.store is not None and row_id is not None:
            llm_log.update_call(self.store, row_id, **fields)

    def _from_cache(self, key, response_model, context, base_row, messages) -> ExtractResult | None:
        if self.store is None or not self.use_cache:
            return None
        hit = llm_log.cache_get(self.store, key)
        if hit is None:
            return None
        try:  # validators may have changed since: a cached object must still pass them
            value = response_model.model_validate(hit["parsed"], context=context)
        except ValidationError:
            llm_log.cache_delete(self.store, key)
            return None
        row_id = llm_log.insert_call(
            self.store,
            **base_row,
            call_group=uuid.uuid4().hex,
            attempt=1,
            messages=redact_obj(messages),
            parsed=hit["parsed"],
            cached=True,
            response=json.dumps({"cache_of": hit["llm_call_id"]}),
        )
        return ExtractResult(value=value, call_id=row_id, attempts=0, cached=True, origin=self.origin)

    def _transport_error(self, exc: openai.APIError, group: _Group) -> LLMError:
        where = self.base_url or "the OpenAI API"
        if isinstance(exc, openai.AuthenticationError):
            return LLMError(
                f"{where} rejected the API key (HTTP 401)",
                hint="set OPENAI_API_KEY to a valid key",
                call_ids=group.row_ids,
                fatal=True,
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMError(
                f"{where} does not know model {self.model!r} (HTTP 404)",
                hint="set ENRICH_MODEL to a model the server serves (enrich models)",
                call_ids=group.row_ids,
                fatal=True,
            )
        if isinstance(exc, openai.APITimeoutError):
            self._request_timed_out()
            return LLMError(
                f"{where} did not answer within {self.timeout:g}s ({group.attempts} attempt(s))",
                hint="raise ENRICH_TIMEOUT or use a smaller model",
                call_ids=group.row_ids,
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(
                f"cannot reach the model server at {where}",
                hint=self.unreachable_hint or "start the server or fix ENRICH_BASE_URL",
                call_ids=group.row_ids,
                fatal=True,
            )
        if isinstance(exc, openai.RateLimitError):
            return LLMError(
                f"{where} kept rate-limiting (HTTP 429) after {group.attempts} attempt(s)",
                hint="wait, lower ENRICH_CONCURRENCY or raise ENRICH_MAX_RETRIES",
                call_ids=group.row_ids,
            )
        if isinstance(exc, openai.APIStatusError):
            return LLMError(
                f"{where} failed with HTTP {exc.status_code} after {group.attempts} attempt(s)",
                hint="retry later; see `enrich llm-log` for the responses",
                call_ids=group.row_ids,
            )
        return LLMError(redact(describe_error(exc)) or "model call failed", call_ids=group.row_ids)
