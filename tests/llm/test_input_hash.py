"""A question's input hash (part of its cache key, stored with every call) written from the message texts escaped once
is the hash of the same JSON text as before: caches filled by earlier versions keep answering."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from enrich.agent.llm.instructor_api import escaped_texts, messages_json
from enrich.agent.llm.instructor_client import input_hash
from enrich.store import llm_log

TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # any text JSON and UTF-8 can hold: escapes, quotes, "\x00"
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT}))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
CONTEXT = st.none() | st.dictionaries(TEXT, JSON, max_size=4)


@given(MESSAGES, CONTEXT)
def test_the_hash_from_escaped_texts_is_the_hash_of_the_whole_value(messages, context):
    escaped = escaped_texts(messages)
    assert escaped is not None
    assert messages_json(messages, escaped) == llm_log.stable_json(messages)
    assert input_hash(messages, context, escaped) == input_hash(messages, context)
    assert input_hash(messages, context) == llm_log.sha256_json({"messages": messages, "context": context or {}})


def test_messages_other_than_a_role_and_a_text_are_not_escaped_ahead():
    assert escaped_texts([{"role": "user", "content": "a", "name": "x"}]) is None
    assert escaped_texts([{"role": "user", "content": [{"type": "text", "text": "a"}]}]) is None
    assert escaped_texts([{"role": "user", "content": None}]) is None
    assert escaped_texts([]) == []
