from __future__ import annotations

from pathlib import Path

import pytest

from enrich.agent.fake_answers import grounded_answer
from enrich.agent.llm.fake import FunctionModel
from enrich.agent.settings import load
from enrich.store import Store


@pytest.fixture
def settings(tmp_path: Path):
    return load(db=str(tmp_path / "t.db"))


@pytest.fixture
def store(settings):
    s = Store.open(settings.db)
    yield s
    s.close()


@pytest.fixture
def fake(store):
    return FunctionModel(grounded_answer, store=store)
