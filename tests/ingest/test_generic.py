"""The generic author-page parser on fixtures written in the three layouts users bring."""

from pathlib import Path

from enrich.agent.ingest import detect_format, parse

FIX = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def assert_offsets(text, p):
    for sv in [*p.stated.values(), *p.hints]:
        assert text[sv.start : sv.end] == sv.quote


def test_year_blocks_header_affiliation_count_and_bylines():
    text = load("year_blocks.txt")
    assert detect_format(text) == "generic"
    p = parse(text)
    assert (p.kind, p.name, p.name_origin, p.facts["layout"]) == ("person", "Maria Okafor", "page", "year-blocks")
    aff = p.stated["affiliation"]
    assert aff.value == {"name": "Department of Linguistics, University of Lagos, Lagos, Nigeria"}
    assert p.stated_work_count == 3 and len(p.works) == 3
    w0, w1, w2 = p.works
    assert w0.title == "Tone Marking in Low-Resource Speech Recognition"
    assert w0.authors == ["Maria Okafor", "Tunde Bello"]
    assert (w0.year, w0.type, w0.ids) == (2021, "Conference Paper", {"acl": "2021.africanlp-1.4"})
    assert w0.venue == "Proceedings of the 2nd Workshop on African NLP"
    assert w0.abstract.startswith("Tone is lexically contrastive")
    assert w1.title == "Can Parsers Read Pidgin? A Treebank Study" and w1.abstract is None
    assert w1.venue == "Proceedings of the 12th Language Resources and Evaluation Conference"  # not the e-mail line
    assert (w2.year, w2.type, w2.authors) == (2014, "Journal Article", ["Maria Okafor"])
    hints = {h.value["kind"]: h for h in p.hints}
    assert hints["affiliation"].quote == "Tunde Bello (University of Ibadan)"
    assert hints["affiliation"].value["author"] == "Tunde Bello"
    assert hints["email"].value == {
        "kind": "email",
        "text": "m.okafor@unilag.edu.ng",
        "work": 1,
        "author": "Maria Okafor",
    }
    assert_offsets(text, p)


def test_bracket_year_lines():
    text = load("bracket_year.txt")
    p = parse(text)
    assert (p.name, p.facts["layout"]) == ("Jonas Lindqvist", "bracket-year")
    assert p.stated["affiliation"].quote == "School of Informatics, University of Edinburgh"
    a, b = p.works
    assert a.title == "What is a Word? Segmenting Swedish Compounds"  # "? " inside a title does not split it
    assert a.authors == ["Jonas Lindqvist", "Anna F. Berg", "Lee Kim"]  # "F." is an initial, not the list's end
    assert a.year == 2021 and a.ids == {"acl": "2021.emnlp-main.12"}
    assert a.venue == "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing"
    assert a.abstract.startswith("Compounds are written")
    assert b.title == "Lexicon Induction 2.0" and b.authors == ["Lee Kim", "Jonas Lindqvist"]
    assert [h.quote for h in p.hints if h.value["kind"] != "header"] == ["Jonas Lindqvist (KTH)"]
    assert_offsets(text, p)


def test_acl_entries_with_pdf_bib_markers_aliases_and_bylines():
    text = load("acl_entries.txt")
    p = parse(text)
    assert (p.name, p.facts["layout"]) == ("Wei Zhang", "acl-entries")
    assert p.facts["aliases"] == ["W. Zhang", "Wei Z. Zhang"]
    assert "affiliation" not in p.stated  # "Also published as" is not an affiliation
    assert [(w.year, w.title) for w in p.works] == [
        (2020, "Sparse Attention for Long Documents"),
        (2020, "Dialogue Act Tagging Revisited"),
        (2018, "Single-Author Study of Morphology"),
    ]
    w0, w1, w2 = p.works
    assert w0.authors == ["Hana Novak", "Wei Zhang", "Omar Haddad"]
    assert w0.venue.startswith("Proceedings of the 58th") and w0.abstract.startswith("Long documents")
    assert w1.abstract is None and w1.authors == ["Wei Zhang", "Ji-ho Park"]
    assert w2.authors == ["Wei Zhang"]  # a single author is still the author line after the title
    kinds = [(h.value["kind"], h.value["text"], h.value["author"]) for h in p.hints]
    assert kinds == [
        ("affiliation", "School of Computer Science, Fudan University", "Wei Zhang"),
        ("affiliation", "KAIST", "Wei Zhang"),
        ("email", "wzhang@kaist.ac.kr", None),
    ]
    assert_offsets(text, p)


def test_name_flag_overrides_page_with_warning():
    p = parse(load("year_blocks.txt"), name="M. Okafor")
    assert (p.name, p.name_origin) == ("M. Okafor", "flag:--name")
    assert p.warnings and "overrides" in p.warnings[0]


def test_unknown_page_is_not_guessed():
    assert detect_format(load("unknown_page.txt")) is None


def test_prose_before_the_publication_list_is_neither_work_nor_affiliation():
    text = load("year_blocks.txt").replace(
        "Department of Linguistics, University of Lagos, Lagos, Nigeria",
        "\nMaria Okafor studies tone and joined a lab in 2019.",
    )
    p = parse(text)
    assert "affiliation" not in p.stated
    assert len(p.works) == 3 == p.stated_work_count
    assert p.facts["about"] == ["Maria Okafor studies tone and joined a lab in 2019."]
