"""The shipped arXiv taxonomy and its TF-IDF ranking of each work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from enrich.agent.ingest import parse
from enrich.agent.openalex_topics import read_records, to_taxonomy
from enrich.agent.taxonomy import Tag, Taxonomy, _tag_index, load_taxonomy, parse_taxonomy, tag_document

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
OPENALEX = Path(__file__).parent / "fixtures" / "openalex_topics_page.json"


def test_taxonomy_has_every_cs_category():
    tax = load_taxonomy("arxiv")
    cs = {t.tag for t in tax.tags if t.tag.startswith("cs.")}
    assert len(cs) == 40 and {"cs.CL", "cs.LG", "cs.CV", "cs.GL", "cs.OH"} <= cs
    assert tax.from_page_category("LG").tag == "cs.LG" and tax.from_page_category("ML").tag == "stat.ML"


@pytest.mark.parametrize(
    "text",
    [
        "sparse tuning of large language models",
        "gait recognition with silhouettes",
        "federated learning convergence of decentralized SGD",
        "",
        "zzz qqq",
    ],
)
def test_plain_python_scores_equal_scikit_learn(text):
    tax = load_taxonomy("arxiv")
    docs = [tag_document(t) for t in tax.tags]
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(docs)
    expected = cosine_similarity(vec.transform([text]), vec.transform(docs))[0]
    assert _tag_index(tax).similarities(text) == pytest.approx(list(expected), abs=1e-12)


def _flat(labels: list[str]) -> Taxonomy:
    return Taxonomy("t", "1", tuple(Tag(f"t{i}", label) for i, label in enumerate(labels)))


def sklearn_index(docs: list[str]) -> dict[str, tuple[float, list[tuple[int, float]]]]:
    """The index as it was made with scikit-learn: term -> (idf, [(tag index, weight)])."""
    try:
        vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(docs)
    except ValueError:  # scikit-learn refuses an empty vocabulary (only stop words or one-letter words)
        return {}
    m = vec.transform(docs).tocsc()
    return {
        term: (vec.idf_[j], list(zip(m.indices[m.indptr[j] : m.indptr[j + 1]], m.data[m.indptr[j] : m.indptr[j + 1]])))
        for term, j in vec.vocabulary_.items()
    }


# a term in 19 of 20 documents: an idf of log(21 / 20) + 1, where numpy's vectorised log (AVX-512) and math.log
# differ in the last bit
NINETEEN_OF_TWENTY = _flat([f"graph topic{i}" for i in range(19)] + ["other"])


@pytest.mark.parametrize("name", ["arxiv", "openalex", "nineteen of twenty"])
def test_the_index_is_the_one_scikit_learn_fits_to_the_bit(name):
    """Vocabulary, idf and every tag's weights equal (==, not approx) scikit-learn's fit of the same documents."""
    tax = {
        "arxiv": load_taxonomy(),
        "openalex": parse_taxonomy(to_taxonomy(read_records(OPENALEX))),
        "nineteen of twenty": NINETEEN_OF_TWENTY,
    }[name]
    index = _tag_index(tax)
    assert index.vocabulary == sklearn_index([tag_document(t) for t in tax.tags])
    assert list(index.vocabulary) == sorted(index.vocabulary)


WORDS = st.sampled_from(
    "the of and a an i learning learning's Learning LEARNING graph graphs neural x2 42 é café naïve Straße "
    "co-operation state-of-the-art über 中文 模型 _ __init__ a_b it's 3d 10k".split()
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(WORDS, max_size=30).map(" ".join), min_size=1, max_size=12))
def test_any_tag_documents_are_fitted_as_scikit_learn_fits_them(labels):
    tax = _flat([label or "of" for label in labels])  # a label is required; "of" is a stop word
    assert _tag_index(tax).vocabulary == sklearn_index([tag_document(t) for t in tax.tags])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab_1é\u0301中 .-'\n\tİß"), max_size=40) | st.text(max_size=40))
def test_terms_are_scikit_learns_tokens(text):
    from enrich.agent.taxonomy import _TERMS

    assert _TERMS(text) == re.findall(TfidfVectorizer().token_pattern, text)


def test_ranking_imports_no_scikit_learn():
    code = "import sys; from enrich.agent.taxonomy import load_taxonomy, _tag_index; "
    code += "_tag_index(load_taxonomy()).rank('graph neural networks', 3, 0.1); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_ranking_above_a_threshold_reads_only_the_tags_sharing_a_term():
    """With a positive threshold the ranking looks only at the tags that share a term with the text: the same tags,
    scores and order (ties in taxonomy order) as ranking every tag's similarity."""
    from enrich.agent.taxonomy import _rank_text, work_text

    tax = load_taxonomy("arxiv")
    index = _tag_index(tax)
    texts = [work_text(w) for f in sorted(SEEDS.glob("*.txt")) for w in parse(f.read_text(encoding="utf-8")).works]
    texts += [t.label for t in tax.tags[:40]] + ["", "zzz qqq", "learning learning learning"]
    assert len(texts) > 60
    for text in texts:
        for k, floor in ((3, 0.1), (2, 0.1), (5, 0.05), (40, 1e-9)):
            sims = index.similarities(text) if text.strip() else [0.0] * len(tax.tags)
            every = sorted(
                ((t.tag, s) for t, s, ok in zip(tax.tags, sims, index.eligible) if ok and s >= floor),
                key=lambda x: -x[1],
            )[:k]
            assert _rank_text.__wrapped__(tax, text, k, floor) == tuple(every)
        assert index.nonzero(text) == {i: s for i, s in enumerate(index.similarities(text)) if s}


def test_a_tag_down_to_the_field_level_is_walked_once_and_stays_the_same():
    """What a work ranked for a tag is evidence for: the tag, then its ancestors while at or below the field level
    (tests/agent/test_taxonomy_import.py has a hierarchy); the arXiv taxonomy is flat."""
    tax = load_taxonomy("arxiv")
    for t in tax.tags:
        assert tax.down_to_field(t.tag) == (t.tag,) and tax.depth(t.tag) == 0
        assert tax.down_to_field(t.tag) is tax.down_to_field(t.tag)
    deep = Taxonomy("t", "1", (Tag("a", "A"), Tag("b", "B", parent="a"), Tag("c", "C", parent="b")), field_depth=1)
    assert [deep.down_to_field(c) for c in "abc"] == [(), ("b",), ("c", "b")]
    assert [deep.depth(c) for c in "abc"] == [0, 1, 2] and deep.group("c") == "a" and deep.field_level("c") == "b"


def test_each_work_of_the_acl_seed_ranks_learning_and_language_tags_first():
    works = parse((SEEDS / "acl-anthology-zhaorui-tan.txt").read_text(encoding="utf-8")).works
    ranked = load_taxonomy().rank_works(works, k=2)
    assert [[t for t, _ in r] for r in ranked] == [["cs.LG", "cs.CL"], ["cs.LG", "cs.CL"]]
