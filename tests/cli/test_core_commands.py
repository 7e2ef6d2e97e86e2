"""The core commands against a temporary database filled through store.record_import (no parsers, no model)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.schemas import EXPORTED_SCHEMAS, DerivedFact, Evidence, ExportLine, FieldValue, Job
from enrich.schemas.conflation import Cluster, ConflationResult
from enrich.schemas.listing import ParsedListing, StatedValue, Work
from enrich.store import Store
from enrich.store.structural import save_conflation

ADA_TEXT = "Ada Lovelace\nDepartment of Computing, University of Bergen\nPublications\nNeural parsing (2021)\n"
AFFIL = "Department of Computing, University of Bergen"
FEED_TEXT = "Daily papers\nA feed paper (2024)\n"


@dataclass
class Seeded:
    db: Path
    ada: int
    bob: int
    ada_listing: int
    feed_listing: int
    ada_works: list[str]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No config file, no ENRICH_* variables from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for var in ("ENRICH_DB", "ENRICH_CONFIG", "ENRICH_BACKEND", "ENRICH_MODEL", "OPENAI_API_KEY", "ENRICH_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("USER", "tester")


@pytest.fixture
def seeded(tmp_path) -> Seeded:
    db = tmp_path / "x.db"
    store = Store.open(db)
    start = ADA_TEXT.index(AFFIL)
    ada = store.record_import(
        ParsedListing(
            format="generic",
            kind="person",
            name="Ada Lovelace",
            name_origin="page",
            stated={
                "affiliation": StatedValue(value={"name": AFFIL}, quote=AFFIL, start=start, end=start + len(AFFIL))
            },
            works=[Work(title="Neural parsing", year=2021, venue="ACL"), Work(title="Topic models", year=2022)],
        ),
        text=ADA_TEXT,
        path="ada.txt",
    )
    bob = store.record_import(
        ParsedListing(format="generic", kind="person", name="Bob Babbage", works=[Work(title="Engines", year=2019)]),
        text="Bob Babbage\nEngines (2019)\n",
        path="bob.txt",
    )
    feed = store.record_import(
        ParsedListing(format="hf-papers", kind="feed", works=[Work(title="A feed paper")]),
        text=FEED_TEXT,
        path="feed.txt",
    )
    works = [w.work_id for w in store.researcher_works(ada.researcher_id)]
    # a ROR match beside the imported affiliation, model topics applied by policy, a proposed summary, a verdict
    aff = store.current(ada.researcher_id, "affiliation")
    store.add_derived(
        DerivedFact(
            value_id=aff.id, kind="ror_id", value="https://ror.org/03zga2b32", origin="match:ror@v1.55", confidence=0.97
        )
    )
    store.submit(
        FieldValue(
            researcher_id=ada.researcher_id,
            field="topics",
            status="generated",
            origin="llm:fake/m",
            confidence=0.8,
            job_id="J1",
            value=[
                {"tag": "cs.CL", "label": "Computation and Language", "score": 0.9, "works": works[:1]},
                {"tag": "cs.LG", "label": "Machine Learning", "score": 0.4, "works": works},
            ],
        ),
        auto_apply=True,
    )
    store.submit(
        FieldValue(
            researcher_id=bob.researcher_id,
            field="summary",
            status="proposed",
            origin="llm:fake/m",
            value={"text": "Bob builds engines.", "sentences": [{"text": "Bob builds engines."}]},
            evidence=[Evidence(note="model inference, no quote")],
        )
    )
    save_conflation(
        store,
        ada.listing_id,
        ada.researcher_id,
        ConflationResult(
            detected=False,
            confidence=0.1,
            method="test",
            clusters=[Cluster(work_ids=works, titles=["Neural parsing", "Topic models"])],
        ),
    )
    store.create_job(
        Job(
            id="J1",
            state="done",
            todo=[ada.researcher_id],
            cursor=1,
            counts={"generated": 1},
            tokens_in=120,
            tokens_out=30,
            cost_usd=0.0012,
        )
    )
    store.close()
    return Seeded(db, ada.researcher_id, bob.researcher_id, ada.listing_id, feed.listing_id, works)


def run(db: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_init_creates_the_database(tmp_path):
    db = tmp_path / "sub" / "new.db"
    result = run(db, "init")
    assert db.exists()
    assert "Database ready" in result.output and "0 researcher(s)" in result.output
    assert "Database ready" in run(db, "init").output  # idempotent


def test_list_json_shape(seeded):
    rows = json.loads(run(seeded.db, "list", "--json").stdout)
    assert [(r["id"], r["name"]) for r in rows] == [(seeded.ada, "Ada Lovelace"), (seeded.bob, "Bob Babbage")]
    ada, bob = rows
    assert ada["listings"] == ["ada.txt"] and ada["works"] == 2
    assert ada["missing"] == ["summary"]
    assert bob["missing"] == ["affiliation", "topics", "summary"] and bob["pending_proposals"] == 1


def test_list_table(seeded):
    out = run(seeded.db, "list").output
    assert "Ada Lovelace" in out and "ada.txt" in out and "2 researcher(s)" in out


def test_show_by_id_and_name_json(seeded):
    data = json.loads(run(seeded.db, "show", str(seeded.ada), "--json").stdout)
    assert data == json.loads(run(seeded.db, "show", "ada lovelace", "--json").stdout)
    assert data["works"] == 2 and data["listings"][0]["path"] == "ada.txt"
    aff = data["fields"]["affiliation"]
    assert (aff["value"], aff["status"], aff["origin"], aff["confidence"]) == (
        {"name": AFFIL},
        "imported",
        "import:generic",
        1.0,
    )
    assert aff["evidence"][0]["quote"] == AFFIL and aff["evidence"][0]["checked"] is True
    assert aff["ror_id"] == "https://ror.org/03zga2b32"
    assert data["fields"]["topics"]["status"] == "generated"
    assert data["fields"]["summary"] is None


def test_show_table_lists_every_field(seeded):
    out = run(seeded.db, "show", "Ada Lovelace").output
    for text in (
        "affiliation",
        "topics",
        "summary",
        "imported",
        "import:generic",
        "generated",
        "llm:fake/m",
        "(missing)",
        "works: 2",
        AFFIL.split(",")[0],
    ):
        assert text in out


def test_show_unknown_researcher_is_one_line_error(seeded):
    result = run(seeded.db, "show", "999", ok=False)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: no researcher 999 (see `enrich list`)"]
    assert "Traceback" not in result.output
    result = run(seeded.db, "show", "Nobody Known", ok=False)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_set_makes_a_verified_value_that_a_model_cannot_override(seeded):
    result = json.loads(run(seeded.db, "set", str(seeded.ada), "affiliation", "University of Oslo", "--json").stdout)
    assert result["status"] == "verified"
    store = Store.open(seeded.db)
    cur = store.current(seeded.ada, "affiliation")
    assert (cur.value, cur.status, cur.origin) == ({"name": "University of Oslo"}, "verified", "human:tester")
    out = store.submit(
        FieldValue(
            researcher_id=seeded.ada,
            field="affiliation",
            value={"name": "MIT"},
            status="generated",
            origin="llm:fake/m",
            confidence=1.0,
        ),
        auto_apply=True,
    )
    assert out.outcome == "proposed"
    assert store.current(seeded.ada, "affiliation").id == cur.id
    store.close()


def test_set_with_who_and_topics_shorthand(seeded):
    run(seeded.db, "set", "Bob Babbage", "topics", "cs.AI, math.HO", "--who", "ann")
    data = json.loads(run(seeded.db, "show", "Bob Babbage", "--json").stdout)
    topics = data["fields"]["topics"]
    assert [t["tag"] for t in topics["value"]] == ["cs.AI", "math.HO"] and topics["origin"] == "human:ann"


@pytest.mark.parametrize(
    "args, message",
    [
        (["1", "colour", "red"], "Invalid value for 'FIELD'"),
        (["1", "affiliation", "X"], "invalid value"),  # Affiliation.name needs >= 2 characters
        (["1", "summary", "{not json"], "invalid JSON"),
    ],
)
def test_set_bad_input_is_one_line(seeded, args, message):
    result = run(seeded.db, "set", *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_import_verified_reports_each_bad_row_and_keeps_the_good_ones(seeded, tmp_path):
    f = tmp_path / "v.csv"
    f.write_text(
        "researcher,field,value,who\n"
        f"{seeded.bob},affiliation,Old Institute,carol\n"
        "Nobody,affiliation,Some University\n"
        f"{seeded.bob},colour,red\n"
        'Ada Lovelace,topics,"cs.CL,cs.IR"\n'
        f"{seeded.ada},summary,\n",
        encoding="utf-8",
    )
    result = run(seeded.db, "import-verified", str(f), ok=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "line" in line]
    assert [e.split(": ")[1] for e in errors] == ["line 3", "line 4", "line 6"]
    assert "Nobody" in errors[0] and "colour" in errors[1] and "empty value" in errors[2]
    assert "2 value(s) set" in result.stdout
    store = Store.open(seeded.db)
    bob = store.current(seeded.bob, "affiliation")
    assert (bob.value, bob.status, bob.origin) == ({"name": "Old Institute"}, "verified", "human:carol")
    assert store.current(seeded.ada, "topics").origin == "human:tester"
    assert store.audit_entries(limit=1)[0].action == "import-verified"
    store.close()
    # the same file again: the good rows are already verified, nothing new is written
    again = json.loads(run(seeded.db, "import-verified", str(f), "--json", ok=False).stdout)
    assert again["applied"] == [] and again["unchanged"] == [2, 5] and len(again["errors"]) == 3


def test_import_verified_strict_applies_nothing(seeded, tmp_path):
    f = tmp_path / "v.csv"
    f.write_text(f"researcher,field,value\n{seeded.bob},affiliation,Old Institute\n{seeded.bob},affiliation,X\n")
    result = json.loads(run(seeded.db, "import-verified", str(f), "--strict", "--json", ok=False).stdout)
    assert result["strict_aborted"] and result["applied"] == [] and result["errors"][0].startswith("line 3:")
    store = Store.open(seeded.db)
    assert store.current(seeded.bob, "affiliation") is None
    store.close()


def test_import_verified_bad_header_and_missing_file(seeded, tmp_path):
    f = tmp_path / "h.csv"
    f.write_text("who,what\nann,x\n")
    result = run(seeded.db, "import-verified", str(f), ok=False)
    assert result.exit_code == 1 and "missing: researcher, field, value" in result.output
    result = run(seeded.db, "import-verified", str(tmp_path / "nope.csv"), ok=False)
    assert result.exit_code == 1 and "no such file" in result.output


def test_history_shows_superseded_and_current(seeded):
    run(seeded.db, "set", str(seeded.ada), "affiliation", "University of Oslo")
    rows = json.loads(run(seeded.db, "history", str(seeded.ada), "affiliation", "--json").stdout)
    assert [(r["shown_status"], r["origin"], r["current"]) for r in rows] == [
        ("superseded", "import:generic", False),
        ("verified", "human:tester", True),
    ]
    assert "University of Oslo" in run(seeded.db, "history", "Ada Lovelace", "affiliation").output


def test_jobs(seeded):
    [job] = json.loads(run(seeded.db, "jobs", "--json").stdout)
    assert (job["id"], job["state"], job["tokens_in"], job["counts"]) == ("J1", "done", 120, {"generated": 1})
    out = run(seeded.db, "jobs").output
    assert "J1" in out and "1/1" in out and "generated=1" in out


def test_jobs_and_show_report_recorded_errors(seeded):
    from enrich.schemas import JobError
    from enrich.store import Store

    store = Store.open(seeded.db)
    store.record_job_error(
        JobError(
            job_id="J1",
            researcher_id=seeded.ada,
            step="summary",
            error_type="ZeroDivisionError",
            message="division by zero",
            location="agent/steps/summary.py:12 in run",
        )
    )
    store.close()
    [job] = json.loads(run(seeded.db, "jobs", "--json").stdout)
    assert job["errors"] == 1 and job["resume"] is None
    [job] = json.loads(run(seeded.db, "jobs", "J1", "--errors", "--json").stdout)
    assert [(e["step"], e["error_type"]) for e in job["error_details"]] == [("summary", "ZeroDivisionError")]
    out = run(seeded.db, "jobs", "--errors").output
    assert "summary: ZeroDivisionError: division by zero (at agent/steps/summary.py:12 in run) [job J1]" in out
    shown = json.loads(run(seeded.db, "show", str(seeded.ada), "--json").stdout)
    assert [(e["step"], e["message"]) for e in shown["errors"]] == [("summary", "division by zero")]
    assert "error: summary failed with ZeroDivisionError" in run(seeded.db, "show", str(seeded.ada)).output
    shown = json.loads(run(seeded.db, "show", str(seeded.bob), "--json").stdout)
    assert shown["errors"] == []


def test_export_jsonl_matches_the_contract(seeded, tmp_path):
    out = tmp_path / "out.jsonl"
    run(seeded.db, "export", "--format", "jsonl", "--output", str(out))
    lines = [ExportLine.model_validate_json(line) for line in out.read_text().splitlines()]
    assert [(x.researcher_id, x.name) for x in lines] == [(seeded.ada, "Ada Lovelace"), (seeded.bob, "Bob Babbage")]
    ada, bob = lines
    assert ada.listings[0].path == "ada.txt" and ada.listings[0].format == "generic"
    assert ada.affiliation.value == AFFIL and ada.affiliation.ror_id == "https://ror.org/03zga2b32"
    assert ada.affiliation.status == "imported" and ada.affiliation.evidence[0].listing == "ada.txt"
    assert ada.affiliation.evidence[0].start == ADA_TEXT.index(AFFIL)
    assert [(t.tag, t.score, t.status) for t in ada.topics] == [
        ("cs.CL", 0.9, "generated"),
        ("cs.LG", 0.4, "generated"),
    ]
    assert ada.topics[0].works == seeded.ada_works[:1]
    assert ada.summary is None  # not computed yet
    assert ada.conflation.detected is False and ada.conflation.clusters[0][1].title == "Topic models"
    assert [(w.title, w.year, w.venue) for w in ada.works] == [
        ("Neural parsing", 2021, "ACL"),
        ("Topic models", 2022, None),
    ]
    # a pending proposal is not exported: bob has nothing applied
    assert bob.affiliation is None and bob.summary is None and bob.topics == [] and bob.conflation is None
    raw = json.loads(out.read_text().splitlines()[1])
    assert (
        set(raw)
        == {
            "schema_version",
            "researcher_id",
            "name",
            "job_id",
            "external_id",
            "listings",
            "affiliation",
            "affiliations",
            "topics",
            "summary",
            "conflation",
            "works",
        }
        and raw["schema_version"] == 2
    )


def test_export_feeds_only_when_asked(seeded):
    plain = run(seeded.db, "export").stdout.splitlines()
    assert len(plain) == 2
    lines = [ExportLine.model_validate_json(x) for x in run(seeded.db, "export", "--include-feeds").stdout.splitlines()]
    feed = lines[-1]
    assert (feed.researcher_id, feed.name, feed.listings[0].path) == (None, None, "feed.txt")
    assert [w.title for w in feed.works] == ["A feed paper"]


def test_export_csv_columns(seeded):
    from enrich.agent.export import CSV_COLUMNS

    result = run(seeded.db, "export", "--format", "csv", "--include-feeds")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    ada = rows[0]
    assert ada["affiliation_value"] == AFFIL and ada["affiliation_ror_id"] == "https://ror.org/03zga2b32"
    assert ada["affiliation_status"] == "imported" and ada["affiliation_confidence"] == "1"
    assert ada["topics"] == "cs.CL:0.90;cs.LG:0.40" and ada["topics_status"] == "generated"
    assert ada["conflation_detected"] == "false" and ada["conflation_clusters"] == "1" and ada["work_count"] == "2"
    assert rows[1]["summary_text"] == "" and rows[2]["researcher_id"] == "" and rows[2]["work_count"] == "1"


def test_export_help_documents_csv_columns():
    from enrich.agent.export import CSV_COLUMNS

    out = CliRunner().invoke(cli, ["export", "--help"]).output
    for col in CSV_COLUMNS:
        assert col in out


def test_schema_prints_and_exports(tmp_path):
    data = json.loads(run(tmp_path / "x.db", "schema").stdout)
    assert set(data) == set(EXPORTED_SCHEMAS)
    one = json.loads(run(tmp_path / "x.db", "schema", "ExportLine").stdout)
    assert "affiliation" in one["properties"] and one["title"] == "ExportLine"
    run(tmp_path / "x.db", "schema", "--export", str(tmp_path / "schemas"))
    files = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert files == sorted(f"{n}.schema.json" for n in EXPORTED_SCHEMAS) and "ExportLine.schema.json" in files
    result = run(tmp_path / "x.db", "schema", "Nope", ok=False)
    assert result.exit_code == 1 and "unknown model" in result.output


def test_config_sources_and_redaction(tmp_path, monkeypatch):
    (tmp_path / "enrich.toml").write_text('[enrich]\nmodel = "from-file"\nmax_retries = 5\n')
    monkeypatch.setenv("ENRICH_BACKEND", "fake")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    result = run(tmp_path / "x.db", "config", "--json")
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert (rows["db"]["value"], rows["db"]["source"]) == (str(tmp_path / "x.db"), "flag")
    assert (rows["backend"]["value"], rows["backend"]["source"]) == ("fake", "env:ENRICH_BACKEND")
    assert (rows["model"]["value"], rows["model"]["source"]) == ("from-file", "config:enrich.toml")
    assert (rows["max_retries"]["value"], rows["timeout"]["source"]) == (5, "default")
    assert rows["api_key"]["value"] == "***" and "sk-secret" not in result.output


def test_config_bad_env_value_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ENRICH_MAX_RETRIES", "many")
    result = run(tmp_path / "x.db", "config", ok=False)
    assert result.exit_code == 1 and "cannot load settings" in result.output and "Traceback" not in result.output
    assert "max_retries (env:ENRICH_MAX_RETRIES) must be a whole number, got 'many'" in result.output


def test_ingest_then_show_end_to_end(tmp_path):
    """The real parser (agent.ingest) on a seed listing shipped in the project, then the core commands."""
    pytest.importorskip("enrich.agent.ingest.reader")
    page = Path(__file__).resolve().parents[2] / "seeds" / "bzpeer-profile-tao-sun.txt"
    db = tmp_path / "e2e.db"
    ingest = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--no-llm", "--json", str(page)])
    assert ingest.exit_code == 0, ingest.output
    [row] = json.loads(run(db, "list", "--json").stdout)
    assert row["name"] == "Tao Sun"
    data = json.loads(run(db, "show", "Tao Sun", "--json").stdout)
    assert data["listings"][0]["path"] == str(page) and data["listings"][0]["format"] == "bzpeer"
    assert set(data["fields"]) == {"affiliation", "topics", "summary"} and data["works"] == 3
    line = ExportLine.model_validate_json(run(db, "export").stdout.splitlines()[0])
    assert line.researcher_id == row["id"] and len(line.works) == 3
