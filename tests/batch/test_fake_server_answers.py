"""The fake server (bench/fake_openai_server.py) answers the steps' real requests as the in-process fake model does
with the steps' real validation contexts: it rebuilds each context from the prompt text, so a prompt that changes
its layout must not leave the bulk tests and the benchmark comparing answers that all fail (as happened when the
summary and topics prompts changed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fake_openai_server import answer_for  # noqa: E402

from enrich.agent.batch.clients import RecordingClient  # noqa: E402
from enrich.agent.batch.job import build  # noqa: E402
from enrich.agent.fake_answers import grounded_answer  # noqa: E402
from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.llm.factory import make_client  # noqa: E402
from enrich.agent.loop import RunOptions  # noqa: E402
from enrich.store import Store  # noqa: E402

from .bulk_helpers import files_settings, ingest  # noqa: E402

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_each_steps_request_gets_the_in_process_fakes_answer(tmp_path, monkeypatch):
    settings = files_settings(tmp_path / "b.db")
    store = Store.open(settings.db)
    for path in sorted(SEEDS.glob("*.txt")):  # real pages: the topics step asks the model on some of them
        text = path.read_text()
        store.record_import(parse(text, path=path.name), text=text, path=path.name)
    ingest(store, 12)
    asked: list[tuple[Any, list, dict]] = []
    real = RecordingClient.extract

    def capture(self, response_model, messages, **kw):
        asked.append((response_model, messages, kw.get("context") or {}))
        return real(self, response_model, messages, **kw)

    monkeypatch.setattr(RecordingClient, "extract", capture)
    client = make_client(settings, store)
    rep = build(store, settings, client, RunOptions(), folder=tmp_path / "f", submit=False)
    lines = [json.loads(x) for f in rep.files for x in Path(f["path"]).read_text().splitlines()]
    assert len(lines) == len(asked) == rep.requests
    said = set()  # the questions the fake model answered with something (not only nulls and empty lists)
    for (model, messages, context), line in zip(asked, lines, strict=True):
        got = answer_for(line["body"])["choices"][0]["message"]
        text = got["tool_calls"][0]["function"]["arguments"] if got.get("tool_calls") else got["content"]
        want = grounded_answer(model, messages, context)
        assert json.loads(text) == want, model.__name__
        if any(want.values()):
            said.add(model.__name__)
    assert said == {"AffiliationAnswer", "TopicsAnswer", "SummaryAnswer"}
