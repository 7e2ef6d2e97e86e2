"""A reviewer corrects a split proposal before accepting it (CLI and store): move, merge, split; audited; undo."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from review_seed import three_way_split

from enrich.agent.cli import cli
from enrich.store import Store, StoreError, split_edit


@pytest.fixture
def doe(seeded, open_store):
    store = open_store()
    return three_way_split(store)


def run(seeded, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", str(seeded.path), *args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def clusters(path, pid: int) -> list[list[str]]:
    store = Store.open(path)
    try:
        p = store.get_proposal(pid)
        return [c["work_ids"] for c in p.payload["clusters"]]
    finally:
        store.close()


def test_cli_corrects_a_split_accepts_it_and_undo_restores_the_proposal(seeded, doe):
    w = doe.works
    original = clusters(seeded.path, doe.proposal)
    assert original == [[w[0], w[2]], [w[3], w[4]], [w[5], w[1]]]

    # move the gait paper of cluster 1 to cluster 2 (the gait cluster)
    out = run(seeded, "review", "move", str(doe.proposal), w[2], "2", "--who", "tester").output
    assert f"moved work {w[2]} to cluster 2" in out
    assert clusters(seeded.path, doe.proposal) == [[w[0]], [w[3], w[4], w[2]], [w[5], w[1]]]
    # merge cluster 3 (time-series + federated) into cluster 1 (federated)
    res = json.loads(
        run(seeded, "review", "merge-clusters", str(doe.proposal), "3", "1", "--who", "tester", "--json").stdout
    )
    assert res["done"] == "merged cluster 3 into cluster 1"
    assert clusters(seeded.path, doe.proposal) == [[w[0], w[5], w[1]], [w[3], w[4], w[2]]]
    # split the time-series works off again, each into the right place: w5 forms a new cluster, w4 joins it
    run(seeded, "review", "split-cluster", str(doe.proposal), "1", w[5], "--who", "tester")
    run(seeded, "review", "move", str(doe.proposal), w[4], "3", "--who", "tester")
    assert clusters(seeded.path, doe.proposal) == [[w[0], w[1]], [w[3], w[2]], [w[5], w[4]]]
    shown = run(seeded, "review", "show", str(doe.proposal)).output
    assert "cluster 3 (2 works)" in shown and "Time-series anomaly detection with flows" in shown

    # accept: three researchers with the corrected works; the original keeps none of the listing
    run(seeded, "review", "accept", str(doe.proposal), "--who", "tester")
    store = Store.open(seeded.path)
    try:
        made = [r for r in store.researchers() if r.split_from == doe.researcher]
        assert sorted(sorted(x.work_id for x in store.researcher_works(r.id)) for r in made) == sorted(
            [sorted([w[0], w[1]]), sorted([w[3], w[2]]), sorted([w[5], w[4]])]
        )
        assert store.researcher_works(doe.researcher) == []
        actions = [(a.actor, a.action) for a in store.audit_entries(limit=5)]
        assert actions == [("human:tester", "split")] + [("human:tester", "correct-split")] * 4
        entry = store.audit_entries(limit=2)[1]
        assert entry.after["operation"] == f"moved work {w[4]} to cluster 3"
    finally:
        store.close()

    # undo the accept: the proposal is pending again, the split researchers are gone, the original owns all works
    run(seeded, "review", "undo", "--who", "tester")
    store = Store.open(seeded.path)
    try:
        assert store.get_proposal(doe.proposal).state == "pending"
        assert not [r for r in store.researchers() if r.split_from == doe.researcher]
        assert sorted(x.work_id for x in store.researcher_works(doe.researcher)) == sorted(w)
    finally:
        store.close()
    # four more undos restore the proposal as the agent made it
    for _ in range(4):
        run(seeded, "review", "undo", "--who", "tester")
    assert clusters(seeded.path, doe.proposal) == original


def test_corrections_are_refused_when_they_make_no_sense(seeded, doe, open_store):
    w = doe.works
    bad = run(seeded, "review", "move", str(doe.proposal), "Wnope", "2", ok=False)
    assert bad.exit_code != 0 and "not part of this split" in bad.output
    bad = run(seeded, "review", "move", str(doe.proposal), w[0], "9", ok=False)
    assert "cluster 9 does not exist" in bad.output
    bad = run(seeded, "review", "move", str(doe.proposal), w[0], "sideways", ok=False)
    assert "TO:" in bad.output
    bad = run(seeded, "review", "merge-clusters", str(doe.proposal), "2", "2", ok=False)
    assert "itself" in bad.output
    bad = run(seeded, "review", "split-cluster", str(doe.proposal), "1", w[3], ok=False)
    assert "not in it" in bad.output
    store = open_store()
    split_edit.correct_split(store, doe.proposal, "tester", "merge", cluster=3, into=1)
    with pytest.raises(StoreError, match="one cluster"):
        split_edit.correct_split(store, doe.proposal, "tester", "merge", cluster=2, into=1)
    # a field proposal is not a split
    with pytest.raises(StoreError, match="not split"):
        split_edit.correct_split(store, seeded.affiliation_pid, "tester", "merge", cluster=2, into=1)


def test_moving_a_work_to_none_leaves_it_with_the_original_researcher(seeded, doe):
    w = doe.works
    run(seeded, "review", "move", str(doe.proposal), w[1], "none")
    run(seeded, "review", "accept", str(doe.proposal))
    store = Store.open(seeded.path)
    try:
        assert [x.work_id for x in store.researcher_works(doe.researcher)] == [w[1]]
    finally:
        store.close()


def test_undo_of_a_rejected_split_unmarks_the_one_person_decision(seeded, doe):
    run(seeded, "review", "reject", str(doe.proposal))
    store = Store.open(seeded.path)
    try:
        assert store.get_researcher(doe.researcher).single_person
    finally:
        store.close()
    run(seeded, "review", "undo")
    store = Store.open(seeded.path)
    try:
        assert not store.get_researcher(doe.researcher).single_person
        assert store.get_proposal(doe.proposal).state == "pending"
    finally:
        store.close()
