"""The call log keeps long bodies compressed (read back as text) and drops old bodies on request (retention)."""

from __future__ import annotations

import json

from enrich.store import llm_log


def call(db, created_at: str, content: str) -> int:
    return llm_log.insert_call(
        db,
        call_group="g",
        attempt=1,
        backend="fake",
        model="m",
        messages=[{"role": "user", "content": content}],
        response=json.dumps({"answer": content}),
        created_at=created_at,
    )


def test_long_bodies_are_stored_compressed_and_read_back_as_text(db):
    long = "the same listing text, again and again. " * 200
    cid = call(db, "2026-01-01T00:00:00+00:00", long)
    raw = db.conn.execute("SELECT messages, response FROM llm_calls WHERE id = ?", [cid]).fetchone()
    assert all(isinstance(v, bytes) and len(v) < len(long) / 10 for v in raw)
    row = llm_log.get_call(db, cid)
    assert json.loads(row["messages"])[0]["content"] == long
    assert llm_log.recent_calls(db, 1)[0]["response"] == json.dumps({"answer": long})
    short = call(db, "2026-01-01T00:00:00+00:00", "short")
    assert isinstance(db.conn.execute("SELECT messages FROM llm_calls WHERE id = ?", [short]).fetchone()[0], str)


def test_prune_drops_old_bodies_and_keeps_the_rows(db):
    old, new = call(db, "2026-01-01T00:00:00+00:00", "old " * 300), call(db, "2026-03-01T00:00:00+00:00", "new")
    assert llm_log.prune_bodies(db, "2026-02-01T00:00:00+00:00") == 1
    assert llm_log.prune_bodies(db, "2026-02-01T00:00:00+00:00") == 0  # nothing left to prune
    pruned, kept = llm_log.get_call(db, old), llm_log.get_call(db, new)
    assert (pruned["messages"], pruned["response"], pruned["model"]) == ("[]", None, "m")
    assert json.loads(kept["messages"])[0]["content"] == "new"


def test_llm_log_prune_before_command(tmp_path):
    from click.testing import CliRunner

    from enrich.agent.cli import cli
    from enrich.store import Store

    store = Store.open(tmp_path / "x.db")
    call(store.db, "2020-01-01T00:00:00+00:00", "old " * 300)
    store.close()
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "llm-log", "--prune-before", "2021-01-01"])
    assert res.exit_code == 0 and "dropped the bodies of 1 call(s)" in res.output
    bad = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "llm-log", "--prune-before", "soon"])
    assert bad.exit_code == 1 and "--prune-before 'soon' is neither a job id" in bad.output
