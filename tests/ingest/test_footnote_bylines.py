"""Numbered footnote bylines (`Name¹,²` / `Name1,2` with `¹ School ...` lines), as publishers' pages print them: the
footnote goes to the authors carrying its mark, the marks leave the author names, and a line that only starts with
a number is not taken for a footnote."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.agent.ingest import parse
from enrich.agent.ingest.bylines import author_marks, footnote_authors, is_byline_line

ACL_PAGE = """Wei Zhang

2020
pdf bib abs
Sparse Attention for Long Documents
Hana Novak{a} | Wei Zhang{b} | Omar Haddad{c}
{fa} Department of Linguistics, Charles University
{fb} School of Computer Science, Fudan University
Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics

pdf bib abs
Dialogue Act Tagging Revisited
Wei Zhang | Ji-ho Park
Proceedings of the 12th Language Resources and Evaluation Conference
"""


def _acl(sup: bool) -> str:
    one, two = ("\u00b9", "\u00b2") if sup else ("1", "2")
    return ACL_PAGE.format(a=one, b=f"{two},{one}" if sup else f"{two},{one}", c=one, fa=one, fb=two)


def _affiliations(p):
    return [(h.value["text"], h.value["author"]) for h in p.hints if h.value["kind"] == "affiliation"]


@pytest.mark.parametrize("sup", [True, False], ids=["superscript", "plain-number"])
def test_numbered_footnotes_go_to_the_authors_carrying_the_mark(sup):
    text = _acl(sup)
    p = parse(text)
    w0, w1 = p.works
    assert w0.authors == ["Hana Novak", "Wei Zhang", "Omar Haddad"]  # marks are not part of the names
    assert w0.venue.startswith("Proceedings of the 58th")  # footnote lines are not the venue
    assert _affiliations(p) == [
        ("Department of Linguistics, Charles University", "Hana Novak"),
        ("Department of Linguistics, Charles University", "Wei Zhang"),
        ("Department of Linguistics, Charles University", "Omar Haddad"),
        ("School of Computer Science, Fudan University", "Wei Zhang"),
    ]
    for h in p.hints:
        assert text[h.start : h.end] == h.quote


def test_a_line_starting_with_a_number_is_a_footnote_only_when_an_author_carries_it():
    authors = "Hana Novak | Wei Zhang"
    assert not is_byline_line("3 Workshop on Figurative Language", authors)
    assert not is_byline_line("12 pages, 4 figures", None)
    assert is_byline_line("3 Workshop on Figurative Language", "Hana Novak3 | Wei Zhang")
    # symbol and superscript marks read as footnotes on their own, as `*` always did
    assert is_byline_line("\u00b9 Charles University", authors)
    assert is_byline_line("* Charles University", authors)


def test_author_marks_reads_every_way_marks_are_written():
    assert author_marks("Ana Souza\u00b9,\u00b2 | Li Wei\u00b2 | Bo Chen*\u2020") == {
        "1": ["Ana Souza"],
        "2": ["Ana Souza", "Li Wei"],
        "*": ["Bo Chen"],
        "\u2020": ["Bo Chen"],
    }
    # commas between marks do not split authors where commas also separate the names
    assert author_marks("Ana Souza1,2, Li Wei2 and Bo Chen") == {"1": ["Ana Souza"], "2": ["Ana Souza", "Li Wei"]}
    # `¹²` is mark 12 or marks 1 and 2: both are kept, the footnote lines decide
    assert author_marks("Ana Souza\u00b9\u00b2") == {"12": ["Ana Souza"], "1": ["Ana Souza"], "2": ["Ana Souza"]}
    assert author_marks("Ana Souza | Li Wei") == {}


def test_star_footnote_keeps_its_fallback_to_the_first_marked_author():
    assert footnote_authors("Ana Souza | Li Wei\u2020", "*") == ["Li Wei"]  # pages mix * and †
    assert footnote_authors("Ana Souza | Li Wei", "*") == [None]
    assert footnote_authors("Ana Souza | Li Wei", "1") == [None]


def test_bracket_year_lines_with_numbered_authors():
    text = (
        "Jonas Lindqvist\n\nSelected publications\n\n"
        "[2021] Jonas Lindqvist1,2, Anna F. Berg2 and Lee Kim. What is a Word? Segmenting Swedish Compounds. "
        "Proceedings of EMNLP 2021.\n"
        "  1 School of Informatics, University of Edinburgh\n"
        "  2 KTH Royal Institute of Technology\n"
    )
    p = parse(text)
    (w,) = p.works
    assert w.authors == ["Jonas Lindqvist", "Anna F. Berg", "Lee Kim"]
    assert _affiliations(p) == [
        ("School of Informatics, University of Edinburgh", "Jonas Lindqvist"),
        ("KTH Royal Institute of Technology", "Jonas Lindqvist"),
        ("KTH Royal Institute of Technology", "Anna F. Berg"),
    ]


_SUP = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_NAMES = ["Hana Novak", "Wei Zhang", "Omar Haddad", "Ji-ho Park", "Ana Souza", "Li Wei"]
_ORGS = ["Charles University", "Fudan University", "KAIST", "School of Informatics, University of Edinburgh"]


@st.composite
def footnoted_entries(draw):
    """An ACL-style entry whose authors carry numbered marks (superscript or plain, 1-3 each), with a footnote line
    for some of the marks used."""
    sup = draw(st.booleans())
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4, unique=True))
    marks = {n: draw(st.lists(st.integers(1, 3), max_size=3, unique=True)) for n in names}

    def mark(k: int) -> str:
        return _SUP[k] if sup else str(k)

    line = " | ".join(n + ",".join(mark(k) for k in sorted(marks[n])) for n in names)
    used = sorted({k for ks in marks.values() for k in ks})
    notes = (
        {k: draw(st.sampled_from(_ORGS)) for k in draw(st.lists(st.sampled_from(used), unique=True))} if used else {}
    )
    foot = [f"{mark(k)} {org}" for k, org in notes.items()]
    text = (
        "\n".join(["Wei Zhang", "", "2020", "pdf bib abs", "A Study of Things", line, *foot, "Proceedings of X"]) + "\n"
    )
    return text, names, marks, notes


@settings(max_examples=200, deadline=None)
@given(footnoted_entries())
def test_every_footnote_goes_exactly_to_the_authors_carrying_its_number(case):
    text, names, marks, notes = case
    p = parse(text)
    (w,) = p.works
    assert w.authors == names and w.venue == "Proceedings of X"
    got = sorted((h.value["text"], h.value["author"]) for h in p.hints if h.value["kind"] == "affiliation")
    want = sorted((org, n) for k, org in notes.items() for n in names if k in marks[n])
    assert got == want
    for h in p.hints:
        assert text[h.start : h.end] == h.quote
