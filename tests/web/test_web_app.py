"""The review web app through FastAPI's TestClient: pages, actions, and the security rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from web_seed import TOKEN, csrf_of

from enrich.agent.web.app import CSP
from enrich.store import Store

TEMPLATES = Path(__file__).resolve().parents[2] / "agent" / "web" / "templates"


def current(web_db, rid: int, field: str):
    store = Store.open(web_db.path)
    try:
        return store.current(rid, field)
    finally:
        store.close()


def state_of(web_db, pid: int) -> str:
    store = Store.open(web_db.path)
    try:
        return store.get_proposal(pid).state
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- access


def test_every_page_needs_the_token(app):
    with TestClient(app) as anon:
        for url in ("/", "/proposals/1", "/researchers/1", "/audit", "/researchers"):
            r = anon.get(url)
            assert r.status_code == 403 and "Open the URL that" in r.text
        assert anon.get("/?token=wrong-token").status_code == 403
        assert anon.get("/static/app.css").status_code == 200  # static files carry no data


def test_token_url_sets_strict_httponly_cookie_and_drops_the_token(app):
    with TestClient(app) as c:
        r = c.get(f"/?token={TOKEN}&field=topics", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?field=topics"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/").status_code == 200


def test_security_headers(client):
    for url in ("/", "/proposals/1", "/static/keys.js"):
        r = client.get(url)
        assert r.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_state_changes_without_token_or_csrf_are_refused_and_change_nothing(app, client, web_db, db_state):
    before = db_state()
    pid = web_db.affiliation_pid
    with TestClient(app) as anon:  # no session cookie at all
        assert anon.post(f"/proposals/{pid}/accept", data={"csrf": "0" * 64}).status_code == 403
        assert anon.post("/undo", data={}).status_code == 403
    # a session but no / a wrong CSRF value (what a cross-site form post would look like)
    assert client.post(f"/proposals/{pid}/accept", data={}).status_code == 403
    assert client.post(f"/proposals/{pid}/reject", data={"csrf": "f" * 64}).status_code == 403
    assert client.post(f"/proposals/{pid}/edit", data={"csrf": "bad", "value": "X Y"}).status_code == 403
    # the right CSRF value from another origin
    csrf = csrf_of(client.get("/").text)
    r = client.post(f"/proposals/{pid}/accept", data={"csrf": csrf}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post(f"/proposals/{pid}/accept", data={"csrf": csrf}, headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    # state changes are POST only
    assert client.get(f"/proposals/{pid}/accept").status_code == 405
    assert db_state() == before


# ---------------------------------------------------------------------------------------------- pages


def test_queue_lists_pending_and_filters(client, web_db):
    html = client.get("/").text
    ids = [int(x) for x in re.findall(r'data-id="(\d+)"', html)]
    assert ids == [
        web_db.affiliation_pid,
        web_db.topics_pid,
        web_db.bob_affiliation_pid,
        web_db.eve_pid,
        web_db.split_pid,
    ]
    topics = client.get("/?field=topics").text
    assert [int(x) for x in re.findall(r'data-id="(\d+)"', topics)] == [web_db.topics_pid]
    by_conf = client.get("/?sort=confidence&min_confidence=0.9").text
    assert [int(x) for x in re.findall(r'data-id="(\d+)"', by_conf)] == [web_db.topics_pid, web_db.affiliation_pid]
    assert "unknown field" in client.get("/?field=nope").text
    assert "must be a number" in client.get("/?min_confidence=abc").text


def test_proposal_page_shows_diff_why_and_highlighted_evidence(client, web_db):
    html = client.get(f"/proposals/{web_db.affiliation_pid}").text
    assert '<p class="value new" id="proposed-value">University of Bergen</p>' in html
    assert "(no value)" in html and "badge-empty" in html
    assert "Department of Computing, <mark>University of Bergen</mark>, Norway" in html
    for fact in ("llm:fake/fake-model", "fake-model", "affiliation@v1", "0.92", "J1", "quote checked"):
        assert fact in html
    assert 'id="accept-form"' in html and 'id="reject-form"' in html and 'id="edit-form"' in html
    assert f'id="next-proposal" href="/proposals/{web_db.topics_pid}"' in html


def test_split_proposal_renders_through_the_same_view(client, web_db):
    html = client.get(f"/proposals/{web_db.split_pid}").text
    assert "Cluster 1" in html and "Cluster 2" in html
    assert "Neural parsing of scientific tables" in html and "Scientometrics" in html
    assert "Split Ada Lovelace into 2 researchers" in html and 'id="edit-form"' not in html


def test_researcher_page_badges_summary_citations_and_pending(client, web_db):
    carol = client.get(f"/researchers/{web_db.carol}").text
    badges = dict(re.findall(r'<span class="badge badge-\w+" data-field="(\w+)">(\w+)</span>', carol))
    assert badges == {"affiliation": "verified", "topics": "imported", "summary": "generated"}
    ada = client.get(f"/researchers/{web_db.ada}").text
    badges = dict(re.findall(r'<span class="badge badge-\w+" data-field="(\w+)">(\w+)</span>', ada))
    assert badges == {"affiliation": "proposed", "topics": "proposed", "summary": "generated"}
    w0, w1 = web_db.ada_works
    assert (
        f'<span class="sentence">Ada parses tables.<a class="cite" href="#work-{w0}" title="{w0}">[1]</a></span>' in ada
    )
    assert f'href="#work-{w1}" title="{w1}">[2]</a><a class="cite" href="#work-{w0}"' in ada
    assert f'<li id="work-{w0}">' in ada and f'<li id="work-{w1}">' in ada
    assert f'href="/proposals/{web_db.affiliation_pid}"' in ada and f'href="/proposals/{web_db.split_pid}"' in ada


def test_accept_reject_edit_undo_over_post(client, web_db):
    csrf = csrf_of(client.get("/").text)
    r = client.post(f"/proposals/{web_db.affiliation_pid}/accept", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/proposals/{web_db.topics_pid}?done=accept&pid=1"
    assert "Accepted proposal 1." in client.get(r.headers["location"]).text
    aff = current(web_db, web_db.ada, "affiliation")
    assert (aff.status, aff.origin) == ("accepted", "llm:fake/fake-model")
    client.post(f"/proposals/{web_db.bob_affiliation_pid}/reject", data={"csrf": csrf})
    assert state_of(web_db, web_db.bob_affiliation_pid) == "rejected"
    client.post(f"/proposals/{web_db.topics_pid}/edit", data={"csrf": csrf, "value": "cs.CL, cs.DL"})
    topics = current(web_db, web_db.ada, "topics")
    assert ([t["tag"] for t in topics.value], topics.origin) == (["cs.CL", "cs.DL"], "human:tester")
    bad = client.post(f"/proposals/{web_db.eve_pid}/edit", data={"csrf": csrf, "value": "X"})
    assert bad.status_code == 400 and "invalid" in bad.text
    r = client.post("/undo", data={"csrf": csrf, "next": f"/researchers/{web_db.ada}"}, follow_redirects=False)
    assert r.headers["location"] == f"/researchers/{web_db.ada}?done=undo"
    assert current(web_db, web_db.ada, "topics") is None and state_of(web_db, web_db.topics_pid) == "pending"
    r = client.post("/undo", data={"csrf": csrf, "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/?done=undo"  # only local redirects
    audit = client.get("/audit").text
    assert audit.count("human:tester") == 5 and "action-undo" in audit and "action-edit" in audit


def test_listing_markup_is_escaped_everywhere(client, web_db):
    for url in (f"/researchers/{web_db.eve}", f"/proposals/{web_db.eve_pid}", "/", "/audit"):
        html = client.get(url).text
        assert "<script>window" not in html and "<img src=x" not in html
    researcher = client.get(f"/researchers/{web_db.eve}").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in researcher
    assert "&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in researcher
    proposal = client.get(f"/proposals/{web_db.eve_pid}").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt; and &lt;img" in proposal
    assert "<mark>verbatim</mark>" in proposal


def test_templates_never_mark_data_safe():
    for tpl in TEMPLATES.glob("*.html"):
        text = tpl.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, tpl.name
        assert "<script>" not in text and " on" + "click=" not in text, tpl.name  # no inline script (CSP)


# ---------------------------------------------------------------------------------------------- enrich serve


def test_serve_refuses_non_loopback_without_flag(web_db):
    from enrich.agent.cli import cli

    r = CliRunner().invoke(cli, ["--db", str(web_db.path), "serve", "--host", "0.0.0.0"])
    assert r.exit_code == 1 and "add --allow-remote" in r.output
    r = CliRunner().invoke(cli, ["--db", str(web_db.path), "serve", "--token", "short"])
    assert r.exit_code == 1 and "at least 12 characters" in r.output


@pytest.mark.parametrize(
    "host,allow,expected_url",
    [
        ("127.0.0.1", False, "http://127.0.0.1:9999/?token=" + TOKEN),
        ("::1", False, "http://[::1]:9999/?token=" + TOKEN),
        ("0.0.0.0", True, "http://0.0.0.0:9999/?token=" + TOKEN),
    ],
)
def test_serve_prints_the_token_url_and_runs_the_app(web_db, monkeypatch, host, allow, expected_url):
    import uvicorn

    from enrich.agent.cli import cli

    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    args = ["--db", str(web_db.path), "serve", "--host", host, "--port", "9999", "--token", TOKEN]
    r = CliRunner().invoke(cli, args + (["--allow-remote"] if allow else []))
    assert r.exit_code == 0, r.output
    assert expected_url in r.output
    assert (ran["host"], ran["port"]) == (host, 9999)
    with TestClient(ran["app"]) as c:
        assert c.get("/").status_code == 403
        assert c.get(f"/?token={TOKEN}").status_code == 200


def test_serve_makes_a_random_token_when_none_is_given(web_db, monkeypatch):
    import uvicorn

    from enrich.agent.cli import cli

    monkeypatch.delenv("ENRICH_SERVE_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    outs = [CliRunner().invoke(cli, ["--db", str(web_db.path), "serve"]).output for _ in range(2)]
    tokens = [re.search(r"\?token=(\S+)", o).group(1) for o in outs]
    assert tokens[0] != tokens[1] and all(len(t) >= 24 for t in tokens)
