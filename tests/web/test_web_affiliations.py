"""The web page shows a researcher's affiliations one by one (a row per slot) and reviews each proposal on its own."""

from __future__ import annotations

import re

import pytest
from web_seed import TOKEN, csrf_of

from enrich.agent.web.app import create_app
from enrich.schemas.listing import ParsedListing, StatedValue, Work
from enrich.store import Store

TEXT = "Ilse Varga\n¹ Pohjolan yliopisto\n² Hospital Clínico de Valdoria\n\nPublications (1)\n\nLight in fibres\n"
V2 = "Ilse Varga\n¹ Pohjolan yliopisto\n² Universidad Nacional de Valdoria\n\nPublications (1)\n\nLight in fibres\n"


def stated(text: str, part: str) -> StatedValue:
    at = text.index(part)
    return StatedValue(value={"name": part}, quote=part, start=at, end=at + len(part))


def listing(text: str, second: str) -> ParsedListing:
    return ParsedListing(
        format="generic",
        kind="person",
        name="Ilse Varga",
        stated={"affiliation": stated(text, "Pohjolan yliopisto"), "affiliation.2": stated(text, second)},
        works=[Work(title="Light in fibres", year=2021)],
    )


@pytest.fixture
def seeded(tmp_path):
    path = tmp_path / "aff.db"
    store = Store.open(path)
    rid = store.record_import(listing(TEXT, "Hospital Clínico de Valdoria"), text=TEXT, path="ilse.txt").researcher_id
    store.set_value(rid, "affiliation.2", {"name": "Hospital Clínico de Valdoria"}, "rita")
    store.record_import(listing(V2, "Universidad Nacional de Valdoria"), text=V2, path="ilse.txt")  # a new version
    (pid,) = [p.id for p in store.proposals("pending", researcher_id=rid)]
    store.close()
    return path, rid, pid


@pytest.fixture
def client(seeded):
    from fastapi.testclient import TestClient

    with TestClient(create_app(seeded[0], TOKEN, who="tester")) as c:
        assert c.get(f"/?token={TOKEN}").status_code == 200
        yield c


def test_the_researcher_page_has_a_row_per_affiliation(client, seeded):
    _, rid, pid = seeded
    html = client.get(f"/researchers/{rid}").text
    badges = re.findall(r'<span class="badge badge-\w+" data-field="([\w.]+)">(\w+)</span>', html)
    assert badges[:2] == [("affiliation", "imported"), ("affiliation.2", "verified")]
    assert 'id="field-affiliation.2"' in html and "Hospital Clínico de Valdoria" in html
    assert f'href="/proposals/{pid}"' in html and "affiliation.2: Universidad Nacional de Valdoria" in html


def test_an_affiliation_proposal_is_reviewed_on_its_own(client, seeded):
    path, rid, pid = seeded
    page = client.get(f"/proposals/{pid}").text
    assert "Universidad Nacional de Valdoria" in page and "Hospital Clínico de Valdoria" in page  # proposed vs now
    queue = client.get("/?field=affiliation").text
    assert f'href="/proposals/{pid}"' in queue
    r = client.post(f"/proposals/{pid}/accept", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    store = Store.open(path)
    try:
        assert store.current(rid, "affiliation.2").value == {"name": "Universidad Nacional de Valdoria"}
        assert store.current(rid, "affiliation.2").status == "accepted"
        assert store.current(rid, "affiliation").value == {"name": "Pohjolan yliopisto"}  # untouched
    finally:
        store.close()
