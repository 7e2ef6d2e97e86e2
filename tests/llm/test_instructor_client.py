"""The one real client against a fake OpenAI-compatible server: transport retries, re-asks, truncation, cache,
and the llm_calls rows each leaves behind."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from llm_fakes import BASE_URL, completion, ok
from pydantic import BaseModel, ValidationInfo, field_validator

from enrich.agent.llm.base import LLMError, PromptRef
from enrich.agent.llm.instructor_api import Mode
from enrich.agent.llm.instructor_client import InstructorClient
from enrich.store import llm_log

# instructor 1.3 compares modes against its deprecated FUNCTIONS member on every call
pytestmark = pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")

PROMPT = PromptRef("ping", "1")
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Say pong, number 7."}]


class Ping(BaseModel):
    echo: str
    number: int


class Grounded(BaseModel):
    """A value must be quoted from the source text passed as validation context."""

    echo: str

    @field_validator("echo")
    @classmethod
    def in_source(cls, v: str, info: ValidationInfo) -> str:
        text = (info.context or {}).get("text", "")
        if v not in text:
            raise ValueError(f"{v!r} does not occur in the source text")
        return v


def make(db, **kw) -> InstructorClient:
    kw.setdefault("mode", Mode.JSON)
    return InstructorClient(
        backend="openai-compatible",
        model="test-model",
        base_url=BASE_URL,
        store=db,
        api_key=kw.pop("api_key", "local"),
        backoff_initial=0,
        max_retries=kw.pop("max_retries", 2),
        max_reasks=kw.pop("max_reasks", 2),
        **kw,
    )


def rows(db) -> list[dict]:
    """The call log as its readers see it (long bodies are stored compressed)."""
    return [llm_log.get_call(db, r["id"]) for r in db["llm_calls"].rows_where(order_by="id")]


def test_429_then_success_is_one_transport_retry(db, fake_server):
    fake_server.chat.side_effect = [
        httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "0"}),
        ok({"echo": "pong", "number": 7}),
    ]
    res = make(db).extract(Ping, MESSAGES, prompt=PROMPT, job_id="job-1")
    assert res.value == Ping(echo="pong", number=7)
    assert (res.attempts, res.retries, res.reasks, res.cached) == (2, 1, 0, False)
    assert (res.tokens_in, res.tokens_out) == (11, 7)
    r1, r2 = rows(db)
    assert r1["call_group"] == r2["call_group"]
    assert (r1["attempt"], r1["retries"], r1["tokens_in"]) == (1, 0, 0)
    assert r1["error"].startswith("HTTP 429") and "slow down" in r1["response"]
    assert (r2["attempt"], r2["retries"], r2["tokens_in"], r2["tokens_out"]) == (2, 1, 11, 7)
    assert r2["error"] is None and json.loads(r2["parsed"]) == {"echo": "pong", "number": 7}
    assert (r2["prompt_name"], r2["prompt_version"], r2["schema_name"], r2["job_id"]) == ("ping", "1", "Ping", "job-1")
    assert r2["mode"] == "json_mode" and r2["backend"] == "openai-compatible" and res.call_id == r2["id"]


def test_500_three_times_fails_and_every_attempt_is_recorded(db, fake_server):
    fake_server.chat.return_value = httpx.Response(500, text="upstream exploded")
    with pytest.raises(LLMError) as err:
        make(db, max_retries=2).extract(Ping, MESSAGES, prompt=PROMPT)
    assert "HTTP 500 after 3 attempt(s)" in str(err.value)
    assert fake_server.chat.call_count == 3
    got = rows(db)
    assert [r["attempt"] for r in got] == [1, 2, 3] and [r["retries"] for r in got] == [0, 1, 2]
    assert all(r["error"] == "HTTP 500: upstream exploded" and r["parsed"] is None for r in got)
    assert err.value.call_ids == [r["id"] for r in got]


def test_a_200_whose_body_is_not_json_fails_the_call_and_keeps_the_body(db, fake_server):
    fake_server.chat.return_value = httpx.Response(200, text="<html>proxy login</html>")
    with pytest.raises(LLMError) as err:
        make(db).extract(Ping, MESSAGES)
    assert "not JSON" in str(err.value) and fake_server.chat.call_count == 1  # not transient: no retry
    (row,) = rows(db)
    assert row["response"] == "<html>proxy login</html>" and "not JSON" in row["error"] and row["parsed"] is None


def test_timeout_is_retried_then_reported_with_a_hint(db, fake_server):
    fake_server.chat.side_effect = [httpx.ReadTimeout("slow"), ok({"echo": "pong", "number": 7})]
    res = make(db).extract(Ping, MESSAGES)
    assert res.retries == 1 and rows(db)[0]["error"].startswith("timeout")

    fake_server.chat.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(LLMError) as err:
        make(db, max_retries=1, timeout=5).extract(Ping, [{"role": "user", "content": "other"}])
    assert "did not answer within 5s (2 attempt(s))" in str(err.value)
    assert "ENRICH_TIMEOUT" in err.value.hint


def test_connection_refused_gives_one_line_with_the_fix(db, fake_server):
    fake_server.chat.side_effect = httpx.ConnectError("[Errno 111] Connection refused")
    with pytest.raises(LLMError) as err:
        make(db, max_retries=0, unreachable_hint="start the server at X").extract(Ping, MESSAGES)
    assert str(err.value) == f"cannot reach the model server at {BASE_URL} -- start the server at X"
    assert rows(db)[0]["error"].startswith("connection error")


def test_malformed_json_is_re_asked_with_the_error(db, fake_server):
    fake_server.chat.side_effect = [ok('{"echo": "pong", "number": '), ok({"echo": "pong", "number": 7})]
    res = make(db).extract(Ping, MESSAGES)
    assert res.value.number == 7 and (res.attempts, res.reasks, res.retries) == (2, 1, 0)
    r1, r2 = rows(db)
    assert r1["error"].startswith("validation") and "json" in r1["error"].lower() and r1["reasks"] == 0
    assert r2["reasks"] == 1 and r2["error"] is None
    # the re-ask carried the broken answer and the error back to the model
    sent = json.loads(fake_server.chat.calls[1].request.content)["messages"]
    assert sent[-2] == {"role": "assistant", "content": '{"echo": "pong", "number": '}
    assert "Recall the function correctly" in sent[-1]["content"]
    assert json.loads(r2["messages"])[-1]["content"] == sent[-1]["content"]


def test_validation_context_reaches_validators_and_invented_values_are_re_asked(db, fake_server):
    fake_server.chat.side_effect = [ok({"echo": "Harvard University"}), ok({"echo": "Tsinghua"})]
    res = make(db).extract(Grounded, MESSAGES, context={"text": "She works at Tsinghua."})
    assert res.value.echo == "Tsinghua" and type(res.value) is Grounded and res.reasks == 1
    assert "does not occur in the source text" in rows(db)[0]["error"]


def test_invalid_after_all_re_asks_is_an_error_with_every_attempt_kept(db, fake_server):
    fake_server.chat.return_value = ok({"echo": "Harvard University"})
    with pytest.raises(LLMError) as err:
        make(db, max_reasks=1).extract(Grounded, MESSAGES, context={"text": "Tsinghua"})
    assert "did not validate after 1 re-ask(s)" in str(err.value)
    got = rows(db)
    assert len(got) == 2 and all("does not occur" in r["error"] for r in got)


def test_truncated_output_is_an_error_not_a_value(db, fake_server):
    fake_server.chat.return_value = ok('{"echo": "po', finish="length", completion_tokens=1024)
    with pytest.raises(LLMError) as err:
        make(db).extract(Ping, MESSAGES)
    assert "cut off (finish_reason=length)" in str(err.value) and "max_tokens" in err.value.hint
    (row,) = rows(db)
    assert row["error"].startswith("truncated") and row["tokens_out"] == 1024 and row["response"]


def test_tools_mode_sends_a_named_tool_choice_and_parses_the_arguments(db, fake_server):
    fake_server.chat.return_value = httpx.Response(200, json=completion(tool_args='{"echo": "pong", "number": 7}'))
    res = make(db, mode=Mode.TOOLS).extract(Ping, MESSAGES)
    body = json.loads(fake_server.chat.calls[0].request.content)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Ping"}}
    assert body["tools"][0]["function"]["parameters"]["required"] == ["echo", "number"]
    assert res.value.echo == "pong" and rows(db)[0]["mode"] == "tool_call"


def test_identical_call_is_served_from_cache_without_http(db, fake_server):
    fake_server.chat.return_value = ok({"echo": "pong", "number": 7})
    client = make(db)
    first = client.extract(Ping, MESSAGES, prompt=PROMPT)
    second = client.extract(Ping, MESSAGES, prompt=PROMPT)
    assert fake_server.chat.call_count == 1
    assert second.cached and not first.cached and second.value == first.value and second.tokens_in == 0
    assert rows(db)[-1]["cached"] == 1
    # another prompt version, or another validation context, is another input
    client.extract(Ping, MESSAGES, prompt=PromptRef("ping", "2"))
    client.extract(Ping, MESSAGES, prompt=PROMPT, context={"text": "x"})
    assert fake_server.chat.call_count == 3
    # so is another instructor mode (it changes what is sent)
    make(db, mode=Mode.MD_JSON).extract(Ping, MESSAGES, prompt=PROMPT)
    assert fake_server.chat.call_count == 4


def test_api_keys_never_reach_the_log_the_db_or_exceptions(db, fake_server, caplog):
    key = "sk-proj-SECRETSECRET0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    fake_server.chat.side_effect = [
        httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {key}"}}),
    ]
    messages = MESSAGES + [{"role": "user", "content": f"my key is {key}, Authorization: Bearer {key}"}]
    with pytest.raises(LLMError) as err:
        make(db, api_key=key).extract(Ping, messages)
    assert "rejected the API key" in str(err.value)
    auth = fake_server.chat.calls[0].request.headers["authorization"]
    assert auth == f"Bearer {key}"  # it was sent...
    dump = json.dumps(rows(db)) + json.dumps(list(db["llm_cache"].rows))
    assert "SECRETSECRET" not in dump and "[REDACTED]" in dump  # ...but stored nowhere
    assert "SECRETSECRET" not in caplog.text
    assert "SECRETSECRET" not in str(err.value) + repr(err.value) + str(err.value.__cause__)


def test_usage_totals_add_up_the_attempts(db, fake_server):
    fake_server.chat.side_effect = [
        httpx.Response(503),
        ok({"echo": "a", "number": 1}, prompt_tokens=100, completion_tokens=20),
    ]
    make(db).extract(Ping, MESSAGES, job_id="j")
    totals = llm_log.usage_totals(db, job_id="j")
    assert totals == {
        "attempts": 2,
        "calls": 1,
        "tokens_in": 100,
        "tokens_out": 20,
        "cost_usd": 0.0,
        "failed_attempts": 1,
        "cache_hits": 0,
    }
