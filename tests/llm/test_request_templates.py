"""The request body built from a cached per-shape template is exactly instructor's own, in every mode."""

from __future__ import annotations

from http import HTTPStatus

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


class _Tag(str):
    pass


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from([HTTPStatus.OK, _Tag("t")]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        _json_leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(st.text(max_size=4), inner, max_size=4),
            st.dictionaries(st.integers(0, 3), inner, max_size=2),
        ),
        max_leaves=12,
    )
)
def test_json_copy_is_the_json_round_trip(value):
    """The request's messages are copied before instructor may change them: json_copy gives what
    json.loads(json.dumps(value)) gives (tuples, number keys, subclasses, NaN included), and shares no container
    with the original."""
    import json
    import math

    from enrich.agent.llm.instructor_client import json_copy

    def same(a, b):  # == with NaN equal to itself, and the types the same (True is not 1)
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
            return math.isnan(b)
        if type(a) is not type(b):
            return False
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        return a == b

    def containers(v):
        if isinstance(v, (list, tuple, dict)):
            yield id(v)
            for x in v.values() if isinstance(v, dict) else v:
                yield from containers(x)

    copied = json_copy(value)
    assert same(copied, json.loads(json.dumps(value)))
    assert not set(containers(copied)) & set(containers(value))
