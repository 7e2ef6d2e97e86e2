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


def test_each_work_of_the_acl_seed_ranks_learning_and_language_tags_first():
    works = parse((SEEDS / "acl-anthology-zhaorui-tan.txt").read_text(encoding="utf-8")).works
    ranked = load_taxonomy().rank_works(works, k=2)
    assert [[t for t, _ in r] for r in ranked] == [["cs.LG", "cs.CL"], ["cs.LG", "cs.CL"]]
