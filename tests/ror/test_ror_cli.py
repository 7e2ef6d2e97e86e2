"""`enrich ror import|match|status` on the fixture dumps, against a temporary database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from enrich.agent.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"


def run(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), "ror", *args], catch_exceptions=False)


def test_status_and_match_without_an_index_say_how_to_load_one(tmp_path):
    db = tmp_path / "e.db"
    assert "No ROR index: run `enrich ror import <dump>`" in run(db, "status").output
    assert json.loads(run(db, "status", "--json").output) is None
    result = run(db, "match", "Cornell University")
    assert result.exit_code == 1
    assert "No ROR index" in result.output


def test_import_match_status(tmp_path):
    db = tmp_path / "e.db"
    result = run(db, "import", str(FIXTURES / "ror-v1-mini.json.gz"), str(FIXTURES / "v1.55-2024-10-31-ror-data.zip"))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Imported 3 records (6 names, 3 domains) from ")
    assert "release unknown" in lines[0]
    assert lines[1].startswith("Imported 12 records (24 names, 11 domains) from ")
    assert "release v1.55-2024-10-31" in lines[1]

    out = json.loads(run(db, "match", "National University of Defense Technology, Changsha, China", "--json").output)
    assert out["ror_id"] == "https://ror.org/05d2yfz11"
    assert out["origin"] == "match:ror@unknown"
    out = json.loads(run(db, "match", "Sung-Hyon Myaeng (KAIST)", "--email", "smyaeng@kaist.ac.kr", "--json").output)
    assert (out["ror_id"], out["origin"]) == ("https://ror.org/05apxxy63", "match:ror@v1.55-2024-10-31")
    assert json.loads(run(db, "match", "Open to collaborate", "--json").output) is None
    assert run(db, "match", "Researcher profile").output.strip() == "No match."
    table = run(db, "match", "Cornell University").output
    assert "https://ror.org/05bnh6r87" in table and "Candidates" in table

    status = json.loads(run(db, "status", "--json").output)
    assert (status["records"], status["names"], status["domains"]) == (14, 29, 13)
    assert status["releases"] == ["v1.55-2024-10-31", "unknown"]
    assert "14 records" in run(db, "status").output


def test_import_json_output_and_errors(tmp_path):
    db = tmp_path / "e.db"
    rows = json.loads(run(db, "import", str(FIXTURES / "ror-v2-mini.json"), "--release", "v9.9", "--json").output)
    assert [(r["records"], r["release"]) for r in rows] == [(12, "v9.9")]
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = run(db, "import", str(bad))
    assert result.exit_code == 1
    assert "cannot import" in result.output and "not a JSON array" in result.output
