"""The request body built from a cached per-shape template is exactly instructor's own, in every mode."""

from __future__ import annotations

import pytest

from enrich.agent.llm import instructor_api as ic
from enrich.agent.steps.affiliation import AffiliationAnswer
from enrich.agent.steps.summary import SummaryAnswer
from enrich.agent.steps.topics import TopicsAnswer

MODES = [ic.Mode.TOOLS, ic.Mode.JSON, ic.Mode.MD_JSON, ic.Mode.JSON_SCHEMA]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", [AffiliationAnswer, TopicsAnswer, SummaryAnswer])
def test_templated_body_equals_instructors(mode, model, monkeypatch):
    monkeypatch.setattr(ic, "_TEMPLATES", {})
    monkeypatch.setattr(ic, "_TEMPLATE_CHECKS", 0)  # never compare inside: this test compares
    for i in range(3):
        msgs = [
            {"role": "system", "content": f"You extract facts {i}. Braces {{x}} and \\n stay."},
            {"role": "user", "content": f"Researcher {i}: Jane «Doe»\n<<<\nDept. of X, Univ {i}\n>>>"},
        ]
        _, templated = ic.prepare_request(model, mode, [dict(m) for m in msgs], model="m", max_tokens=300)
        _, direct = ic._instructor_request(model, mode, [dict(m) for m in msgs], model="m", max_tokens=300)
        assert templated == direct


@pytest.mark.parametrize("mode", MODES)
def test_a_request_without_messages_is_refused_plainly(mode, monkeypatch):
    monkeypatch.setattr(ic, "_TEMPLATES", {})
    with pytest.raises(ValueError, match="at least one message"):
        ic.prepare_request(TopicsAnswer, mode, [], model="m")


def test_a_shape_whose_template_differs_is_not_templated(monkeypatch):
    monkeypatch.setattr(ic, "_TEMPLATES", {})
    calls = []
    real = ic._instructor_request

    def fake(
        response_model, mode, messages, **params
    ):  # an instructor that looks at the text: the template cannot hold
        calls.append(messages[0]["content"])
        prepared, body = real(response_model, mode, messages, **params)
        body["seen"] = len(messages[0]["content"])
        return prepared, body

    monkeypatch.setattr(ic, "_instructor_request", fake)
    msgs = [{"role": "user", "content": "abc"}]
    _, body = ic.prepare_request(TopicsAnswer, ic.Mode.TOOLS, msgs, model="m")
    assert body["seen"] == 3
    _, body = ic.prepare_request(TopicsAnswer, ic.Mode.TOOLS, [{"role": "user", "content": "abcdef"}], model="m")
    assert body["seen"] == 6
