"""Paging through the queue and a bulk decision from the web page, in a real browser (Debian's chromium)."""

from __future__ import annotations

import re
import threading
import time

import pytest
from web_seed import TOKEN

from enrich.agent.web.app import create_app
from enrich.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture
def small_server(web_db):
    """The review app with two rows a page, served on a free loopback port."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(web_db.path, TOKEN, who="tester", page_size=2)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def shown(page) -> list[int]:
    return [int(x) for x in page.locator("tr.queue-row").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def test_paging_through_the_queue(page, small_server, web_db):
    page.goto(f"{small_server}/?token={TOKEN}")
    everything = [web_db.affiliation_pid, web_db.topics_pid, web_db.bob_affiliation_pid, web_db.eve_pid]
    everything.append(web_db.split_pid)
    assert shown(page) == everything[:2]
    assert page.locator("#queue-total").inner_text() == "5"
    page.click("#next-page")
    page.wait_for_url(re.compile(r"after="))
    assert shown(page) == everything[2:4]
    page.click("#next-page")
    assert shown(page) == everything[4:]
    assert page.locator("#next-page").count() == 0  # the last page has no next link
    page.click("#prev-page")
    page.wait_for_url(re.compile(r"before="))
    assert shown(page) == everything[2:4]
    page.click("#prev-page")
    assert shown(page) == everything[:2] and page.locator("#prev-page").count() == 0


def test_bulk_accept_from_the_queue_page(page, small_server, web_db):
    page.goto(f"{small_server}/?token={TOKEN}")
    page.select_option("select[name=field]", "affiliation")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"field=affiliation"))
    page.click("#bulk-accept")
    page.wait_for_url(re.compile(r"/bulk\?"))
    assert "3 would be accepted" in page.locator("#bulk-count").inner_text()
    page.click("#bulk-confirm")
    page.wait_for_url(re.compile(r"done=bulk-accept"))
    assert page.locator(".flash").inner_text() == "Accepted 3 proposal(s)."
    assert page.locator("#pending-count").inner_text() == "2"
    store = Store.open(web_db.path)
    try:
        assert {store.current(r, "affiliation").status for r in (web_db.ada, web_db.bob, web_db.eve)} == {"accepted"}
    finally:
        store.close()
