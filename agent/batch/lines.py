"""The Batch API's JSONL line formats, read and written in one place.

Input line (one request; OpenAI Batch API, also read by `vllm run-batch`):
    {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...chat completion request...}}

Output / error file line (OpenAI's BatchRequestOutput; vLLM writes the same model):
    {"id": "batch_req_...", "custom_id": "...", "response": {"status_code": 200, "request_id": "...",
     "body": {...chat.completion...}}, "error": null}
A failed request is a line whose `response.status_code` is not 200 (OpenAI: `body` = {"error": {...}}; vLLM:
`body` null) and/or whose `error` is set: an object {"code", "message"} (OpenAI, e.g. `batch_expired`,
`batch_cancelled`), a string (vLLM: an exception's message) or vLLM's ErrorResponse ({"error": {"message", "type",
"code"}}, older vLLM: {"object": "error", "message", ...}). OpenAI puts failed requests in a separate error file;
`vllm run-batch` writes them into its one output file.

`parse_output_line` turns any such line into an `Answer` (a completion to check) or a `Failure` (why there is none),
and reports a line it cannot read as `Malformed` -- never an exception: one bad line must not lose the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from enrich.agent.llm.instructor_api import compact_json

ENDPOINT = "/v1/chat/completions"
# OpenAI's limits per input file (Batch API reference: "up to 50,000 requests, and can be up to 200 MB in size").
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
# Batch states: in flight, and final (OpenAI's Batch object `status`).
ACTIVE_STATES = ("validating", "in_progress", "finalizing", "cancelling")
FINAL_STATES = ("completed", "failed", "expired", "cancelled")


def input_line(custom_id: str, body: dict[str, Any] | str) -> str:
    """One request as a JSONL line (with its newline). `body`: the request body, or its text as `compact_json` (or
    instructor_api.request_text) writes it -- a bulk build encodes each body once."""
    text = body if isinstance(body, str) else compact_json(body)
    return f'{{"custom_id":{json.dumps(custom_id, ensure_ascii=False)},"method":"POST","url":"{ENDPOINT}","body":{text}}}\n'


@dataclass
class Answer:
    """A request the runner answered with HTTP 200 and a chat.completion body."""

    custom_id: str
    completion: dict[str, Any]
    request_id: str | None
    line_id: str | None
    raw: str


@dataclass
class Failure:
    """A request the runner could not answer (error line, expired, cancelled, HTTP error)."""

    custom_id: str
    code: str  # e.g. batch_expired, batch_cancelled, http_400, error
    message: str
    raw: str

    @property
    def retryable(self) -> bool:
        """Not the request's fault: expired or cancelled before it ran, or a server-side error."""
        return self.code in ("batch_expired", "batch_cancelled") or self.code.startswith("http_5")


@dataclass
class Malformed:
    line_no: int
    reason: str
    raw: str


def _error_text(error: Any) -> tuple[str, str]:
    """(code, message) of the `error` member or of an error response body, in any of the shapes above."""
    if isinstance(error, str):
        return "error", error
    if isinstance(error, dict):
        nested = error.get("error")
        inner = nested if isinstance(nested, dict) else error
        code = str(inner.get("code") or inner.get("type") or "error")
        code = f"http_{code}" if code.isdigit() else code  # vLLM's ErrorResponse carries the HTTP status
        return code, str(inner.get("message") or json.dumps(inner)[:300])
    return "error", json.dumps(error)[:300]


def parse_output_line(line: str, line_no: int = 0) -> Answer | Failure | Malformed | None:
    """One line of an output or error file (None for a blank line)."""
    text = line.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Malformed(line_no, f"not JSON: {exc}", text[:200])
    if not isinstance(data, dict):
        return Malformed(line_no, "not a JSON object", text[:200])
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return Malformed(line_no, "no custom_id", text[:200])
    response = data.get("response")
    error = data.get("error")
    if response is not None and not isinstance(response, dict):
        return Malformed(line_no, "response is not an object", text[:200])
    status = (response or {}).get("status_code")
    body = (response or {}).get("body")
    if error is None and status == 200 and isinstance(body, dict):
        if not isinstance(body.get("choices"), list) or not body["choices"]:
            return Malformed(line_no, "response body has no choices", text[:200])
        return Answer(custom_id, body, (response or {}).get("request_id"), data.get("id"), text)
    if error is not None:
        code, message = _error_text(error)
        if status and status != 200 and code == "error":
            code = f"http_{status}"
        return Failure(custom_id, code, message, text)
    if status is not None and status != 200:
        code, message = _error_text(body) if isinstance(body, dict) else ("error", "")
        return Failure(custom_id, f"http_{status}", message or f"HTTP {status}", text)
    return Malformed(line_no, "neither a response with status 200 and a body nor an error", text[:200])
