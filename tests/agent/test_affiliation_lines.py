"""Affiliation lines decided by the ROR index, not by English keywords: a header line in any language, an acronym
with its city and country, an e-mail address at an institutional domain (own fixture records: tests/ror/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_pages import ingest

from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.ror_dump import read_dump
from enrich.store.ror import load_orgs

FIXTURE = Path(__file__).resolve().parents[1] / "ror" / "fixtures" / "ror-v2-classes.json"
USP = "https://ror.org/00usp0000"
WORKS = """
Publications (1)

Learning to Parse Tables with Graphs
{name}; Bob Smith
Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing
Year: 2020 | Conference Paper | ACL Anthology 2020.emnlp-main.1
Abstract: We parse tables with graph neural networks. Universidade de São Paulo, Rice University.
"""


@pytest.fixture
def ror_store(store):
    release, orgs = read_dump(FIXTURE)
    load_orgs(store, orgs, release=release, source="fixture")
    return store


def run(store, fake, settings) -> None:
    JobRunner(store, fake, settings).start(RunOptions(only=["affiliation"]))


def ror_id(store, value_id: int) -> str | None:
    facts = store.derived(value_id, "ror_id")
    return facts[0].value if facts else None


@pytest.mark.parametrize(
    "line,expected",
    [
        ("Universidade de São Paulo", USP),
        ("USP, São Paulo, Brazil", USP),
        ("北海道大学", "https://ror.org/00hok0000"),
    ],
)
def test_a_header_line_the_index_resolves_is_the_affiliation(ror_store, fake, settings, line, expected):
    page = f"Maria Silva\n{line}\n" + WORKS.format(name="Maria Silva")
    rid = ingest(ror_store, page, "maria.txt")
    run(ror_store, fake, settings)
    aff = ror_store.current(rid, "affiliation")
    assert aff is not None and aff.value["name"] == line and aff.origin.startswith("import:")
    quote = aff.evidence[0]
    assert page[quote.start : quote.end] == quote.quote == line
    assert ror_id(ror_store, aff.id) == expected


def test_an_institutional_email_gives_the_organisations_ror_name(ror_store, fake, settings):
    page = "Maria Silva\nmsilva@ime.usp.br\n" + WORKS.format(name="Maria Silva")
    rid = ingest(ror_store, page, "maria.txt")
    run(ror_store, fake, settings)
    aff = ror_store.current(rid, "affiliation")
    assert aff is not None and aff.origin == "import:email-domain"  # the origin says it came from the domain
    assert aff.value["name"] == "Universidade de São Paulo"  # the ROR name, not the domain's letters
    assert aff.evidence[0].quote == "msilva@ime.usp.br"
    assert ror_id(ror_store, aff.id) == USP


def test_a_page_naming_no_organisation_gets_none_even_with_one_in_an_abstract(ror_store, fake, settings):
    page = "Maria Silva\nOpen to collaborate\nmsilva@gmail.com\n" + WORKS.format(name="Maria Silva")
    rid = ingest(ror_store, page, "maria.txt")
    run(ror_store, fake, settings)
    assert ror_store.current(rid, "affiliation") is None
    assert ror_store.proposals("pending", field="affiliation") == []


def test_without_an_index_the_line_is_left_to_the_keyword_check_and_the_model(store, fake, settings):
    page = "Maria Silva\nUSP, São Paulo, Brazil\n" + WORKS.format(name="Maria Silva")
    rid = ingest(store, page, "maria.txt")
    run(store, fake, settings)
    aff = store.current(rid, "affiliation")
    assert aff is None or aff.origin != "import:header"
