"""The web queue and researcher list a page at a time (keyset cursors in the links), and a bulk decision on the
queue's filters: the count first, then a confirmation that is refused when the queue changed meanwhile."""

from __future__ import annotations

import re

import pytest
from web_seed import TOKEN, csrf_of

from enrich.agent.web.app import create_app
from enrich.store import Store


@pytest.fixture
def small_pages(web_db):
    from fastapi.testclient import TestClient

    with TestClient(create_app(web_db.path, TOKEN, who="tester", page_size=2)) as c:
        assert c.get(f"/?token={TOKEN}").status_code == 200
        yield c


def ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-id="(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    m = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def test_queue_pages_forward_and_back(small_pages, web_db):
    everything = [web_db.affiliation_pid, web_db.topics_pid, web_db.bob_affiliation_pid, web_db.eve_pid]
    everything.append(web_db.split_pid)
    first = small_pages.get("/").text
    assert ids(first) == everything[:2] and link(first, "prev") is None
    assert '<small id="queue-total">5</small>' in first
    second = small_pages.get(link(first, "next")).text
    assert ids(second) == everything[2:4]
    third = small_pages.get(link(second, "next")).text
    assert ids(third) == everything[4:] and link(third, "next") is None
    back = small_pages.get(link(third, "prev")).text
    assert ids(back) == everything[2:4]
    assert ids(small_pages.get(link(back, "prev")).text) == everything[:2]


def test_page_links_keep_the_filters(small_pages, web_db):
    first = small_pages.get("/?sort=confidence").text
    assert "sort=confidence" in link(first, "next")
    assert "does not belong" in small_pages.get("/?sort=confidence&after=12").text


def test_researchers_page_in_pages(small_pages, web_db):
    first = small_pages.get("/researchers").text
    assert '<small id="researchers-total">4</small>' in first
    rows = re.findall(r'data-href="/researchers/(\d+)"', first)
    assert rows == [str(web_db.ada), str(web_db.bob)]
    second = small_pages.get(link(first, "next")).text
    assert re.findall(r'data-href="/researchers/(\d+)"', second) == [str(web_db.eve), str(web_db.carol)]
    assert link(second, "next") is None


def test_proposal_page_neighbours(client, web_db):
    html = client.get(f"/proposals/{web_db.topics_pid}").text
    assert f'href="/proposals/{web_db.affiliation_pid}"' in html and "2 of 5 pending" in html


def test_bulk_accept_counts_then_confirms(client, web_db):
    page = client.get("/bulk?field=affiliation&action=accept").text
    # three affiliation proposals match; none is over a verified or accepted value
    assert "<strong>3</strong> would be accepted" in page
    form = {"csrf": csrf_of(page), "action": "accept", "expected": "3", "field": "affiliation"}
    done = client.post("/bulk", data=form, follow_redirects=False)
    assert done.status_code == 303 and "done=bulk-accept" in done.headers["location"]
    assert "Accepted 3 proposal(s)." in client.get(done.headers["location"]).text
    store = Store.open(web_db.path)
    try:
        assert [p.field for p in store.proposals("pending")] == ["topics", None]
        assert store.current(web_db.bob, "affiliation").status == "accepted"
    finally:
        store.close()


def test_bulk_skips_structural_and_refuses_a_stale_count(client, web_db, db_state):
    page = client.get("/bulk?action=reject").text
    assert "<strong>4</strong> would be rejected" in page and "1 split / merge proposal(s) skipped" in page
    before = db_state()
    stale = client.post("/bulk", data={"csrf": csrf_of(page), "action": "reject", "expected": "9"})
    assert stale.status_code == 409 and "the queue changed" in stale.text
    assert db_state() == before
    assert client.post("/bulk", data={"csrf": "0" * 64, "action": "reject", "expected": "4"}).status_code == 403
    assert db_state() == before
