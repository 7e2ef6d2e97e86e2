"""The venue -> field map shipped as data, and a user's own map read before it."""

from __future__ import annotations

import json

import pytest

from enrich.agent.venues import VenueMapError, load_venue_map, venue_evidence
from enrich.schemas import Work


def tag_of(venue: str | None, ids: dict | None = None, user_file: str | None = None) -> str | None:
    ev = venue_evidence(Work(title="t", venue=venue, ids=ids or {}), "arxiv", load_venue_map(user_file))
    return ev.tag if ev else None


@pytest.mark.parametrize(
    "venue",
    [
        "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics",
        "Findings of the Association for Computational Linguistics: EMNLP 2020",
        "Proceedings of the 2019 Conference of the North American Chapter of the ACL (NAACL-HLT)",
        "Proceedings of COLING 2016, the 26th International Conference on Computational Linguistics",
        "Proceedings of the 12th Language Resources and Evaluation Conference",
        "LREC 2022",
        "Proceedings of the Fourteenth Workshop on Semantic Evaluation",
        "Transactions of the Association for Computational Linguistics",
        "Proceedings of the 26th Pacific Asia Conference on Language, Information, and Computation",
        "*SEM 2021: The Tenth Joint Conference on Lexical and Computational Semantics",
    ],
)
def test_acl_family_venues_are_computational_linguistics(venue):
    assert tag_of(venue) == "cs.CL"


def test_an_acl_anthology_id_is_computational_linguistics_whatever_the_venue_says():
    assert tag_of("Proceedings of the First Workshop on Something New", {"acl": "2020.new-1.1"}) == "cs.CL"


@pytest.mark.parametrize(
    ("venue", "tag"),
    [
        ("Advances in Neural Information Processing Systems 33", "cs.LG"),
        ("ICLR 2024", "cs.LG"),
        ("2021 IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)", "cs.CV"),
        ("SIGIR '22", "cs.IR"),
        ("Mathematical Foundations of Programming Semantics", None),  # "semantics" alone is not linguistics
        ("Journal of Morphology", None),
        ("arXiv", None),
        (None, None),
        ("Proceedings of ACLU Annual Meeting", None),  # acronyms are whole words
    ],
)
def test_other_fields_and_non_matches(venue, tag):
    assert tag_of(venue) == tag


def test_a_user_map_is_read_first_and_can_add_venues(tmp_path):
    f = tmp_path / "venues.json"
    f.write_text(
        json.dumps(
            {
                "fields": [
                    {"field": "information retrieval", "tags": {"arxiv": "cs.IR"}, "acronyms": ["TREC"]},
                    {"field": "machine learning", "tags": {"arxiv": "cs.LG"}, "phrases": ["empirical methods"]},
                ]
            }
        ),
        encoding="utf-8",
    )
    assert tag_of("Proceedings of TREC 2019", user_file=str(f)) == "cs.IR"
    assert tag_of("Proceedings of TREC 2019") is None
    # the user's rule wins over the shipped one
    assert tag_of("Conference on Empirical Methods in Natural Language Processing", user_file=str(f)) == "cs.LG"


def test_a_taxonomy_the_map_does_not_name_gets_no_venue_evidence():
    work = Work(title="t", venue="Proceedings of ACL 2020")
    assert venue_evidence(work, "some-other-taxonomy", load_venue_map()) is None


@pytest.mark.parametrize("content", ["not json", json.dumps({"fields": [{"field": "x"}]}), json.dumps([1])])
def test_a_broken_user_map_is_a_clear_error(tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(VenueMapError):
        load_venue_map(str(f))
