"""Crash test: SIGKILL the collector after it has applied part of the answers, collect again: nothing lost, nothing
applied twice (values, proposals, call-log rows), and the same store as an uninterrupted collect."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from enrich.store import Store

from .bulk_helpers import FILES_ENV, built_files, export, run_like_vllm, store_facts

N = 200
STALL_AFTER = 150  # the collector stops (to be killed) once this many output lines are committed


def _collect(db: Path, job: str, results: Path, **extra: str) -> subprocess.Popen:
    env = {**os.environ, **FILES_ENV, "ENRICH_DB": str(db), "ENRICH_BATCH_CHUNK": "50", **extra}
    return subprocess.Popen(
        [sys.executable, "-m", "enrich.agent.cli", "batch", "collect", job, "--results", str(results)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "applied": q("SELECT count(*) FROM batch_requests WHERE state IN ('applied', 'reasked')"),
            "calls": q("SELECT count(*) FROM llm_calls WHERE custom_id IS NOT NULL"),
            "distinct_calls": q("SELECT count(DISTINCT custom_id) FROM llm_calls WHERE custom_id IS NOT NULL"),
            "values": q("SELECT count(*) FROM field_values WHERE origin LIKE 'llm:%'"),
            "proposals": q("SELECT count(*) FROM proposals"),
        }
    finally:
        con.close()


def test_sigkill_mid_collect_then_collect_again(tmp_path):
    job_id, src = built_files(tmp_path / "base.db", N, tmp_path / "files")
    results = tmp_path / "results.jsonl"
    total = run_like_vllm(src, results, invalid_every=9)
    assert total > STALL_AFTER + 100
    for name in ("reference.db", "crashed.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)

    ref = _collect(tmp_path / "reference.db", job_id, results)
    assert ref.wait(timeout=300) == 0, ref.stderr.read()

    proc = _collect(tmp_path / "crashed.db", job_id, results, ENRICH_TEST_COLLECT_STALL_AFTER=str(STALL_AFTER))
    line = proc.stderr.readline()  # the collector stops inside a window's transaction, answers applied uncommitted
    assert line.startswith("stalled after"), line + proc.stderr.read()
    in_memory = int(line.split()[2])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = _counts(tmp_path / "crashed.db")
    print(f"partial state after SIGKILL ({in_memory} of {total} answers applied in memory):", partial)
    # the committed windows are in the store, the window being applied is not -- one call-log row per applied
    # answer, none twice
    assert 0 < partial["applied"] < in_memory < total
    assert partial["applied"] % 50 == 0
    assert partial["calls"] == partial["distinct_calls"] == partial["applied"]

    again = _collect(tmp_path / "crashed.db", job_id, results)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{partial['applied']} already applied" in out
    final, reference = _counts(tmp_path / "crashed.db"), _counts(tmp_path / "reference.db")
    assert final == reference and final["calls"] == final["distinct_calls"] == total
    a, b = Store.open(tmp_path / "crashed.db"), Store.open(tmp_path / "reference.db")
    assert export(a) == export(b)
    assert store_facts(a) == store_facts(b)
