"""A cut-off answer is never sent back to the model, a timed-out request is not re-sent unchanged to a local model,
and a step's time budget stops further requests."""

from __future__ import annotations

import io
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
    # never valid (number is missing), and never the same answer twice
    fake_server.chat.side_effect = (tool(json.dumps({"echo": f"pong {i}"})) for i in range(1_000_000))
    start = time.monotonic()
    with pytest.raises(LLMError, match="time budget"):
        make(db, max_reasks=100_000).extract(Ping, MESSAGES, deadline=time.monotonic() + 1.5)
    assert time.monotonic() - start < 5
    # each request's timeout is what is left of the budget, never the client's whole timeout (120 s)
    sent = fake_server.chat.calls[0].request
    assert sent.extensions["timeout"]["read"] <= 1.5
    assert len(fake_server.chat.calls) >= 1


def test_an_invalid_answer_the_model_repeats_is_not_asked_for_a_third_time(db, fake_server):
    """At temperature 0 a small model told what was wrong may repeat its answer word for word; a third turn would
    get it once more (seen on the embedded model): the re-asks stop at the first repeat."""
    same = tool('{"echo": "pong"}')  # number is missing
    # the same JSON spaced differently is the same answer
    fake_server.chat.side_effect = [same, tool('{ "echo" :  "pong" }'), tool('{"echo": "pong", "number": 7}')]
    with pytest.raises(LLMError, match="repeated an answer that did not validate") as err:
        make(db, max_reasks=5).extract(Ping, MESSAGES)
    assert "number" in str(err.value)  # why it was refused
    assert len(fake_server.chat.calls) == 2
    errors = [r[0] for r in db.execute("SELECT error FROM llm_calls ORDER BY id")]
    assert len(errors) == 2 and all(e.startswith("validation") for e in errors)
    # a different invalid answer is re-asked as before
    fake_server.chat.side_effect = [same, tool('{"echo": "ping"}'), tool('{"echo": "pong", "number": 7}')]
    res = make(db, max_reasks=5).extract(Ping, [{"role": "user", "content": "again"}])
    assert res.value.number == 7 and res.reasks == 2


def test_time_budget_is_the_default_deadline_of_every_call(db, fake_server):
    fake_server.chat.return_value = tool('{"echo": "pong"}')
    with time_budget(0.001):
        time.sleep(0.01)
        with pytest.raises(LLMError, match="time budget"):
            make(db).extract(Ping, MESSAGES)
    assert len(fake_server.chat.calls) == 0


def test_a_timed_out_embedded_server_is_restarted_before_the_next_request(db, fake_server, monkeypatch, tmp_path):
    """llama.cpp goes on computing a request its caller gave up on; the next request would wait behind it."""
    import enrich.agent.llm as agent_llm
    from enrich.agent.llm import embedded

    starts: list[int] = []

    class Server:
        def __init__(self, *args, **kwargs):
            self.up = False

        def start(self):
            starts.append(1)
            self.up = True
            return BASE_URL

        def running(self):
            return self.up

        def stop(self):
            self.up = False

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    monkeypatch.setattr(embedded, "EmbeddedServer", Server)
    monkeypatch.setattr(embedded, "assemble", lambda *args, **kwargs: tmp_path / "model.gguf")
    client = embedded.EmbeddedClient(
        model_name="qwen2.5-coder-1.5b", model_cache=str(tmp_path), store=db, retry_timeouts=False
    )
    fake_server.chat.side_effect = [httpx.ReadTimeout("slow"), tool(json.dumps({"echo": "pong", "number": 7}))]
    with pytest.raises(LLMError, match="did not answer"):
        client.extract(Ping, MESSAGES)
    assert len(fake_server.chat.calls) == 1 and not client.server.running()
    assert client.extract(Ping, MESSAGES).value.number == 7
    assert len(starts) == 2


@pytest.mark.parametrize(
    "load, now, threads",
    [
        (0.2, 0.1, 2),
        (1.3, 1.3, 2),
        (1.6, 1.6, 1),
        (9.0, 2.0, 1),
        (1.6, 0.1, 2),  # the minute's average still counts a job that has just ended: the cores are idle now
        (0.2, 2.0, 2),  # a burst during the sample is not a busy process
        (1.6, None, 1),  # no /proc/stat: the load average alone
    ],
)
def test_the_embedded_server_uses_the_cores_other_processes_leave(monkeypatch, load, now, threads):
    from enrich.agent.llm import embedded

    monkeypatch.setattr(embedded.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(embedded.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(embedded, "_busy_now", lambda cores: now)
    assert embedded.default_threads() == threads


def test_busy_cores_are_read_from_the_cpu_times_of_a_short_sample(monkeypatch):
    from enrich.agent.llm import embedded

    # cpu user nice system idle iowait ...: 1,000 ticks pass, 250 of them idle -> 1.5 of 2 cores busy
    stats = iter(["cpu 100 0 100 800 0 0 0 0 0 0\n", "cpu 475 0 475 1050 0 0 0 0 0 0\n"])
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(next(stats)))
    assert embedded._busy_now(2, sample_s=0) == pytest.approx(1.5)
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("/proc/stat")))
    assert embedded._busy_now(2, sample_s=0) is None
