"""Bulk mode end to end: build, submit, poll, collect, one re-ask round -- and the same store as the online path
with the same fake answers. Everything talks to bench/fake_openai_server.py on 127.0.0.1 only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import store_sql as sql

import enrich.agent.llm as agent_llm
from enrich.agent.batch.job import build, collect, status
from enrich.agent.llm.factory import make_client
from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.settings import load
from enrich.store import Store
from enrich.store.threads import ThreadLocalStore

from .bulk_helpers import export, ingest, store_facts

N = 1000
INVALID_EVERY = 7  # every 7th question's first answer fails validation; the re-ask is answered validly


@pytest.fixture
def fake_server():
    from fake_openai_server import start_in_thread

    server, url = start_in_thread(latency=0.0, lifetime=600, invalid_every=INVALID_EVERY)
    yield url
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, name: str, url: str):
    return load(db=str(tmp_path / f"{name}.db"), backend="openai-compatible", base_url=url, model="default")


def test_batch_job_matches_the_online_job(tmp_path, fake_server, monkeypatch):
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)  # the fake on 127.0.0.1 only

    # online: the job loop, 4 researchers at a time, instructor re-asking invalid answers
    s_on = _settings(tmp_path, "online", fake_server).with_overrides(concurrency=4)
    online_store = Store.open(s_on.db)
    ingest(online_store, N)
    threads = ThreadLocalStore(s_on.db)
    client = make_client(s_on, threads)
    job = JobRunner(online_store, client, s_on, thread_store=threads).start(RunOptions(concurrency=4))
    client.close()
    threads.close()
    assert job.state == "done"
    reasked_online = sql.one(online_store, "SELECT count(*) AS n FROM llm_calls WHERE reasks > 0")["n"]
    assert reasked_online > 0  # the fake did spoil some first answers

    # bulk: build + submit, poll, collect, the re-ask round, collect again
    s_b = _settings(tmp_path, "bulk", fake_server)
    bulk = Store.open(s_b.db)
    ingest(bulk, N)
    client = make_client(s_b, bulk)
    rep = build(bulk, s_b, client, RunOptions(), folder=tmp_path / "files", max_requests=1000)
    assert rep.requests > N and len(rep.files) == -(-rep.requests // 1000)
    assert len(rep.submitted) == len(rep.files)
    assert all(b["status"] == "validating" for b in status(bulk, None, rep.job_id)["batches"])
    seen = set()
    for _ in range(20):
        report = collect(bulk, s_b, client, rep.job_id)
        seen |= {b["status"] for b in report.batches}
        if report.state == "done":
            break
    assert {"in_progress", "finalizing", "completed"} <= seen
    assert report.state == "done"
    rounds = {f["round"] for f in status(bulk, None, rep.job_id)["batches"]}
    assert {0, 1} <= rounds  # a re-ask round (a second one where the re-asked answer failed again)
    counts = bulk.get_job(rep.job_id).counts
    assert counts["requests_reasked"] > 0 and counts["requests_pending"] == 0
    # every question ended: its answer applied, or the step failed after max_reasks (as online)
    first = sql.one(bulk, "SELECT count(*) AS n FROM batch_requests WHERE round = 0")["n"]
    assert first == rep.requests
    ended = sql.one(bulk, "SELECT count(*) AS n FROM batch_requests WHERE state IN ('applied', 'failed')")["n"]
    assert ended == rep.requests
    client.close()

    lines = export(bulk)
    assert lines == export(online_store)
    # the comparison is not between empty exports: values were applied and proposed
    assert sum(1 for x in lines if x["topics"]) > N / 2
    assert sum(1 for x in lines if x["affiliation"] and x["affiliation"]["origin"].startswith("llm:")) > N / 10
    assert sum(1 for x in lines if x["summary"] and x["summary"]["origin"].startswith("llm:")) > N / 2
    assert store_facts(bulk) == store_facts(online_store)
    # every answer is a call-log row with its batch and custom_id; the same number of model answers as online
    rows = sql.rows(bulk, "SELECT batch_id, custom_id, reasks, error FROM llm_calls WHERE cached = 0")
    assert all(r["batch_id"] and r["custom_id"] for r in rows)
    assert len({r["custom_id"] for r in rows}) == len(rows)
    assert len(rows) == sql.one(online_store, "SELECT count(*) AS n FROM llm_calls WHERE cached = 0")["n"]
    # the same answers failed validation as online (each is a row with its error), and each re-asked one once
    failed_online = sql.one(online_store, "SELECT count(*) AS n FROM llm_calls WHERE error IS NOT NULL")["n"]
    assert sum(1 for r in rows if r["error"]) == failed_online
    assert counts["requests_reasked"] + counts["requests_failed"] == failed_online

    # collecting again applies nothing twice
    again = collect(bulk, s_b, make_client(s_b, bulk), rep.job_id)
    assert again.applied == 0 and sql.one(bulk, "SELECT count(*) AS n FROM llm_calls")["n"] == len(rows)
    # a second bulk run finds nothing left to ask
    rep2 = build(bulk, s_b, make_client(s_b, bulk), RunOptions(), folder=tmp_path / "files2")
    assert rep2.requests == 0
    assert json.loads(json.dumps(export(bulk))) == export(online_store)
