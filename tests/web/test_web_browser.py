"""The review page in a real browser: Debian's chromium, headless, driven by Playwright against a live server."""

from __future__ import annotations

import re

import pytest
from web_seed import ARTIFACTS, IMG, SCRIPT, TOKEN

from enrich.store import Store

pytestmark = pytest.mark.browser


def badge(page, field: str) -> str:
    return page.locator(f'#fields span.badge[data-field="{field}"]').inner_text()


def test_keyboard_review_flow_accept_then_undo(page, live_server, web_db):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # open the queue (the token URL sets the session and drops the token from the address)
    page.goto(f"{live_server}/?token={TOKEN}")
    assert page.url == f"{live_server}/"
    rows = page.locator("tr.queue-row")
    assert rows.count() == 5
    assert "selected" in rows.nth(0).get_attribute("class")
    page.keyboard.press("j")
    assert "selected" in rows.nth(1).get_attribute("class")
    page.keyboard.press("k")
    page.keyboard.press("Enter")  # view the selected proposal
    page.wait_for_url(f"{live_server}/proposals/{web_db.affiliation_pid}")
    assert page.locator("#proposed-value").inner_text() == "University of Bergen"
    assert page.locator("blockquote.context mark").first.inner_text() == "University of Bergen"

    # j/k move between proposals
    page.keyboard.press("j")
    page.wait_for_url(f"{live_server}/proposals/{web_db.topics_pid}")
    page.keyboard.press("k")
    page.wait_for_url(f"{live_server}/proposals/{web_db.affiliation_pid}")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-detail.png"), full_page=True)

    # accept with the keyboard: the next proposal opens with a confirmation
    page.keyboard.press("a")
    page.wait_for_url(re.compile(rf"/proposals/{web_db.topics_pid}\?done=accept"))
    assert page.locator(".flash").inner_text() == f"Accepted proposal {web_db.affiliation_pid}."

    # the researcher page shows the accepted value with its badge
    page.goto(f"{live_server}/researchers/{web_db.ada}")
    assert badge(page, "affiliation") == "accepted"
    page.screenshot(path=str(ARTIFACTS / "review-researcher.png"), full_page=True)
    assert page.locator("#field-affiliation td.value").inner_text() == "University of Bergen"
    # the summary's citations link to the works listed on the same page
    cite = page.locator("#summary a.cite").first
    assert cite.get_attribute("href") == f"#work-{web_db.ada_works[0]}"
    cite.click()
    assert page.locator(f"#work-{web_db.ada_works[0]}").is_visible()

    # undo: the value reverts to empty, the proposal is pending again
    page.locator("#undo-button").click()
    page.wait_for_url(re.compile(rf"/researchers/{web_db.ada}\?done=undo"))
    assert badge(page, "affiliation") == "proposed"
    assert page.locator(".flash").inner_text() == "Undid the last review action."
    store = Store.open(web_db.path)
    try:
        assert store.current(web_db.ada, "affiliation") is None
        assert store.get_proposal(web_db.affiliation_pid).state == "pending"
        assert [(a.actor, a.action) for a in store.audit_entries(limit=2)] == [
            ("human:tester", "undo"),
            ("human:tester", "accept"),
        ]
    finally:
        store.close()
    assert errors == []


def test_listing_markup_never_runs_and_shows_literally(page, live_server, web_db):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server}/?token={TOKEN}")
    for url, where in (
        (f"/researchers/{web_db.eve}", "#works .abstract"),
        (f"/proposals/{web_db.eve_pid}", "blockquote.context"),
    ):
        page.goto(live_server + url)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        text = page.locator(where).first.inner_text()
        assert SCRIPT in text and IMG in text
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    # the proposed value itself carries markup too
    assert IMG in page.locator("#proposed-value").inner_text()
    assert dialogs == []


def test_fetch_without_csrf_is_refused_and_changes_nothing(page, live_server, web_db):
    page.goto(f"{live_server}/?token={TOKEN}")
    status = page.evaluate(
        "async (u) => (await fetch(u, {method: 'POST', credentials: 'same-origin'})).status",
        f"/proposals/{web_db.affiliation_pid}/accept",
    )
    assert status == 403
    store = Store.open(web_db.path)
    try:
        assert store.get_proposal(web_db.affiliation_pid).state == "pending"
        assert store.current(web_db.ada, "affiliation") is None
        assert not [a for a in store.audit_entries() if a.actor.startswith("human:tester")]
    finally:
        store.close()
