"""Collecting in worker processes (`enrich batch collect --processes N`) leaves the same store as one process: the
same values, proposals, misses, export, request states and call-log rows, with re-asks, error lines and repeated
lines in the results, through a re-ask round; and a collector killed with its workers mid-way loses nothing and
applies nothing twice when collected again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import store_sql as sql

from enrich.agent.batch import job
from enrich.agent.batch.job import collect
from enrich.agent.llm.factory import make_client
from enrich.store import Store

from .bulk_helpers import FILES_ENV, built_files, export, files_settings, run_like_vllm, store_facts

N = 90


def _built(tmp_path: Path) -> tuple[str, Path]:
    """A built job (request files only) in base.db, and its results: every 7th answer invalid, two error lines and
    the first five lines repeated at the end."""
    job_id, src = built_files(tmp_path / "base.db", N, tmp_path / "files")
    ids = [json.loads(line)["custom_id"] for line in src.read_text().splitlines()]
    out = tmp_path / "results.jsonl"
    run_like_vllm(src, out, invalid_every=7, fail={ids[3], ids[40]})
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines + lines[:5]))
    return job_id, out


def _calls(store) -> list[dict]:
    return sql.rows(
        store,
        "SELECT custom_id, attempt, parsed, error, tokens_in, tokens_out, reasks FROM llm_calls"
        " WHERE custom_id IS NOT NULL ORDER BY custom_id",
    )


def _requests(store) -> list[dict]:
    return sql.rows(store, "SELECT custom_id, state, detail, round FROM batch_requests ORDER BY custom_id")


def _collect_all(db: Path, job_id: str, results: Path, processes: int, folder: Path) -> list:
    """Collect the results, then answer and collect each re-ask round (files written under `folder`)."""
    settings = files_settings(db)
    store = Store.open(db)
    client = make_client(settings, store)
    reports = [collect(store, settings, client, job_id, results=[results], processes=processes)]
    while reports[-1].followup:
        out = folder / f"round-{len(reports)}.jsonl"
        run_like_vllm(Path(reports[-1].followup[0]["path"]), out, invalid_every=7)
        reports.append(collect(store, settings, client, job_id, results=[out], processes=processes))
    client.close()
    store.close()
    return reports


def test_two_processes_leave_the_same_store_as_one(tmp_path, monkeypatch):
    # small windows: a researcher's two answers often fall into two windows, applied by two workers at once
    monkeypatch.setattr(job, "COLLECT_CHUNK", 25)
    job_id, results = _built(tmp_path)
    for name in ("one.db", "two.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    one = _collect_all(tmp_path / "one.db", job_id, results, 1, tmp_path)
    two = _collect_all(tmp_path / "two.db", job_id, results, 2, tmp_path)

    assert len(one) == len(two) >= 2  # a re-ask round ran
    for a, b in zip(one, two):
        for k in ("applied", "reasked", "failed", "stale", "skipped", "errors", "outcomes", "state", "unknown"):
            assert getattr(a, k) == getattr(b, k), k
    assert one[0].skipped == 5 and sum(one[0].errors.values()) == 2 and one[0].reasked > 0
    assert one[-1].state == "done"
    a, b = Store.open(tmp_path / "one.db"), Store.open(tmp_path / "two.db")
    assert export(a) == export(b)
    assert store_facts(a) == store_facts(b)
    assert _calls(a) == _calls(b)
    assert _requests(a) == _requests(b)


def test_collector_and_workers_killed_mid_way_then_collected_again(tmp_path):
    job_id, results = _built(tmp_path)
    for name in ("reference.db", "crashed.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    settings = files_settings(tmp_path / "reference.db")
    store = Store.open(settings.db)
    client = make_client(settings, store)
    reference = collect(store, settings, client, job_id, results=[results])
    client.close()
    store.close()

    env = {
        **os.environ,
        **FILES_ENV,
        "ENRICH_DB": str(tmp_path / "crashed.db"),
        "ENRICH_TEST_COLLECT_STALL_AFTER": "60",
    }
    cmd = [sys.executable, "-m", "enrich.agent.cli", "batch", "collect", job_id, "--results", str(results)]
    proc = subprocess.Popen(
        [*cmd, "--processes", "2"], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    line = proc.stderr.readline()  # a worker stops inside its transaction, its group applied but not committed
    assert line.startswith("stalled after"), line
    os.killpg(proc.pid, signal.SIGKILL)  # the collector and its workers
    proc.wait(timeout=30)
    con = sqlite3.connect(tmp_path / "crashed.db")
    applied = con.execute("SELECT count(*) FROM batch_requests WHERE state IN ('applied', 'reasked')").fetchone()[0]
    calls = con.execute("SELECT count(*), count(DISTINCT custom_id) FROM llm_calls WHERE custom_id IS NOT NULL")
    assert calls.fetchone() == (applied, applied)  # each committed answer has its one call-log row
    con.close()
    assert 0 < applied < reference.applied + reference.reasked  # a partial state

    env.pop("ENRICH_TEST_COLLECT_STALL_AFTER")
    again = subprocess.run([*cmd, "--processes", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    a, b = Store.open(tmp_path / "crashed.db"), Store.open(tmp_path / "reference.db")
    assert export(a) == export(b)
    assert store_facts(a) == store_facts(b)
    assert _calls(a) == _calls(b)
    assert [(r["custom_id"], r["state"]) for r in _requests(a)] == [(r["custom_id"], r["state"]) for r in _requests(b)]
