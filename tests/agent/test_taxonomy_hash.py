"""A taxonomy is hashed once (the ranking caches are keyed by it): equal taxonomies still hash equal, and a changed
one does not share their cache entries."""

from __future__ import annotations

import dataclasses

from enrich.agent.taxonomy import _rank_text, load_taxonomy


def test_equal_taxonomies_hash_equal_and_a_changed_one_differs():
    t = load_taxonomy("arxiv", None)
    copy = dataclasses.replace(t)
    assert copy == t and hash(copy) == hash(t) and copy is not t
    fewer = dataclasses.replace(t, tags=t.tags[1:])
    assert fewer != t and hash(fewer) != hash(t)
    text = "Neural machine translation with attention for low-resource languages"
    assert _rank_text(copy, text, 3, 0.1) == _rank_text(t, text, 3, 0.1)
    assert t.tags[0].tag not in {tag for tag, _ in _rank_text(fewer, t.tags[0].label, 3, 0.0)}
