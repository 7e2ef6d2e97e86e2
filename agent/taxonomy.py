"""Controlled topic taxonomies, pluggable: the arXiv category taxonomy ships with the package; another one is a JSON
file of the same shape, named by the `taxonomy` setting (a path, or a name found in the `taxonomy_dir` setting's
folder, where `enrich taxonomy import` writes).

A taxonomy file:

    {"name": "openalex", "version": "2024-06", "source": "...", "field_depth": 2,
     "tags": [{"id": "T10181", "label": "...", "parent": "subfields/1702", "description": "...",
               "keywords": ["...", "..."]}, ...]}

`id` (or `tag`) and `label` are required; `parent` names another tag of the file (or is null); `keywords` is a list or
one string. `field_depth` is how many ancestors a *field-level* tag has (0 for a flat taxonomy such as arXiv's; 2 for
OpenAlex's domain > field > subfield > topic, where the subfield is the field level): tags above it are too broad to
apply, tags below it are finer tags that need their own support."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

from enrich.schemas import Work


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used (missing, not JSON, a tag without id or label, a dangling parent)."""


@dataclass(frozen=True)
class Tag:
    tag: str
    label: str
    keywords: str = ""
    parent: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Taxonomy:
    name: str
    version: str
    tags: tuple[Tag, ...]
    field_depth: int = 0

    @cached_property
    def _by_code(self) -> dict[str, Tag]:
        return {t.tag: t for t in self.tags}

    @cached_property
    def _hash(self) -> int:
        return hash((self.name, self.version, self.tags, self.field_depth))

    def __hash__(self) -> int:
        """Hashed once: the ranking caches are keyed by the taxonomy, and hashing every tag at each look-up was most
        of a cached ranking's cost."""
        return self._hash

    def get(self, code: str) -> Tag | None:
        return self._by_code.get(code)

    @cached_property
    def _chains(self) -> dict[str, tuple[str, ...]]:
        return {}  # a tag's ancestors, walked once: the topics step asks for them ~100 times per researcher

    def _chain(self, code: str) -> tuple[str, ...]:
        chain = self._chains.get(code)
        if chain is None:
            out: list[str] = []
            tag = self.get(code)
            while tag is not None and tag.parent and tag.parent not in out:
                out.append(tag.parent)
                tag = self.get(tag.parent)
            chain = self._chains[code] = tuple(out)
        return chain

    def ancestors(self, code: str) -> list[str]:
        """Parent, grandparent, ... of a tag (nearest first)."""
        return list(self._chain(code))

    def depth(self, code: str) -> int:
        return len(self._chain(code))

    def group(self, code: str) -> str:
        """The broadest ancestor; in a flat taxonomy the prefix before the dot (the arXiv archive: cs, stat, math)."""
        chain = self._chain(code)
        if chain:
            return chain[-1]
        return code.split(".", 1)[0] if "." in code else code

    def field_level(self, code: str) -> str | None:
        """The tag itself or its ancestor at the field level (None for a tag above it)."""
        chain = (code, *self._chain(code))
        d = len(chain) - 1 - self.field_depth
        return chain[d] if d >= 0 else None

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

    def rank_works(self, works: list[Work], k: int = 2, min_similarity: float = 0.1) -> list[list[tuple[str, float]]]:
        """For each work, its `k` best tags at or below the field level (similarity >= `min_similarity`)."""
        return [list(_rank_text(self, work_text(w), k, min_similarity)) for w in works]


@lru_cache(maxsize=8192)  # a paper is listed on each of its authors' pages
def _rank_text(taxonomy: Taxonomy, text: str, k: int, min_similarity: float) -> tuple[tuple[str, float], ...]:
    index = _tag_index(taxonomy)
    eligible = _eligible(taxonomy)
    tags = taxonomy.tags
    if min_similarity > 0:  # only the tags sharing a term with the text can pass: no pass over every tag
        found = index.nonzero(text) if text.strip() else {}
        ranked = sorted(
            ((tags[i].tag, found[i]) for i in sorted(found) if eligible[i] and found[i] >= min_similarity),
            key=lambda x: -x[1],
        )
        return tuple(ranked[:k])
    sims = index.similarities(text) if text.strip() else [0.0] * len(tags)
    ranked = sorted(
        ((t.tag, s) for t, s, ok in zip(tags, sims, eligible) if ok and s >= min_similarity),
        key=lambda x: -x[1],
    )
    return tuple(ranked[:k])


@lru_cache(maxsize=8)
def _eligible(taxonomy: Taxonomy) -> list[bool]:
    return [taxonomy.depth(t.tag) >= taxonomy.field_depth for t in taxonomy.tags]


def work_text(w: Work) -> str:
    return f"{w.title or ''} {(w.abstract or '')[:1000]}"


class _TagIndex:
    """TF-IDF of the tag descriptions, fitted once per taxonomy by scikit-learn. A researcher's text is scored
    against it in plain Python: the same analyzer, sublinear tf, idf and l2 norm as `TfidfVectorizer.transform`
    (to rounding), without scikit-learn's per-call overhead, which dominated the pipeline's CPU time. An inverted
    index (term -> tags) keeps a large taxonomy (OpenAlex: ~4,800 tags) cheap per work."""

    def __init__(self, docs: list[str]):
        vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(docs)
        # the analyzer's terms, without its per-call chain (decode, preprocess, tokenize, drop stop words): a stop
        # word is never in the vocabulary, so lower-case + token pattern counts the same terms
        assert vec.lowercase and vec.strip_accents is None and vec.ngram_range == (1, 1)
        self.terms = re.compile(vec.token_pattern).findall
        self.vocabulary = vec.vocabulary_
        self.idf = vec.idf_.tolist()
        self.n = len(docs)
        matrix = vec.transform(docs).tocsc()  # column j: the tags that use term j
        self.postings = [
            list(
                zip(
                    matrix.indices[matrix.indptr[j] : matrix.indptr[j + 1]].tolist(),
                    matrix.data[matrix.indptr[j] : matrix.indptr[j + 1]].tolist(),
                )
            )
            for j in range(matrix.shape[1])
        ]

    def similarities(self, text: str) -> list[float]:
        sims = [0.0] * self.n
        for i, s in self.nonzero(text).items():
            sims[i] = s
        return sims

    def nonzero(self, text: str) -> dict[int, float]:
        """The similarities of the tags that share a term with the text (the others are 0), by tag index."""
        counts: dict[int, int] = {}
        for term in self.terms(text.lower()):
            j = self.vocabulary.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        weights = {j: (1.0 + math.log(c)) * self.idf[j] for j, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if norm == 0.0:
            return {}
        sims: dict[int, float] = {}
        for j, w in weights.items():
            for i, v in self.postings[j]:
                sims[i] = sims.get(i, 0.0) + w * v
        return {i: s / norm for i, s in sims.items()}


@lru_cache(maxsize=8)
def _tag_index(taxonomy: Taxonomy) -> _TagIndex:
    return _TagIndex([tag_document(t) for t in taxonomy.tags])


def tag_document(t: Tag) -> str:
    return f"{t.label} {t.keywords} {t.description}".strip()


def _keywords(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(k) for k in value)
    return str(value or "")


def parse_taxonomy(data: object, origin: str = "taxonomy") -> Taxonomy:
    """Validate a taxonomy document (see the module docstring) and build the Taxonomy."""
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list) or not data.get("name"):
        raise TaxonomyError(f"{origin}: expected an object with 'name' and a list of 'tags'")
    tags: list[Tag] = []
    for i, t in enumerate(data["tags"]):
        code = (t.get("id") or t.get("tag")) if isinstance(t, dict) else None
        if not code or not t.get("label"):
            raise TaxonomyError(f"{origin}: tag #{i + 1} needs an 'id' and a 'label'")
        tags.append(
            Tag(
                str(code),
                str(t["label"]),
                _keywords(t.get("keywords")),
                str(t["parent"]) if t.get("parent") else None,
                str(t.get("description") or ""),
            )
        )
    codes = [t.tag for t in tags]
    if len(set(codes)) != len(codes):
        dup = next(c for c in codes if codes.count(c) > 1)
        raise TaxonomyError(f"{origin}: tag id {dup!r} occurs more than once")
    known = set(codes)
    dangling = next((t for t in tags if t.parent and t.parent not in known), None)
    if dangling:
        raise TaxonomyError(f"{origin}: tag {dangling.tag!r} names an unknown parent {dangling.parent!r}")
    return Taxonomy(str(data["name"]), str(data.get("version", "")), tuple(tags), int(data.get("field_depth", 0)))


def taxonomy_path(name_or_path: str, taxonomy_dir: str | None = None) -> Path | None:
    """A file path as given, else `<taxonomy_dir>/<name>.json`; None when neither exists (a packaged name)."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".json" and path.is_file():
        return path
    if taxonomy_dir:
        candidate = Path(taxonomy_dir).expanduser() / f"{name_or_path}.json"
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=8)
def load_taxonomy(name_or_path: str = "arxiv", taxonomy_dir: str | None = None) -> Taxonomy:
    path = taxonomy_path(name_or_path, taxonomy_dir)
    try:
        if path is not None:
            text, origin = path.read_text(encoding="utf-8"), str(path)
        else:
            res = resources.files("enrich.agent").joinpath(f"data/taxonomy-{name_or_path}.json")
            if not res.is_file():
                raise TaxonomyError(
                    f"no taxonomy {name_or_path!r}: not a .json file, not in {taxonomy_dir or 'the taxonomy folder'}"
                    ", not shipped (shipped: arxiv)"
                )
            text, origin = res.read_text("utf-8"), name_or_path
        return parse_taxonomy(json.loads(text), origin)
    except (OSError, json.JSONDecodeError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {name_or_path!r}: {exc}") from None
