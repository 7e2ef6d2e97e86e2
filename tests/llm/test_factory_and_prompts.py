"""Backend choice, the test-suite guard, and versioned prompt files."""

from __future__ import annotations

from pathlib import Path

import pytest

import enrich.agent.llm as agent_llm
from enrich.agent import settings as settings_mod
from enrich.agent.llm.base import LLMError
from enrich.agent.llm.factory import choose_backend, make_client
from enrich.agent.llm.instructor_client import InstructorClient
from enrich.agent.prompts import PromptError, load_prompt, parse_prompt

FIXTURES = Path(__file__).parent / "fixtures"


def settings(**values):
    return settings_mod.Settings({**{k: v[1] for k, v in settings_mod.SPEC.items()}, **values})


@pytest.mark.parametrize(
    "values, expected",
    [
        ({}, "embedded"),
        ({"api_key": "sk-x"}, "openai"),
        ({"api_key": "sk-x", "base_url": "http://127.0.0.1:11434/v1"}, "openai-compatible"),
        ({"backend": "fake", "api_key": "sk-x"}, "fake"),
    ],
)
def test_auto_picks_base_url_then_key_then_embedded(values, expected):
    assert choose_backend(settings(**values))[0] == expected


def test_explicit_backends_need_their_configuration():
    with pytest.raises(LLMError) as err:
        make_client(settings(backend="openai"))
    assert err.value.hint.startswith("export OPENAI_API_KEY")
    with pytest.raises(LLMError, match="needs a server URL"):
        make_client(settings(backend="openai-compatible"))
    with pytest.raises(LLMError, match="unknown backend"):
        make_client(settings(backend="gpt"))


def test_clients_get_the_mode_table_and_settings():
    client = make_client(settings(api_key="sk-x", max_retries=5, max_reasks=1, timeout=9.0))
    assert isinstance(client, InstructorClient) and client.backend == "openai" and client.model == "gpt-4o-mini"
    assert (client.mode.value, client.max_retries, client.max_reasks, client.timeout) == ("tool_call", 5, 1, 9.0)
    local = make_client(settings(base_url="http://127.0.0.1:1/v1", model="llama3"))
    assert (local.backend, local.model, local.mode.value) == ("openai-compatible", "llama3", "json_mode")
    embedded = make_client(settings())
    assert (embedded.backend, embedded.mode.value, embedded.max_concurrency) == ("embedded", "tool_call", 1)


def test_real_calls_are_blocked_in_tests():
    assert agent_llm.ALLOW_REAL_CALLS is False
    client = make_client(settings(api_key="sk-x"))
    with pytest.raises(LLMError, match="blocked in tests"):
        client.extract(type("M", (__import__("pydantic").BaseModel,), {"__annotations__": {"x": int}}), [])


def test_prompt_file_parses_header_sections_and_placeholders():
    p = parse_prompt((FIXTURES / "sample_prompt.md").read_text())
    assert (p.name, p.version, p.ref) == ("sample", "3", "sample@3")
    assert p.placeholders == {"source", "text"}
    assert p.messages(source="a page", text="hello") == [
        {"role": "system", "content": "Extract facts from a page."},
        {"role": "user", "content": "Text: hello\nLiteral braces: {not a placeholder}"},
    ]
    with pytest.raises(PromptError, match="no value for text"):
        p.messages(source="x")


def test_prompt_errors_are_one_line():
    with pytest.raises(PromptError, match="header needs 'version:'"):
        parse_prompt("---\nname: x\n---\n## user\nhi")
    with pytest.raises(PromptError, match="missing the '---' header"):
        parse_prompt("## user\nhi")
    with pytest.raises(PromptError, match="no prompt named 'nope'"):
        load_prompt("nope")


def test_ping_prompt_is_packaged():
    ping = load_prompt("ping")
    assert ping.prompt_ref.ref == "ping@1"
    assert [m["role"] for m in ping.messages(word="pong", number=7)] == ["system", "user"]


@pytest.mark.parametrize("name", ["affiliation", "summary", "topics", "ping"])
def test_messages_equal_each_section_formatted_on_the_call(name):
    """Sections without a replacement field are rendered once (literal braces included): the same text as formatting
    every section on every call."""
    p = load_prompt(name)
    values = {k: f"<{k} {{x}}>" for k in p.placeholders}
    assert p.messages(**values) == [{"role": r, "content": t.format(**values).strip()} for r, t in p.sections]


def test_a_section_without_placeholders_keeps_its_literal_braces():
    fixed = parse_prompt("---\nname: f\nversion: 1\n---\n## system\n  Braces {{as}} {{{{text}}}}\n## user\n{x}\n")
    assert fixed.messages(x="1") == [
        {"role": "system", "content": "Braces {as} {{text}}"},
        {"role": "user", "content": "1"},
    ]
