"""`enrich models` and `enrich llm-log`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.agent.cli.common import AppContext
from enrich.store import llm_log


def run(args, monkeypatch, tmp_path, **env):
    monkeypatch.setenv("ENRICH_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("ENRICH_CONFIG", str(tmp_path / "none.toml"))
    for name in ("OPENAI_API_KEY", "ENRICH_BASE_URL", "ENRICH_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return CliRunner().invoke(cli, args)


def test_models_says_which_backend_auto_picks_and_why(monkeypatch, tmp_path):
    res = run(["models", "--json"], monkeypatch, tmp_path, ENRICH_BASE_URL="http://127.0.0.1:11434/v1")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    selected = [b for b in data["backends"] if b["selected"]]
    assert [(b["backend"], b["why"]) for b in selected] == [("openai-compatible", "auto: ENRICH_BASE_URL is set")]
    emb = data["embedded"]
    assert emb["name"] == "qwen2.5-coder-1.5b" and emb["assembled"] is False
    assert emb["path"].startswith(str(tmp_path / "models"))


def test_models_table_names_the_key_without_showing_it(monkeypatch, tmp_path):
    res = run(["models"], monkeypatch, tmp_path, OPENAI_API_KEY="sk-SECRET-abcdefghijkl")
    assert res.exit_code == 0 and "OPENAI_API_KEY set" in res.output and "SECRET" not in res.output
    assert "auto: OPENAI_API_KEY is set" in res.output


def test_llm_log_shows_attempts_newest_first(monkeypatch, tmp_path, db):
    llm_log.insert_call(
        db,
        call_group="g",
        attempt=1,
        backend="openai",
        model="m",
        error="HTTP 429: slow",
        prompt_name="ping",
        prompt_version="1",
    )
    llm_log.insert_call(
        db,
        call_group="g",
        attempt=2,
        backend="openai",
        model="m",
        parsed={"x": 1},
        tokens_in=5,
        tokens_out=2,
        retries=1,
    )
    monkeypatch.setattr(AppContext, "store", property(lambda self: db))
    res = run(["llm-log", "--json", "--limit", "5"], monkeypatch, tmp_path)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["attempt"] for r in rows] == [2, 1]
    assert rows[0]["result"] == "ok" and rows[0]["parsed"] == {"x": 1} and "messages" not in rows[0]
    assert rows[1]["result"] == "ERROR HTTP 429: slow" and rows[1]["prompt"] == "ping@1"
    table = run(["llm-log"], monkeypatch, tmp_path)
    assert table.exit_code == 0 and "429" in table.output and "openai/m" in table.output
