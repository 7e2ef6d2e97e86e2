"""A bulk request line carries the very body the online client sends for the same question: the same JSON object
(keys in the same order, every value equal) as the chat-completion request the openai SDK puts on the wire, for
every step's question, in each instructor mode a backend uses. The online side is captured at the HTTP transport
(respx), so whatever the online path does to the body on its way out is compared too."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
import respx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fake_openai_server import answer_for  # noqa: E402

import enrich.agent.llm as agent_llm  # noqa: E402
from enrich.agent.batch.job import build  # noqa: E402
from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.llm.factory import make_client  # noqa: E402
from enrich.agent.loop import JobRunner, RunOptions  # noqa: E402
from enrich.agent.settings import load  # noqa: E402
from enrich.store import Store  # noqa: E402

from .bulk_helpers import ingest  # noqa: E402

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
URL = "http://127.0.0.1:9/v1"


def _store(path: Path) -> Store:
    store = Store.open(path)
    for seed in sorted(SEEDS.glob("*.txt")):  # real pages: the topics step asks the model on some of them
        text = seed.read_text()
        store.record_import(parse(text, path=seed.name), text=text, path=seed.name)
    ingest(store, 9)
    return store


def _question(body: dict) -> str:
    """The question a body asks: its last user message (a prompt's worked example may come before it)."""
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def _first_turn(body: dict) -> bool:
    """Not a re-ask: the body ends with its question (a re-ask ends with the error, as a tool or user message)."""
    last = body["messages"][-1]
    return last["role"] == "user" and not last["content"].startswith(("Recall the function", "Correct your JSON"))


@pytest.mark.parametrize("mode", ["tools", "json"])
def test_bulk_lines_carry_the_body_the_online_client_sends(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)  # respx answers every request; nothing leaves
    settings = load(db=str(tmp_path / "on.db"), backend="openai-compatible", base_url=URL, model="m", mode=mode)
    sent: list[bytes] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json=answer_for(json.loads(request.content)))

    online = _store(tmp_path / "on.db")
    with respx.mock(base_url=URL, assert_all_mocked=True) as router:
        router.post("/chat/completions").mock(side_effect=reply)
        client = make_client(settings, online)
        job = JobRunner(online, client, settings).start(RunOptions())
        client.close()
    assert job.state == "done" and sent

    bulk_settings = settings.with_overrides(db=str(tmp_path / "bulk.db"))
    bulk = _store(tmp_path / "bulk.db")
    client = make_client(bulk_settings, bulk)
    rep = build(bulk, bulk_settings, client, RunOptions(), folder=tmp_path / "files", submit=False)
    lines = [json.loads(x) for f in rep.files for x in Path(f["path"]).read_text().splitlines()]

    first_turns = [b for b in (json.loads(x) for x in sent) if _first_turn(b)]
    wire = {_question(b): b for b in first_turns}  # (a re-ask repeats its question with the answer and the error)
    assert len(wire) == len(first_turns) == len(lines) == rep.requests
    steps = set()
    for line in lines:
        body = line["body"]
        on_wire = wire[_question(body)]
        assert body == on_wire and list(body) == list(on_wire)
        steps.add(line["custom_id"].split(".")[-2])
    assert steps == {"affiliation", "topics", "summary"}
    assert ("tools" in lines[0]["body"]) == (mode == "tools")
