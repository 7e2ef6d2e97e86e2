"""The conflation step's own TF-IDF must give scikit-learn's TfidfVectorizer results bit for bit (the step's
decisions and evidence must not move by a rounding)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from enrich.agent.steps import conflation as C

TITLES = [
    "Robust Graph Networks for Question Answering",
    "Efficient Transformers for Machine Translation. We study efficient transformers and show gains.",
    "Sparse Kernel Methods for Image Segmentation with sparse kernels, sparse-kernel tricks",
    "Learning to rank documents: a novel approach using retrieval models",
    "Protein folding with diffusion models; protein structure prediction at scale",
    "Causal inference for traffic forecasting, causal discovery in traffic data",
    "Self-Supervised speech recognition from raw audio",
    "Bayesian optimisation of hyper-parameters for boosting and decision trees",
    "Federated learning with differential privacy for recommendation",
    "Multilingual entity linking across 100 languages",
    "the of and",  # only stop words
    "",
]


def _reference(texts: list[str]):
    vec = TfidfVectorizer(
        stop_words=C.STOP_WORDS, sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z-]+\b"
    )
    x = vec.fit_transform(texts)
    return x, list(vec.get_feature_names_out())


def _listings() -> list[list[str]]:
    rng = random.Random(7)
    out = [TITLES[:4], TITLES[:10], TITLES]
    for _ in range(60):
        out.append([" ".join(rng.sample(TITLES, rng.randint(1, 3))) for _ in range(rng.randint(2, 40))])
    return out


@pytest.mark.parametrize("texts", _listings())
def test_tfidf_matches_scikit_learn_bit_for_bit(texts: list[str]) -> None:
    ref, ref_terms = _reference(texts)
    got = C._tfidf(texts)
    assert got is not None and got.terms == ref_terms
    m = got.matrix()
    assert np.array_equal(m.indptr, ref.indptr) and np.array_equal(m.indices, ref.indices)
    assert m.data.tobytes() == ref.data.tobytes()
    assert got.cosine().tobytes() == (ref @ ref.T).toarray().tobytes()  # small (Python) and large (sparse) paths
    rows = list(range(0, len(texts), 2))
    assert got.column_sums(rows).tobytes() == np.asarray(ref[rows].sum(axis=0)).ravel().tobytes()


def test_only_stop_words_gives_none_like_scikit_learn() -> None:
    with pytest.raises(ValueError):
        _reference(["the of", "and"])
    assert C._tfidf(["the of", "and"]) is None
