"""`enrich export` lines validate against the JSON Schema `enrich schema --export` publishes (schema_version 2), and
a version-1 reader that reads only `affiliation` still finds what it expects there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from enrich.agent.cli import cli
from enrich.schemas import DerivedFact
from enrich.schemas.listing import ParsedListing, StatedValue, Work
from enrich.store import Store

# made-up people and organisations
TEXT = (
    "Ilse Varga\n"
    "Laboratorio de Óptica Cuántica, Universidad de Valdoria\n"
    "Hospital Clínico de Valdoria\n"
    "\nPublications (1)\n\nLight in fibres\n"
)
PRIMARY = "Laboratorio de Óptica Cuántica, Universidad de Valdoria"
SECOND = "Hospital Clínico de Valdoria"

# The `affiliation` object as schema_version 1 published it (frozen here: a v1 consumer's expectations).
V1_AFFILIATION = {
    "type": ["object", "null"],
    "required": ["value", "ror_id", "status", "origin", "confidence", "evidence", "job_id"],
    "properties": {
        "value": {"type": "string"},
        "ror_id": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "origin": {"type": "string"},
        "confidence": {"type": ["number", "null"]},
        "job_id": {"type": ["string", "null"]},
        "evidence": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["quote", "listing", "start", "end"],
                "properties": {
                    "quote": {"type": ["string", "null"]},
                    "listing": {"type": ["string", "null"]},
                    "start": {"type": ["integer", "null"]},
                    "end": {"type": ["integer", "null"]},
                },
            },
        },
    },
}


def stated(text: str, part: str) -> StatedValue:
    at = text.index(part)
    return StatedValue(value={"name": part}, quote=part, start=at, end=at + len(part))


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "x.db"
    store = Store.open(path)
    ilse = store.record_import(
        ParsedListing(
            format="generic",
            kind="person",
            name="Ilse Varga",
            stated={"affiliation": stated(TEXT, PRIMARY), "affiliation.2": stated(TEXT, SECOND)},
            works=[Work(title="Light in fibres", year=2021)],
        ),
        text=TEXT,
        path="ilse.txt",
    )
    first = store.current(ilse.researcher_id, "affiliation")
    store.add_derived(
        DerivedFact(value_id=first.id, kind="ror_id", value="https://ror.org/00val0000", origin="match:ror@test")
    )
    store.record_import(
        ParsedListing(format="generic", kind="person", name="Otto Nemo", works=[Work(title="Nothing stated")]),
        text="Otto Nemo\nNothing stated\n",
        path="otto.txt",
    )
    store.record_import(
        ParsedListing(format="hf-papers", kind="feed", works=[Work(title="A feed paper")]),
        text="Daily papers\nA feed paper\n",
        path="feed.txt",
    )
    store.close()
    return path


def run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_lines_validate_against_the_published_v2_schema(db, tmp_path):
    run(db, "schema", "--export", str(tmp_path / "schemas"))
    schema = json.loads((tmp_path / "schemas" / "ExportLine.schema.json").read_text())
    assert schema["properties"]["schema_version"]["const"] == 2
    validator = Draft202012Validator(schema)
    lines = [json.loads(x) for x in run(db, "export", "--include-feeds").splitlines()]
    assert len(lines) == 3
    for line in lines:
        errors = [e.message for e in validator.iter_errors(line)]
        assert errors == [], (line.get("name"), errors)
    ilse, otto, feed = lines
    assert [(a["value"], a["field"], a["primary"]) for a in ilse["affiliations"]] == [
        (PRIMARY, "affiliation", True),
        (SECOND, "affiliation.2", False),
    ]
    assert (
        ilse["affiliations"][0]["ror_id"] == "https://ror.org/00val0000" and ilse["affiliations"][1]["ror_id"] is None
    )
    assert [e["quote"] for a in ilse["affiliations"] for e in a["evidence"]] == [PRIMARY, SECOND]
    assert otto["affiliations"] == [] and otto["affiliation"] is None and feed["affiliations"] == []
    # a line missing a required key does not validate: the check can fail
    assert list(validator.iter_errors({k: v for k, v in ilse.items() if k != "listings"}))


def test_a_version_1_reader_of_affiliation_keeps_working(db):
    validator = Draft202012Validator(V1_AFFILIATION)
    lines = [json.loads(x) for x in run(db, "export").splitlines()]
    for line in lines:
        assert list(validator.iter_errors(line["affiliation"])) == []
    ilse = lines[0]
    assert ilse["affiliation"]["value"] == PRIMARY and ilse["affiliation"]["ror_id"] == "https://ror.org/00val0000"
    assert ilse["affiliation"]["evidence"][0]["quote"] == PRIMARY
    assert "field" not in ilse["affiliation"]  # `affiliation` is exactly the v1 object
