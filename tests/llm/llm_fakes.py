"""Helpers for the fake OpenAI-compatible server used by tests/llm (see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

BASE_URL = "http://fake-llm.test/v1"


def completion(
    content: str | None = None,
    *,
    tool_args: str | None = None,
    tool_name: str = "Ping",
    finish: str = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
) -> dict[str, Any]:
    """A chat.completion body as an OpenAI-compatible server sends it."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_args is not None:
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": tool_name, "arguments": tool_args}}
        ]
        finish = "tool_calls" if finish == "stop" else finish
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def ok(content: dict | str, **kw: Any) -> httpx.Response:
    return httpx.Response(200, json=completion(content if isinstance(content, str) else json.dumps(content), **kw))
