"""Correcting a split proposal in the review page: move a work, merge two clusters, split one; accept; undo."""

from __future__ import annotations

import re

import pytest
from review_seed import three_way_split
from web_seed import TOKEN, csrf_of

from enrich.store import Store


@pytest.fixture
def doe(web_db):
    store = Store.open(web_db.path)
    try:
        return three_way_split(store)
    finally:
        store.close()


def clusters(web_db, pid: int) -> list[list[str]]:
    store = Store.open(web_db.path)
    try:
        return [c["work_ids"] for c in store.get_proposal(pid).payload["clusters"]]
    finally:
        store.close()


def test_split_form_posts_correct_and_refuses_bad_input(client, web_db, doe):
    w = doe.works
    page = client.get(f"/proposals/{doe.proposal}")
    assert page.status_code == 200 and 'id="split-form-1"' in page.text and "merge-form" in page.text
    csrf = csrf_of(page.text)
    # tick w[2] in cluster 1 and split it off into a new cluster
    r = client.post(
        f"/proposals/{doe.proposal}/correct",
        data={"csrf": csrf, "op": "split", "cluster": "1", "work_ids": [w[2]]},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/proposals/{doe.proposal}?done=correct")
    assert clusters(web_db, doe.proposal) == [[w[0]], [w[3], w[4]], [w[5], w[1]], [w[2]]]
    r = client.post(
        f"/proposals/{doe.proposal}/correct", data={"csrf": csrf, "op": "move", "work_id": "Wnope", "to": "1"}
    )
    assert r.status_code == 409 and "not part of this split" in r.text
    r = client.post(f"/proposals/{doe.proposal}/correct", data={"csrf": csrf, "op": "merge", "cluster": "2"})
    assert r.status_code == 400
    r = client.post(f"/proposals/{doe.proposal}/correct", data={"op": "merge", "cluster": "2", "into": "1"})
    assert r.status_code == 403  # no CSRF value
    assert clusters(web_db, doe.proposal) == [[w[0]], [w[3], w[4]], [w[5], w[1]], [w[2]]]


@pytest.mark.browser
def test_browser_corrects_a_split_accepts_it_and_undo_restores_the_proposal(page, live_server, web_db, doe):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    w = doe.works
    original = clusters(web_db, doe.proposal)
    page.goto(f"{live_server}/proposals/{doe.proposal}?token={TOKEN}")
    page.wait_for_url(f"{live_server}/proposals/{doe.proposal}")
    assert page.locator("div.cluster").count() == 3

    # move the gait paper (w2) from cluster 1 to cluster 2
    item = page.locator(f'#cluster-1 li.work[data-work="{w[2]}"]')
    item.locator("select[name=to]").select_option("2")
    item.locator("button.move-button").click()
    page.wait_for_url(re.compile(rf"/proposals/{doe.proposal}\?done=correct"))
    assert page.locator(".flash").inner_text() == f"Corrected the split of proposal {doe.proposal}."
    assert page.locator(f'#cluster-2 li.work[data-work="{w[2]}"]').count() == 1
    assert page.locator(f'#cluster-1 li.work[data-work="{w[2]}"]').count() == 0

    # merge cluster 3 (time-series + federated) into cluster 1
    page.locator("#cluster-3 form.merge-form select[name=into]").select_option("1")
    page.locator("#cluster-3 button.merge-button").click()
    page.wait_for_url(re.compile(rf"/proposals/{doe.proposal}\?done=correct"))
    assert page.locator("div.cluster").count() == 2
    assert sorted(page.locator("#cluster-1 li.work").evaluate_all("els => els.map(e => e.dataset.work)")) == sorted(
        [w[0], w[5], w[1]]
    )

    # accept the corrected split: two researchers with exactly the corrected works
    page.locator("#accept-button").click()
    page.wait_for_url(re.compile(r"done=accept"))
    store = Store.open(web_db.path)
    try:
        made = [r for r in store.researchers() if r.split_from == doe.researcher]
        assert sorted(sorted(x.work_id for x in store.researcher_works(r.id)) for r in made) == sorted(
            [sorted([w[0], w[5], w[1]]), sorted([w[3], w[4], w[2]])]
        )
        ids = [r.id for r in made]
        owned = {r.id: [x.work_id for x in store.researcher_works(r.id)] for r in made}
        assert [(a.actor, a.action) for a in store.audit_entries(limit=3)] == [
            ("human:tester", "split"),
            ("human:tester", "correct-split"),
            ("human:tester", "correct-split"),
        ]
    finally:
        store.close()
    # the researcher pages list each new researcher's works and no other work of the listing
    for rid, works in owned.items():
        page.goto(f"{live_server}/researchers/{rid}")
        for x in w:
            assert page.locator(f'[id="work-{x}"]').count() == (1 if x in works else 0)
    page.goto(f"{live_server}/researchers")
    for rid in ids:
        assert page.locator(f'a[href="/researchers/{rid}"]').count() >= 1

    # undo three times: the accept, the merge, the move; the proposal is back as the agent made it
    page.goto(f"{live_server}/proposals/{doe.proposal}")
    for _ in range(3):
        page.locator("#undo-button").click()
        page.wait_for_url(re.compile(r"done=undo"))
    assert clusters(web_db, doe.proposal) == original
    page.goto(f"{live_server}/proposals/{doe.proposal}")
    assert page.locator("div.cluster").count() == 3
    assert page.locator("#accept-button").count() == 1  # pending again
    store = Store.open(web_db.path)
    try:
        assert store.get_proposal(doe.proposal).state == "pending"
        assert not [r for r in store.researchers() if r.split_from == doe.researcher]
    finally:
        store.close()
    assert errors == []
