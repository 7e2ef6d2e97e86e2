"""The shipped arXiv taxonomy and its TF-IDF ranking of each work."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from enrich.agent.ingest import parse
from enrich.agent.taxonomy import _tag_index, load_taxonomy, tag_document

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


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


def test_ranking_above_a_threshold_reads_only_the_tags_sharing_a_term():
    """With a positive threshold the ranking looks only at the tags that share a term with the text: the same tags,
    scores and order (ties in taxonomy order) as ranking every tag's similarity."""
    from enrich.agent.taxonomy import _eligible, _rank_text, work_text

    tax = load_taxonomy("arxiv")
    index, eligible = _tag_index(tax), _eligible(tax)
    texts = [work_text(w) for f in sorted(SEEDS.glob("*.txt")) for w in parse(f.read_text(encoding="utf-8")).works]
    texts += [t.label for t in tax.tags[:40]] + ["", "zzz qqq", "learning learning learning"]
    assert len(texts) > 60
    for text in texts:
        for k, floor in ((3, 0.1), (2, 0.1), (5, 0.05), (40, 1e-9)):
            sims = index.similarities(text) if text.strip() else [0.0] * len(tax.tags)
            every = sorted(
                ((t.tag, s) for t, s, ok in zip(tax.tags, sims, eligible) if ok and s >= floor), key=lambda x: -x[1]
            )[:k]
            assert _rank_text.__wrapped__(tax, text, k, floor) == tuple(every)
        assert index.nonzero(text) == {i: s for i, s in enumerate(index.similarities(text)) if s}


def test_ancestors_and_depth_are_walked_once_and_stay_the_same():
    tax = load_taxonomy("arxiv")
    for t in tax.tags:
        chain = tax.ancestors(t.tag)
        chain.append("changed by a caller")  # a caller's list is its own
        assert tax.ancestors(t.tag) == chain[:-1] and tax.depth(t.tag) == len(chain) - 1


def test_each_work_of_the_acl_seed_ranks_learning_and_language_tags_first():
    works = parse((SEEDS / "acl-anthology-zhaorui-tan.txt").read_text(encoding="utf-8")).works
    ranked = load_taxonomy().rank_works(works, k=2)
    assert [[t for t, _ in r] for r in ranked] == [["cs.LG", "cs.CL"], ["cs.LG", "cs.CL"]]
