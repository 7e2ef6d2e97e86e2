"""Fixtures for the model layer: an in-memory DB, and a fake OpenAI-compatible server (respx on the openai
client's httpx transport; every unmatched request fails, so nothing can reach the internet)."""

from __future__ import annotations

import pytest
import respx
import sqlite_utils
from llm_fakes import BASE_URL

import enrich.agent.llm as agent_llm
from enrich.store import migrations


@pytest.fixture(autouse=True)
def _block_real_models(request, monkeypatch):
    """Real model calls are blocked unless the test is marked `real_model` (tests/conftest.py does the same
    suite-wide; repeated here so tests/llm is safe on its own)."""
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", request.node.get_closest_marker("real_model") is not None)


@pytest.fixture
def db() -> sqlite_utils.Database:
    database = sqlite_utils.Database(memory=True)
    migrations.apply(database)
    return database


@pytest.fixture
def fake_server(monkeypatch):
    """A respx router standing in for an OpenAI-compatible server at BASE_URL; `.chat` is the completions route.
    Real calls are allowed inside it because respx intercepts every request."""
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as router:
        router.chat = router.post("/chat/completions")
        yield router
