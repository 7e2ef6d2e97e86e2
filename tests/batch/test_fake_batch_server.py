"""bench/fake_openai_server.py's /v1/files and /v1/batches, driven by the real openai client (loopback only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fake_openai_server import start_in_thread  # noqa: E402

from enrich.agent.batch.lines import Answer, Failure, input_line, parse_output_line  # noqa: E402

TOPICS_USER = """Researcher: Jane Doe

Candidate tags (code: label, evidence):
cs.CL: Computation and Language (evidence: venue of 1 of 1 works)

Works (number: year, title):
1: 2020, Parsing Tables

Which candidate tags describe this researcher's work?"""


def _body() -> dict:
    return {
        "model": "default",
        "messages": [{"role": "user", "content": TOPICS_USER}],
        "tools": [{"type": "function", "function": {"name": "TopicsAnswer", "parameters": {}}}],
    }


@pytest.mark.parametrize("outcome", ["completed", "expired"])
def test_upload_create_poll_download(tmp_path, outcome):
    server, url = start_in_thread(latency=0.0, lifetime=30, batch_outcome=outcome)
    try:
        client = openai.OpenAI(api_key="x", base_url=url, max_retries=0)
        path = tmp_path / "in.jsonl"
        path.write_text("".join(input_line(f"c{i}", _body()) for i in range(4)))
        with path.open("rb") as fh:
            f = client.files.create(file=fh, purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        seen = [b.status]
        while b.status not in ("completed", "expired", "failed", "cancelled"):
            b = client.batches.retrieve(b.id)
            seen.append(b.status)
        assert seen[:3] == ["validating", "in_progress", "finalizing"] and seen[-1] == outcome
        out = [parse_output_line(x) for x in client.files.content(b.output_file_id).text.splitlines()]
        assert all(isinstance(a, Answer) for a in out)
        if outcome == "completed":
            assert [a.custom_id for a in out] == ["c0", "c1", "c2", "c3"] and b.error_file_id is None
            args = out[0].completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            assert json.loads(args)["topics"][0]["tag"] == "cs.CL"
        else:
            errs = [parse_output_line(x) for x in client.files.content(b.error_file_id).text.splitlines()]
            assert [a.custom_id for a in out] == ["c0", "c1"]
            assert all(isinstance(e, Failure) and e.code == "batch_expired" for e in errs)
            assert b.request_counts.completed == 2 and b.request_counts.failed == 2
    finally:
        server.shutdown()
        server.server_close()


def test_invalid_every_spoils_only_first_turns():
    from fake_openai_server import answer_for

    body = _body()
    first = answer_for(body, invalid_every=1)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(first)["topics"][0]["tag"] == "zz.NOPE"
    reask = "Recall the function correctly, fix the errors:\nzz.NOPE is not a candidate"  # as the client re-asks
    body["messages"] += [{"role": "assistant", "content": first}, {"role": "user", "content": reask}]
    again = answer_for(body, invalid_every=1)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(again)["topics"][0]["tag"] == "cs.CL"
