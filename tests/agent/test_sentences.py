"""Sentence splitting that knows names and abbreviations, and fragments that are never sentences."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from enrich.agent.sentences import _one_space, fragment_reason, gist, split_sentences, standalone


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


SAMPLES = [
    "The research by Mary J.K. Smith covers parsing. She also studies tables.",
    "It works. It works. It works.",  # the same sentence again: each occurrence in its own place
    "We study (i.e. measure) the U.S. data, e.g. census tables. Results: 3.5 times faster! Is it? Yes.",
    'He said "It is done." Then he left. A. B. Cole et al. disagree.',
    "1. First item. 2. Second item. a) one b) two",
    "no end punctuation here",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_segmenter_finds_the_same_sentences_as_pysbd(text):
    import pysbd

    from enrich.agent.sentences import _segmenter

    assert _segmenter().segment(text) == pysbd.Segmenter(language="en", clean=False).segment(text)


def test_threads_can_share_the_segmenter():
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Paper {i} studies parsing. It uses {i} corpora, e.g. news. Results are good." for i in range(200)]
    expected = [split_sentences(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(split_sentences, texts)) == expected


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
        ("Language models for parsing tables.", "no verb"),  # "models" is a noun as often as a verb
        ("Dependency parses and uses of attention.", "no verb"),
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
        # a noun phrase as the subject, then a verb summaries are written with
        "Document-level event role extraction uses multi-granularity encoding.",
        "Syntactic and semantic learning improves open information extraction.",
        "Next sentence prediction helps classify implicit discourse relations.",
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
        ("We propose a parser for scanned tables.", "They propose a parser for scanned tables."),
        ("Our parser reads scanned tables.", "Their parser reads scanned tables."),
        ("WebNLG is a dataset.", "WebNLG is a dataset."),
        ("His work on tables builds graphs.", "Their work on tables builds graphs."),
        ("He and colleagues built a tool.", "He and colleagues built a tool."),  # no verb to agree: left alone
        ("The parser she built reads tables.", "The parser she built reads tables."),
    ],
)
def test_an_opening_gendered_or_first_person_pronoun_becomes_they(sentence, neutral):
    from enrich.agent.sentences import third_person

    assert third_person(sentence) == neutral


_TOKENS = (
    "They build a parser Dr e g U S Smith J K 1 2 10 (1 (a (i i ii b x et al vs fig No 3D GPT-2 \u201cquoted\u201d "
    '"q" \u00abq\u00bb \u2018s\u2019 (x) [1] {a} a/b e-mail x=1 <b> \'s , ; : - \u2014 & % $5 ImageNet Mr St is was '
    "(see item \u2022 * # @ C++ O'Neil 1st 2nd iii iv v A B Z"
).split()


@settings(max_examples=400, deadline=None)
@example(["“quoted”", "ImageNet", "is", "b"], ".")  # pysbd splits an opening quotation off
@example(['"q"', "Z", "x", "e", "&"], "?")
@example(["They", "compare", "1)", "parsers", "and", "2)", "taggers"], ".")  # list items
@example(["x)", "one", "y)", "two"], "")
@example(["It", "goes", "on", "al"], "...")
@example(["It", "is", "fine"], '."')
@given(
    st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=18),
    st.sampled_from(["", ".", "!", "?", "...", "?!", '."', ".\u201d", "\u2026", '!"', "'.", ".'"]),
)
def test_the_one_sentence_shortcut_gives_pysbds_answer(words, end):
    """split_sentences skips pysbd for a text with no sentence end or list item before its last character: its
    answer must be the one pysbd itself gives (with the texts it lets through to pysbd, whatever they are)."""
    import pysbd

    text = " ".join(words) + end
    stock = pysbd.Segmenter(language="en", clean=False)
    assert split_sentences(text) == [p.strip() for p in stock.segment(text) if p.strip()]


# words and what may end them, for texts that name a protected title (the researcher's name, a work's title)
_NAME_WORDS = [*_TOKENS[:40], "Ada", "Aa", "Abbott", "i", "a", "1", "2)", "STRASSE", "Stra\u00dfe", "et", "al", "e.g"]
_WORD_ENDS = [".", ".", "?", "!", ")", '"', "...", ".)", '."', "'", ":"]
_any_word = st.builds(lambda w, end: w + end, st.sampled_from(_NAME_WORDS), st.sampled_from(["", *_WORD_ENDS]))
_LETTER_WORDS = "They build a parser Dr Smith J K et al vs fig No Mr St is was i ii iv v A B Z Ada Aa Abbott".split()
_letters = st.lists(st.sampled_from(_LETTER_WORDS), max_size=4)
# words that end no sentence, with at most one word that may: the title's own end is often the text's only one
_stretch = st.builds(
    lambda words, odd, at: [*words[:at], *([odd] if odd else []), *words[at:]],
    _letters,
    st.one_of(st.none(), st.none(), _any_word),
    st.integers(0, 4),
)


@settings(max_examples=1500, deadline=None)
@example(["The", "work", "of"], ["Ada", "Aa.", "Abbott"], ["studies", "parsing"], ".", [], False)
@example([], ["Ada", "Aa.", "Abbott"], ["studies", "Code", "and", "Sparse"], ".", [], False)
# each guard of the rule: without it the shortcut's answer would differ on these
@example(["Zz"], ["Ab", "Cd!", "Ef.", "Gh"], ["Ij"], ".", [], False)  # two ends in one title: merged one at a time
@example(["Ab"], ["a.", "Cd"], ["b.", "Ef"], ".", ["b. Ef"], False)  # a list item opens the title: cut before it
@example([], ["Qq", "a.", "Cd", "b"], [], ". Ef.", ["Cd b. Ef"], False)  # a title ending inside a word
@example(["A"], ["et", "i."], ["Smith"], "!", [], False)  # the end is the title's last character
@example(["They", "read"], ["Ada", "Aa."], ["Then", "they", "left"], ".", [], False)
@example(["\u00df" * 6, "Xy"], ["Ab.", "Cd"], ["works"], ".", ["Xy Ab. Cd"], False)  # case folding adds letters
@example(["X"], ["J.", "K.", "Smith"], ["studies", "y"], ".", [], False)
@example(["He", "wrote"], ["What", "time", "is", "it?", "Temporal", "analysis"], ["of", "novels"], ".", [], False)
@example(["Mr."], ["Ada", "Aa.", "Abbott"], ["did", "it"], ".", [], False)  # an end outside every title
@example(["Ada", "Bo.", "Cole", "and"], ["Bea", "Cc.", "Dane"], ["study", "x"], ".", ["Ada Bo. Cole"], False)
@example(["by"], ["Ada", "Aa.", "Abbott"], [], ".", [], True)  # the title written in capitals
@example(["by"], ["Stra\u00dfe", "Aa.", "Abbott"], ["x"], ".", [], True)  # case folding changes the length
@given(
    _stretch,
    st.one_of(  # mostly a name or title with one word that may end a sentence inside it
        st.builds(
            lambda a, w, end, b: [*a, w + end, *b],
            _letters.filter(bool),
            st.sampled_from(_NAME_WORDS),
            st.sampled_from(_WORD_ENDS),
            st.lists(st.sampled_from(_LETTER_WORDS), max_size=2),
        ),
        st.lists(_any_word, min_size=1, max_size=4),
    ),
    _stretch,
    st.sampled_from(["", ".", "!", "?", "...", '."', ".)"]),
    st.lists(st.lists(_any_word, min_size=1, max_size=3).map(" ".join), max_size=2),
    st.booleans(),
)
def test_the_inside_a_title_shortcut_gives_the_split_and_merge_answer(before, title, after, end, others, upper):
    """split_sentences skips pysbd when every sentence end it could find lies inside a protected title (the
    researcher's name with an initial, a title with its own "?"): the answer must be the one pysbd and the merge
    give, for texts that name a title among words that may end sentences, list items, quotes and abbreviations."""
    import re

    from enrich.agent.sentences import _split_and_merge

    title_text = " ".join(title)
    text = " ".join([*before, title_text.upper() if upper else title_text, *after]) + end
    keep = [title_text, *others]
    protected = [t for t in {re.sub(r"\s+", " ", t).strip() for t in keep} if len(t) > 3]
    normal = re.sub(r"\s+", " ", text).strip()
    assert split_sentences(text, keep) == list(_split_and_merge(normal, protected))


@pytest.mark.parametrize(
    ("sentence", "shown"),
    [
        # an opening clause that points back at earlier sentences goes; the contribution stays word for word
        (
            "To close this gap, we build a parser for scanned railway timetables.",
            "We build a parser for scanned railway timetables.",
        ),
        (
            "As such, we count seabirds in drone photographs with a density network.",
            "We count seabirds in drone photographs with a density network.",
        ),
        (
            "Inspired by this line of work, in this paper, we map coral reefs from satellite images.",
            "We map coral reefs from satellite images.",
        ),
        (
            "In addition, this study releases a corpus of annotated bird songs.",
            "This study releases a corpus of annotated bird songs.",
        ),
        # the sentence's own main clause, a clause not followed by the work's "we", and a short rest are kept
        ("This paper presents Reefer, a mapping tool, for tackling coastal survey costs.", None),
        ("Using rooted and labelled graphs, the parser abstracts away from word order.", None),
        ("To this end, we propose it.", None),
    ],
)
def test_a_contribution_sentence_is_shown_without_a_clause_that_points_back(sentence, shown):
    assert standalone(sentence) == (shown or sentence)
    assert gist(sentence) == (shown or sentence)


_SPACES = "".join(c for c in map(chr, range(0x3001)) if re.fullmatch(r"\s", c))  # U+3000 is the last one


@given(st.text(st.one_of(st.sampled_from([*_SPACES, "a", "B", "."]), st.characters())))
def test_white_space_is_made_one_space_as_the_pattern_would(text):
    assert _one_space(text) == re.sub(r"\s+", " ", text).strip()
