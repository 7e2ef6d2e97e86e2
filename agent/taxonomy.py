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
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from itertools import takewhile
from pathlib import Path

import numpy as np

from enrich.agent.stop_words import ENGLISH_STOP_WORDS
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
        return {}  # a tag's ancestors (nearest first), walked once: the topics step asks ~100 times per researcher

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

    @cached_property
    def _down_to_field(self) -> dict[str, tuple[str, ...]]:
        return {}

    def down_to_field(self, code: str) -> tuple[str, ...]:
        """The tag, then its ancestors while they are at or below the field level: what a work ranked for the tag is
        evidence for."""
        got = self._down_to_field.get(code)
        if got is None:
            chain = (code, *self._chain(code))
            got = self._down_to_field[code] = tuple(takewhile(lambda c: self.depth(c) >= self.field_depth, chain))
        return got

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

    def rank_works(
        self, works: list[Work], k: int = 2, min_similarity: float = 0.1
    ) -> list[tuple[tuple[str, float], ...]]:
        """For each work, its `k` best tags at or below the field level (similarity >= `min_similarity`)."""
        return [_rank_text(self, work_text(w), k, min_similarity) for w in works]


@lru_cache(maxsize=8192)  # a paper is listed on each of its authors' pages
def _rank_text(taxonomy: Taxonomy, text: str, k: int, min_similarity: float) -> tuple[tuple[str, float], ...]:
    return _tag_index(taxonomy).rank(text, k, min_similarity)


def work_text(w: Work) -> str:
    return f"{w.title or ''} {(w.abstract or '')[:1000]}"


# scikit-learn's default token pattern, r"(?u)\b\w\w+\b", without its \b: scanning left to right, a match of
# \w\w+ starts where a run of word characters does and takes all of it (tests/agent/test_taxonomy.py compares
# them); the boundary checks were a large part of ranking a work's text
_TERMS = re.compile(r"\w\w+").findall


class _TagIndex:
    """TF-IDF of a taxonomy's tag descriptions, the numbers scikit-learn's
    `TfidfVectorizer(stop_words="english", sublinear_tf=True)` fits and transforms them to (tests/agent/
    test_taxonomy.py compares them), made here without importing scikit-learn, which costs each process that ranks
    about a CPU-second. A text is scored against it in plain Python, the same analyzer, sublinear tf, idf and l2
    norm as `TfidfVectorizer.transform` (to rounding). An inverted index (term -> tags) keeps a large taxonomy
    (OpenAlex: ~4,800 tags) cheap per work."""

    def __init__(self, taxonomy: Taxonomy):
        self.codes = [t.tag for t in taxonomy.tags]
        # the tags a work may be ranked for: at or below the field level
        self.eligible = [taxonomy.depth(code) >= taxonomy.field_depth for code in self.codes]
        docs = [
            Counter(w for w in _TERMS(tag_document(t).lower()) if w not in ENGLISH_STOP_WORDS) for t in taxonomy.tags
        ]
        terms = sorted(set().union(*docs))  # the vocabulary, by term
        df = Counter(term for doc in docs for term in doc)
        n = len(docs) + 1  # smoothed: one more document holding every term
        # the logarithms are numpy's, as scikit-learn's: its vectorised log is not always math.log to the last bit
        idf = (np.log(np.array([n / (df[term] + 1) for term in terms], dtype=np.float64)) + 1.0).tolist()
        rows = [sorted(doc.items()) for doc in docs]  # a document's terms in vocabulary order, as the sums below
        # sublinear term frequencies (1 + log count), row after row, as scikit-learn takes them from its matrix
        tf = iter((np.log(np.array([c for row in rows for _, c in row], dtype=np.float64)) + 1.0).tolist())
        # term -> its idf and the (tag index, weight) of the tags that use it: one look-up per word of a text
        vocabulary: dict[str, tuple[float, list[tuple[int, float]]]] = {t: (w, []) for t, w in zip(terms, idf)}
        for i, row in enumerate(rows):
            weights = [next(tf) * vocabulary[term][0] for term, _ in row]
            total = 0.0
            for w in weights:  # summed in order, as scikit-learn's l2 norm (sum() compensates from Python 3.12)
                total += w * w
            norm = math.sqrt(total)
            for (term, _), w in zip(row, weights):
                vocabulary[term][1].append((i, w / norm))
        self.vocabulary = vocabulary

    def similarities(self, text: str) -> list[float]:
        sims = [0.0] * len(self.codes)
        for i, s in self.nonzero(text).items():
            sims[i] = s
        return sims

    def nonzero(self, text: str) -> dict[int, float]:
        """The similarities of the tags that share a term with the text (the others are 0), by tag index."""
        vocabulary = self.vocabulary
        counts: dict[str, int] = {}  # the text's terms in the order they first occur (the order of the sums below)
        for term in _TERMS(text.lower()):
            if term in vocabulary:
                counts[term] = counts.get(term, 0) + 1
        if not counts:
            return {}
        weighted = [((1.0 + math.log(c)) * vocabulary[term][0], vocabulary[term][1]) for term, c in counts.items()]
        norm = math.sqrt(sum(w * w for w, _ in weighted))  # > 0: every idf is >= 1
        sims: dict[int, float] = {}
        for w, postings in weighted:
            for i, v in postings:
                sims[i] = sims.get(i, 0.0) + w * v
        return {i: s / norm for i, s in sims.items()}

    def rank(self, text: str, k: int, min_similarity: float) -> tuple[tuple[str, float], ...]:
        """The `k` most similar eligible tags with similarity >= `min_similarity` (ties in taxonomy order)."""
        sims = self.nonzero(text)
        eligible = self.eligible
        if min_similarity > 0:  # only the tags sharing a term with the text can pass: no pass over every tag
            passed = sorted(i for i, s in sims.items() if s >= min_similarity and eligible[i])
        else:  # every similarity is >= 0: every eligible tag passes
            passed = [i for i, ok in enumerate(eligible) if ok]
        passed.sort(key=lambda i: sims.get(i, 0.0), reverse=True)  # stable: ties stay in taxonomy order
        return tuple((self.codes[i], sims.get(i, 0.0)) for i in passed[:k])


@lru_cache(maxsize=8)
def _tag_index(taxonomy: Taxonomy) -> _TagIndex:
    return _TagIndex(taxonomy)


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
