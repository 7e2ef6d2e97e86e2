"""Taxonomy files: the loader's checks, and `enrich taxonomy import` for the OpenAlex topics format (own fixture)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from agent_pages import ingest
from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.agent.fake_answers import grounded_answer
from enrich.agent.llm.fake import FunctionModel
from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy

FIXTURE = Path(__file__).parent / "fixtures" / "openalex_topics_page.json"


@pytest.fixture
def tax_dir(tmp_path, monkeypatch):
    d = tmp_path / "taxonomies"
    monkeypatch.setenv("ENRICH_TAXONOMY_DIR", str(d))
    monkeypatch.setenv("ENRICH_DB", str(tmp_path / "t.db"))
    return d


def test_import_openalex_api_page(tax_dir):
    res = CliRunner().invoke(cli, ["taxonomy", "import", str(FIXTURE), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["topics"], out["subfields"], out["fields"], out["domains"]) == (4, 3, 2, 2)
    assert out["version"] == "2026-03-01" and Path(out["path"]) == tax_dir / "openalex.json"
    tax = load_taxonomy("openalex", str(tax_dir))
    assert tax.depth("T90001") == 3 and tax.group("T90001") == "domains/3"
    assert tax.down_to_field("T90001") == ("T90001", "subfields/1702") and tax.down_to_field("fields/17") == ()
    assert tax.field_level("T90001") == "subfields/1702" and tax.field_level("fields/17") is None
    assert tax.get("T90003").parent == "subfields/1707"  # bare numeric ids become the same short ids
    assert "subword units" in tax.get("T90001").keywords and "neural sequence models" in tax.get("T90001").description
    assert tax.group("T90004") == "domains/1"


def test_import_snapshot_json_lines_gz_gives_the_same_taxonomy(tax_dir, tmp_path):
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))["results"]
    part = tmp_path / "part_000.gz"
    with gzip.open(part, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in records) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["taxonomy", "import", str(FIXTURE), "--name", "a"]).exit_code == 0
    res = runner.invoke(cli, ["taxonomy", "import", str(part), "--name", "b"])
    assert res.exit_code == 0 and "Imported 4 topics" in res.output
    a, b = load_taxonomy("a", str(tax_dir)), load_taxonomy("b", str(tax_dir))
    assert a.tags == b.tags
    listed = runner.invoke(cli, ["taxonomy", "list", "--json"])
    assert {r["name"]: r["tags"] for r in json.loads(listed.output)} == {"arxiv": 63, "a": 11, "b": 11}


@pytest.mark.parametrize(
    "content",
    ["", '{"results": [{"id": "T1"}]}', json.dumps([{"id": "T1", "display_name": "x"}]), "not json\n"],
)
def test_import_refuses_other_formats_in_one_line(tax_dir, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    res = CliRunner().invoke(cli, ["taxonomy", "import", str(bad)])
    assert res.exit_code == 1 and res.output.startswith("Error: cannot import") and res.output.count("\n") == 1
    assert not (tax_dir / "openalex.json").exists()


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([{"id": "a", "label": "A"}, {"id": "a", "label": "A again"}], "more than once"),
        ([{"id": "a", "label": "A", "parent": "nowhere"}], "unknown parent"),
        ([{"id": "a"}], "needs an 'id' and a 'label'"),
    ],
)
def test_loader_checks_taxonomy_files(tags, message):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy({"name": "t", "tags": tags})


def test_unknown_taxonomy_name_is_a_clear_error(tmp_path):
    with pytest.raises(TaxonomyError, match="no taxonomy 'nope'"):
        load_taxonomy("nope", str(tmp_path))


def test_the_topics_step_tags_with_an_imported_taxonomy(tax_dir, settings, store):
    """A second taxonomy works without touching the step: the venue map names the OpenAlex subfield, text evidence
    for a topic supports its subfield, and the subfield (the field level) is applied first."""
    assert CliRunner().invoke(cli, ["taxonomy", "import", str(FIXTURE)]).exit_code == 0
    settings = settings.with_overrides(taxonomy="openalex", taxonomy_dir=str(tax_dir))
    page = "Lee Moss\n\nPublications (4)\n\n" + "\n".join(
        f"{t}\nLee Moss\nProceedings of the {y} Conference on Empirical Methods in Natural Language Processing\n"
        f"Year: {y} | Conference Paper\nAbstract: {a}\n"
        for t, y, a in [
            ("Neural Machine Translation with Subword Units", 2019, "Attention-based machine translation."),
            ("Bilingual Corpora for Machine Translation", 2020, "We build bilingual corpora for translation."),
            ("Dependency Parsing of Tweets", 2021, "A treebank and a dependency parser for tweets."),
            ("Sequence-to-Sequence Translation of Dialects", 2022, "Machine translation between dialects."),
        ]
    )
    rid = ingest(store, page, "lee.txt")
    JobRunner(store, FunctionModel(grounded_answer, store=store), settings).start(RunOptions(only=["topics"]))
    cur = store.current(rid, "topics")
    tags = [t["tag"] for t in cur.value]
    assert tags[0] == "subfields/1702" and cur.value[0]["evidence"]["venue"] == 4
    assert "T90004" not in tags and "domains/3" not in tags  # nothing outside the field, nothing too broad
    assert set(tags) <= {"subfields/1702", "T90001", "T90002"}
