"""The bulk-mode commands as a user runs them: enrich run --batch-files / --batch --dry-run, enrich jobs,
enrich batch status / collect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.store import Store

from .bulk_helpers import FILES_ENV, ingest, run_like_vllm

ENV = FILES_ENV


def _run(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args], env=ENV, catch_exceptions=False)


def test_files_mode_from_build_to_done(tmp_path):
    db = tmp_path / "c.db"
    store = Store.open(db)
    ingest(store, 12)
    store.close()

    dry = _run(db, "run", "--batch", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    est = json.loads(dry.output)
    assert est["requests"] > 0 and est["dry_run"] and est["tokens_in"] > 0 and est["files"]

    res = _run(db, "run", "--batch-files", str(tmp_path / "files"))
    assert res.exit_code == 0, res.output
    assert f"Wrote {est['requests']} request(s) for 12 researcher(s) in 1 file(s)" in res.output
    assert "vllm run-batch" in res.output
    job = next(w for w in res.output.split() if w.startswith("J2")).rstrip(":")
    files = sorted((tmp_path / "files").glob("*.jsonl"))
    assert len(files) == 1

    jobs = _run(db, "jobs", "--json")
    entry = json.loads(jobs.output)[0]
    assert entry["kind"] == "batch" and entry["batches"][0]["requests"] == est["requests"]
    assert entry["counts"]["requests"] == est["requests"] and entry["state"] == "waiting"
    assert _run(db, "jobs").exit_code == 0

    st = _run(db, "batch", "status", job, "--json")
    info = json.loads(st.output)
    assert info["mode"] == "files" and info["requests"] == {"pending": est["requests"]}

    nores = _run(db, "batch", "collect", job)
    assert nores.exit_code == 1 and "--results" in nores.output and len(nores.output.strip().splitlines()) == 1
    entry = json.loads(_run(db, "jobs", "--json").output)[0]  # still waiting, and says how to go on
    assert entry["state"] == "waiting" and entry["resume"] == f"enrich batch collect {job} --results OUTPUT.jsonl..."

    out = tmp_path / "out.jsonl"
    run_like_vllm(files[0], out)
    got = _run(db, "batch", "collect", job, "--results", str(out))
    assert got.exit_code == 0, got.output
    import re

    m = re.search(r"(\d+) answer\(s\) applied, (\d+) re-asked, 0 failed, 0 already applied; job (\w+)\.", got.output)
    assert m and int(m[1]) + int(m[2]) == est["requests"]
    assert m[3] == ("waiting" if int(m[2]) else "done") and (int(m[2]) == 0) == ("re-ask round" not in got.output)
    shown = _run(db, "list", "--json")
    assert shown.exit_code == 0

    online = _run(db, "batch", "status", "nope")
    assert online.exit_code == 1 and "no job nope" in online.output


@pytest.fixture
def remote_cli(tmp_path, monkeypatch):
    """start(**server options) -> run(*args): the CLI on a store of 9 researchers, against the fake Files/Batches
    server on loopback."""
    from fake_openai_server import start_in_thread

    import enrich.agent.llm as agent_llm

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)  # the fake on 127.0.0.1 only
    servers = []

    def start(**options):
        server, url = start_in_thread(latency=0.0, lifetime=120, **options)
        servers.append(server)
        db = tmp_path / "r.db"
        store = Store.open(db)
        ingest(store, 9)
        store.close()
        env = {**ENV, "ENRICH_BASE_URL": url}
        return lambda *args: CliRunner().invoke(cli, ["--db", str(db), *args], env=env, catch_exceptions=False)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_remote_mode_submit_status_and_collect_wait(remote_cli):
    run = remote_cli(invalid_every=3)
    built = run("run", "--batch")
    assert built.exit_code == 0, built.output
    assert "submitted batch(es) batch_" in built.output
    job = next(w for w in built.output.split() if w.startswith("J2")).rstrip(":")
    st = run("batch", "status", job)
    assert st.exit_code == 0 and "round 0: batch_" in st.output
    got = run("batch", "collect", job, "--wait", "--poll", "0")
    assert got.exit_code == 0, got.output
    assert "re-ask round" in got.output and "; job done." in got.output
    jobs = json.loads(run("jobs", job, "--json").output)
    assert jobs[0]["state"] == "done" and {b["status"] for b in jobs[0]["batches"]} == {"collected"}
    assert len({b["batch_id"] for b in jobs[0]["batches"]}) >= 2  # the first round and its re-ask round(s)


def test_cancel_a_remote_job_then_collect_what_was_answered(remote_cli):
    run = remote_cli()
    built = run("run", "--batch")
    job = next(w for w in built.output.split() if w.startswith("J2")).rstrip(":")
    requests = json.loads(run("jobs", job, "--json").output)[0]["counts"]["requests"]
    cancelled = run("batch", "cancel", job)
    assert cancelled.exit_code == 0 and "cancelling batch(es) batch_" in cancelled.output
    got = run("batch", "collect", job, "--wait", "--poll", "0", "--json")
    assert got.exit_code == 0, got.output
    last = json.loads(got.output)[-1]
    assert last["state"] == "done" and last["errors"] == {"batch_cancelled": requests - requests // 2}
    assert "asks them again" in "\n".join(last["report"])
    again = run("run", "--batch", "--dry-run", "--json")  # the cancelled half is asked again, the rest is done
    assert json.loads(again.output)["requests"] == requests - requests // 2
