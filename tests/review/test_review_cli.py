"""`enrich review` / `rollback` / `audit` against a temporary database with fake model proposals."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from review_seed import FAKE, Seeded, llm_value, merge_proposal, quote, split_proposal
from store_sql import rows as sql_rows

from enrich.agent.cli import cli
from enrich.schemas import FieldValue


def run(seeded: Seeded, *args: str, input: str | None = None, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", str(seeded.path), *args], input=input)
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def as_json(seeded: Seeded, *args: str):
    return json.loads(run(seeded, *args, "--json").stdout)


# ---------------------------------------------------------------------------------------------- list / show


def test_review_without_subcommand_lists_pending(seeded):
    out = run(seeded, "review").output
    assert "3 pending proposal(s)" in out
    assert "University of Bergen" in out and "Old Institute" in out and "cs.CL (0.95)" in out


def test_review_list_filters_and_sorts(seeded):
    rows = as_json(seeded, "review", "list")
    assert [r["id"] for r in rows] == [seeded.affiliation_pid, seeded.topics_pid, seeded.bob_affiliation_pid]
    assert rows[0] | {"created_at": None} == {
        "id": seeded.affiliation_pid,
        "kind": "field",
        "researcher_id": seeded.ada,
        "researcher": "Ada Lovelace",
        "field": "affiliation",
        "summary": "affiliation: University of Bergen",
        "confidence": 0.92,
        "origin": FAKE,
        "job_id": "J1",
        "state": "pending",
        "created_at": None,
        "cursor": str(seeded.affiliation_pid),  # what --after takes to continue after this row
    }
    assert [r["id"] for r in as_json(seeded, "review", "--field", "affiliation")] == [
        seeded.affiliation_pid,
        seeded.bob_affiliation_pid,
    ]
    assert [r["id"] for r in as_json(seeded, "review", "list", "--researcher", "bob babbage")] == [
        seeded.bob_affiliation_pid
    ]
    assert [r["id"] for r in as_json(seeded, "review", "list", "--job", "J1", "--min-confidence", "0.93")] == [
        seeded.topics_pid
    ]
    assert [r["id"] for r in as_json(seeded, "review", "list", "--sort", "confidence")] == [
        seeded.topics_pid,
        seeded.affiliation_pid,
        seeded.bob_affiliation_pid,
    ]
    assert [r["researcher_id"] for r in as_json(seeded, "review", "--sort", "researcher")] == [
        seeded.ada,
        seeded.ada,
        seeded.bob,
    ]


def test_review_list_unknown_field_is_one_line_error(seeded):
    result = run(seeded, "review", "list", "--field", "hobbies", ok=False)
    assert result.exit_code == 1
    assert "unknown field 'hobbies'" in result.output and "Traceback" not in result.output


def test_show_prints_current_vs_proposed_with_quote_in_context(seeded, open_store):
    store = open_store()
    store.set_value(seeded.ada, "affiliation", {"name": "Bergen Uni"}, "alice")
    out = run(seeded, "review", "show", str(seeded.affiliation_pid)).output
    assert "current (verified, human:alice)" in out and "proposed" in out
    assert "Bergen Uni" in out and "University of Bergen" in out
    # the quote is marked inside the surrounding listing text (plain output: »quote«)
    assert "Department of Computing, »University of Bergen«, Norway" in out
    for expected in (
        "origin          llm:fake/fake-model",
        "model           fake-model",
        "prompt version  affiliation@v1",
        "confidence      0.92",
        "job             J1",
        "evidence 1 · checked · listing 1 ada.txt",
    ):
        assert expected in out


def test_show_json_has_highlight_segments(seeded):
    view = as_json(seeded, "review", "show", str(seeded.topics_pid))
    assert view["kind"] == "field" and view["field"] == "topics"
    assert view["current"] == "" and view["proposed"] == "cs.CL (0.95), cs.DL (0.90)"
    assert view["added"] == ["cs.CL", "cs.DL"] and view["removed"] == []
    assert (view["backend"], view["model"], view["prompt_version"]) == ("fake", "fake-model", "topics@v1")
    segments = view["evidence"][0]["segments"]
    assert [s["text"] for s in segments if s["highlight"]] == ["neural models"]
    assert segments[0]["text"].endswith("We parse tables in papers with ")
    assert segments[-1]["text"].startswith(".\nTopic models")


def test_show_renders_split_and_merge_from_payload(seeded, open_store):
    store = open_store()
    split = split_proposal(store, seeded.ada, seeded.ada_listing, seeded.ada_works)
    bob_work = store.researcher_works(seeded.bob)[0].work_id
    merge = merge_proposal(store, seeded.ada, seeded.bob, [[seeded.ada_works[0], bob_work]])
    out = run(seeded, "review", "show", str(split)).output
    assert f"Proposal {split} · split · pending · researcher {seeded.ada} (Ada Lovelace)" in out
    assert "cluster 1 (1 works)" in out and "cluster 2 (1 works)" in out
    assert f"{seeded.ada_works[0]}  Neural parsing of scientific tables" in out
    assert "top terms: parsing, tables" in out and "venues: Scientometrics" in out
    assert re.search(r"method\s+fake-clusters", out) and re.search(r"listing id\s+1", out)
    view = as_json(seeded, "review", "show", str(merge))
    assert view["shared_works"] == [
        {"work_id": seeded.ada_works[0], "other": bob_work, "title": "Neural parsing of scientific tables"}
    ]
    assert ("researcher b", str(seeded.bob)) in [tuple(d) for d in view["details"]]
    assert [r["id"] for r in as_json(seeded, "review", "--kind", "split")] == [split]


def test_show_unknown_proposal(seeded):
    result = run(seeded, "review", "show", "999", ok=False)
    assert result.exit_code == 1 and "no proposal 999" in result.output


# ---------------------------------------------------------------------------------------------- decisions


def test_accept_several_ids(seeded, open_store):
    out = run(seeded, "review", "accept", str(seeded.affiliation_pid), str(seeded.topics_pid), "--who", "tester").output
    assert f"accepted proposal {seeded.affiliation_pid}" in out and f"accepted proposal {seeded.topics_pid}" in out
    store = open_store()
    aff = store.current(seeded.ada, "affiliation")
    assert (aff.value, aff.status, aff.origin) == ({"name": "University of Bergen"}, "accepted", FAKE)
    assert store.current(seeded.ada, "topics").status == "accepted"
    assert store.get_proposal(seeded.affiliation_pid).state == "accepted"
    entry = store.audit_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.proposal_id) == ("human:tester", "accept", seeded.topics_pid)
    again = run(seeded, "review", "accept", str(seeded.affiliation_pid), ok=False)
    assert again.exit_code == 1 and f"proposal {seeded.affiliation_pid} is accepted, not pending" in again.output


def test_who_defaults_to_user(seeded, open_store, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    run(seeded, "review", "accept", str(seeded.affiliation_pid))
    assert open_store().audit_entries(limit=1)[0].actor == "human:alice"


def test_reject(seeded, open_store):
    assert "rejected proposal" in run(seeded, "review", "reject", str(seeded.bob_affiliation_pid), "--who", "t").output
    store = open_store()
    assert store.get_proposal(seeded.bob_affiliation_pid).state == "rejected"
    assert store.current(seeded.bob, "affiliation") is None
    entry = store.audit_entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.after) == ("reject", "human:t", {"name": "Old Institute"})


def test_edit_accepts_a_corrected_human_value(seeded, open_store):
    run(
        seeded,
        "review",
        "edit",
        str(seeded.affiliation_pid),
        "University of Bergen, Dept. of Computing",
        "--who",
        "tester",
    )
    run(seeded, "review", "edit", str(seeded.topics_pid), "cs.CL, cs.IR", "--who", "tester")
    store = open_store()
    aff = store.current(seeded.ada, "affiliation")
    assert (aff.value, aff.status, aff.origin, aff.confidence) == (
        {"name": "University of Bergen, Dept. of Computing"},
        "accepted",
        "human:tester",
        1.0,
    )
    assert [t["tag"] for t in store.current(seeded.ada, "topics").value] == ["cs.CL", "cs.IR"]
    assert store.audit_entries(limit=1)[0].action == "edit"


def test_edit_rejects_bad_values_with_one_line(seeded, open_store):
    bad_json = run(seeded, "review", "edit", str(seeded.topics_pid), "[{oops", ok=False)
    assert bad_json.exit_code == 1 and "not valid JSON" in bad_json.output
    invalid = run(seeded, "review", "edit", str(seeded.affiliation_pid), "X", ok=False)
    assert invalid.exit_code == 1 and "invalid value" in invalid.output
    assert open_store().get_proposal(seeded.affiliation_pid).state == "pending"


def test_undo_reverts_the_last_action(seeded, open_store):
    run(seeded, "review", "accept", str(seeded.affiliation_pid), "--who", "tester")
    out = run(seeded, "review", "undo", "--who", "tester").output
    assert f"(accept of proposal {seeded.affiliation_pid})" in out
    store = open_store()
    assert store.current(seeded.ada, "affiliation") is None
    assert store.get_proposal(seeded.affiliation_pid).state == "pending"
    assert store.audit_entries(limit=1)[0].action == "undo"
    nothing = run(seeded, "review", "undo", ok=False)
    assert nothing.exit_code == 1 and "nothing to undo" in nothing.output


def test_accept_needs_ids_or_filters(seeded):
    result = run(seeded, "review", "accept", ok=False)
    assert result.exit_code == 1 and "give proposal ids, or filters" in result.output
    both = run(seeded, "review", "accept", "1", "--field", "topics", ok=False)
    assert both.exit_code == 1 and "not both" in both.output


# ---------------------------------------------------------------------------------------------- bulk


def test_bulk_dry_run_only_counts(seeded, open_store):
    out = run(seeded, "review", "accept", "--job", "J1", "--min-confidence", "0.9", "--dry-run").output
    assert "2 proposal(s) would be accepted" in out
    assert len(open_store().proposals("pending")) == 3


def test_bulk_asks_first_and_no_changes_nothing(seeded, open_store):
    result = run(
        seeded, "review", "accept", "--field", "topics", "--min-confidence", "0.9", "--job", "J1", input="n\n", ok=False
    )
    assert result.exit_code == 1 and "1 proposal(s) would be accepted" in result.output
    assert "Accept 1 proposal(s) as" in result.output and "Aborted" in result.output
    assert open_store().current(seeded.ada, "topics") is None


def test_bulk_accept_after_confirmation(seeded, open_store):
    out = run(seeded, "review", "accept", "--job", "J1", "--who", "tester", input="y\n").output
    assert "accepted 2 proposal(s)" in out
    store = open_store()
    assert store.current(seeded.ada, "topics").status == "accepted"
    assert store.current(seeded.ada, "affiliation").status == "accepted"
    assert [p.id for p in store.proposals("pending")] == [seeded.bob_affiliation_pid]


def test_bulk_accept_honours_never_override(seeded, open_store):
    """A bulk rule never replaces a value a person verified; what it applies is `accepted` via the review path."""
    store = open_store()
    store.set_value(seeded.bob, "affiliation", {"name": "Analytical Engines Lab"}, "alice")
    # a model proposal against the verified value, plus one on an empty field
    over = store.submit(
        llm_value(
            seeded.bob,
            "affiliation",
            {"name": "Old Institute, Engines"},
            confidence=0.99,
            job="J9",
            evidence=[quote(store, seeded.bob_listing, "Old Institute")],
        )
    )
    fresh = store.submit(
        llm_value(
            seeded.bob, "topics", [{"tag": "cs.GL", "label": "General", "score": 0.99}], confidence=0.99, job="J9"
        )
    )
    assert over.outcome == fresh.outcome == "proposed"
    data = json.loads(run(seeded, "review", "accept", "--job", "J9", "--yes", "--who", "bulk", "--json").stdout)
    assert data["would_accept"] == 1 and data["skipped_protected"] == [over.proposal_id]
    assert [a["proposal_id"] for a in data["accepted"]] == [fresh.proposal_id]
    check = open_store()
    verified = check.current(seeded.bob, "affiliation")
    assert (verified.value, verified.status, verified.origin) == (
        {"name": "Analytical Engines Lab"},
        "verified",
        "human:alice",
    )
    assert check.get_proposal(over.proposal_id).state == "pending"
    topics = check.current(seeded.bob, "topics")
    assert (topics.status, topics.origin) == ("accepted", FAKE)
    entry = check.audit_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.proposal_id) == ("human:bulk", "accept", fresh.proposal_id)
    # explicitly including protected fields still goes through the review action: accepted, audited, by a person
    run(seeded, "review", "accept", "--job", "J9", "--include-protected", "--yes", "--who", "bulk")
    replaced = check.current(seeded.bob, "affiliation")
    assert (replaced.value, replaced.status) == ({"name": "Old Institute, Engines"}, "accepted")
    last = check.audit_entries(limit=1)[0]
    assert (last.actor, last.action, last.before, last.after) == (
        "human:bulk",
        "accept",
        {"name": "Analytical Engines Lab"},
        {"name": "Old Institute, Engines"},
    )
    statuses = {r["status"] for r in sql_rows(check, "SELECT status FROM field_values WHERE job_id = 'J9'")}
    assert statuses == {"proposed", "accepted"}  # never verified/generated from a bulk rule


def test_bulk_skips_structural_proposals(seeded, open_store):
    split = split_proposal(open_store(), seeded.ada, seeded.ada_listing, seeded.ada_works)
    out = run(seeded, "review", "accept", "--researcher", str(seeded.ada), "--dry-run").output
    assert (
        "2 proposal(s) would be accepted" in out and f"1 split/merge skipped (review them one by one): {split}" in out
    )


# ---------------------------------------------------------------------------------------------- rollback / audit


def test_rollback_restores_exact_previous_values(seeded, open_store):
    store = open_store()
    # J1 fills an empty field (generated) and supersedes an imported value; a person later changes one J1 value
    store.submit(
        FieldValue(
            researcher_id=seeded.bob,
            field="topics",
            value=[{"tag": "cs.AR", "label": "Hardware", "score": 0.5}],
            status="imported",
            origin="import:text",
            confidence=1.0,
        )
    )
    old_topics = store.current(seeded.bob, "topics")
    gen = store.submit(
        llm_value(
            seeded.bob,
            "summary",
            {"text": "Bob builds engines.", "sentences": [{"text": "Bob builds engines.", "works": []}]},
            confidence=0.9,
            job="J1",
        ),
        auto_apply=True,
    )
    imp = store.submit(
        FieldValue(
            researcher_id=seeded.bob,
            field="topics",
            value=[{"tag": "cs.GL", "label": "General", "score": 0.7}],
            status="imported",
            origin="import:text",
            job_id="J1",
        )
    )
    kept = store.submit(
        llm_value(
            seeded.ada,
            "summary",
            {
                "text": "Ada parses tables.",
                "sentences": [{"text": "Ada parses tables.", "works": [seeded.ada_works[0]]}],
            },
            confidence=0.9,
            job="J1",
        ),
        auto_apply=True,
    )
    assert gen.status == "generated" and imp.status == "imported" and kept.status == "generated"
    store.set_value(
        seeded.ada,
        "summary",
        {"text": "Ada parses tables well.", "sentences": [{"text": "Ada parses tables well.", "works": []}]},
        "alice",
    )
    out = run(seeded, "rollback", "J1", "--who", "tester").output
    assert "rolled back job J1: reverted 2, kept 1" in out and "withdrew 2 proposal(s)" in out
    check = open_store()
    assert check.current(seeded.bob, "summary") is None
    restored = check.current(seeded.bob, "topics")
    assert (restored.id, restored.value, restored.status) == (old_topics.id, old_topics.value, "imported")
    assert check.current(seeded.ada, "summary").value["text"] == "Ada parses tables well."
    assert {check.get_proposal(p).state for p in (seeded.affiliation_pid, seeded.topics_pid)} == {"withdrawn"}
    assert check.get_proposal(seeded.bob_affiliation_pid).state == "pending"  # job J2 untouched
    again = json.loads(run(seeded, "rollback", "J1", "--json").stdout)
    assert again == {"job_id": "J1", "reverted": 0, "kept": 3, "withdrawn": 0}  # nothing of J1 is current now


def test_rollback_unknown_job_says_nothing_to_do(seeded):
    assert "job NOPE: nothing to roll back" in run(seeded, "rollback", "NOPE").output


def test_audit_shows_who_when_action_before_after(seeded):
    run(seeded, "review", "accept", str(seeded.affiliation_pid), "--who", "tester")
    run(seeded, "review", "undo", "--who", "tester")
    run(seeded, "review", "reject", str(seeded.bob_affiliation_pid), "--who", "tester")
    rows = as_json(seeded, "audit", "--researcher", "Ada Lovelace")
    assert [(r["who"], r["action"], r["field"], r["before"], r["after"]) for r in rows] == [
        ("human:tester", "undo", "affiliation", "University of Bergen", ""),
        ("human:tester", "accept", "affiliation", "", "University of Bergen"),
    ]
    assert all(r["when"] for r in rows) and rows[0]["undoes"] == rows[1]["id"]
    assert [r["action"] for r in as_json(seeded, "audit", "--limit", "1")] == ["reject"]
    assert [r["job_id"] for r in as_json(seeded, "audit", "--job", "J2")] == ["J2"]
    table = run(seeded, "audit").output
    assert "human:tester" in table and "reject" in table and "Old Institute" in table


@pytest.mark.parametrize(
    "args",
    [
        ["review", "--help"],
        ["review", "accept", "--help"],
        ["rollback", "--help"],
        ["audit", "--help"],
        ["serve", "--help"],
    ],
)
def test_every_command_has_help(seeded, args):
    out = run(seeded, *args).output
    assert "Usage:" in out and "--help" in out
