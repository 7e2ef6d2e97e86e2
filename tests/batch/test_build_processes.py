"""`enrich run --batch --processes N`: the steps and merge detection run in worker processes, their writes are
replayed and checked here (tests/batch/test_build_replay.py: stores people worked on, contradicted predictions).
The same request lines, store contents and merge proposals as one process; a dry run stays in one process and
writes nothing; a question still out is not asked twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import store_sql as sql

from enrich.agent.batch import build_pipeline
from enrich.agent.batch import job as batch_job
from enrich.agent.batch.job import build
from enrich.agent.ingest import parse
from enrich.agent.llm.factory import make_client
from enrich.agent.loop import RunOptions
from enrich.store import Store

from .bulk_helpers import export, files_settings, ingest, page, store_facts

N = 45  # more than one chunk (BUILD_CHUNK) is not needed: every chunk goes to a worker


def _store(tmp_path: Path, name: str):
    settings = files_settings(tmp_path / name / "b.db")
    store = Store.open(settings.db)
    ingest(store, N)
    for i in (3, 4):  # the same people again under another path (one more line): merge proposals
        text = page(i) + "\nProfile mirrored from the faculty site."
        store.record_import(parse(text, path=f"mirror/{i}.txt"), text=text, path=f"mirror/{i}.txt")
    return settings, store, make_client(settings, store)


def _lines(rep) -> list[str]:
    out = []
    for f in rep.files:
        out += [re.sub(r"J\d{8}-\d{6}-[0-9a-f]{4}", "JOB", x) for x in Path(f["path"]).read_text().splitlines()]
    return sorted(out)


def _merges(store) -> list[dict]:
    return sql.rows(store, "SELECT kind, state, summary, payload FROM proposals WHERE kind = 'merge' ORDER BY id")


def test_two_processes_build_what_one_builds(tmp_path):
    one = _store(tmp_path, "one")
    two = _store(tmp_path, "two")
    rep1 = build(one[1], one[0], one[2], RunOptions(), folder=tmp_path / "f1", submit=False)
    rep2 = build(two[1], two[0], two[2], RunOptions(processes=2), folder=tmp_path / "f2", submit=False)
    assert (rep1.processes, rep2.processes) == (1, 2)
    assert rep2.requests == rep1.requests > N and rep2.outcomes == rep1.outcomes
    assert (rep2.tokens_in, rep2.tokens_out) == (rep1.tokens_in, rep1.tokens_out)
    assert _lines(rep2) == _lines(rep1)
    assert any('"custom_id":"JOB.1.summary.0"' in x for x in _lines(rep2))  # a worker's line, in the files
    assert export(two[1]) == export(one[1])
    assert store_facts(two[1]) == store_facts(one[1])
    merges = _merges(two[1])
    assert len(merges) == 2 and merges == _merges(one[1])  # groups found in a worker beside the steps, proposed here
    rows = sql.rows(two[1], "SELECT step, count(*) AS n FROM batch_requests GROUP BY step ORDER BY step")
    assert {r["step"]: r["n"] for r in rows} == {"affiliation": rep2.outcomes["affiliation:queued"], "summary": N + 2}
    for _s, store, client in (one, two):
        client.close()
        store.close()


def test_a_dry_run_stays_in_one_process_and_writes_nothing(tmp_path):
    settings, store, client = _store(tmp_path, "d")
    before = store_facts(store)
    rep = build(store, settings, client, RunOptions(processes=2), folder=tmp_path / "dry", dry_run=True)
    assert rep.dry_run and rep.processes == 1 and rep.requests > N
    assert store_facts(store) == before and not _merges(store) and not (tmp_path / "dry").exists()
    assert sql.one(store, "SELECT count(*) AS n FROM batch_requests")["n"] == 0


def test_a_question_still_out_is_not_asked_again_by_the_workers(tmp_path):
    settings, store, client = _store(tmp_path, "q")
    first = build(store, settings, client, RunOptions(processes=2), folder=tmp_path / "a", submit=False)
    again = build(store, settings, client, RunOptions(processes=2), folder=tmp_path / "b", submit=False)
    assert first.requests > N and again.requests == 0 and again.still_out == first.requests


def _keys(store) -> list[dict]:
    return sql.rows(store, "SELECT key, listing_id, ordinal FROM work_keys ORDER BY key, listing_id, ordinal")


def test_on_a_store_never_keyed_only_the_writer_commits_and_every_prediction_is_applied(tmp_path, monkeypatch):
    """Merge detection reads the work keys, which a store just ingested lacks: a worker makes them, the writer
    writes them between chunks. No other connection commits during the build, so the writer applies every chunk's
    predictions (a commit from a worker's connection made it replay every chunk handed out before it), and the keys,
    merge proposals and request lines are those of one process."""
    monkeypatch.setattr(batch_job, "BUILD_CHUNK", 8)  # chunks handed out before and after the keys are written
    monkeypatch.setattr(build_pipeline, "KEY_LISTINGS", 5)  # keys made by several tasks, each written at once
    one = _store(tmp_path, "one")
    two = _store(tmp_path, "two")
    assert not _keys(two[1])
    rep1 = build(one[1], one[0], one[2], RunOptions(), folder=tmp_path / "f1", submit=False)
    rep2 = build(two[1], two[0], two[2], RunOptions(processes=2), folder=tmp_path / "f2", submit=False)
    assert rep2.processes == 2 and rep2.ran_here == {}
    assert (rep2.applied, rep2.replayed) == (rep2.researchers, 0)
    assert _keys(two[1]) == _keys(one[1]) and len(_keys(two[1])) > N
    merges = _merges(two[1])
    assert len(merges) == 2 and merges == _merges(one[1])
    assert _lines(rep2) == _lines(rep1) and export(two[1]) == export(one[1])
    for _s, store, client in (one, two):
        client.close()
        store.close()


def test_a_worker_looks_a_question_up_in_the_cache_only_when_the_chunk_found_it_holding_answers(tmp_path):
    """A worker reads whether the answer cache holds any answer once per chunk (`read_ahead`); a question whose
    answer is cached makes its researcher run in the writer, as before."""
    from types import SimpleNamespace

    from enrich.agent.batch.predict import PredictingStore, Unsure
    from enrich.store import llm_log

    settings, store, client = _store(tmp_path, "c")
    stand_in = PredictingStore(store)
    recorder = build_pipeline._PredictingClient(client, lambda r: None, "J1", stand_in=stand_in)
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    assert recorder.from_cache(SimpleNamespace(cache_key="k1"), None, None) is None
    assert statements == [] and not recorder.cache_held  # an empty cache: no look-up
    store.db.conn.set_trace_callback(None)
    llm_log.cache_put(store, "k1", {"tags": []}, None)
    assert recorder.from_cache(SimpleNamespace(cache_key="k1"), None, None) is None  # read as the chunk started
    recorder.read_ahead()
    with pytest.raises(Unsure):
        recorder.from_cache(SimpleNamespace(cache_key="k1"), None, None)
    assert stand_in.unsure == "a cached answer"
    assert recorder.from_cache(SimpleNamespace(cache_key="k2"), None, None) is None
    client.close()
    store.close()
