"""The pair features of the conflation step: venue families, byline organisations, group merges as row updates."""

from __future__ import annotations

import numpy as np

from enrich.agent.names import PersonName
from enrich.agent.steps import conflation
from enrich.agent.steps.work_pairs import FEATURES, GroupState, affiliation_keys, venue_family, venue_words
from enrich.schemas import Work


def test_venue_family_and_words():
    assert venue_family("Proceedings of the 2020 Conference on Empirical Methods in NLP (EMNLP)") == "EMNLP"
    assert venue_family("Findings of the Association for Computational Linguistics: EMNLP 2020") == "EMNLP"
    assert venue_family("Proceedings of the 23rd Conference on Computational Natural Language Learning (CoNLL)") == (
        "CONLL"
    )
    assert venue_family("Workshop on Games and Natural Language Processing") == "games natural language processing"
    assert venue_family(None) is None
    assert venue_words("Proceedings of the 57th Annual Meeting of the ACL") == "acl"


def test_affiliation_keys_take_organisations_and_mail_domains():
    keys = affiliation_keys(["Jane Doe (KAIST)", "jane@cs.kaist.ac.kr", "* School of Computing, IT University"])
    assert {"kaist", "@ac.kr"} <= keys
    assert "university" not in keys and "school" not in keys


def _works() -> list[Work]:
    def w(title: str, year: int, authors: list[str], venue: str) -> Work:
        return Work(title=title, year=year, authors=authors, venue=venue, abstract=title.lower())

    return [
        w("Federated averaging", 2021, ["A. Sun", "Li Shen"], "ICML"),
        w("Federated personalisation", 2022, ["A. Sun", "Li Shen", "Bo Wu"], "ICML"),
        w("Gait recognition", 2019, ["A. Sun", "Xi Feng"], "CVPR"),
        w("Gait silhouettes", 2020, ["A. Sun", "Xi Feng"], "CVPR"),
    ]


def test_merging_groups_equals_building_the_merged_group():
    f = conflation._features(_works(), PersonName.parse("A. Sun"))
    state = GroupState(f.vectors, [[0], [1], [2], [3]])
    state.merge(0, 1)
    direct = GroupState(f.vectors, [[0, 1], [2], [3]])
    merged = state.features([0])[0][[0, 2, 3]]
    assert merged.shape == (3, len(FEATURES))
    assert np.allclose(merged, direct.features([0])[0])


def test_shared_coauthors_group_first_and_fitted_model_keeps_topics_apart():
    a = conflation.analyse(_works(), "A. Sun")
    assert sorted(sorted(c) for c in a.clusters) == [[0, 1], [2, 3]]
    assert 0.0 <= a.prob[0, 1] < conflation.default_params().merge


def test_a_copied_state_merges_without_touching_the_original():
    f = conflation._features(_works(), PersonName.parse("A. Sun"))
    state = GroupState(f.vectors, [[0], [1], [2], [3]])
    before = state.features()
    other = state.copy()
    other.merge(0, 1)
    assert state.groups == [[0], [1], [2], [3]] and other.groups[0] == [0, 1]
    assert np.array_equal(state.features(), before)
    assert np.allclose(other.features([0])[0][[0, 2, 3]], GroupState(f.vectors, [[0, 1], [2], [3]]).features([0])[0])
