"""`enrich ingest --jsonl`: records streamed from one file (or stdin), the record id kept as the listing's
external_id and exported, bad lines reported with their line number while the rest lands."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.agent.ingest.jsonl import LineError, Record, read_records
from enrich.schemas import ExportLine
from enrich.store import Store

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
BZPEER = (SEEDS / "bzpeer-profile-tao-sun.txt").read_text()
ACL = (SEEDS / "acl-anthology-zhaorui-tan.txt").read_text()


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENRICH_BACKEND", "fake")
    db = tmp_path / "t.db"

    def run(*args, input=None):
        return CliRunner().invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)

    return run, tmp_path, db


def jsonl(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_read_records_reports_each_bad_line_and_goes_on():
    data = (
        jsonl(
            {"id": "a1", "text": "x", "name": "Ann"},
            "{not json",
            "",
            '["a list"]',
            {"text": "no id"},
            {"id": 7, "text": "  "},
            {"id": 8, "text": "t", "format": "pdf"},
            {"id": True, "text": "t"},
            {"id": 9, "text": "ok", "url": "https://example.org/p/9"},
        ).encode()
        + b'{"id": "u", "text": "\xff"}\n'
    )
    import io

    got = list(read_records(io.BytesIO(data)))
    assert got[0] == Record(1, "a1", "x", "Ann")
    bad = [(g.line, g.message.split(" (")[0]) for g in got if isinstance(g, LineError)]
    assert bad == [
        (2, "not JSON"),
        (4, "a JSON list, not an object"),
        (5, "no id"),
        (6, "no text"),
        (7, "unknown format 'pdf'; known: bzpeer, ieee, arxiv, acl, hf-papers, generic"),
        (8, "no id"),
        (10, "not valid UTF-8"),
    ]
    assert got[-2] == Record(9, "9", "ok", None, "https://example.org/p/9")


def test_jsonl_ingest_lands_good_records_and_reports_bad_lines(env):
    run, tmp, db = env
    src = tmp / "platform.jsonl"
    src.write_text(
        jsonl(
            {"id": "p-1", "text": BZPEER, "url": "https://example.org/p-1"},
            "not json at all",
            {"id": "p-2", "text": ACL, "name": "Zhaorui Tan"},
            {"id": "p-3"},
        )
    )
    res = run("ingest", "--jsonl", str(src))
    assert res.exit_code == 1
    assert "2 ingested, 2 failed (2 new)" in res.stdout
    assert "platform.jsonl:2: line 2: not JSON" in res.stderr
    assert "line 4: no text" in res.stderr

    store = Store.open(db)
    listings = {lst.external_id: lst for lst in store.listings()}
    assert set(listings) == {"p-1", "p-2"}
    assert listings["p-1"].path == f"{src.resolve()}#p-1"
    assert listings["p-1"].facts["url"] == "https://example.org/p-1"
    assert store.get_researcher(listings["p-2"].researcher_id).name == "Zhaorui Tan"
    store.close()

    lines = [ExportLine.model_validate_json(x) for x in run("export").stdout.splitlines()]
    assert sorted(line.external_id for line in lines) == ["p-1", "p-2"]
    assert {line.listings[0].external_id for line in lines} == {"p-1", "p-2"}

    again = run("ingest", "--jsonl", str(src), "--json")  # the per-record report, in input order
    report = json.loads(again.stdout)
    assert [(r["line"], r["external_id"], r["status"]) for r in report] == [
        (1, "p-1", "unchanged"),
        (2, None, "failed"),
        (3, "p-2", "unchanged"),
        (4, "p-3", "failed"),
    ]


def test_jsonl_from_stdin_and_a_changed_record_is_a_new_version(env):
    run, tmp, db = env
    res = run("ingest", "--jsonl", "-", "--json", input=jsonl({"id": 5, "text": BZPEER}))
    assert res.exit_code == 0, res.output
    [first] = json.loads(res.stdout)
    assert (first["path"], first["external_id"], first["status"]) == ("stdin#5", "5", "new")
    changed = BZPEER.replace("Tao Sun", "Tao  Sun", 1)
    [second] = json.loads(run("ingest", "--jsonl", "-", "--json", input=jsonl({"id": 5, "text": changed})).stdout)
    assert (second["status"], second["researcher_id"]) == ("new version", first["researcher_id"])


def test_jsonl_needs_a_readable_file_and_no_paths(env):
    run, tmp, db = env
    res = run("ingest", "--jsonl", str(tmp / "missing.jsonl"))
    assert res.exit_code == 1 and "cannot read" in res.output
    res = run("ingest", "--jsonl", "-", str(SEEDS))
    assert res.exit_code == 1 and "not both" in res.output
    assert run("ingest").exit_code != 0


def test_a_large_file_batch_prints_a_summary_line_not_a_table(env, tmp_path):
    run, tmp, db = env
    folder = tmp / "many"
    folder.mkdir()
    for i in range(60):  # more than a screen of rows
        (folder / f"p{i:02}.txt").write_text(BZPEER.replace("Tao Sun", f"Tao Sun{i}", 1))
    (folder / "empty.txt").write_text("")
    res = run("ingest", str(folder), "--no-llm")
    assert res.exit_code == 1
    assert res.stdout.startswith("60 ingested, 1 failed (60 new)")
    assert len(res.stdout.splitlines()) == 1
    assert "empty.txt: empty file" in res.stderr
