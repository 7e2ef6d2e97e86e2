"""Unknown pages: schema-constrained extraction whose titles must occur in the page (a made-up title is re-asked)."""

from pathlib import Path

import pytest

from enrich.agent.ingest.llm_fallback import ExtractedListing, parse_with_llm
from enrich.agent.llm.base import LLMError
from enrich.agent.llm.fake import FakeModel

TEXT = (Path(__file__).parent / "fixtures" / "unknown_page.txt").read_text(encoding="utf-8")
GOOD = {
    "kind": "person",
    "name": None,
    "works": [
        {"title": "Graph Transformers at Scale", "year": 2022, "authors": ["P. Roy"], "venue": "NeurIPS"},
        {"title": "Message Passing Without Messages", "year": 2021, "venue": "ICML"},
    ],
}
INVENTED = {"kind": "person", "works": [{"title": "A Paper This Page Never Mentions", "year": 2020}]}


def test_extracts_works_with_offsets_and_passes_text_as_context():
    fake = FakeModel([GOOD])
    p = parse_with_llm(TEXT, fake, name="Kim Lee")
    assert (p.format, p.kind, p.name, p.name_origin) == ("unknown-llm", "person", "Kim Lee", "flag:--name")
    assert [w.title for w in p.works] == ["Graph Transformers at Scale", "Message Passing Without Messages"]
    assert p.works[0].year == 2022 and p.works[1].venue == "ICML"
    for w in p.works:
        assert TEXT[w.start : w.end] == w.title
    assert fake.calls[0]["context"] == {"text": TEXT}
    assert fake.calls[0]["response_model"] is ExtractedListing
    assert p.facts["parsed_by"] == "llm:fake/fake"


def test_invented_title_is_reasked_then_corrected():
    fake = FakeModel([INVENTED, GOOD])
    p = parse_with_llm(TEXT, fake)
    assert len(fake.calls) == 2
    assert "does not occur in the page" in fake.calls[1]["messages"][-1]["content"]
    assert len(p.works) == 2 and p.name is None


def test_invented_titles_every_time_fail_the_file():
    with pytest.raises(LLMError):
        parse_with_llm(TEXT, FakeModel([INVENTED, INVENTED, INVENTED]))


def test_validator_without_context_accepts_any_title():
    assert ExtractedListing.model_validate(INVENTED).works[0].title == "A Paper This Page Never Mentions"
