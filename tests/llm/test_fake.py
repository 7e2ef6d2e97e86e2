"""FakeModel / FunctionModel honour the contract: validation with context, re-asks, llm_calls rows."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

from enrich.agent.llm.base import LLMError, PromptRef
from enrich.agent.llm.fake import FakeModel, FunctionModel


class Affil(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def quoted(cls, v: str, info: ValidationInfo) -> str:
        if v not in (info.context or {}).get("text", ""):
            raise ValueError(f"{v!r} is not in the page")
        return v


class Tags(BaseModel):
    tags: list[str]


MSG = [{"role": "user", "content": "extract"}]
CTX = {"text": "Zhaorui Tan, University of Liverpool"}


def test_answers_in_order_and_logged_as_fake(db):
    fake = FakeModel([{"name": "University of Liverpool"}, Tags(tags=["nlp"])], store=db)
    a = fake.extract(Affil, MSG, context=CTX, prompt=PromptRef("affiliation", "1"), job_id="j1")
    t = fake.extract(Tags, MSG)
    assert a.value.name == "University of Liverpool" and t.value.tags == ["nlp"]
    assert a.origin == "llm:fake/fake"
    row = db["llm_calls"].get(a.call_id)
    assert (row["backend"], row["prompt_name"], row["prompt_version"], row["job_id"]) == (
        "fake",
        "affiliation",
        "1",
        "j1",
    )
    assert json.loads(row["parsed"]) == {"name": "University of Liverpool"}


def test_invalid_canned_answer_is_a_logged_re_ask(db):
    fake = FakeModel({Affil: [{"name": "Harvard"}, {"name": "University of Liverpool"}]}, store=db)
    res = fake.extract(Affil, MSG, context=CTX)
    assert res.value.name == "University of Liverpool" and (res.attempts, res.reasks) == (2, 1)
    first, second = db["llm_calls"].rows_where(order_by="id")
    assert "'Harvard' is not in the page" in first["error"] and second["error"] is None
    # the second ask saw the validation error, like instructor's re-ask
    assert "is not in the page" in fake.calls[1]["messages"][-1]["content"]


def test_by_schema_single_answer_repeats_and_exhausted_re_asks_raise():
    fake = FakeModel({"Tags": {"tags": ["a"]}, Affil: {"name": "Nowhere"}}, max_reasks=1)
    assert fake.extract(Tags, MSG).value.tags == ["a"] and fake.extract(Tags, MSG).value.tags == ["a"]
    with pytest.raises(LLMError, match="did not validate after 1 re-ask"):
        fake.extract(Affil, MSG, context=CTX)


def test_function_model_sees_messages_and_context(db):
    def answer(model, messages, context):
        assert model is Affil
        return {"name": context["text"].split(", ")[1]}

    res = FunctionModel(answer, store=db).extract(Affil, MSG, context=CTX)
    assert res.value.name == "University of Liverpool" and db["llm_calls"].count == 1


def test_unparseable_json_string_counts_as_invalid():
    fake = FakeModel(['{"tags": [', '{"tags": ["ok"]}'])
    assert fake.extract(Tags, MSG).reasks == 1
