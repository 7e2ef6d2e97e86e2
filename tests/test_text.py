"""The text keys (enrich.schemas.text) and the person-name matcher (enrich.agent.names)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.agent.names import INSTITUTION_WORDS, PersonName, email_names_subject, name_tokens, names_subject
from enrich.schemas import make_work_id
from enrich.schemas.text import ascii_key, fold, norm_space, org_key, word_key


def test_each_key_answers_its_question():
    assert norm_space("Deep\n  Learning\u00a0for ﬁsh ") == "Deep Learning for fish"
    assert fold("Deep\nLEARNING") == "deep learning"
    assert word_key("Straße: a Study!") == "strasse a study"
    assert word_key("Über Graphen") == "über graphen"  # letters outside ASCII survive in work ids
    assert ascii_key("Über Graphen -- a Study") == "uber graphen a study"
    assert org_key("The Univ. of Texas & A.I. Lab") == "university of texas and a i laboratory"
    assert org_key("清华大学") == "清华大学"


def test_work_ids_are_stable():
    # stored ids depend on word_key: the same printed title in another case or punctuation keeps its id
    assert make_work_id("Graph Networks: A Survey", None, 2020, 0) == make_work_id(
        "graph networks -- a survey", None, 1, 5
    )
    assert (
        make_work_id("Graph Networks: A Survey", None, 2020, 0)
        == "W" + __import__("hashlib").sha1(b"graph networks a survey").hexdigest()[:10]
    )


@given(st.text(max_size=40))
def test_keys_are_idempotent(s):
    for key in (norm_space, fold, word_key, ascii_key, org_key):
        assert key(key(s)) == key(s)


def test_person_names():
    assert name_tokens("Jean-Pierre Dupont1*") == ["jeanpierre", "dupont"]
    assert PersonName.parse("Sun, Yan") == PersonName.parse("Yan Sun") == PersonName(("yan",), "sun")
    assert PersonName.parse("Müller, J.").compatible(PersonName.parse("Jonas Muller"))
    assert not PersonName.parse("Ann B. Kerr").compatible(PersonName.parse("Ann C. Kerr"))
    assert PersonName.parse("  ") is None


def test_author_lines_and_emails_naming_the_subject():
    assert names_subject("J. Kerr", "Jane Kerr")
    assert names_subject("Jane  Kerr", "jane kerr")
    assert not names_subject("Paul Kerr", "Jane Kerr")
    assert not names_subject(None, "Jane Kerr")
    assert email_names_subject("jkerr@uni.edu", "Jane Kerr")
    assert email_names_subject("jane.kerr@uni.edu", "Jane Kerr")
    assert not email_names_subject("office@uni.edu", "Jane Kerr")


def test_org_key_folds_letters_nfkd_keeps():
    assert org_key("Acıbadem Üniversitesi") == org_key("Acibadem Universitesi") == "acibadem universitesi"
    assert org_key("Łódź University of Technology") == "lodz university of technology"
    assert org_key("Østfold University College") == "ostfold university college"
    # a lookalike letter with a hook where the name has an ordinary accented one (ʂ for ș)
    assert org_key("Babeʂ-Bolyai University") == org_key("Babeș-Bolyai University") == "babes bolyai university"
    assert org_key("Đà Nẵng University, Ħamrun") == "da nang university hamrun"
    assert org_key("CHU de Rouen") == "center hospitalier universitaire de rouen"


_ORG_WORDS = [
    "University",
    "univ",
    "LAB",
    "labs",
    "Institute",
    "école",
    "Ecole",
    "Klinikum",
    "inc.",
    "corp",
    "大学",
    "институт",
]
_PIECES = [
    *_ORG_WORDS,
    "a",
    "Ab",
    "x1",
    "_",
    "2",
    " ",
    "  ",
    "\n",
    ",",
    "(",
    ")",
    "-",
    ".",
    "\u212a",
    "\u017f",
    "\u0130",
    "é",
    "ß",
]


@settings(max_examples=500)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=12))
def test_the_institution_words_lookahead_changes_no_match(pieces):
    """`(?=[^\\W\\d_])` after the opening `\\b` only skips word ends: the same first match as without it."""
    text = "".join(pieces)
    without = re.compile(INSTITUTION_WORDS.pattern.replace("(?=[^\\W\\d_])", "", 1), INSTITUTION_WORDS.flags)
    assert without.pattern != INSTITUTION_WORDS.pattern
    found, expected = INSTITUTION_WORDS.search(text), without.search(text)
    assert (found and found.span()) == (expected and expected.span())
