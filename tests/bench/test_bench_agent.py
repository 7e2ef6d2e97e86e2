"""bench/bench_agent.py's token section runs on the arXiv seed, where a step may send nothing (the topics step
decides from printed categories alone): what it measures must still add up."""

from __future__ import annotations

import sys
from pathlib import Path

import enrich.agent.llm as agent_llm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_agent  # noqa: E402


def test_token_section_counts_steps_that_send_nothing(monkeypatch):
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)  # the fake on 127.0.0.1 only
    r = bench_agent.bench_tokens()
    steps = r["per_step"]
    assert set(steps) == {"affiliation", "topics", "summary"}
    for s in steps.values():
        assert s["wire_tokens"] >= s["tokens"]
        if s["tokens"] == 0:  # not sent: no schema goes over the wire either
            assert s["wire_tokens"] == 0
    # each figure is rounded on its own
    assert abs(r["all_three_steps_wire_tokens"] - sum(s["wire_tokens"] for s in steps.values())) <= len(steps)
    assert r["naive_wire_tokens"] > r["naive_tokens"] > r["all_three_steps_tokens"]
