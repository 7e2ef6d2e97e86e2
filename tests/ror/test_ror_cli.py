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


def _loaded(tmp_path: Path) -> Path:
    db = tmp_path / "e.db"
    assert run(db, "import", str(FIXTURES / "ror-v2-classes.json")).exit_code == 0
    return db


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


BULK = [
    "2University of Bergen, Bergen, Norway",
    "Independent researcher",
    "  Dept. of E&amp;CE, Rice Univ., Houston  ",
    "University of Bergen and Haukeland University Hospital, Bergen, Norway",
]


def test_bulk_match_reads_lines_jsonl_and_a_json_array_and_echoes_each_string_exactly(tmp_path):
    db = _loaded(tmp_path)
    plain = tmp_path / "in.txt"
    plain.write_text("\n".join(BULK) + "\n", encoding="utf-8")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps({"affiliation": s, "other": 1}) for s in BULK), encoding="utf-8")
    array = tmp_path / "in.json"
    array.write_text(json.dumps([{"affiliation": s, "ror_ids": []} for s in BULK]), encoding="utf-8")
    outputs = []
    for path in (plain, jsonl, array):
        result = run(db, "match", "--input", str(path))
        assert result.exit_code == 0, result.output
        lines = _lines(result.output)
        assert [line["affiliation"] for line in lines] == BULK  # input order, the string as given
        outputs.append(lines)
    assert outputs[0] == outputs[1] == outputs[2]
    lines = outputs[0]
    assert lines[0]["ror_ids"] == ["https://ror.org/00uib0000"]
    assert lines[1] == {"affiliation": BULK[1], "ror_ids": [], "matches": []}
    assert lines[2]["ror_ids"] == ["https://ror.org/00rice000"]
    assert set(lines[3]["ror_ids"]) == {"https://ror.org/00uib0000", "https://ror.org/00hauk000"}
    for m in lines[3]["matches"]:
        assert set(m) == {"ror_id", "name", "score", "matched_on", "span"}
        start, end = m["span"]
        assert BULK[3][start:end] in ("University of Bergen", "Haukeland University Hospital")


def test_bulk_match_from_stdin(tmp_path):
    db = _loaded(tmp_path)
    result = CliRunner().invoke(
        cli, ["--db", str(db), "ror", "match", "--input", "-"], input="Rice University\nnothing here\n"
    )
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert [line["ror_ids"] for line in lines] == [["https://ror.org/00rice000"], []]


def test_bulk_match_bad_input_and_threshold_are_one_line_errors(tmp_path):
    db = _loaded(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"affiliation": "x"}, {"no": 1}]', encoding="utf-8")
    result = run(db, "match", "--input", str(bad))
    assert result.exit_code == 1 and "has no 'affiliation' string" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = run(db, "match", "Rice University", "--threshold", "90")
    assert result.exit_code == 1 and "between 0 and 1" in result.output
    assert run(db, "match").exit_code == 1


def test_threshold_setting_is_read(tmp_path, monkeypatch):
    db = _loaded(tmp_path)
    fuzzy = "Hokaido University, Sapporo"
    assert _match_ids(db, fuzzy) == ["https://ror.org/00hok0000"]
    monkeypatch.setenv("ENRICH_ROR_THRESHOLD", "1.0")
    assert _match_ids(db, fuzzy) == []
    monkeypatch.setenv("ENRICH_ROR_THRESHOLD", "0.5")
    assert _match_ids(db, fuzzy) == ["https://ror.org/00hok0000"]


def _match_ids(db: Path, text: str) -> list[str]:
    out = json.loads(run(db, "match", text, "--json").output)
    return [] if out is None else [m["ror_id"] for m in out["matches"]]


def test_plain_lines_split_at_newlines_only():
    from enrich.agent.ror_input import parse_affiliations

    assert parse_affiliations("a\u2028b\r\nc\x0cd\n\n  e  \n") == ["a\u2028b", "c\x0cd", "  e  "]
