"""`enrich run --processes N`: the same job in worker processes gives the same store as in one process."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from enrich.agent.cli import cli

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def enrich(db: Path, *args: str):
    res = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def export(db: Path) -> list[dict]:
    def strip(x):  # what differs between two jobs whatever they did: their ids and clocks
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("job_id", "exported_at", "llm_call_id")}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return [strip(json.loads(line)) for line in enrich(db, "export").stdout.splitlines()]


def test_worker_processes_enrich_exactly_as_one_process(tmp_path):
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    for f in SEEDS.iterdir():  # the same pages again (another text: a new listing): merge proposals
        (tmp_path / f"copy-{f.name}").write_text(f.read_text(encoding="utf-8") + "\n ", encoding="utf-8")
    for db in (one, two):
        enrich(db, "ingest", "--no-llm", str(SEEDS))
        enrich(db, "ingest", "--no-llm", *[str(p) for p in sorted(tmp_path.glob("copy-*"))])
    serial = json.loads(enrich(one, "run", "--backend", "fake", "--concurrency", "1", "--json").stdout)
    parallel = json.loads(enrich(two, "run", "--backend", "fake", "--processes", "2", "--json").stdout)
    assert parallel["state"] == serial["state"] == "done"
    assert parallel["params"]["processes"] == 2
    drop = ("seconds",)
    assert {k: v for k, v in parallel["counts"].items() if k not in drop} == {
        k: v for k, v in serial["counts"].items() if k not in drop
    }
    assert export(two) == export(one) and len(export(one)) >= 8
    review = [json.loads(enrich(db, "review", "--json", "--limit", "200").stdout) for db in (one, two)]
    # the same proposals (their ids follow the order researchers finished in)
    assert sorted((p["kind"], p["researcher_id"], p["summary"]) for p in review[0]) == sorted(
        (p["kind"], p["researcher_id"], p["summary"]) for p in review[1]
    )
    assert any(p["kind"] == "merge" for p in review[1])
