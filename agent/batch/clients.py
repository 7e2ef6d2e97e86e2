"""The two model clients of bulk mode. Both wrap the online InstructorClient of the chosen backend and reuse its
pieces (cache key, cache lookup, instructor's request body, instructor's parsing and re-ask), so the steps run
unchanged: everything a step does before asking (planning, prompt, context trimming) and after (validation, quote
grounding, citation checks, confidence, the store's write policy) is the online code itself.

- `RecordingClient` (`enrich run --batch`): a question with a cached answer is answered from the cache, as online;
  any other becomes a request line (the exact body the online client would POST) and the step stops with
  `Deferred` -- the loop records it as queued.
- `ReplayClient` (`enrich batch collect`): the step runs again, through the loop's step boundary, and asks the same
  question; the client checks the question is still the one that was sent (the step's inputs did not change), and
  answers with the batch's answer, parsed and validated exactly as online. An invalid answer becomes the next
  round's request (`Reasked`) until max_reasks, or until it repeats an answer the re-ask already showed as
  invalid; then the step fails as online. `Reasked` and `Stale` are `Deferred`:
  the step boundary records the step as queued, as when the question was first written into a batch.
  With `checking` on, the client only parses and validates the answer, keeps the result and stops the step
  (`Checked`) before anything is written; the same question asked again with `checking` off reuses it. A collector
  with several processes checks outside the store's write lock and applies inside it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from json import JSONDecodeError
from typing import Any

from pydantic import ValidationError

from enrich.agent.llm.base import Deferred, ExtractResult, LLMClient, LLMError, PromptRef, T
from enrich.agent.llm.instructor_api import (
    RequestText,
    Truncated,
    answer_key,
    answer_text,
    canonical_json,
    compact_json,
    earlier_answers,
    reask_request,
)
from enrich.agent.llm.instructor_client import InstructorClient, completion_from, describe_error, parse_turn
from enrich.agent.llm.pricing import batch_cost_usd
from enrich.agent.llm.redact import redact, redact_obj
from enrich.store import llm_log


def body_hash(body: dict[str, Any] | RequestText) -> str:
    """The hash of a request body (a question's first turn), kept with the request: collect asks the question again
    and compares."""
    canonical = body.canonical if isinstance(body, RequestText) else canonical_json(body)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def custom_id(job_id: str, researcher_id: int, step: str, round: int) -> str:
    return f"{job_id}.{researcher_id}.{step}.{round}"


@dataclass
class NewRequest:
    custom_id: str
    researcher_id: int
    step: str
    round: int
    body: str  # the request body's JSON text, as the line holds it (instructor_api.compact_json)
    first_hash: str
    tokens_in: int  # estimate (chars / 4) for --dry-run and reports


class _Wrapper(LLMClient):
    def __init__(self, online: InstructorClient) -> None:
        self.online = online
        self.backend, self.model = online.backend, online.model
        self.max_concurrency = 1

    def close(self) -> None:
        self.online.close()


class RecordingClient(_Wrapper):
    """See module docstring. `researcher_id` is set by the builder before each researcher's steps run."""

    def __init__(
        self,
        online: InstructorClient,
        sink: Callable[[NewRequest], None],
        job_id: str,
        in_flight: dict[tuple[int, str], tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(online)
        self.sink, self.job_id = sink, job_id
        self.in_flight = in_flight or {}  # questions already out in another bulk job: not asked twice
        self.still_out = 0  # questions left to the job that asked them
        self.researcher_id = 0

    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, Any]],
        *,
        prompt: PromptRef | None = None,
        context: dict[str, Any] | None = None,
        job_id: str | None = None,
        max_tokens: int | None = None,
        deadline: float | None = None,  # a step's time budget: no request is sent here, so none applies
    ) -> ExtractResult[T]:
        call = self.online.prepare_call(response_model, messages, prompt=prompt, context=context, job_id=job_id)
        hit = self.from_cache(call, response_model, context)
        if hit is not None:
            return hit
        step = prompt.name if prompt else response_model.__name__
        # call.messages: not used again
        body = self.online.request_text(response_model, call.messages, max_tokens, call.escaped)
        first = body_hash(body)
        out = self.in_flight.get((self.researcher_id, step))
        if out is not None and out[0] == first:  # the same question, still out: its job's collect applies it
            self.still_out += 1
            raise Deferred(out[1], f"already queued as {out[1]}")
        cid = custom_id(self.job_id, self.researcher_id, step, 0)
        tokens = (body.message_chars + body.tools_chars) // 4  # chars / 4: for --dry-run and reports
        self.sink(NewRequest(cid, self.researcher_id, step, 0, body.compact, first, tokens))
        raise Deferred(cid)

    def from_cache(self, call: Any, response_model: type[T], context: dict[str, Any] | None) -> ExtractResult[T] | None:
        """The cached answer to the question, as online (its call-log row is written)."""
        return self.online.cached(call, response_model, context)


class Stale(Deferred):
    """The step's question differs from the one sent: its inputs changed since the batch was built. The answer is not
    applied; the step is left to the next `enrich run --batch`, which asks the new question."""

    def __init__(self, why: str) -> None:
        super().__init__("", why)


class Reasked(Deferred):
    """The answer failed validation: its follow-up request (the answer and the error appended) goes into the next
    round's batch, as instructor's re-ask does online."""

    def __init__(self, request: NewRequest, error: str) -> None:
        super().__init__(request.custom_id, f"re-asked as {request.custom_id}")
        self.request, self.error = request, error


class Checked(Exception):  # noqa: N818 -- not an error: the step stops after its answer was checked
    """Raised by a checking ReplayClient once the answer is parsed and validated, before the step writes."""


@dataclass
class _Parsed:
    """An answer parsed and validated: the value or the failure, and what the schema's validators added to the
    step's validation context (e.g. the summary's check report)."""

    value: Any
    parsed: Any
    error: str | None
    failure: Exception | None
    context: dict[str, Any]
    asked: tuple[Any, ...] = ()  # (model, messages, context, max_tokens) the step asked with
    prepared: tuple[Any, ...] = ()  # (call, body, completion) made from them
    log: llm_log.PreparedCall | None = None  # its call-log row, encoded


@dataclass
class BatchAnswer:
    """One answer to apply: the request row (batch_requests) and the completion body from the output line."""

    row: dict[str, Any]
    completion: dict[str, Any]
    batch_id: str | None
    call_id: int | None = None  # set by the ReplayClient: the llm_calls row it wrote
    checked: _Parsed | None = None  # set by a checking ReplayClient: the answer parsed and validated


class ReplayClient(_Wrapper):
    """See module docstring. `begin(answers)` gives the answers of the researcher being collected (by step name);
    a step that ends in a re-ask or finds its question changed is `deferred` (by step name): the loop's step boundary
    records it as queued, and the collector reads why here."""

    def __init__(self, online: InstructorClient, *, max_reasks: int) -> None:
        super().__init__(online)
        self.max_reasks = max_reasks
        self.answers: dict[str, BatchAnswer] = {}
        self.deferred: dict[str, Stale | Reasked] = {}
        self.checking = False
        self._system_texts: dict[str, str] = {}  # a step's system prompt, redacted once (it is in every request)

    def begin(self, answers: dict[str, BatchAnswer], *, checking: bool = False) -> None:
        """The answers of the researcher being collected. `checking`: only parse and validate them (see module
        docstring); the next `begin` of the same answers without it applies them."""
        self.answers, self.deferred, self.checking = answers, {}, checking

    def _defer(self, step: str, event: Stale | Reasked) -> Stale | Reasked:
        self.deferred[step] = event
        return event

    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, Any]],
        *,
        prompt: PromptRef | None = None,
        context: dict[str, Any] | None = None,
        job_id: str | None = None,
        max_tokens: int | None = None,
        deadline: float | None = None,  # a step's time budget: no request is sent here, so none applies
    ) -> ExtractResult[T]:
        step = prompt.name if prompt else response_model.__name__
        answer = self.answers.get(step)
        if answer is None:  # not a question of this collection (cannot happen when the step is unchanged)
            raise self._defer(step, Stale(f"{step}: no answer collected for this question"))
        row = answer.row
        asked = (response_model, messages, dict(context or {}), max_tokens)
        got, answer.checked = answer.checked, None
        if got is not None and got.asked == asked:  # checked before, asked the same: its question matched then
            call, first, completion = got.prepared
            if context is not None:
                context.update(got.context)
        else:
            call = self.online.prepare_call(response_model, messages, prompt=prompt, context=context, job_id=job_id)
            first = self.online.request_body(response_model, call.messages, max_tokens, private=True)  # not used again
            if body_hash(first) != row["first_hash"]:
                why = f"{step}: the question changed since the batch was built (listing, prompt or settings)"
                raise self._defer(step, Stale(why))
            completion = completion_from(answer.completion)
            # checked before the call-log row is written, so the row is written once, with its parse result or error
            got = _parse(completion, response_model, self.online.mode, context)
        value, parsed, error, failure = got.value, got.parsed, got.error, got.failure
        body = json.loads(row["body"]) if row["round"] else first
        usage = completion.usage
        t_in = usage.prompt_tokens if usage else 0
        t_out = usage.completion_tokens if usage else 0
        cost = batch_cost_usd(self.backend, self.model, t_in, t_out)
        # the call-log row, encoded once: when checking, outside the write lock the real run takes
        log = got.log or self._log_row(call.base_row, row, answer, body, t_in, t_out, cost, parsed, error)
        if self.checking:
            got.asked, got.prepared, got.log = asked, (call, first, completion), log
            answer.checked = got
            raise Checked(step)
        call_id = llm_log.insert_prepared(self.online.store, log)
        answer.call_id = call_id
        if isinstance(failure, Truncated):
            raise LLMError(
                f"{response_model.__name__}: the model's output was cut off (finish_reason=length)",
                hint="shorten the input or raise max_tokens",
                call_ids=[call_id],
            )
        if failure is not None:
            assert error is not None
            if row["round"] >= self.max_reasks:
                raise LLMError(
                    f"{response_model.__name__}: the model's output did not validate after {self.max_reasks} "
                    f"re-ask(s): {error[:300]}",
                    hint="try a stronger model (--backend/--model) or raise ENRICH_MAX_REASKS",
                    call_ids=[call_id],
                )
            # as online: an answer that repeats one the re-ask already showed as invalid will not change when asked
            # again (a small model told what was wrong often repeats itself word for word)
            said = answer_text(completion)
            if row["round"] and said and answer_key(said) in earlier_answers(body.get("messages", [])):
                raise LLMError(
                    f"{response_model.__name__}: the model repeated an answer that did not validate; not asked again "
                    f"({row['round'] + 1} attempt(s)): {error[:300]}",
                    hint="try a stronger model (--backend/--model)",
                    call_ids=[call_id],
                )
            nxt = reask_request(body, self.online.mode, completion, failure)
            n = row["round"] + 1
            cid = custom_id(row["job_id"], row["researcher_id"], step, n)
            chars = sum(len(json.dumps(m.get("content") or "")) for m in nxt.get("messages", []))
            request = NewRequest(cid, row["researcher_id"], step, n, compact_json(nxt), row["first_hash"], chars // 4)
            raise self._defer(step, Reasked(request, error))
        key = call_key(self.online, call)
        if key is not None:
            llm_log.cache_put(self.online.store, key, parsed, call_id)
        return ExtractResult(
            value=value,
            call_id=call_id,
            attempts=row["round"] + 1,
            reasks=row["round"],
            tokens_in=t_in,
            tokens_out=t_out,
            cost_usd=cost,
            origin=self.origin,
        )

    def _log_row(
        self, base_row, row, answer: BatchAnswer, body, t_in, t_out, cost, parsed, error
    ) -> llm_log.PreparedCall:
        return llm_log.prepare_call(
            **base_row,
            call_group=hashlib.sha256(f"{row['job_id']}.{row['researcher_id']}.{row['step']}".encode()).hexdigest()[
                :32
            ],
            attempt=row["round"] + 1,
            messages=self._redacted(body.get("messages", [])),
            response=redact(json.dumps(answer.completion, ensure_ascii=False)),
            parsed=parsed,
            error=error,
            tokens_in=t_in,
            tokens_out=t_out,
            reasks=row["round"],
            cost_usd=cost,
            batch_id=answer.batch_id,
            custom_id=row["custom_id"],
        )

    def _redacted(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`redact_obj(messages)`, with each step's system prompt (the same long text in every request) redacted
        once."""
        out = []
        for m in messages:
            content = m.get("content")
            if m.get("role") == "system" and isinstance(content, str) and len(m) == 2:
                text = self._system_texts.get(content)
                if text is None:
                    if len(self._system_texts) > 64:
                        self._system_texts.clear()
                    text = self._system_texts[content] = redact(content)
                out.append({**m, "content": text})
            else:
                out.append(redact_obj(m))
        return out


def _parse(completion: Any, response_model: type[T], mode: Any, context: dict[str, Any] | None) -> _Parsed:
    before = dict(context or {})
    value: Any = None
    parsed: Any = None
    error: str | None = None
    failure: Exception | None = None
    try:
        value = parse_turn(completion, response_model, mode, context)
        parsed = value.model_dump(mode="json")
    except Truncated as exc:
        error, failure = describe_error(exc), exc
    except (ValidationError, JSONDecodeError, ValueError) as exc:
        error, failure = redact(describe_error(exc)), exc
    added = {k: v for k, v in (context or {}).items() if k not in before or before[k] is not v}
    return _Parsed(value, parsed, error, failure, added)


def call_key(online: InstructorClient, call: Any) -> str | None:
    return call.cache_key if online.use_cache else None


def is_model_client(client: Any) -> bool:
    return isinstance(client, InstructorClient)
