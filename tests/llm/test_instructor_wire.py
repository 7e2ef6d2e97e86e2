"""What goes over the wire is what the step wrote (no template rendering of page text), the success path's log
and cache writes, and the HTTP client's request slots following the concurrency setting."""

from __future__ import annotations

import json

import pytest
from llm_fakes import BASE_URL, ok
from pydantic import BaseModel, ValidationInfo, field_validator

from enrich.agent.llm.factory import make_client
from enrich.agent.llm.instructor_api import Mode
from enrich.agent.llm.instructor_client import InstructorClient, schema_hash
from enrich.agent.settings import load
from enrich.store import llm_log

pytestmark = pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")


class Quoted(BaseModel):
    echo: str

    @field_validator("echo")
    @classmethod
    def in_source(cls, v: str, info: ValidationInfo) -> str:
        if v not in (info.context or {}).get("text", ""):
            raise ValueError(f"{v!r} does not occur in the source text")
        return v


def make(db) -> InstructorClient:
    return InstructorClient(
        backend="openai-compatible",
        model="test-model",
        base_url=BASE_URL,
        store=db,
        api_key="local",
        mode=Mode.JSON,
        backoff_initial=0,
        max_retries=0,
        max_reasks=1,
    )


def test_page_text_with_template_syntax_is_sent_verbatim_and_still_validated(db, fake_server):
    page = "Abstract: bounds on {{ text }} and {# not a comment #}; \\frac{{%a}}{b}"
    fake_server.chat.side_effect = [ok({"echo": "Harvard"}), ok({"echo": "bounds on"})]
    res = make(db).extract(Quoted, [{"role": "user", "content": page}], context={"text": page})
    assert res.value.echo == "bounds on" and res.reasks == 1  # the context reached the validator: one re-ask
    first = json.loads(fake_server.chat.calls[0].request.content)["messages"]
    assert [m["content"] for m in first if m["role"] == "user"] == [page]


def test_success_records_the_parse_and_the_cache_entry(db, fake_server):
    fake_server.chat.return_value = ok({"echo": "pong"})
    res = make(db).extract(Quoted, [{"role": "user", "content": "say pong"}], context={"text": "pong"})
    row = llm_log.get_call(db, res.call_id)
    assert json.loads(row["parsed"]) == {"echo": "pong"} and row["error"] is None
    assert [r["llm_call_id"] for r in db["llm_cache"].rows] == [res.call_id]
    again = make(db).extract(Quoted, [{"role": "user", "content": "say pong"}], context={"text": "pong"})
    assert again.cached and len(fake_server.chat.calls) == 1


def test_update_of_a_missing_row_fails_loudly(db):
    with pytest.raises(Exception, match="does not exist"):
        llm_log.update_call(db, 999, error="x")
    with pytest.raises(ValueError, match="unknown llm_calls columns"):
        llm_log.insert_call(db, call_group="g", attempt=1, backend="b", model="m", typo=1)


def test_schema_hash_is_stable_per_class():
    assert schema_hash(Quoted) == schema_hash(Quoted) and len(schema_hash(Quoted)) == 64


@pytest.mark.parametrize("backend", ["openai", "openai-compatible"])
def test_http_clients_take_as_many_requests_as_the_concurrency_setting(backend):
    settings = load(db=":memory:", backend=backend, base_url=BASE_URL, api_key="sk-test", concurrency=32)
    assert make_client(settings).max_concurrency == 32
    assert make_client(settings, max_concurrency=3).max_concurrency == 3
