"""The conflation step remembers verdicts by content: a remembered verdict equals a fresh one, and a caller that
changes the verdict it got changes nothing for the next caller."""

from __future__ import annotations

from test_conflation import more_gait, printed_as, two_people

from enrich.agent.steps import conflate
from enrich.agent.steps.conflation import MIN_WORKS, detect


def test_a_remembered_verdict_equals_a_fresh_one_and_is_the_callers_own():
    works = printed_as(two_people() + more_gait(), "Y. Sun")
    conflate._SEEN.clear()
    first = conflate._detect(works, "Y. Sun")
    assert first == detect(works, "Y. Sun") and first.detected
    first.clusters.pop()  # the caller's copy
    first.detected = False
    again = conflate._detect(works, "Y. Sun")
    assert again == detect(works, "Y. Sun") and again.detected and len(again.clusters) == 2
    assert again is not conflate._detect(works, "Y. Sun")


def test_another_name_other_works_or_a_stated_affiliation_are_judged_afresh():
    works = printed_as(two_people() + more_gait(), "Y. Sun")
    conflate._SEEN.clear()
    conflate._detect(works, "Y. Sun")
    conflate._detect(works, "Yan Sun")
    conflate._detect(works[:-1], "Y. Sun")
    conflate._detect(works, "Y. Sun", page_affiliation=True)
    assert len(conflate._SEEN) == 4


def test_a_listing_too_short_to_cluster_is_judged_at_once_not_remembered():
    works = printed_as(two_people(), "Y. Sun")[: MIN_WORKS - 1]
    conflate._SEEN.clear()
    verdict = conflate._detect(works, "Y. Sun")
    assert verdict == detect(works, "Y. Sun") and not verdict.detected and len(verdict.clusters) == 1
    assert not conflate._SEEN
