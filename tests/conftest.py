"""Suite-wide guards: no test reaches a real model unless it is marked `real_model`, and none reads the
user's config or environment settings by accident."""

from __future__ import annotations

import pytest

import enrich.agent.llm as agent_llm

_SETTINGS_ENV = (
    "ENRICH_DB",
    "ENRICH_BACKEND",
    "ENRICH_MODEL",
    "ENRICH_BASE_URL",
    "OPENAI_API_KEY",
    "ENRICH_CONFIG",
    "ENRICH_CONCURRENCY",
)


@pytest.fixture(autouse=True)
def _block_real_models(request, monkeypatch):
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", request.node.get_closest_marker("real_model") is not None)


@pytest.fixture(autouse=True)
def _clean_settings_env(monkeypatch, tmp_path):
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./enrich.toml or ./enrich.db of the developer's is picked up
