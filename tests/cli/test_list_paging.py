"""`enrich list` and `enrich review` a page at a time: --limit, --after CURSOR, the next-page hint."""

from __future__ import annotations

import json

from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.schemas import Proposal
from enrich.schemas.listing import ParsedListing, Work
from enrich.store import Store


def run(db, *args):
    res = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    return res


def seed(db, n: int) -> list[int]:
    store = Store.open(db)
    ids = []
    for i in range(n):
        parsed = ParsedListing(format="text", kind="person", name=f"P{i}", works=[Work(title=f"Paper {i}")])
        rid = store.record_import(parsed, text=f"P{i}\nPaper {i}\n", path=f"p{i}.txt").researcher_id
        store.create_proposal(Proposal(kind="split", researcher_id=rid, summary=f"s{i}", confidence=0.5))
        ids.append(rid)
    store.close()
    return ids


def test_list_pages(tmp_path):
    db = tmp_path / "x.db"
    ids = seed(db, 5)
    first = json.loads(run(db, "list", "--json", "--limit", "2").stdout)
    assert [r["id"] for r in first] == ids[:2] and first[0]["works"] == 1 and first[0]["pending_proposals"] == 1
    rest = json.loads(run(db, "list", "--json", "--limit", "3", "--after", first[-1]["cursor"]).stdout)
    assert [r["id"] for r in rest] == ids[2:]
    table = run(db, "list", "--limit", "2").stdout
    assert "2 of 5 researcher(s)" in table and f"next page: enrich list --after {ids[1]}" in table
    last = run(db, "list", "--limit", "3", "--after", str(ids[1])).stdout
    assert "next page" not in last
    bad = run(db, "list", "--after", "x")
    assert bad.exit_code == 1 and "not a researcher cursor" in bad.output


def test_review_pages_and_empty_queue(tmp_path):
    db = tmp_path / "x.db"
    assert json.loads(run(db, "review", "--json", "--limit", "2").stdout) == []
    seed(db, 4)
    first = json.loads(run(db, "review", "--json", "--limit", "2").stdout)
    second = json.loads(run(db, "review", "--json", "--limit", "2", "--after", first[-1]["cursor"]).stdout)
    assert len(first) == len(second) == 2 and {r["id"] for r in first}.isdisjoint(r["id"] for r in second)
    assert json.loads(run(db, "review", "--json", "--limit", "2", "--after", second[-1]["cursor"]).stdout) == []
    table = run(db, "review", "--limit", "3").stdout
    assert "3 of 4 pending proposal(s)" in table and "next page: enrich review --after" in table
