"""The summary's sentence checks, each refusal on its own, and the step with the fake model: refused sentences are
re-asked with the reason, dropped when two supported sentences remain, and lower the confidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.agent.ingest import parse
from enrich.agent.llm.fake import FakeModel
from enrich.agent.loop import make_context, run_researcher
from enrich.agent.readability import acronyms, fk_grade
from enrich.agent.settings import load
from enrich.agent.steps import summary
from enrich.agent.steps.summary import SummaryAnswer
from enrich.agent.steps.support import SupportChecker, WorkText
from enrich.store import Store

WORKS = {
    "1": (
        "Parsing Tables with Graph Neural Networks",
        "We parse tables in scientific documents with graph neural networks and improve cell extraction on three "
        "benchmarks.",
    ),
    "2": (
        "Detecting Sarcasm in Product Reviews",
        "We detect sarcasm in online product reviews using contrastive training and an annotated corpus of 5,000 "
        "reviews.",
    ),
    "3": (
        "Speech Recognition for Low-Resource Dialects",
        "We adapt speech recognition models to low-resource dialects of Arabic with self-training on untranscribed "
        "audio.",
    ),
    "4": (
        "Summarising Clinical Notes",
        "We summarise clinical notes of hospital patients with a pointer-generator model and evaluate faithfulness "
        "with doctors.",
    ),
}
NAME = "Jane Q. Doe"
CONTEXT = {"works": WORKS, "name": NAME, "titles": [t for t, _ in WORKS.values()]}
GOOD = [
    {"text": "Jane Q. Doe reads tables in scientific documents with graph neural networks.", "works": [1]},
    {"text": "They also detect sarcasm in online product reviews.", "works": [2]},
]


@pytest.fixture
def checker() -> SupportChecker:
    return SupportChecker([WorkText(k, t, a) for k, (t, a) in WORKS.items()], NAME)


def test_supported_sentences_are_accepted(checker):
    assert checker.check(GOOD[0]["text"], ["1"]).accepted
    assert checker.check(GOOD[1]["text"], ["2"], [GOOD[0]["text"]]).accepted
    assert checker.check("J. Q. Doe et al. adapt speech recognition to Arabic dialects.", ["3"]).accepted


@pytest.mark.parametrize(
    "sentence, cites, previous, reason",
    [
        # a sentence about one paper citing every work
        ("She reads tables in scientific documents with graph networks.", ["1", "2", "3", "4"], [], "over_broad"),
        # citing a work the sentence says nothing about
        ("She reads tables in scientific documents with graph networks.", ["1", "4"], [], "over_broad"),
        # a claim (an institution, a number) in none of the cited works
        ("She detects sarcasm in product reviews at Google.", ["2"], [], "unsupported"),
        ("She detects sarcasm in 40,000 product reviews.", ["2"], [], "unsupported"),
        (
            "She detects sarcasm in reviews, which won a best paper award and is used by millions.",
            ["2"],
            [],
            "unsupported",
        ),
        # the claim belongs to another work on the page
        (
            "She detects sarcasm in product reviews and adapts speech recognition to Arabic dialects.",
            ["2"],
            [],
            "wrong_work",
        ),
        # the cited work's title words as the subject, another work's claim as the predicate
        (
            "Her summaries of clinical notes of hospital patients adapt to low-resource dialects.",
            ["4"],
            [],
            "wrong_work",
        ),
        # praise or padding, whatever the wording, citing works or not
        ("Her work has made significant contributions to the field.", ["1"], [], "filler"),
        ("These papers open exciting new avenues for future research.", ["1", "2"], [], "filler"),
        ("Overall, her research reflects a rich and diverse agenda.", [], [], "filler"),
        # the same point again in other words
        (
            "She also finds sarcastic remarks in reviews of products online.",
            ["2"],
            ["She detects sarcasm in online product reviews."],
            "paraphrase_repeat",
        ),
        # broken pieces and verbless phrases
        ("Jane Q.", [], [], "fragment"),
        ("The research by J.", [], [], "fragment"),
        ("Sarcasm in product reviews and clinical notes.", ["2", "4"], [], "fragment"),
        # a sentence about a work that cites none
        ("She detects sarcasm in online product reviews with contrastive training.", [], [], "no_citation"),
        # praise its cited work does not state, whatever else it says
        ("Her impressive work detects sarcasm in online product reviews.", ["2"], [], "unsupported"),
        # the paper's own voice, and a sentence without its subject
        ("We detect sarcasm in reviews with a new annotated corpus.", ["2"], [], "copied"),
        ("Detects the sarcasm in online product reviews with contrastive training.", ["2"], [], "fragment"),
    ],
)
def test_each_bad_sentence_is_refused_with_its_reason(checker, sentence, cites, previous, reason):
    verdict = checker.check(sentence, cites, previous)
    assert not verdict.accepted
    assert verdict.reason == reason, verdict
    assert verdict.detail  # the model is told why on a re-ask


def test_an_answer_keeps_supported_sentences_and_drops_the_rest():
    ctx = dict(CONTEXT)
    answer = SummaryAnswer.model_validate(
        {"sentences": [*GOOD, {"text": "Her work has made significant contributions.", "works": [1]}]}, context=ctx
    )
    assert [s.text for s in answer.sentences] == [g["text"] for g in GOOD]
    assert [r["reason"] for r in ctx["_report"]["refused"]] == ["filler"]


def test_a_claim_from_another_work_is_not_repaired_by_citing_both():
    """Citing the other work beside the cited one would let a blend of two works pass as supported."""
    blends = [
        # most of it another work's
        {"text": "She detects sarcasm in product reviews with speech recognition for Arabic dialects.", "works": [2]},
        # a substantial part of it another work's
        {"text": "Her summaries of clinical notes of hospital patients adapt to low-resource dialects.", "works": [4]},
    ]
    ctx = dict(CONTEXT)
    answer = SummaryAnswer.model_validate({"sentences": [*GOOD, *blends]}, context=ctx)
    assert [s.text for s in answer.sentences] == [g["text"] for g in GOOD]
    refused = ctx["_report"]["refused"]
    assert [r["reason"] for r in refused] == ["wrong_work", "wrong_work"]
    assert "dialects" in refused[1]["detail"] and "work 3" in refused[1]["detail"]


def test_packed_sentences_are_split_at_sentence_ends_only():
    packed = {"text": f"{GOOD[0]['text']} They also detect sarcasm, e.g. in online product reviews.", "works": [1, 2]}
    answer = SummaryAnswer.model_validate({"sentences": [packed]}, context=dict(CONTEXT))
    assert [s.text for s in answer.sentences][1] == "They also detect sarcasm, e.g. in online product reviews."
    # each part keeps only the cited works it is about (the idle citation is trimmed)
    assert [s.works for s in answer.sentences] == [[1], [2]]


def test_fewer_than_two_supported_sentences_is_an_error_naming_each_reason():
    with pytest.raises(ValueError) as err:
        SummaryAnswer.model_validate(
            {"sentences": [GOOD[0], {"text": "She detects sarcasm at Google.", "works": [2]}]},
            context=dict(CONTEXT),
        )
    assert "only 1 sentence(s) passed" in str(err.value) and "Google" in str(err.value)
    # the re-ask says what to keep and which other works to write about (a different task, not the same answer)
    assert "Keep sentence 1 word for word" in str(err.value)
    assert "about work(s) 3, 4" in str(err.value)


PAGE = f"""{NAME}
Department of Testing, Example University

Publications (4)

""" + "\n".join(
    f"""{title}
{NAME}; Bob Smith
Proceedings of a Test Conference
Year: 202{k} | Conference Paper | ACL Anthology 202{k}.test-1.{k}
Abstract: {abstract}
"""
    for k, (title, abstract) in WORKS.items()
)


@pytest.fixture
def setup(tmp_path: Path):
    settings = load(db=str(tmp_path / "t.db"))
    store = Store.open(settings.db)
    parsed = parse(PAGE, path="jane.txt")
    rid = store.record_import(parsed, text=PAGE, path="jane.txt").researcher_id
    yield store, settings, rid
    store.close()


def _numbered(store, rid, text_by_title: list[tuple[str, list[str]]]) -> dict:
    """An answer citing works by title, numbered as the step numbers them (most recent first)."""
    _digest, chosen = summary.digest(store.researcher_works(rid))
    number = {w.title: i for i, w in enumerate(chosen, 1)}
    return {"sentences": [{"text": t, "works": [number[x] for x in titles]} for t, titles in text_by_title]}


def test_step_re_asks_with_the_reason_then_applies_with_confidence_from_the_checks(setup):
    store, settings, rid = setup
    t = {k: title for k, (title, _a) in WORKS.items()}
    bad = _numbered(store, rid, [(GOOD[0]["text"], [t["1"]]), ("Her work is truly impactful.", [t["1"]])])
    good = _numbered(
        store,
        rid,
        [
            (GOOD[0]["text"], [t["1"]]),
            (GOOD[1]["text"], [t["2"]]),
            ("Her work has made significant contributions.", [t["1"]]),
        ],
    )
    fake = FakeModel({"SummaryAnswer": [bad, good]}, store=store)
    ctx = make_context(store, fake, settings, rid, None, None)
    out = summary.run(ctx)
    assert "has no specific content" in fake.calls[1]["messages"][-1]["content"]  # the re-ask names the reason
    fv = store.current(rid, "summary")
    assert [s["text"] for s in fv.value["sentences"]] == [GOOD[0]["text"], GOOD[1]["text"]]
    # 0.95 - 0.15 (one re-ask) - 0.1 (one sentence dropped)
    assert fv.confidence == pytest.approx(0.7) and out.status == "applied"
    assert "dropped: filler" in fv.evidence[0].note
    assert fv.value["readability"]["grade"] is not None


def test_step_without_two_supported_sentences_fails_and_applies_nothing(setup):
    store, settings, rid = setup
    t = {k: title for k, (title, _a) in WORKS.items()}
    bad = _numbered(store, rid, [(GOOD[0]["text"], [t["1"]]), ("These papers offer new insights.", [t["2"]])])
    fake = FakeModel({"SummaryAnswer": bad}, store=store)
    ctx = make_context(store, fake, settings, rid, None, None)
    (out,) = run_researcher(ctx, ["summary"])
    assert out.status == "failed" and "did not validate" in out.detail
    assert store.current(rid, "summary") is None


def test_step_stops_at_its_time_budget(setup):
    store, _settings, rid = setup
    settings = load(db=str(store.db.conn.execute("PRAGMA database_list").fetchone()[2]), step_budget=0.000001)
    fake = FakeModel({"SummaryAnswer": {"sentences": []}}, store=store)
    ctx = make_context(store, fake, settings, rid, None, None)
    (out,) = run_researcher(ctx, ["summary"])
    assert out.status == "failed" and "time budget" in out.detail and not fake.calls


def test_readability_grade_and_unexplained_acronyms():
    plain = "She teaches computers to read tables. They find the numbers people need."
    dense = "Hierarchical contextualised representations substantially outperform conventional architectures."
    assert fk_grade(plain) < 8 < fk_grade(dense)
    assert fk_grade(plain, sentences=2) == fk_grade(plain)  # a summary gives the count of its checked sentences
    found, unexplained = acronyms("They parse Universal Dependencies (UD) trees and UCCA graphs with BERT.")
    assert found == ["UD", "UCCA", "BERT"] and unexplained == ["UCCA", "BERT"]


def test_confidence_and_readability_reach_the_export(setup):
    from enrich.agent.export import researcher_line
    from enrich.agent.fake_answers import grounded_answer
    from enrich.agent.llm.fake import FunctionModel

    store, settings, rid = setup
    ctx = make_context(store, FunctionModel(grounded_answer, store=store), settings, rid, None, None)
    (out,) = run_researcher(ctx, ["summary"])
    assert out.status == "applied"
    line = researcher_line(store, rid)
    assert line.summary.confidence == store.current(rid, "summary").confidence
    assert line.summary.readability.grade is not None and line.summary.readability.acronyms >= 0


def test_the_pages_common_vocabulary_does_not_make_a_sentence_specific():
    works = [
        WorkText("1", "Language models for parsing", "We parse language with neural models."),
        WorkText("2", "Language of tweets", "We study the language of tweets about elections."),
        WorkText("3", "Sign language recognition", "We recognise sign language from video."),
        WorkText("4", "Poetry generation", "We generate rhyming language with constraints."),
    ]
    checker = SupportChecker(works, "Jane Doe")
    assert checker.check("These papers show how language matters today.", ["1", "2"]).reason == "filler"
    assert checker.check("She recognises sign language from video.", ["3"]).accepted


def test_a_sentence_the_model_stopped_on_a_function_word_is_a_fragment():
    from enrich.agent.steps.summary import _tidy

    assert _tidy("She detects sarcasm in online product reviews") == "They detect sarcasm in online product reviews."
    cut = _tidy("She detects sarcasm in online product reviews from the")
    assert not cut.endswith(".")
    answer = {"sentences": [*GOOD, {"text": "She adapts speech recognition to dialects of the", "works": [3]}]}
    ctx = dict(CONTEXT)
    SummaryAnswer.model_validate(answer, context=ctx)
    assert [r["reason"] for r in ctx["_report"]["refused"]] == ["fragment"]


GRAPH_WORKS = [
    WorkText("1", "Graph networks for tables", "We parse tables in scanned reports with graph neural networks."),
    WorkText("2", "Graph networks for molecules", "We predict properties of molecules with graph neural networks."),
    WorkText("3", "Rhyming poetry", "We generate rhyming poems with a constrained decoder."),
]


def test_each_cited_work_must_support_the_sentence_on_its_own():
    checker = SupportChecker(GRAPH_WORKS, NAME)
    # work 2 shares "graph neural networks" but nothing work 1 does not already carry: an extra citation
    verdict = checker.check("She uses graph neural networks to read the tables in scanned reports.", ["1", "2"])
    assert verdict.reason == "over_broad" and verdict.supporting == ["1"] and "adds nothing" in verdict.detail
    # two works carrying the same part equally both hold, and so do two works each carrying a part of its own
    assert checker.check("Both of her works use graph neural networks.", ["1", "2"]).accepted
    assert checker.check("She parses tables and predicts molecule properties with graph networks.", ["1", "2"]).accepted


def test_an_answers_citations_are_repaired_only_when_the_repaired_sentence_passes_every_check():
    works = {w.key: (w.title, w.abstract) for w in GRAPH_WORKS}
    ctx: dict = {"works": works, "name": NAME}
    answer = SummaryAnswer.model_validate(
        {
            "sentences": [
                # the extra citation is dropped
                {"works": [1, 2], "text": "She uses graph neural networks to read the tables in scanned reports."},
                # the sentence is about work 3, the model gave work 2's number
                {"works": [2], "text": "She also writes poems that rhyme, with a decoder under constraints."},
                # filler stays refused: no work is what it is about
                {"works": [2], "text": "Her research has had a lasting impact on the field."},
            ]
        },
        context=ctx,
    )
    assert [s.works for s in answer.sentences] == [[1], [3]]
    assert ctx["_report"]["trimmed"] == 2 and [r["reason"] for r in ctx["_report"]["refused"]] == ["filler"]


def test_a_citation_list_is_repaired_down_to_the_one_work_that_holds_in_two_rounds():
    works = {w.key: (w.title, w.abstract) for w in GRAPH_WORKS}
    ctx: dict = {"works": works, "name": NAME}
    sentence = "She uses graph neural networks to read the tables in scanned reports."
    checker = SupportChecker(GRAPH_WORKS, NAME)
    first = checker.check(sentence, ["2", "1", "3"])
    assert first.reason == "over_broad" and first.supporting == ["2", "1"]  # work 3 says nothing about it
    assert checker.check(sentence, first.supporting).supporting == ["1"]  # and work 2 adds nothing to work 1
    answer = SummaryAnswer.model_validate(
        {
            "sentences": [
                {"works": [2, 1, 3], "text": sentence},
                {"works": [3], "text": "She also writes poems that rhyme, with a decoder under constraints."},
            ]
        },
        context=ctx,
    )
    assert [s.works for s in answer.sentences] == [[1], [3]] and ctx["_report"]["trimmed"] == 1


def test_a_near_copy_of_an_abstract_sentence_is_refused_a_paraphrase_is_not(checker):
    # the abstract's sentence with one word swapped ("learning" for "training")
    copy = "She detects sarcasm in online product reviews using contrastive learning and an annotated corpus."
    verdict = checker.check(copy, ["2"])
    assert verdict.reason == "copied" and "at most 10 plain words" in verdict.detail
    # the sentence with the pronoun changed and its end left off
    assert (
        checker.check(
            "She summarises clinical notes of hospital patients with a pointer-generator model.", ["4"]
        ).reason
        == "copied"
    )
    assert checker.check("She finds sarcasm in what shoppers write about products online.", ["2"]).accepted


def test_a_sentence_too_long_to_read_is_refused():
    long = {
        "works": [3],
        "text": "She also adapts the models that recognise speech to the many low-resource dialects of Arabic that people "
        "speak in different regions, by training them on large amounts of audio that nobody transcribed.",
    }
    ctx = dict(CONTEXT)
    SummaryAnswer.model_validate({"sentences": [*GOOD, long]}, context=ctx)
    assert [r["reason"] for r in ctx["_report"]["refused"]] == ["too_long"]


def test_confidence_falls_with_each_grade_of_reading_difficulty_above_twelve():
    assert summary.confidence(0, 0, 0, 9.0) == 0.95
    assert summary.confidence(0, 0, 0, 14.0) == pytest.approx(0.85)
    assert summary.confidence(0, 0, 0, 30.0) == pytest.approx(0.7)  # at most 0.25 off
    assert summary.confidence(1, 1, 1, None) == pytest.approx(0.65)


def test_the_digest_shows_each_works_contribution_sentence_and_works_with_abstracts_first():
    from enrich.schemas import Work

    works = [
        Work(work_id="a", title="Title only", year=2024),
        Work(
            work_id="b",
            title="Tables",
            year=2020,
            abstract="Tables are everywhere. In this paper we propose a parser for scanned tables. It works well.",
        ),
        Work(work_id="c", title="Cut", year=2021, abstract="Background first. We present ..."),
    ]
    text, chosen = summary.digest(works)
    assert [w.work_id for w in chosen] == ["c", "b", "a"]
    assert text.splitlines() == [
        "1. Cut",
        "   Background first.",
        "2. Tables",
        "   In this paper we propose a parser for scanned tables.",
        "3. Title only",
    ]


def test_a_sentence_full_of_long_words_is_hard_to_read_a_long_name_is_not():
    from enrich.agent.steps.summary import _readable

    assert _readable("Leveraging dependency forests, they investigate medical relation extraction.").reason == (
        "hard_to_read"
    )
    named = "Ganesh Ramakrishnan discusses training for automatic question generation."
    assert fk_grade(named) > summary.MAX_SENTENCE_GRADE  # the name's syllables alone push it over
    assert _readable(named, "Ganesh Ramakrishnan").accepted


@given(
    st.text(alphabet="Ab. '\u2019s_é-", max_size=30),
    st.text(alphabet="Ab. '\u2019s_é-", min_size=2, max_size=6),
)
@settings(max_examples=1000)
def test_the_name_is_read_as_they_exactly_as_the_regular_expression_did(text, part):
    import re

    want = re.sub(rf"\b{re.escape(part)}(?:['\u2019]s)?(?!\w)", "They", text)
    assert summary._as_they(text, part) == want


@given(
    st.sets(st.text(alphabet="abcd", min_size=1, max_size=8), max_size=12),
    st.sets(st.text(alphabet="abcd", min_size=1, max_size=8), max_size=20),
)
@settings(max_examples=300)
def test_matching_finds_a_term_in_the_vocabulary_or_a_longer_or_shorter_form_of_it(terms, vocabulary):
    from enrich.agent.steps.support import matching

    def related(t: str, v: str) -> bool:
        return t == v or (len(t) >= 5 and len(v) >= 5 and (v.startswith(t) or t.startswith(v)))

    assert matching(set(terms), set(vocabulary)) == {t for t in terms if any(related(t, v) for v in vocabulary)}


def test_the_researchers_name_is_never_a_sentence_end():
    ctx = {**CONTEXT, "name": "Ada Bc. Abbott"}
    answer = SummaryAnswer.model_validate(
        {
            "sentences": [
                {**GOOD[0], "text": "Ada Bc. Abbott reads tables in scientific documents with graph neural networks."},
                GOOD[1],
            ]
        },
        context=ctx,
    )
    assert answer.sentences[0].text.startswith("Ada Bc. Abbott reads")
