"""Collecting results files: the line format `vllm run-batch` writes (error lines included), malformed lines,
unknown custom_ids, idempotent re-collects, stale answers, expired batches with partial output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import store_sql as sql

import enrich.agent.llm as agent_llm
from enrich.agent.batch.job import build, collect
from enrich.agent.llm.factory import make_client
from enrich.agent.loop import RunOptions
from enrich.agent.settings import load
from enrich.store import Store

from .bulk_helpers import files_settings, ingest, page, run_like_vllm

N = 30


@pytest.fixture
def env(tmp_path):
    settings = files_settings(tmp_path / "b.db")
    store = Store.open(settings.db)
    ingest(store, N)
    client = make_client(settings, store)  # never contacted: files mode and --results
    yield settings, store, client
    client.close()
    store.close()


def _calls(store) -> int:
    return sql.one(store, "SELECT count(*) AS n FROM llm_calls")["n"]


def test_vllm_results_with_error_malformed_and_unknown_lines(env, tmp_path):
    settings, store, client = env
    rep = build(store, settings, client, RunOptions(), folder=tmp_path / "files", submit=False)
    assert rep.requests and not rep.submitted and len(rep.files) == 1
    src = Path(rep.files[0]["path"])
    ids = [json.loads(x)["custom_id"] for x in src.read_text().splitlines()]
    failing = {ids[0]}
    out = tmp_path / "results.jsonl"
    run_like_vllm(src, out, invalid_every=5, fail=failing)
    with out.open("a") as fh:
        fh.write("{this is not json\n")
        fh.write(json.dumps({"id": "vllm-x", "custom_id": "J-other.1.topics.0", "response": None, "error": "x"}) + "\n")
        fh.write(json.dumps({"id": "vllm-y", "response": {"status_code": 200}}) + "\n")

    first = collect(store, settings, client, rep.job_id, results=[out])
    assert first.errors == {"http_400": 1}
    assert first.unknown == ["J-other.1.topics.0"]
    assert len(first.malformed) == 2 and "results.jsonl:" in first.malformed[0]
    assert first.applied + first.reasked == len(ids) - 1 and first.reasked > 0
    assert first.followup and first.state == "waiting"
    text = "\n".join(first.messages())
    assert "1 request(s) came back as errors: http_400" in text and "never sent" in text and "malformed" in text
    row = sql.one(store, "SELECT state, detail FROM batch_requests WHERE custom_id = ?", [ids[0]])
    assert row["state"] == "error" and "maximum context length" in row["detail"]
    calls = _calls(store)
    assert calls == first.applied + first.reasked  # one call-log row per answer, error lines are not answers

    # the same file again: nothing applied twice
    again = collect(store, settings, client, rep.job_id, results=[out])
    assert again.applied == again.reasked == 0 and again.skipped == first.applied + first.reasked + 1
    assert _calls(store) == calls and not again.followup

    # the re-ask round (the follow-up carries the validation error; vllm answers it validly)
    follow = Path(first.followup[0]["path"])
    reqs = [json.loads(x) for x in follow.read_text().splitlines()]
    assert all(r["custom_id"].endswith(".1") for r in reqs)
    for r in reqs:  # instructor's JSON-mode re-ask: the answer, then the validation error to fix
        assert [m["role"] for m in r["body"]["messages"][-2:]] == ["assistant", "user"]
        assert "validation error" in r["body"]["messages"][-1]["content"]
    # run the re-ask rounds until every question has ended (applied, or failed after max_reasks as online)
    rounds, followup, report = 1, first.followup, first
    while followup:
        out_n = tmp_path / f"results{rounds + 1}.jsonl"
        run_like_vllm(Path(followup[0]["path"]), out_n, invalid_every=5)
        report = collect(store, settings, client, rep.job_id, results=[out_n])
        followup, rounds = report.followup, rounds + 1
        assert rounds <= settings.max_reasks + 1
    assert report.state == "done"
    job = store.get_job(rep.job_id)
    assert job.state == "done" and job.counts["requests_error"] == 1 and job.counts["requests_pending"] == 0
    rows = sql.rows(store, "SELECT custom_id, batch_id, reasks FROM llm_calls WHERE custom_id IS NOT NULL")
    answered = sql.one(store, "SELECT count(*) AS n FROM batch_requests WHERE state != 'error'")["n"]
    assert len(rows) == answered and all(r["reasks"] == int(r["custom_id"][-1]) for r in rows)
    # the failed request asked nothing: a later bulk run asks it again
    again = build(store, settings, client, RunOptions(), folder=tmp_path / "files2", submit=False)
    assert again.requests == 1


def _summaries_collected(env, tmp_path, max_reasks: int):
    """A summaries-only bulk job built and collected once, every second answer invalid: (settings, store, client,
    job id, the collect's report)."""
    settings, store, client = env
    settings = settings.with_overrides(max_reasks=max_reasks)
    rep = build(store, settings, client, RunOptions(only=["summary"]), folder=tmp_path / "f", submit=False)
    out = tmp_path / "r.jsonl"
    run_like_vllm(Path(rep.files[0]["path"]), out, invalid_every=2)
    return settings, store, client, rep.job_id, collect(store, settings, client, rep.job_id, results=[out])


def test_reasks_run_out_and_the_step_fails_like_online(env, tmp_path):
    _settings, store, _client, _job, got = _summaries_collected(env, tmp_path, max_reasks=0)
    assert got.failed > 0 and got.reasked == 0 and got.state == "done"
    misses = sql.rows(store, "SELECT status, detail FROM step_misses WHERE field = 'summary'")
    assert len(misses) == got.failed and all(
        m["status"] == "failed" and "did not validate" in m["detail"] for m in misses
    )


def test_an_answer_to_a_changed_listing_is_not_applied(env, tmp_path):
    settings, store, client = env
    rep = build(store, settings, client, RunOptions(only=["summary"]), folder=tmp_path / "f", submit=False)
    out = tmp_path / "r.jsonl"
    run_like_vllm(Path(rep.files[0]["path"]), out)
    from enrich.agent.ingest import parse

    text = page(0).replace("simpler recipe", "different recipe")  # researcher 1's page changed meanwhile
    store.record_import(parse(text, path="bulk/0.txt"), text=text, path="bulk/0.txt")
    got = collect(store, settings, client, rep.job_id, results=[out])
    assert got.stale == 1 and "changed since" in "\n".join(got.messages())
    assert store.current(1, "summary") is None


def test_embedded_and_fake_backends_refuse_bulk_mode_in_one_line(tmp_path):
    from click.testing import CliRunner

    from enrich.agent.cli import cli

    for backend in ("embedded", "fake"):
        res = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "run", "--batch", "--backend", backend])
        assert res.exit_code == 1
        assert "bulk mode (--batch) needs OpenAI" in res.output and len(res.output.strip().splitlines()) == 1


def test_dry_run_counts_without_writing_or_sending(env, tmp_path):
    settings, store, client = env
    before = sql.rows(store, "SELECT count(*) AS n FROM field_values")[0]["n"]
    rep = build(store, settings, client, RunOptions(), folder=tmp_path / "dry", dry_run=True)
    assert rep.requests > 0 and rep.tokens_in > 0 and rep.files and not (tmp_path / "dry").exists()
    assert sql.rows(store, "SELECT count(*) AS n FROM field_values")[0]["n"] == before
    assert not sql.rows(store, "SELECT * FROM jobs") and not sql.rows(store, "SELECT * FROM batch_requests")
    real = build(store, settings, client, RunOptions(), folder=tmp_path / "real", submit=False)
    assert (real.requests, real.tokens_in, real.files[0]["bytes"]) == (
        rep.requests,
        rep.tokens_in,
        rep.files[0]["bytes"],
    )


def test_expired_batch_keeps_the_answered_half_and_reports_the_rest(tmp_path, monkeypatch):
    from fake_openai_server import start_in_thread

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)  # the fake on 127.0.0.1 only
    server, url = start_in_thread(latency=0.0, lifetime=60, batch_outcome="expired")
    try:
        settings = load(db=str(tmp_path / "e.db"), backend="openai-compatible", base_url=url, model="default")
        store = Store.open(settings.db)
        ingest(store, 10)
        client = make_client(settings, store)
        rep = build(store, settings, client, RunOptions(), folder=tmp_path / "f")
        for _ in range(40):  # every round (re-asks too) expires half-way
            got = collect(store, settings, client, rep.job_id)
            if got.state == "done":
                break
        assert got.state == "done"
        first = {
            r["state"]: r["n"]
            for r in sql.rows(store, "SELECT state, count(*) AS n FROM batch_requests WHERE round = 0 GROUP BY state")
        }
        # the answered half went through the checks; the other half is reported and asks nothing
        assert first.get("error", 0) == rep.requests - rep.requests // 2
        assert sum(v for k, v in first.items() if k != "error") == rep.requests // 2
        errors = sql.rows(store, "SELECT detail FROM batch_requests WHERE state = 'error'")
        assert all(e["detail"].startswith("batch_expired") for e in errors)
        client.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_line_repeated_in_the_results_is_applied_once(env, tmp_path):
    settings, store, client = env
    rep = build(store, settings, client, RunOptions(), folder=tmp_path / "f", submit=False)
    out = tmp_path / "r.jsonl"
    run_like_vllm(Path(rep.files[0]["path"]), out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines + lines[:5]))  # a runner's retry, or two output files concatenated
    got = collect(store, settings, client, rep.job_id, results=[out])
    assert got.applied == rep.requests and got.skipped == 5 and got.state == "done"
    assert _calls(store) == rep.requests
    dup = sql.one(store, "SELECT count(*) - count(DISTINCT custom_id) AS n FROM llm_calls WHERE custom_id IS NOT NULL")
    assert dup["n"] == 0


def test_a_step_that_raises_on_one_researcher_is_recorded_and_the_collect_goes_on(env, tmp_path, monkeypatch):
    """The collector runs the steps through the loop's step boundary: as online, an exception in one researcher's
    step is a job error for that researcher, not the end of the collect (which would meet it again every time)."""
    import enrich.agent.steps.summary as summary_step

    settings, store, client = env
    rep = build(store, settings, client, RunOptions(only=["summary"]), folder=tmp_path / "f", submit=False)
    out = tmp_path / "r.jsonl"
    run_like_vllm(Path(rep.files[0]["path"]), out)
    real = summary_step.readability

    def broken(text, *args):
        if text.startswith("Dana Aa. Abbott "):  # researcher 4 (the fake names the researcher first)
            raise RuntimeError("readability broke")
        return real(text, *args)

    monkeypatch.setattr(summary_step, "readability", broken)
    got = collect(store, settings, client, rep.job_id, results=[out])
    assert got.state == "done" and got.failed == 1 and got.applied == rep.requests - 1
    assert got.outcomes.get("summary:error") == 1
    row = sql.one(store, "SELECT state, detail FROM batch_requests WHERE researcher_id = 4")
    assert row["state"] == "failed" and "readability broke" in row["detail"]
    errors = sql.rows(store, "SELECT researcher_id, step, message FROM job_errors")
    assert [(e["researcher_id"], e["step"]) for e in errors] == [(4, "summary")]
    assert store.current(4, "summary") is None and store.current(5, "summary") is not None


def test_a_question_still_out_is_not_asked_twice_until_its_job_is_cancelled(env, tmp_path):
    from enrich.agent.batch.job import cancel

    settings, store, client = env
    first = build(store, settings, client, RunOptions(), folder=tmp_path / "a", submit=False)
    second = build(store, settings, client, RunOptions(), folder=tmp_path / "b", submit=False)
    assert first.requests > 0 and second.requests == 0 and second.still_out == first.requests
    assert store.get_job(second.job_id).state == "done"
    info = cancel(store, client, first.job_id)
    assert info["requests_ended"] == first.requests and info["state"] == "done"
    assert store.get_job(first.job_id).counts["requests_error"] == first.requests
    third = build(store, settings, client, RunOptions(), folder=tmp_path / "c", submit=False)
    assert third.requests == first.requests and third.still_out == 0


def _repeat_the_last_answer(src: Path, dst: Path) -> int:
    """Answer each re-ask with the invalid answer it shows (a small model told what was wrong often says it again)."""
    lines = []
    for req in map(json.loads, src.read_text().splitlines()):
        said = [m for m in req["body"]["messages"] if m["role"] == "assistant"][-1]["content"]
        body = {
            "id": "chatcmpl-repeat",
            "object": "chat.completion",
            "created": 0,
            "model": req["body"]["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": said}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        out = {"id": "r", "custom_id": req["custom_id"], "response": {"status_code": 200, "body": body}, "error": None}
        lines.append(json.dumps(out))
    dst.write_text("\n".join(lines) + "\n")
    return len(lines)


def test_a_reask_answered_with_the_same_invalid_answer_is_not_asked_again(env, tmp_path):
    settings, store, client, job_id, first = _summaries_collected(env, tmp_path, max_reasks=3)
    assert first.reasked > 0 and first.followup
    repeated = tmp_path / "r1.jsonl"
    n = _repeat_the_last_answer(Path(first.followup[0]["path"]), repeated)
    second = collect(store, settings, client, job_id, results=[repeated])
    # two re-asks were still allowed, but the same answer would not change: the step fails now, as online
    assert second.failed == n == first.reasked and second.reasked == 0 and not second.followup
    assert second.state == "done"
    misses = sql.rows(store, "SELECT status, detail FROM step_misses WHERE field = 'summary'")
    assert len(misses) == n and all(m["status"] == "failed" and "repeated an answer" in m["detail"] for m in misses)


def test_cancel_ends_the_reasks_a_stopped_collect_left_without_a_file(env, tmp_path, monkeypatch):
    """A collect stopped after committing its re-asks but before writing their file leaves them pending with no
    file; cancelling the job ends them too, so the next build asks those questions again."""
    import enrich.agent.batch.job as job_mod

    def stopped(*_args, **_kwargs):
        raise KeyboardInterrupt

    settings, store, client = env
    settings = settings.with_overrides(max_reasks=2)
    rep = build(store, settings, client, RunOptions(only=["summary"]), folder=tmp_path / "f", submit=False)
    out = tmp_path / "r.jsonl"
    run_like_vllm(Path(rep.files[0]["path"]), out, invalid_every=2)
    monkeypatch.setattr(job_mod, "_write_followups", stopped)
    with pytest.raises(KeyboardInterrupt):
        collect(store, settings, client, rep.job_id, results=[out])
    monkeypatch.undo()
    left = [r["custom_id"] for r in job_mod.bstore.unfiled_requests(store, rep.job_id)]
    assert left  # the partial state: re-asks committed, in no file
    assert job_mod.bstore.unfiled_ids(store, rep.job_id) == left  # what cancel reads: the ids, not the bodies

    info = job_mod.cancel(store, client, rep.job_id)
    assert info["requests_ended"] == len(left) and info["state"] == "done"
    states = sql.rows(store, "SELECT custom_id, state, detail FROM batch_requests WHERE file_id IS NULL")
    assert sorted(r["custom_id"] for r in states) == sorted(left)
    assert all(r["state"] == "error" and "cancelled" in r["detail"] for r in states)
    assert not job_mod.bstore.unfiled_requests(store, rep.job_id)
    again = build(store, settings, client, RunOptions(only=["summary"]), folder=tmp_path / "g", submit=False)
    assert again.requests == len(left) and again.still_out == 0
