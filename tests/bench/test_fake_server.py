"""Smoke test of bench/fake_openai_server.py: the real openai+instructor client gets valid, grounded answers."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fake_openai_server import answer_for, rebuild_context, start_in_thread  # noqa: E402

TOPICS_USER = """Researcher: Jane Doe

Candidate tags (code: label, evidence):
cs.CL: Computation and Language (evidence: venue of 2 of 2 works)
cs.LG: Machine Learning (evidence: text of 1 of 2 works)

Works (number: year, title):
1: 2020, Parsing Tables
2: ?, Answering Questions

Which candidate tags describe this researcher's work?"""


def test_rebuild_context_reads_tags_and_work_ids():
    ctx = rebuild_context(
        "TopicsAnswer", [{"role": "system", "content": "s"}, {"role": "user", "content": TOPICS_USER}]
    )
    assert ctx == {"allowed": ["cs.CL", "cs.LG"], "work_ids": [1, 2]}  # the step's own context (prompts/topics.md)


def test_tools_mode_answer_is_a_named_tool_call():
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": TOPICS_USER}],
        "tools": [{"type": "function", "function": {"name": "TopicsAnswer", "parameters": {}}}],
    }
    msg = answer_for(body)["choices"][0]["message"]
    call = msg["tool_calls"][0]["function"]
    assert call["name"] == "TopicsAnswer"
    assert json.loads(call["arguments"]) == {"topics": [{"tag": "cs.CL", "works": [1]}, {"tag": "cs.LG", "works": [2]}]}


@pytest.mark.real_model  # the openai client talks HTTP -- but only to the fake on 127.0.0.1
def test_instructor_client_gets_valid_answers_from_the_fake(monkeypatch):
    import enrich.agent.llm as agent_llm
    from enrich.agent.llm.factory import make_client
    from enrich.agent.settings import load
    from enrich.agent.steps.affiliation import AffiliationAnswer
    from enrich.agent.steps.topics import TopicsAnswer

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    server, url = start_in_thread(latency=0.0, lifetime=30)
    try:
        client = make_client(
            load(db=":memory:", backend="openai-compatible", base_url=url, model="default"),
            None,
            max_reasks=0,
            max_retries=0,
        )
        res = client.extract(
            TopicsAnswer,
            [{"role": "system", "content": "tags"}, {"role": "user", "content": TOPICS_USER}],
            context={"allowed": ["cs.CL", "cs.LG"], "work_ids": ["1", "2"]},
        )
        assert [t.tag for t in res.value.topics] == ["cs.CL", "cs.LG"]
        shown = "Jane Doe\nDepartment of Physics, University of Testing"
        res = client.extract(
            AffiliationAnswer,
            [{"role": "user", "content": f"Researcher: Jane Doe\n<<<\n{shown}\n>>>"}],
            context={"shown_text": shown},
        )
        assert res.value.quote == "Department of Physics, University of Testing"
        assert res.tokens_in > 0
        with urllib.request.urlopen(url + "/stats", timeout=5) as r:
            assert json.loads(r.read())["requests"] == 2
        client.close()
    finally:
        server.shutdown()
        server.server_close()
