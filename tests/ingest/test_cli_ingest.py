"""`enrich ingest` end to end on a temporary database: per-file results, the batch survives bad files,
idempotent re-ingest, new versions, --json, stdin."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.agent.cli import cli

FIX = Path(__file__).parent / "fixtures"
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENRICH_CONFIG", raising=False)
    monkeypatch.setenv("ENRICH_BACKEND", "fake")
    db = tmp_path / "t.db"

    def run(*args, input=None):
        return CliRunner().invoke(cli, ["--db", str(db), "ingest", *args], input=input, catch_exceptions=False)

    return run, tmp_path, db


def rows(result):
    return {Path(r["path"]).name: r for r in json.loads(result.output)}


def test_seeds_folder_ingests_five_listings(env):
    run, tmp, db = env
    res = run(str(SEEDS), "--json")
    assert res.exit_code == 0, res.output
    got = rows(res)
    assert {k: (v["format"], v["kind"], v["works"], v["status"]) for k, v in got.items()} == {
        "acl-anthology-zhaorui-tan.txt": ("acl", "person", 2, "new"),
        "arxiv-listing-yan-sun.txt": ("arxiv", "person", 50, "new"),
        "bzpeer-profile-tao-sun.txt": ("bzpeer", "person", 3, "new"),
        "hf-papers-listing.txt": ("hf-papers", "feed", 34, "new"),
        "ieee-author-page.txt": ("ieee", "person", 10, "new"),
    }
    assert got["hf-papers-listing.txt"]["researcher_id"] is None
    from enrich.store import Store

    store = Store.open(str(db))
    ieee = got["ieee-author-page.txt"]
    cur = store.current(ieee["researcher_id"], "affiliation")
    assert cur.value == {"name": "National University of Defense Technology, Changsha, China"}
    assert (cur.status, cur.origin) == ("imported", "import:ieee")
    assert len(store.listing_works(got["arxiv-listing-yan-sun.txt"]["listing_id"])) == 50
    again = rows(run(str(SEEDS), "--json"))
    assert {v["status"] for v in again.values()} == {"unchanged"}


def test_bad_files_fail_alone_and_good_files_land(env):
    run, tmp, db = env
    batch = tmp / "batch"
    batch.mkdir()
    shutil.copy(FIX / "year_blocks.txt", batch / "a_good.txt")
    (batch / "b_empty.txt").write_bytes(b"")
    (batch / "c_binary.txt").write_bytes(b"GIF89a\x00\x01\x00")
    (batch / "d_latin1.txt").write_bytes("Gülşen\n".encode("latin-1", errors="replace"))
    with (batch / "e_big.txt").open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    (batch / "f_page.html").write_text(
        "<html><body><h1>Ada Lovelace</h1><p>Dept of Maths, Univ of London</p>"
        "<div><p>Publications (1)</p></div><div><p>On Engines</p><p>Ada Lovelace</p>"
        "<p>Year: 1843 | Article | Notes</p></div></body></html>",
        encoding="utf-8",
    )
    (batch / "g_unknown.txt").write_text((FIX / "unknown_page.txt").read_text(), encoding="utf-8")
    res = run(str(batch), "--json", "--no-llm")
    assert res.exit_code == 1
    got = rows(res)
    assert got["a_good.txt"]["status"] == "new" and got["a_good.txt"]["works"] == 3
    assert got["b_empty.txt"]["notes"] == ["empty file"]
    assert got["c_binary.txt"]["notes"] == ["binary file (contains NUL bytes), not a text listing"]
    assert got["d_latin1.txt"]["notes"][0].startswith("not valid UTF-8")
    assert got["e_big.txt"]["notes"][0].startswith("too large (50.0 MB > 20 MB limit")
    assert got["f_page.html"]["status"] == "new" and "HTML: tags stripped" in got["f_page.html"]["notes"]
    assert got["f_page.html"]["name"] == "Ada Lovelace" and got["f_page.html"]["works"] == 1
    assert "unknown listing format" in got["g_unknown.txt"]["notes"][0]
    assert {k for k, v in got.items() if v["status"] == "failed"} == {
        "b_empty.txt",
        "c_binary.txt",
        "d_latin1.txt",
        "e_big.txt",
        "g_unknown.txt",
    }
    from enrich.store import Store

    store = Store.open(str(db))
    assert [r.name for r in store.researchers()] == ["Maria Okafor", "Ada Lovelace"]


def test_max_size_flag_and_table_output(env):
    run, tmp, db = env
    res = run(
        str(SEEDS / "acl-anthology-zhaorui-tan.txt"), str(SEEDS / "arxiv-listing-yan-sun.txt"), "--max-size-mb", "0.01"
    )
    assert res.exit_code == 1
    assert "Zhaorui Tan" in res.output and "too large" in res.output and "1 ingested, 1 failed" in res.output


def test_changed_file_becomes_new_version_and_stdin_works(env):
    run, tmp, db = env
    f = tmp / "p.txt"
    f.write_text((FIX / "bracket_year.txt").read_text(), encoding="utf-8")
    first = json.loads(run(str(f), "--json").output)[0]
    f.write_text(f.read_text() + "\n[2022] Jonas Lindqvist. A New Paper. Some Venue.\n", encoding="utf-8")
    second = json.loads(run(str(f), "--json").output)[0]
    assert (first["status"], second["status"], second["version"], second["works"]) == ("new", "new version", 2, 3)
    assert second["researcher_id"] == first["researcher_id"]
    res = run("-", "--json", "--name", "Zhaorui Tan", input=(SEEDS / "acl-anthology-zhaorui-tan.txt").read_text())
    row = json.loads(res.output)[0]
    assert (row["path"], row["format"], row["works"]) == ("<stdin>", "acl", 2)


def test_unknown_format_uses_llm_fallback_by_default(env, monkeypatch):
    run, tmp, db = env
    from enrich.agent.llm.fake import FakeModel

    answer = {"kind": "person", "works": [{"title": "Graph Transformers at Scale", "year": 2022}]}
    monkeypatch.setattr("enrich.agent.llm.factory.make_client", lambda settings, store=None: FakeModel([answer]))
    res = run(str(FIX / "unknown_page.txt"), "--json", "--name", "Kim Lee")
    row = json.loads(res.output)[0]
    assert res.exit_code == 0
    assert (row["format"], row["works"], row["name"]) == ("unknown-llm", 1, "Kim Lee")
