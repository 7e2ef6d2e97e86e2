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

`--invalid-every N` answers the first turn of every N-th question (chosen by a hash of its user message, so the
online and the batch path get the same ones) with an answer that fails the step's validation; the re-ask (the
conversation then carries the error) gets a valid one.

It also serves the Batch API's file and batch endpoints, as OpenAI documents them: POST /v1/files (multipart,
purpose=batch), GET /v1/files/{id}, GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id},
POST /v1/batches/{id}/cancel. A batch answers every input line with `answer_for` (the same answers as the chat
endpoint) and moves validating -> in_progress -> finalizing -> completed, one step per GET, writing an output file
(`batch_req_...` lines) and, for lines it cannot answer, an error file. `--batch-outcome expired` (or `cancelled`)
answers only the first half of each batch and reports the rest in the error file with `batch_expired`
(`batch_cancelled`) -- OpenAI's partial results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCHEMAS = ("AffiliationAnswer", "TopicsAnswer", "SummaryAnswer")
_WORK_LINE = re.compile(r"^(.+?): (?:\d{4}|\?), ", re.MULTILINE)
_TAG_LINE = re.compile(r"^([A-Za-z][\w.\-]*): ", re.MULTILINE)
_SUMMARY_WORK = re.compile(r"^(\d+)\. (.*)(?:\n   (.*))?$", re.MULTILINE)  # "n. title", "   abstract's sentence"


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
    if schema == "TopicsAnswer":  # the candidate tags, and the works numbered 1..n
        tags = _TAG_LINE.findall(_section(_section(user, "Candidate tags ("), ":\n", "\nWorks ("))
        return {"allowed": tags, "work_ids": [int(w) for w in works if w.isdigit()]}
    # the summary step's context: number -> (title, the abstract's sentence as shown), and the researcher's name,
    # from the last question (the prompt's first one is its worked example)
    user = next((m.get("content") or "" for m in reversed(messages) if "Researcher: " in (m.get("content") or "")), "")
    shown = {
        n: ("" if title == "(untitled)" else title, abstract or "")
        for n, title, abstract in _SUMMARY_WORK.findall(_section(user, "Works:\n", "\n\n"))
    }
    name = _section(user, "Researcher: ", "\n").strip()
    return {"works": shown, "name": name}


INVALID = {  # answers each step's validators refuse (an unknown tag, a quote not in the text, a missing work)
    "AffiliationAnswer": {
        "affiliation": "Imaginary Institute of Technology",
        "quote": "Imaginary Institute of Technology",
    },
    "TopicsAnswer": {"topics": [{"tag": "zz.NOPE", "works": [1]}]},
    "SummaryAnswer": {"sentences": [{"text": "One sentence.", "works": [999]}, {"text": "Two.", "works": [998]}]},
}


_REASK = ("Recall the function correctly", "Correct your JSON", "Validation Error found")


def wants_invalid(messages: list[dict[str, Any]], every: int) -> bool:
    """The first turn (no answer to fix in the conversation yet: it ends with the question, not with a re-ask; a
    prompt's worked example may come before it) of every `every`-th question, by a hash of that last user message:
    deterministic, so the online and the batch path are asked to fix the same questions."""
    last = messages[-1] if messages else {}
    text = last.get("content") or ""
    if every <= 0 or last.get("role") != "user" or any(mark in text for mark in _REASK):
        return False
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % every == 0


def answer_for(body: dict[str, Any], *, invalid_every: int = 0) -> dict[str, Any]:
    """A chat.completion object answering one request."""
    from pydantic import BaseModel

    from enrich.agent.fake_answers import grounded_answer

    schema = _schema_name(body)
    messages = body.get("messages") or []
    if schema is None:
        data: Any = {"error": "fake server: unknown schema"}
    elif wants_invalid(messages, invalid_every):
        data = INVALID[schema]
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

    def __init__(self, port: int, latency: float, *, invalid_every: int = 0, batch_outcome: str = "completed"):
        super().__init__(("127.0.0.1", port), _Handler)
        self.latency = latency
        self.invalid_every = invalid_every
        self.batches = FakeBatches(self, batch_outcome)
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

    def _send_bytes(self, code: int, blob: bytes, ctype: str = "application/octet-stream") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def do_GET(self) -> None:
        handled = self.server.batches.get(self.path)
        if handled is not None:
            code, payload = handled
            if isinstance(payload, bytes):
                self._send_bytes(code, payload)
            else:
                self._send(code, payload)
            return
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
        handled = self.server.batches.post(self.path, self.headers.get("Content-Type") or "", raw)
        if handled is not None:
            self._send(*handled)
            return
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
            reply = answer_for(body, invalid_every=srv.invalid_every)
            left = srv.latency - (time.perf_counter() - started)
            if left > 0:
                time.sleep(left)
            self._send(200, reply)
        finally:
            with srv._lock:
                srv.in_flight -= 1
                srv.service_s += time.perf_counter() - t0


class FakeBatches:
    """/v1/files and /v1/batches, in memory. Thread-safe (the HTTP server runs one thread per connection)."""

    STEPS = ("validating", "in_progress", "finalizing", "completed")

    def __init__(self, server: FakeServer, outcome: str = "completed") -> None:
        self.server, self.outcome = server, outcome
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- routing: (status, payload) or None when the path is not ours
    def get(self, path: str) -> tuple[int, Any] | None:
        parts = path.split("?")[0].strip("/").split("/")  # ["v1", "files", id, "content"]
        if len(parts) < 2 or parts[1] not in ("files", "batches"):
            return None
        with self._lock:
            if parts[1] == "files" and len(parts) == 4 and parts[3] == "content":
                f = self.files.get(parts[2])
                return (200, f["data"]) if f else (404, _not_found("file", parts[2]))
            if parts[1] == "files" and len(parts) == 3:
                f = self.files.get(parts[2])
                return (200, _file_object(f)) if f else (404, _not_found("file", parts[2]))
            if parts[1] == "batches" and len(parts) == 3:
                b = self.batches.get(parts[2])
                if b is None:
                    return 404, _not_found("batch", parts[2])
                self._advance(b)
                return 200, dict(b)
        return 404, _not_found("path", path)

    def post(self, path: str, content_type: str, raw: bytes) -> tuple[int, Any] | None:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) < 2 or parts[1] not in ("files", "batches"):
            return None
        with self._lock:
            if parts[1] == "files" and len(parts) == 2:
                return self._upload(content_type, raw)
            if parts[1] == "batches" and len(parts) == 2:
                return self._create(json.loads(raw or b"{}"))
            if parts[1] == "batches" and len(parts) == 4 and parts[3] == "cancel":
                b = self.batches.get(parts[2])
                if b is None:
                    return 404, _not_found("batch", parts[2])
                if b["status"] not in ("completed", "failed", "expired", "cancelled"):
                    b["status"], b["cancelling_at"] = "cancelling", int(time.time())
                return 200, dict(b)
        return 404, _not_found("path", path)

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, Any]:
        from email.parser import BytesParser
        from email.policy import HTTP

        msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or (fields.get("purpose") or (None, b""))[1] != b"batch":
            return 400, {"error": {"message": "expected multipart fields file and purpose=batch", "type": "invalid"}}
        fid = "file-" + uuid.uuid4().hex[:24]
        filename, data = fields["file"]
        self.files[fid] = {"id": fid, "data": data, "filename": filename or "upload.jsonl", "purpose": "batch"}
        return 200, _file_object(self.files[fid])

    def _create(self, req: dict[str, Any]) -> tuple[int, Any]:
        src = self.files.get(req.get("input_file_id", ""))
        if src is None:
            return 400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}}
        if req.get("endpoint") != "/v1/chat/completions" or req.get("completion_window") != "24h":
            return 400, {"error": {"message": "endpoint /v1/chat/completions, completion_window 24h", "type": "x"}}
        bid = "batch_" + uuid.uuid4().hex[:24]
        n = sum(1 for line in src["data"].splitlines() if line.strip())
        self.batches[bid] = {
            "id": bid,
            "object": "batch",
            "endpoint": req["endpoint"],
            "errors": None,
            "input_file_id": src["id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": n, "completed": 0, "failed": 0},
            "metadata": req.get("metadata"),
        }
        return 200, dict(self.batches[bid])

    def _advance(self, b: dict[str, Any]) -> None:
        """One step along validating -> in_progress -> finalizing -> completed per GET (expired / cancelled when
        the server is told so, or after a cancel)."""
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        if b["status"] == "cancelling":
            self._run(b, "cancelled")
            return
        nxt = self.STEPS[self.STEPS.index(b["status"]) + 1]
        if nxt == "completed":
            self._run(b, "completed" if self.outcome == "completed" else self.outcome)
        else:
            b["status"] = nxt
            b[f"{nxt}_at"] = int(time.time())

    def _run(self, b: dict[str, Any], final: str) -> None:
        lines = [json.loads(x) for x in self.files[b["input_file_id"]]["data"].splitlines() if x.strip()]
        answered = lines if final == "completed" else lines[: len(lines) // 2]
        out, err = [], []
        for req in answered:
            reply = answer_for(req["body"], invalid_every=self.server.invalid_every)
            out.append(
                {
                    "id": "batch_req_" + uuid.uuid4().hex[:24],
                    "custom_id": req["custom_id"],
                    "response": {"status_code": 200, "request_id": uuid.uuid4().hex, "body": reply},
                    "error": None,
                }
            )
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(final)
        for req in lines[len(answered) :]:
            err.append(
                {
                    "id": "batch_req_" + uuid.uuid4().hex[:24],
                    "custom_id": req["custom_id"],
                    "response": None,
                    "error": {"code": code, "message": f"This request could not be executed ({final})."},
                }
            )
        for kind, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = "file-" + uuid.uuid4().hex[:24]
                data = "".join(json.dumps(r) + "\n" for r in rows).encode()
                self.files[fid] = {
                    "id": fid,
                    "data": data,
                    "filename": f"{b['id']}-{kind}.jsonl",
                    "purpose": "batch_output",
                }
                b[kind] = fid
        b["status"] = final
        b[f"{final}_at"] = int(time.time())
        b["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}


def _file_object(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f["id"],
        "object": "file",
        "bytes": len(f["data"]),
        "created_at": int(time.time()),
        "filename": f["filename"],
        "purpose": f["purpose"],
        "status": "processed",
    }


def _not_found(what: str, key: str) -> dict[str, Any]:
    return {"error": {"message": f"no such {what}: {key}", "type": "invalid_request_error"}}


def _stop_after(server: FakeServer, lifetime: float) -> None:
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()


def start_in_thread(
    *,
    latency: float = 0.2,
    port: int = 0,
    lifetime: float = 600.0,
    invalid_every: int = 0,
    batch_outcome: str = "completed",
) -> tuple[FakeServer, str]:
    """Serve in a daemon thread of this process; call `server.shutdown()` when done (or it stops after lifetime)."""
    server = FakeServer(port, latency, invalid_every=invalid_every, batch_outcome=batch_outcome)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    _stop_after(server, lifetime)
    return server, server.base_url


def serve(
    *, latency: float, port: int, lifetime: float, invalid_every: int = 0, batch_outcome: str = "completed"
) -> None:
    server = FakeServer(port, latency, invalid_every=invalid_every, batch_outcome=batch_outcome)
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
    ap.add_argument("--invalid-every", type=int, default=0, help="answer every N-th question's first turn invalidly")
    ap.add_argument(
        "--batch-outcome", choices=["completed", "expired", "cancelled"], default="completed", help="how batches end"
    )
    args = ap.parse_args()
    serve(
        latency=args.latency,
        port=args.port,
        lifetime=args.lifetime,
        invalid_every=args.invalid_every,
        batch_outcome=args.batch_outcome,
    )


if __name__ == "__main__":
    main()
