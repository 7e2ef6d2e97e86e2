"""A fake OpenAI-compatible server for benchmarks: answers POST /v1/chat/completions after a fixed latency with VALID
answers to the agent's three questions (AffiliationAnswer, TopicsAnswer, SummaryAnswer).

It rebuilds the context each step passes to its validators from the prompt text (the shown header between <<< >>>,
the allowed tag codes, the work ids) and reuses `agent.fake_answers.grounded_answer`, so the answers pass the same
checks as with the in-process fake. Replies in the shape of the request's instructor mode: `tools` -> a tool_calls
entry named after the schema, otherwise (JSON / JSON_SCHEMA / MD_JSON) JSON text in message.content.

Standard library only (http.server.ThreadingHTTPServer: one thread per connection, so concurrent requests sleep in
parallel). Binds 127.0.0.1 only and stops by itself after `lifetime` seconds.

    .venv/bin/python bench/fake_openai_server.py --port 8765 --latency 0.2 --lifetime 300

prints `listening on http://127.0.0.1:PORT/v1` (port 0 = any free port) and serves until the lifetime ends.
GET /v1/stats returns the request counters. Importable: `start_in_thread(latency=0.2) -> (server, base_url)`, `serve(...)`, `answer_for(request_body) -> dict`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCHEMAS = ("AffiliationAnswer", "TopicsAnswer", "SummaryAnswer")
_WORK_LINE = re.compile(r"^(.+?): (?:\d{4}|\?), ", re.MULTILINE)
_TAG_LINE = re.compile(r"^([A-Za-z][\w.\-]*): ", re.MULTILINE)


def _schema_name(body: dict[str, Any]) -> str | None:
    for tool in body.get("tools") or []:
        name = (tool.get("function") or {}).get("name")
        if name in SCHEMAS:
            return name
    fmt = body.get("response_format") or {}
    name = (fmt.get("json_schema") or {}).get("name")
    if name in SCHEMAS:
        return name
    text = json.dumps(body.get("messages", []))  # JSON mode: instructor puts the schema in a system message
    for name in SCHEMAS:
        if name in text:
            return name
    return None


def _section(text: str, start: str, end: str | None = None) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    rest = text[i + len(start) :]
    j = rest.find(end) if end else -1
    return rest[:j] if j >= 0 else rest


def rebuild_context(schema: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The validator context the step passed to the client, recovered from the step's own user prompt."""
    user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    if schema == "AffiliationAnswer":
        return {"shown_text": _section(user, "<<<\n", "\n>>>")}
    works = _WORK_LINE.findall(_section(user, "Works ("))
    if schema == "TopicsAnswer":
        tags = _TAG_LINE.findall(_section(user, "Allowed tags (code: label):", "Works ("))
        return {"allowed": tags, "work_ids": works}
    return {"sources": {w: "" for w in works}}


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object answering one request."""
    from pydantic import BaseModel

    from enrich.agent.fake_answers import grounded_answer

    schema = _schema_name(body)
    messages = body.get("messages") or []
    if schema is None:
        data: Any = {"error": "fake server: unknown schema"}
    else:
        model = type(schema, (BaseModel,), {})  # grounded_answer dispatches on the class name only
        data = grounded_answer(model, messages, rebuild_context(schema, messages))
    content = json.dumps(data)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    if body.get("tools"):
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": schema or "unknown", "arguments": content}}
            ],
        }
        finish = "tool_calls"
    prompt_chars = sum(len(m.get("content") or "") for m in messages)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": prompt_chars // 4 + len(content) // 4,
        },
    }


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, latency: float):
        super().__init__(("127.0.0.1", port), _Handler)
        self.latency = latency
        self.requests = 0
        self.request_chars = 0  # sum of message contents as sent (incl. instructor's schema text)
        self.in_flight = 0
        self.max_in_flight = 0
        self.service_s = 0.0  # sum over requests: handler start to reply written (latency + the server's own work)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the openai client reuses its pooled connections
    server: FakeServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms
        # to every keep-alive response, which would be blamed on the client.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, payload: dict[str, Any]) -> None:
        blob = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/stats"):
            srv = self.server
            self._send(
                200,
                {
                    "requests": srv.requests,
                    "request_chars": srv.request_chars,
                    "max_in_flight": srv.max_in_flight,
                    "latency": srv.latency,
                    "mean_service_s": round(srv.service_s / max(1, srv.requests), 4),
                },
            )
        elif self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "default", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        t0 = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found"}})
            return
        srv = self.server
        with srv._lock:
            srv.requests += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            body = json.loads(raw)
            with srv._lock:
                srv.request_chars += sum(len(m.get("content") or "") for m in body.get("messages") or [])
            started = time.perf_counter()
            reply = answer_for(body)
            left = srv.latency - (time.perf_counter() - started)
            if left > 0:
                time.sleep(left)
            self._send(200, reply)
        finally:
            with srv._lock:
                srv.in_flight -= 1
                srv.service_s += time.perf_counter() - t0


def _stop_after(server: FakeServer, lifetime: float) -> None:
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()


def start_in_thread(*, latency: float = 0.2, port: int = 0, lifetime: float = 600.0) -> tuple[FakeServer, str]:
    """Serve in a daemon thread of this process; call `server.shutdown()` when done (or it stops after lifetime)."""
    server = FakeServer(port, latency)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    _stop_after(server, lifetime)
    return server, server.base_url


def serve(*, latency: float, port: int, lifetime: float) -> None:
    server = FakeServer(port, latency)
    _stop_after(server, lifetime)
    print(f"listening on {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        print(f"served {server.requests} requests (max {server.max_in_flight} in flight)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    ap.add_argument("--lifetime", type=float, default=300.0, help="stop by itself after this many seconds")
    args = ap.parse_args()
    serve(latency=args.latency, port=args.port, lifetime=args.lifetime)


if __name__ == "__main__":
    main()
