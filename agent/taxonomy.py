"""Controlled topic taxonomies. The arXiv category taxonomy ships with the package; another one is a JSON file of
the same shape ({"name", "version", "tags": [{"tag", "label", "keywords"}]}) named by the `taxonomy` setting."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

from enrich.schemas import Work


@dataclass(frozen=True)
class Tag:
    tag: str
    label: str
    keywords: str


@dataclass(frozen=True)
class Taxonomy:
    name: str
    version: str
    tags: tuple[Tag, ...]

    def get(self, code: str) -> Tag | None:
        return next((t for t in self.tags if t.tag == code), None)

    def from_page_category(self, short: str | None) -> Tag | None:
        """arXiv listings print categories without their archive ("LG"): try the archives in order."""
        if not short:
            return None
        if self.get(short):
            return self.get(short)
        for archive in ("cs", "stat", "eess", "math", "q-bio", "q-fin", "econ"):
            tag = self.get(f"{archive}.{short}")
            if tag:
                return tag
        return None

    def shortlist(self, works: list[Work], k: int = 10, min_similarity: float = 0.08) -> list[tuple[Tag, float]]:
        """Rank tags by TF-IDF similarity between the works' text and each tag's label + keywords; tags that share
        (almost) nothing with the works are not offered to the model at all."""
        corpus = " ".join(f"{w.title or ''} {(w.abstract or '')[:400]}" for w in works)
        if not corpus.strip():
            return []
        index = _tag_index(self)
        sims = index.similarities(corpus)
        ranked = sorted(zip(self.tags, sims), key=lambda x: -x[1])
        return [(t, float(s)) for t, s in ranked[:k] if s >= min_similarity]


class _TagIndex:
    """TF-IDF of the tag descriptions, fitted once per taxonomy by scikit-learn. A researcher's text is scored
    against it in plain Python: the same analyzer, sublinear tf, idf and l2 norm as `TfidfVectorizer.transform`
    (to rounding), without scikit-learn's per-call overhead, which dominated the pipeline's CPU time."""

    def __init__(self, docs: list[str]):
        vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(docs)
        self.analyze = vec.build_analyzer()
        self.vocabulary = vec.vocabulary_
        self.idf = vec.idf_.tolist()
        matrix = vec.transform(docs).tocsr()
        self.rows = [
            dict(
                zip(
                    matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]].tolist(),
                    matrix.data[matrix.indptr[i] : matrix.indptr[i + 1]].tolist(),
                )
            )
            for i in range(matrix.shape[0])
        ]

    def similarities(self, text: str) -> list[float]:
        counts: dict[int, int] = {}
        for term in self.analyze(text):
            j = self.vocabulary.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        weights = {j: (1.0 + math.log(c)) * self.idf[j] for j, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if norm == 0.0:
            return [0.0] * len(self.rows)
        return [sum(w * row.get(j, 0.0) for j, w in weights.items()) / norm for row in self.rows]


@lru_cache(maxsize=8)
def _tag_index(taxonomy: Taxonomy) -> _TagIndex:
    return _TagIndex([f"{t.label} {t.keywords}" for t in taxonomy.tags])


@lru_cache(maxsize=8)
def load_taxonomy(name_or_path: str = "arxiv") -> Taxonomy:
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        data = json.loads(
            resources.files("enrich.agent").joinpath(f"data/taxonomy-{name_or_path}.json").read_text("utf-8")
        )
    return Taxonomy(
        data["name"],
        str(data.get("version", "")),
        tuple(Tag(t["tag"], t["label"], t.get("keywords", "")) for t in data["tags"]),
    )
