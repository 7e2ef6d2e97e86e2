"""Sentence splitting that knows names and abbreviations, and fragments that are never sentences."""

from __future__ import annotations

import pytest

from enrich.agent.sentences import fragment_reason, split_sentences


@pytest.mark.parametrize(
    "text, expected",
    [
        # initials inside a name, packed or spaced
        (
            "The research by Mary J.K. Smith covers parsing. She also studies tables.",
            ["The research by Mary J.K. Smith covers parsing.", "She also studies tables."],
        ),
        ("T. H. Nguyen builds event extractors. He also releases data.", None),
        # et al., e.g., i.e., vs., U.S.
        ("A. Rappoport et al. showed that splitting helps translation. It was tested on French.", None),
        ("He released datasets, e.g. one for cybersecurity events. They are public.", None),
        ("She compares dependencies vs. constituents in the U.S. Congress records. Results differ.", None),
        ("It dates documents, i.e. predicts their year. This uses new words.", None),
        # version and decimal numbers
        ("The tool runs on Python 3.11 and version 2.0 of the parser. It is 3.5 times faster.", None),
    ],
)
def test_splitter_keeps_names_and_abbreviations_inside_sentences(text, expected):
    got = split_sentences(text)
    if expected is None:  # two sentences, split only at the real end of the first
        assert len(got) == 2, got
        assert " ".join(got) == text
    else:
        assert got == expected


def test_a_title_with_its_own_question_mark_is_not_a_sentence_end():
    title = "What time is it? Temporal analysis of novels"
    text = f"His paper {title} predicts when scenes happen. It uses books."
    assert len(split_sentences(text)) == 3  # pysbd alone breaks the title at its "?"
    assert split_sentences(text, keep_whole=[title]) == [text.split(" It uses")[0], "It uses books."]
    assert split_sentences(f"The paper {title} reads novels.", keep_whole=[title]) == [
        f"The paper {title} reads novels."
    ]


@pytest.mark.parametrize(
    "piece, why",
    [
        ("Philip S.", "too short"),
        ("The research by A.", "initial"),
        ("He has also released new datasets, e.g.", "abbreviation"),
        ("His paper on dependencies vs.", "abbreviation"),
        ("In the paper What time is it?", "question"),
        ("Event representations and thematic fit.", "no verb"),
        ("Question generation from paragraphs, across languages, and with evaluators.", "no verb"),
        ("Linked data for lexicography, annotation and corpora.", "no verb"),
        ("and then it parses the tables of the paper.", "middle"),
        ("She studies parsing of tables with graphs...", "cut off"),
    ],
)
def test_fragments_are_not_sentences(piece, why):
    reason = fragment_reason(piece, ["Philip S. Yu"])
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "sentence",
    [
        "Philip S. Yu studies graph mining.",
        "His work on bilingual dictionaries builds sentiment lexicons.",
        "These methods aim to reduce training time.",
        "They look for ways to teach computers to read tables.",
        "N. Schluter also gave empirical evidence for a glass ceiling.",
        "One study shows that next sentence prediction helps.",
        "With colleagues, he compared a syntactic scheme with a semantic one.",
        "Her time-aware pre-training model predicts event durations.",
    ],
)
def test_complete_sentences_are_not_fragments(sentence):
    assert fragment_reason(sentence, ["Philip S. Yu"]) is None


@pytest.mark.parametrize(
    "sentence",
    ["GAST fine-tunes large language models by choosing the data and the layers.", "GradOT keeps the data private."],
)
def test_a_sentence_whose_subject_is_an_acronym_or_a_systems_name_is_not_a_fragment(sentence):
    assert fragment_reason(sentence) is None


@pytest.mark.parametrize(
    "sentence, neutral",
    [
        ("He presents a parser for scanned tables.", "They present a parser for scanned tables."),
        ("She also studies sarcasm.", "They also study sarcasm."),
        ("He mainly analyzes tweets.", "They mainly analyze tweets."),
        ("He discusses how games grew.", "They discuss how games grew."),
        ("She has released a treebank.", "They have released a treebank."),
        ("He proposed a task.", "They proposed a task."),
        ("His work on tables builds graphs.", "Their work on tables builds graphs."),
        ("He and colleagues built a tool.", "He and colleagues built a tool."),  # no verb to agree: left alone
        ("The parser she built reads tables.", "The parser she built reads tables."),
    ],
)
def test_an_opening_gendered_pronoun_becomes_they(sentence, neutral):
    from enrich.agent.sentences import ungendered

    assert ungendered(sentence) == neutral
