"""The Batch API line formats (OpenAI's and the one `vllm run-batch` writes) and the file splitter."""

from __future__ import annotations

import json

import pytest

from enrich.agent.batch.files import SplitWriter
from enrich.agent.batch.lines import Answer, Failure, Malformed, input_line, parse_output_line

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def test_input_line_is_one_json_object_per_line():
    line = input_line("J1.7.topics.0", {"model": "m", "messages": [{"role": "user", "content": "a\nb"}]})
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    assert data == {
        "custom_id": "J1.7.topics.0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": "a\nb"}]},
    }


def test_openai_output_and_error_lines():
    ok = {
        "id": "batch_req_1",
        "custom_id": "a",
        "response": {"status_code": 200, "request_id": "r1", "body": COMPLETION},
        "error": None,
    }
    got = parse_output_line(json.dumps(ok))
    assert isinstance(got, Answer) and got.custom_id == "a" and got.request_id == "r1" and got.line_id == "batch_req_1"
    expired = {
        "id": "batch_req_2",
        "custom_id": "b",
        "response": None,
        "error": {"code": "batch_expired", "message": "This request could not be executed before the window."},
    }
    got = parse_output_line(json.dumps(expired))
    assert isinstance(got, Failure) and got.code == "batch_expired" and got.retryable
    http_error = {
        "id": "batch_req_3",
        "custom_id": "c",
        "response": {
            "status_code": 400,
            "request_id": "r3",
            "body": {"error": {"message": "bad model", "type": "invalid_request_error", "code": None}},
        },
        "error": None,
    }
    got = parse_output_line(json.dumps(http_error))
    assert isinstance(got, Failure) and got.code == "http_400" and "bad model" in got.message
    assert not got.retryable


def test_vllm_run_batch_lines():
    """The shapes vllm/entrypoints/openai/run_batch.py writes: BatchRequestOutput with `vllm-<uuid>` ids; an
    exception becomes status 400, body null, `error` a string; an ErrorResponse is kept whole as `error`."""
    vllm_body = dict(COMPLETION, prompt_logprobs=None, kv_transfer_params=None)
    vllm_body["choices"] = [
        {
            "index": 0,
            "message": {"role": "assistant", "reasoning_content": None, "content": "{}", "tool_calls": []},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ]
    ok = {
        "id": "vllm-0f",
        "custom_id": "a",
        "response": {"status_code": 200, "request_id": "vllm-batch-1", "body": vllm_body},
        "error": None,
    }
    assert isinstance(parse_output_line(json.dumps(ok)), Answer)
    exc = {
        "id": "vllm-1",
        "custom_id": "b",
        "response": {"status_code": 400, "request_id": "vllm-batch-2", "body": None},
        "error": "Request must not be sent in stream mode",
    }
    got = parse_output_line(json.dumps(exc))
    assert isinstance(got, Failure) and got.code == "http_400" and "stream mode" in got.message
    err = {
        "id": "vllm-2",
        "custom_id": "c",
        "response": {"status_code": 400, "request_id": "vllm-batch-3", "body": None},
        "error": {"error": {"message": "too long", "type": "BadRequestError", "param": None, "code": 400}},
    }
    got = parse_output_line(json.dumps(err))
    assert isinstance(got, Failure) and got.code == "http_400" and got.message == "too long"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"response": {"status_code": 200}}', "no custom_id"),
        ('{"custom_id": "x", "response": {"status_code": 200, "body": {"choices": []}}}', "no choices"),
        ('{"custom_id": "x", "response": "ok"}', "not an object"),
        ('{"custom_id": "x"}', "neither"),
    ],
)
def test_malformed_lines_are_reported_not_raised(line, reason):
    got = parse_output_line(line, 7)
    assert isinstance(got, Malformed) and got.line_no == 7 and reason in got.reason


def test_blank_line_is_skipped():
    assert parse_output_line("  \n") is None


def test_split_writer_respects_request_and_byte_limits(tmp_path):
    w = SplitWriter(tmp_path, "J", max_requests=3, max_bytes=200)
    lines = [input_line(f"c{i}", {"x": "y" * (10 if i != 4 else 100)}) for i in range(8)]
    for i, line in enumerate(lines):
        w.add(f"c{i}", line)
    files = w.close()
    assert all(f.requests <= 3 and f.bytes <= 200 for f in files)
    assert [cid for f in files for cid in f.custom_ids] == [f"c{i}" for i in range(8)]
    assert sum(f.requests for f in files) == 8
    for f in files:
        assert f.path.stat().st_size == f.bytes
        assert [json.loads(x)["custom_id"] for x in f.path.read_text().splitlines()] == f.custom_ids
    assert not list(tmp_path.glob("*.part"))


def test_split_writer_refuses_a_line_over_the_byte_limit(tmp_path):
    w = SplitWriter(tmp_path, "J", max_bytes=50)
    with pytest.raises(ValueError, match="over the 50-byte limit"):
        w.add("c", input_line("c", {"x": "y" * 100}))


def test_split_writer_dry_run_writes_nothing(tmp_path):
    w = SplitWriter(tmp_path / "out", "J", max_requests=2, dry_run=True)
    for i in range(5):
        w.add(f"c{i}", input_line(f"c{i}", {}))
    assert [f.requests for f in w.close()] == [2, 2, 1]
    assert not (tmp_path / "out").exists()
