"""bench/eval_topics.py: the field checks it prints, on made-up researcher rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from eval_topics import field_checks  # noqa: E402


def row(name, works, applied, acl=True, printed=None, proposed=()):
    return {
        "name": name,
        "works": works,
        "acl_venue": acl,
        "printed": printed,
        "applied": [{"tag": t, "score": s, "works": [f"W{i}" for i in range(n)]} for t, s, n in applied],
        "proposed": [{"tag": t, "score": s, "works": ["W0"]} for t, s in proposed],
    }


def test_field_checks_count_what_the_issue_measures():
    rows = [
        row("a", 10, [("cs.CL", 0.9, 10), ("cs.LG", 0.6, 3)], proposed=[("math.NA", 0.3)]),
        row("b", 3, [("cs.CL", 0.8, 2)]),  # fewer than 4 works: a tag needs all 3
        row("c", 8, [("eess.SY", 0.7, 4)]),  # an ACL-venue listing without cs.CL, with a tag outside CS
        row("d", 6, [("cs.LG", 0.7, 5), ("cs.DC", 0.6, 2)], acl=False, printed=["cs.LG", "cs.CV"]),
    ]
    c = field_checks(rows)
    assert (c["acl_venue_listings"], c["cs.CL_applied"], c["cs.CL_applied_share"]) == (3, 2, 0.667)
    assert c["acl_without_cs.CL"] == ["c"] and c["applied_outside_cs_on_acl"] == [("c", "eess.SY")]
    assert c["applied_with_too_little_support"] == [("b", "cs.CL", 2)]
    assert c["applied_not_printed_on_those"] == [("d", "cs.DC")]
    by_bin = {b["score"]: b for b in c["reliability_acl"]}
    assert by_bin["[0.0, 0.5)"] == {"score": "[0.0, 0.5)", "tags": 1, "applied": 0, "cs.CL": 0.0, "in_cs": 0.0}
    assert by_bin["[0.9, 1.0]"]["cs.CL"] == 1.0
