"""Contract of enrich.agent.llm.instructor_api, the one module that uses instructor: what a request body looks like
in each mode, how one answer is parsed, and the re-ask loop. An instructor upgrade that changes any of this fails
here first."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from llm_fakes import completion
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from enrich.agent.llm.instructor_api import (
    Mode,
    ReasksExhausted,
    Truncated,
    compact_reasks,
    exhausted_cause,
    is_not_json,
    parse_answer,
    prepare_request,
    run_turns,
)

pytestmark = pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]


class Quoted(BaseModel):
    echo: str

    @field_validator("echo")
    @classmethod
    def in_source(cls, v: str, info: ValidationInfo) -> str:
        if v not in (info.context or {}).get("text", ""):
            raise ValueError(f"{v!r} does not occur in the source text")
        return v


def messages() -> list[dict]:
    return [{"role": "user", "content": "Quote {{ x }} from the text {% raw %}"}]


def answer(args: dict, *, tools: bool, finish: str = "stop") -> ChatCompletion:
    body = json.dumps(args)
    data = completion(tool_args=body, tool_name="Quoted", finish=finish) if tools else completion(body, finish=finish)
    return ChatCompletion.model_validate(data)


def test_tools_body_names_the_tool_and_keeps_messages_as_written():
    prepared, body = prepare_request(Quoted, Mode.TOOLS, messages(), model="m", max_tokens=50, temperature=0.0)
    assert issubclass(prepared, Quoted)
    assert body["model"] == "m" and body["max_tokens"] == 50 and body["temperature"] == 0.0
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Quoted"}}
    (tool,) = body["tools"]
    assert tool["function"]["name"] == "Quoted"
    assert tool["function"]["parameters"]["properties"]["echo"]["type"] == "string"
    assert body["messages"] == messages()  # no template rendering of page text
    json.dumps(body)  # a body that can be sent (or written to a Batch API file) as it is


def test_json_body_carries_the_schema_in_the_prompt():
    _, body = prepare_request(Quoted, Mode.JSON, messages(), model="m")
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body
    system = body["messages"][0]
    assert system["role"] == "system" and '"echo"' in system["content"]
    assert body["messages"][-1] == messages()[0]


def test_schema_is_built_once_per_model_and_handed_out_as_a_copy():
    prepared, _ = prepare_request(Quoted, Mode.TOOLS, messages())
    again, _ = prepare_request(Quoted, Mode.TOOLS, messages())
    assert prepared is again
    prepared.model_json_schema()["properties"].clear()
    assert "echo" in prepared.model_json_schema()["properties"]


@pytest.mark.parametrize("mode", [Mode.TOOLS, Mode.JSON])
def test_parse_answer_validates_with_the_context(mode):
    prepared, _ = prepare_request(Quoted, mode, messages())
    tools = mode is Mode.TOOLS
    value = parse_answer(prepared, answer({"echo": "abc"}, tools=tools), mode=mode, context={"text": "xx abc"})
    assert isinstance(value, Quoted) and value.echo == "abc"
    with pytest.raises(ValidationError, match="does not occur"):
        parse_answer(prepared, answer({"echo": "zzz"}, tools=tools), mode=mode, context={"text": "xx abc"})


def test_a_cut_off_answer_is_truncated_not_a_validation_error():
    prepared, _ = prepare_request(Quoted, Mode.TOOLS, messages())
    with pytest.raises(Truncated):
        parse_answer(prepared, answer({"echo": "abc"}, tools=True, finish="length"), mode=Mode.TOOLS)


def test_an_answer_that_is_not_json_is_recognised():
    prepared, _ = prepare_request(Quoted, Mode.JSON, messages())
    with pytest.raises(ValueError) as err:
        parse_answer(prepared, ChatCompletion.model_validate(completion("no json here")), mode=Mode.JSON)
    assert is_not_json(err.value)
    assert not is_not_json(ValueError("something else"))


def reasks(n: int) -> Retrying:
    return Retrying(stop=stop_after_attempt(n), retry=retry_if_exception_type(ValueError), reraise=False)


def test_run_turns_reasks_with_the_validation_error():
    seen: list[list[dict]] = []
    replies = iter([{"echo": "made up"}, {"echo": "abc"}])

    def create(**body):
        seen.append(list(body["messages"]))  # instructor extends the list in place
        return answer(next(replies), tools=True)

    prepared, body = prepare_request(Quoted, Mode.TOOLS, messages(), model="m")
    value = run_turns(create, prepared, body, mode=Mode.TOOLS, reasks=reasks(3), context={"text": "xx abc"})
    assert value.echo == "abc"
    assert len(seen) == 2
    assert seen[0] == messages()
    reask = json.dumps(seen[1][len(seen[0]) :])
    assert "does not occur in the source text" in reask  # the error goes back to the model


@pytest.mark.parametrize("mode", [Mode.TOOLS, Mode.JSON])
def test_a_reask_carries_the_last_error_only(mode):
    """instructor's re-ask text repeats every earlier attempt's whole completion and pydantic's input and links;
    compact_reasks leaves the error itself (the answers are in the conversation already)."""
    seen: list[list[dict]] = []
    replies = iter([{"echo": "made up"}, {"echo": "made up again"}, {"echo": "abc"}])

    def create(**body):
        seen.append(compact_reasks(body["messages"]))
        return answer(next(replies), tools=mode is Mode.TOOLS)

    prepared, body = prepare_request(Quoted, mode, messages(), model="m")
    run_turns(create, prepared, body, mode=mode, reasks=reasks(3), context={"text": "xx abc"})
    raw = [m["content"] for m in body["messages"] if "does not occur" in str(m.get("content"))]
    assert raw and all("<failed_attempts>" in r or "errors.pydantic.dev" in r for r in raw)  # what instructor sends
    last = [m["content"] for m in seen[2] if "does not occur" in str(m.get("content"))]
    assert len(last) == 2 and "'made up again' does not occur in the source text" in last[-1]
    for text in last:
        assert "failed_attempts" not in text and "ChatCompletion" not in text and "input_value" not in text
        assert "errors.pydantic.dev" not in text and len(text) < 300


def test_run_turns_gives_up_after_the_last_turn():
    calls = []

    def create(**body):
        calls.append(1)
        return answer({"echo": "made up"}, tools=True)

    prepared, body = prepare_request(Quoted, Mode.TOOLS, messages(), model="m")
    with pytest.raises(ReasksExhausted) as err:
        run_turns(create, prepared, body, mode=Mode.TOOLS, reasks=reasks(2), context={"text": "xx abc"})
    assert len(calls) == 2
    assert isinstance(exhausted_cause(err.value), ValidationError)


def test_run_turns_stops_at_a_truncated_answer():
    calls = []

    def create(**body):
        calls.append(1)
        return answer({"echo": "abc"}, tools=True, finish="length")

    prepared, body = prepare_request(Quoted, Mode.TOOLS, messages(), model="m")
    with pytest.raises(Truncated):
        run_turns(create, prepared, body, mode=Mode.TOOLS, reasks=reasks(3), context={"text": "abc"})
    assert len(calls) == 1


def test_no_other_module_imports_instructor():
    importers = []
    for folder in ("agent", "store", "schemas", "prompts"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n == "instructor" or n.startswith("instructor.") for n in names):
                    importers.append(str(path.relative_to(ROOT)))
    assert sorted(set(importers)) == ["agent/llm/instructor_api.py"]
