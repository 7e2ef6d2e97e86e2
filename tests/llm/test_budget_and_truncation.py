"""A cut-off answer is never sent back to the model, a timed-out request is not re-sent unchanged to a local model,
and a step's time budget stops further requests."""

from __future__ import annotations

import json
import time

import httpx
import instructor
import pytest
from llm_fakes import BASE_URL, completion, ok
from pydantic import BaseModel

from enrich.agent.llm.base import LLMError, time_budget
from enrich.agent.llm.instructor_client import InstructorClient

pytestmark = pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Say pong, number 7."}]


class Ping(BaseModel):
    echo: str
    number: int


def make(db, **kw) -> InstructorClient:
    kw.setdefault("mode", instructor.Mode.TOOLS)
    return InstructorClient(
        backend="openai-compatible",
        model="test-model",
        base_url=BASE_URL,
        store=db,
        api_key="local",
        backoff_initial=0,
        max_retries=kw.pop("max_retries", 2),
        max_reasks=kw.pop("max_reasks", 2),
        **kw,
    )


def tool(args: str, **kw) -> httpx.Response:
    return httpx.Response(200, json=completion(tool_args=args, **kw))


def test_an_answer_cut_off_at_the_cap_is_re_asked_without_the_broken_answer(db, fake_server):
    broken = '{"echo": "pong pong pong pong'
    # llama.cpp reports a capped tool call as finished: the token count tells it was cut off
    fake_server.chat.side_effect = [tool(broken, completion_tokens=50), tool('{"echo": "pong", "number": 7}')]
    res = make(db).extract(Ping, MESSAGES, max_tokens=50)
    assert res.value.number == 7 and res.reasks == 1
    second = json.loads(fake_server.chat.calls[1].request.content)["messages"]
    assert broken not in json.dumps(second)  # the cut-off answer is not sent back ...
    assert "cut off at 50 tokens" in second[-1]["content"]  # ... only the fact that it was
    assert len(second) == len(MESSAGES) + 1
    first_row = db.execute("SELECT error FROM llm_calls ORDER BY id").fetchone()[0]
    assert first_row.startswith("truncated")


def test_a_timeout_on_a_local_model_is_not_re_sent(db, fake_server):
    fake_server.chat.side_effect = [httpx.ReadTimeout("slow"), ok({"echo": "pong", "number": 7})]
    with pytest.raises(LLMError, match="did not answer"):
        make(db, retry_timeouts=False, mode=instructor.Mode.JSON).extract(Ping, MESSAGES)
    assert len(fake_server.chat.calls) == 1
    # a hosted API's timeout is still retried
    fake_server.chat.side_effect = [httpx.ReadTimeout("slow"), ok({"echo": "pong", "number": 7})]
    assert make(db, mode=instructor.Mode.JSON).extract(Ping, [{"role": "user", "content": "x"}]).retries == 1


def test_the_step_budget_stops_re_asks_and_bounds_each_request(db, fake_server):
    fake_server.chat.return_value = tool('{"echo": "pong"}')  # never valid: number is missing
    start = time.monotonic()
    with pytest.raises(LLMError, match="time budget"):
        make(db, max_reasks=100_000).extract(Ping, MESSAGES, deadline=time.monotonic() + 1.5)
    assert time.monotonic() - start < 5
    # each request's timeout is what is left of the budget, never the client's whole timeout (120 s)
    sent = fake_server.chat.calls[0].request
    assert sent.extensions["timeout"]["read"] <= 1.5
    assert len(fake_server.chat.calls) >= 1


def test_time_budget_is_the_default_deadline_of_every_call(db, fake_server):
    fake_server.chat.return_value = tool('{"echo": "pong"}')
    with time_budget(0.001):
        time.sleep(0.01)
        with pytest.raises(LLMError, match="time budget"):
            make(db).extract(Ping, MESSAGES)
    assert len(fake_server.chat.calls) == 0
