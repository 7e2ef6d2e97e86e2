"""The request body built from a cached per-shape template is exactly instructor's own, in every mode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSONISH)
def test_the_private_copy_of_the_messages_is_the_json_round_trip(value):
    """prepare_call copies the messages without writing them as JSON: the same result as the round trip it replaced
    (a tuple or an integer key takes the round trip), and a copy the caller can change without touching the input."""
    import json

    from enrich.agent.llm.instructor_client import json_copy

    before = json.dumps(value, sort_keys=False, default=str)
    copy = json_copy(value)
    assert copy == json.loads(json.dumps(value)) and json.dumps(copy) == json.dumps(json.loads(json.dumps(value)))
    if isinstance(copy, (list, dict)) and copy:
        copy.clear()
        assert json.dumps(value, default=str) == before


def test_a_copy_of_plain_messages_shares_no_container():
    from enrich.agent.llm.instructor_client import json_copy

    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u", "parts": [{"t": 1}]}]
    copy = json_copy(msgs)
    copy[0]["content"] += " + schema"
    copy[1]["parts"].append({"t": 2})
    copy.append({"role": "assistant", "content": "a"})
    assert msgs == [{"role": "system", "content": "s"}, {"role": "user", "content": "u", "parts": [{"t": 1}]}]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", [AffiliationAnswer, SummaryAnswer])
@settings(max_examples=40, deadline=None)
@given(system=st.text(max_size=60), user=st.text(max_size=200))
def test_a_request_as_text_is_the_encoding_of_instructors_body(mode, model, system, user):
    """A bulk build writes request bodies as text filled into the template's text (no body built per request): the
    same line text, hash text and lengths as encoding instructor's own body -- for any message text (quotes,
    backslashes, control characters, non-ASCII, a placeholder's own characters)."""
    ic._TEMPLATES.clear()
    params = {"model": "m", "max_tokens": 300, "temperature": 0.0}
    for s, u in [("warm-up system", "warm-up user"), ("again", "again"), (system, user)]:
        msgs = [{"role": "system", "content": s}, {"role": "user", "content": u}]
        text = ic.request_text(model, mode, [dict(m) for m in msgs], **params)
        _, direct = ic._instructor_request(model, mode, [dict(m) for m in msgs], **params)
        assert text == ic.RequestText.of(direct)
    assert ic._TEMPLATES and all(e["ok"] and e["checks"] == ic._TEMPLATE_CHECKS for e in ic._TEMPLATES.values())


def test_a_placeholder_in_a_message_text_is_not_filled_in():
    """The texts are filled into the template in one pass: a message text that holds another placeholder's
    characters stays as it is."""
    ic._TEMPLATES.clear()
    params = {"model": "m"}
    for _ in range(ic._TEMPLATE_CHECKS + 1):
        msgs = [{"role": "system", "content": "a \x00enrich-slot-1\x00 b"}, {"role": "user", "content": "u"}]
        text = ic.request_text(TopicsAnswer, ic.Mode.TOOLS, [dict(m) for m in msgs], **params)
        _, body = ic.prepare_request(TopicsAnswer, ic.Mode.TOOLS, [dict(m) for m in msgs], **params)
    assert body["messages"][0]["content"] == "a \x00enrich-slot-1\x00 b"
    assert text == ic.RequestText.of(body) and '"a \\u0000enrich-slot-1\\u0000 b"' in text.compact
