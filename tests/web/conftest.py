"""Fixtures for the review web app: a seeded database, a logged-in TestClient, a live uvicorn server in a thread and
Debian's chromium driven by Playwright (skipped, with the reason, when /usr/bin/chromium is absent)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_sql import rows as sql_rows
from web_seed import TOKEN, WebSeed, web_seed

from enrich.agent.web.app import create_app
from enrich.store import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def web_db(tmp_path: Path) -> WebSeed:
    return web_seed(tmp_path / "web.db")


@pytest.fixture
def db_state(web_db: WebSeed):
    """A snapshot of everything a review action could change (to prove a refused request changed nothing)."""

    def snapshot() -> dict:
        store = Store.open(web_db.path)
        try:
            return {
                t: sql_rows(store, f"SELECT * FROM {t} ORDER BY rowid")
                for t in ("proposals", "current_values", "field_values", "audit_log")
            }
        finally:
            store.close()

    return snapshot


@pytest.fixture
def app(web_db: WebSeed):
    return create_app(web_db.path, TOKEN, who="tester")


@pytest.fixture
def client(app):
    """A TestClient that opened the token URL (so it holds the session cookie)."""
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        assert c.get(f"/?token={TOKEN}").status_code == 200
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
