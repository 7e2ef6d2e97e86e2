"""Conflation step: does one listing mix several same-name researchers? Pure function of the works (no I/O, no model).

How it decides:
1. Name handling: the subject's own entry in each author list is found by surname + compatible given names
   ("Yan Sun" ~ "Y. Sun"); how the name is printed there is kept, and two printed forms that cannot be the same
   person ("Robert E. Mercer" vs "Robert L. Mercer") become a cannot-link between those works.
2. Strong edges: two works sharing a co-author other than the subject are joined (union-find). Co-author names
   are canonicalised so "L. Shen" and "Li Shen" match.
3. Medium edges: the co-author groups are merged agglomeratively (average linkage) on TF-IDF cosine of
   title+abstract, nudged by same arXiv category and close years, and never across a cannot-link.
4. Decision: a listing is conflated when >= 2 substantial clusters remain that are well separated; a logistic
   score combines a name-ambiguity prior (initials only, very common surname with a one-syllable given name),
   a name-form conflict between clusters, coverage, topic distance, co-author cohesion inside clusters and
   timing. The prior matters most: real one-person listings also fall into separate co-author groups (one
   person's projects), so well separated groups alone do not make two people. Weights were set by hand on the
   30 shared dev listings (bench/eval_conflation.py), so treat the confidence as roughly calibrated only. A one-person listing drifting over decades keeps shared co-authors across eras, so its groups
   chain together in step 2 and it is not flagged.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from enrich.schemas import Work
from enrich.schemas.conflation import Cluster, ClusterEvidence, ConflationResult

from ..names import PersonName

METHOD = "coauthor-tfidf-v1"

MERGE_THRESHOLD = 0.10  # average-linkage similarity needed to merge two groups of works
DETECT_THRESHOLD = 0.5  # confidence above which the listing is flagged
ATTACH_THRESHOLD = 0.02  # a leftover work joins its most similar group when it shares any topic term with it
# Words that say nothing about a research topic in titles/abstracts of CS papers.
_EXTRA_STOP = {
    "paper",
    "propose",
    "proposed",
    "approach",
    "method",
    "methods",
    "based",
    "using",
    "use",
    "used",
    "results",
    "show",
    "new",
    "novel",
    "task",
    "tasks",
    "model",
    "models",
    "work",
    "study",
    "present",
    "problem",
    "data",
    "learning",
    "performance",
    "existing",
    "state",
    "art",
    "experiments",
    "extensive",
    "demonstrate",
    "effective",
    "efficient",
    "framework",
    "however",
    "towards",
    "via",
    "introduce",
    "challenge",
    "challenges",
}
STOP_WORDS = list(ENGLISH_STOP_WORDS | _EXTRA_STOP)
_STOP_SET = frozenset(STOP_WORDS)
_TOKEN = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z-]+\b")


# ----------------------------------------------------------------- names (matching itself: agent/names.py)


def _subject_form(works: list[Work], subject_name: str | None) -> PersonName | None:
    if subject_name:
        return PersonName.parse(subject_name)
    # No name given: the author key present on most works (feeds have none, and then nothing is excluded).
    counts: Counter[tuple[str, str]] = Counter()
    for w in works:
        seen = {(f.surname, f.given[0][0] if f.given else "") for f in map(PersonName.parse, w.authors) if f}
        counts.update(seen)
    if not counts:
        return None
    (surname, initial), n = counts.most_common(1)[0]
    return PersonName((initial,), surname) if n >= max(2, len(works) // 2) else None


def _split_authors(w: Work, subject: PersonName | None) -> tuple[str | None, list[PersonName]]:
    """(the subject's printed form on this work or None, the co-authors)."""
    forms = [(a, PersonName.parse(a)) for a in w.authors if a and "et al" not in a.lower()]
    forms = [(a, f) for a, f in forms if f is not None]
    own_idx = None
    if subject is not None:
        cands = [
            i
            for i, (_, f) in enumerate(forms)
            if f.surname == subject.surname
            and (not f.given or not subject.given or f.given[0][0] == subject.given[0][0])
        ]
        # Prefer the entry fully compatible with the subject's name ("Yan Liu" is a co-author of "Yang Liu").
        exact = [i for i in cands if forms[i][1].compatible(subject)]
        if exact or cands:
            own_idx = (exact or cands)[0]
    own = forms[own_idx][0].strip().rstrip("*") if own_idx is not None else None
    return own, [f for i, (_, f) in enumerate(forms) if i != own_idx]


def _canonical_coauthors(per_work: list[list[PersonName]]) -> list[set[str]]:
    """Map abbreviated co-author forms onto the unique full form they match ("L. Shen" -> "li shen")."""
    full: dict[tuple[str, str], set[str]] = {}
    for forms in per_work:
        for f in forms:
            if f.given and len(f.given[0]) > 1:
                full.setdefault((f.surname, f.given[0][0]), set()).add(f.key())
    out = []
    for forms in per_work:
        keys = set()
        for f in forms:
            k = f.key()
            if f.given and len(f.given[0]) == 1:
                matches = full.get((f.surname, f.given[0]), set())
                if len(matches) == 1:
                    k = next(iter(matches))
            if f.given or len(f.surname) > 3:  # skip single-token junk like "team"
                keys.add(k)
        out.append(keys)
    return out


def _initials_only(subject: PersonName | None) -> bool:
    return bool(subject and subject.given and all(len(g) == 1 for g in subject.given))


# Surnames shared by very many researchers (the most frequent East Asian, South Asian and Western ones): a listing
# under such a surname with a short given name is a likely home for namesakes.
COMMON_SURNAMES = frozenset(
    """
li wang zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song tang han
feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen yao lu jin
kim lee park choi jung jeong kang cho yoon jang lim han shin oh seo kwon hwang ahn song yoo hong
nguyen tran le pham hoang phan vu
kumar singh sharma gupta roy das patel shah rao reddy iyer khan ali ahmed
smith johnson williams brown jones miller davis wilson taylor anderson thomas moore martin lee white
""".split()
)


def _syllables(token: str) -> int:
    return len(re.findall(r"[aeiouy]+", token))


def name_ambiguity(subject: PersonName | None) -> float:
    """Rough prior that a name is shared by several active researchers: initials only, or a very common surname
    with a one-syllable given name ("Yang Liu", "Yan Sun"), are highly ambiguous; distinctive names are not."""
    if subject is None or not subject.given:
        return 0.5
    if _initials_only(subject):
        return 0.9
    common = subject.surname in COMMON_SURNAMES
    short_given = len(subject.given) == 1 and _syllables(subject.given[0]) <= 1
    if common and short_given:
        return 0.75
    if common:
        return 0.3
    return 0.1


# ----------------------------------------------------------------- clustering


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


@dataclass
class _Features:
    n: int
    own_forms: list[PersonName | None]
    own_strings: list[str | None]
    coauthors: list[set[str]]
    sim: np.ndarray  # work x work topic similarity
    years: list[int | None]
    venues: list[str | None]
    terms: list[str]
    tfidf: _TfIdf | None = None
    cannot: set[tuple[int, int]] = field(default_factory=set)
    subject: PersonName | None = None


def _text(w: Work) -> str:
    return " ".join(x for x in (w.title, w.title, w.abstract) if x)  # the title counts twice: abstracts are long


# Up to this many works the similarity matrix is summed in Python (cheaper than a sparse product for a few works).
SMALL_LISTING = 24


@dataclass
class _TfIdf:
    """The TF-IDF rows of a listing: per work the (first-appearance id, column, weight) of its terms, in the order
    scikit-learn stores them (by first appearance); columns index `terms` (sorted)."""

    terms: list[str]
    rows: list[list[tuple[int, int, float]]]

    def matrix(self) -> csr_matrix:
        indptr = np.cumsum([0] + [len(r) for r in self.rows], dtype=np.int32)
        indices = np.array([c for r in self.rows for _, c, _ in r], dtype=np.int32)
        data = np.array([w for r in self.rows for _, _, w in r], dtype=np.float64)
        return csr_matrix((data, indices, indptr), shape=(len(self.rows), len(self.terms)))

    def cosine(self) -> np.ndarray:
        """`(X @ X.T).toarray()`. For a few rows in Python: scipy adds the products of the shared terms in the
        rows' stored order, starting from 0.0; so does this."""
        n = len(self.rows)
        if n > SMALL_LISTING:
            x = self.matrix()
            return (x @ x.T).toarray()
        sim = np.zeros((n, n))
        by_id = [{k: w for k, _, w in r} for r in self.rows]
        for i in range(n):
            for j in range(i, n):
                other, total, shared = by_id[j], 0.0, False
                for k, _, w in self.rows[i]:
                    v = other.get(k)
                    if v is not None:
                        total += w * v
                        shared = True
                if shared:
                    sim[i, j] = sim[j, i] = total
        return sim

    def column_sums(self, rows: list[int]) -> np.ndarray:
        """`X[rows].sum(axis=0)` as scipy computes it (0.0 plus each row's value, rows in the given order)."""
        sums = [0.0] * len(self.terms)
        for i in rows:
            for _, c, w in self.rows[i]:
                sums[c] += w
        return np.array(sums)


def _tfidf(texts: list[str]) -> _TfIdf | None:
    """`TfidfVectorizer(stop_words=STOP_WORDS, sublinear_tf=True, token_pattern=_TOKEN).fit_transform(texts)`
    without its per-call overhead (parameter validation, analyzer building, sparse checks: ~1 ms, most of this
    step's time on a 4-work listing). Same values, same float operations in the same order, so the same bits
    (checked against scikit-learn in tests/steps). None when only stop words are left."""
    first_seen: dict[str, int] = {}  # term -> id in order of first appearance (scikit-learn's counting order)
    counted: list[list[tuple[int, int]]] = []
    for text in texts:
        counts: dict[int, int] = {}
        for token in _TOKEN.findall(text.lower()):
            if token not in _STOP_SET:
                k = first_seen.setdefault(token, len(first_seen))
                counts[k] = counts.get(k, 0) + 1
        counted.append(sorted(counts.items()))  # scikit-learn sorts each row by first-appearance id
    if not first_seen:
        return None
    terms = sorted(first_seen)
    column = [0] * len(terms)  # first-appearance id -> column of the sorted terms
    for col, term in enumerate(terms):
        column[first_seen[term]] = col
    # TfidfTransformer: smoothed idf, sublinear tf, each row scaled to unit L2 norm. The logs stay numpy ufuncs
    # over arrays laid out as scikit-learn's, as its results may differ from math.log in the last bit.
    indices = np.array([column[k] for r in counted for k, _ in r], dtype=np.int32)
    df = np.bincount(indices, minlength=len(terms)).astype(np.float64)
    df += 1.0
    idf = np.full_like(df, fill_value=len(texts) + 1, dtype=np.float64)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    data = np.array([c for r in counted for _, c in r], dtype=np.float64)
    np.log(data, data)
    data += 1.0
    data *= idf[indices]
    weights = data.tolist()
    rows: list[list[tuple[int, int, float]]] = []
    lo = 0
    for r in counted:
        row = weights[lo : lo + len(r)]
        lo += len(r)
        total = 0.0
        for x in row:
            total += x * x
        if total != 0.0:
            norm = math.sqrt(total)
            row = [x / norm for x in row]
        rows.append([(k, column[k], w) for (k, _), w in zip(r, row)])
    return _TfIdf(terms, rows)


def _features(works: list[Work], subject: PersonName | None) -> _Features:
    n = len(works)
    own_strings, co_forms = [], []
    for w in works:
        own, co = _split_authors(w, subject)
        own_strings.append(own)
        co_forms.append(co)
    own_forms = [PersonName.parse(s) if s else None for s in own_strings]
    coauthors = _canonical_coauthors(co_forms)
    texts = [_text(w) for w in works]
    sim = np.eye(n)
    terms: list[str] = []
    tfidf = None
    if n > 1 and any(t.strip() for t in texts):
        tfidf = _tfidf(texts)
        if tfidf is not None:  # else only stop words
            sim = tfidf.cosine()
            terms = tfidf.terms
    years = [w.year for w in works]
    venues = [w.category or None for w in works]
    cannot = set()
    for i, j in combinations(range(n), 2):
        a, b = own_forms[i], own_forms[j]
        if a and b and not a.compatible(b):
            cannot.add((i, j))
    return _Features(n, own_forms, own_strings, coauthors, sim, years, venues, terms, tfidf, cannot, subject)


def _pair_similarity(f: _Features, i: int, j: int) -> float:
    s = float(f.sim[i, j])
    if f.venues[i] and f.venues[i] == f.venues[j]:
        s += 0.05
    if f.years[i] and f.years[j]:
        gap = abs(f.years[i] - f.years[j])
        s *= 1.0 if gap <= 3 else max(0.5, 1.0 - 0.05 * (gap - 3))
    return s


def _pair_matrix(f: _Features) -> np.ndarray:
    """_pair_similarity for all pairs at once."""
    m = f.sim.copy()
    cats = np.array([v or "" for v in f.venues], dtype=object)
    same_cat = (cats[:, None] == cats[None, :]) & (cats[:, None] != "")
    m = m + 0.05 * same_cat
    years = np.array([y or 0 for y in f.years], dtype=float)
    known = years > 0
    gap = np.abs(years[:, None] - years[None, :])
    decay = np.where(gap <= 3, 1.0, np.maximum(0.5, 1.0 - 0.05 * (gap - 3)))
    return m * np.where(known[:, None] & known[None, :], decay, 1.0)


def _conflicts(f: _Features, a: list[int], b: list[int]) -> bool:
    return any((min(i, j), max(i, j)) in f.cannot for i in a for j in b)


def _cluster(f: _Features) -> list[list[int]]:
    uf = _UnionFind(f.n)
    owners: dict[str, list[int]] = {}
    for i, keys in enumerate(f.coauthors):
        for k in keys:
            owners.setdefault(k, []).append(i)
    for idxs in owners.values():
        for j in idxs[1:]:
            if not _conflicts(f, [idxs[0]], [j]):
                uf.union(idxs[0], j)
    # The same distinctive printing of the subject's name (a middle initial the listing name lacks) is a strong edge.
    forms: dict[str, list[int]] = {}
    for i, form in enumerate(f.own_forms):
        if form is not None and f.subject is not None and len(form.given) > len(f.subject.given):
            forms.setdefault(form.key(), []).append(i)
    for idxs in forms.values():
        for j in idxs[1:]:
            uf.union(idxs[0], j)
    groups: dict[int, list[int]] = {}
    for i in range(f.n):
        groups.setdefault(uf.find(i), []).append(i)
    clusters = list(groups.values())
    pair = _pair_matrix(f)
    # Average linkage on cluster-level sums (updated on merge), so a 200-work listing stays well under a second.
    k = len(clusters)
    member = np.zeros((k, f.n))
    for ci, c in enumerate(clusters):
        member[ci, c] = 1.0
    sums = member @ pair @ member.T
    cannot = np.zeros((f.n, f.n))
    for i, j in f.cannot:
        cannot[i, j] = cannot[j, i] = 1.0
    blocked = (member @ cannot @ member.T) > 0
    sizes = member.sum(axis=1)
    alive = np.ones(k, dtype=bool)
    while alive.sum() > 1:
        avg = sums / np.outer(sizes, sizes)
        mask = np.triu(np.outer(alive, alive), 1) & ~blocked
        if not mask.any():
            break
        avg = np.where(mask, avg, -np.inf)
        a, b = np.unravel_index(int(np.argmax(avg)), avg.shape)
        if avg[a, b] < MERGE_THRESHOLD:
            break
        clusters[a] = clusters[a] + clusters[b]
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        blocked[a, :] |= blocked[b, :]
        blocked[:, a] |= blocked[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
    clusters = [c for ci, c in enumerate(clusters) if alive[ci]]
    return sorted(clusters, key=lambda c: (-len(c), c[0]))


# ----------------------------------------------------------------- decision


def _sigmoid(x: float) -> float:
    """The logistic function without overflow: `math.exp` of a large argument raises, so the exponent is always
    <= 0 (a score driven very far from 0 gives 0.0 or 1.0, not an OverflowError)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _relative_margin(a: float, b: float) -> float:
    """(a - b) relative to the larger of the two, in [-1, 1]; 0 when both are 0. A margin relative to `a` alone
    is unbounded below when `a` is ~0 (clusters held together by co-authors whose works share no terms)."""
    scale = max(a, b)
    return 0.0 if scale <= 0.0 else (a - b) / scale


def _year_span(f: _Features, c: list[int]) -> tuple[int, int] | None:
    ys = sorted(y for y in (f.years[i] for i in c) if y)
    return (ys[0], ys[-1]) if ys else None


def separation_features(f: _Features, big: list[list[int]]) -> dict[str, float]:
    """Signals that the substantial clusters are different people rather than one person's lines of work."""
    members = [i for c in big for i in c]
    inter = [float(f.sim[np.ix_(a, b)].mean()) for a, b in combinations(big, 2)]
    intra = [float(f.sim[np.ix_(c, c)][~np.eye(len(c), dtype=bool)].mean()) for c in big]
    # Co-author cohesion: share of the clusters' works joined to another work of their cluster by a co-author.
    linked = sum(1 for c in big for i in c if any(f.coauthors[i] & f.coauthors[j] for j in c if j != i))
    spans = [s for s in (_year_span(f, c) for c in big) if s]
    concurrent, gap = 0.0, 0
    if len(spans) >= 2:
        overlaps = [min(a1, b1) - max(a0, b0) for (a0, a1), (b0, b1) in combinations(spans, 2)]
        concurrent = 1.0 if max(overlaps) >= 0 else 0.0
        gap = max(0, -min(overlaps))
    return {
        "groups": float(len(big)),
        "covered": len(members) / f.n,
        "separation": _relative_margin(float(np.mean(intra)), float(np.mean(inter))),
        "cohesion": linked / len(members),
        "name_conflict": float(any(_conflicts(f, a, b) for a, b in combinations(big, 2))),
        "concurrent": concurrent,
        "gap": float(gap),
        "ambiguity": name_ambiguity(f.subject),
    }


def _score(x: dict[str, float]) -> float:
    """Logistic score, weights set by hand on the dev listings (see bench/eval_conflation.py). The name prior
    carries most of it: distinctive names keep several well separated co-author groups (one person's projects)."""
    z = -6.5
    z += 5.0 * x["ambiguity"]
    z += 4.0 * x["name_conflict"]
    z += 2.0 * x["covered"]
    z += 1.5 * x["separation"]
    z += 1.0 * x["cohesion"]
    z += 0.5 * x["concurrent"]
    z += 1.0 * min(x["gap"], 15.0) / 15.0
    return _sigmoid(z)


def _decide(f: _Features, clusters: list[list[int]]) -> tuple[float, list[str], list[list[int]]]:
    """(probability the listing is conflated, reasons, the substantial clusters)."""
    min_size = max(2, min(3, math.ceil(0.15 * f.n)))  # 3 works make a person even in a long listing
    big = [c for c in clusters if len(c) >= min_size]
    if len(big) < 2:
        return 0.02, ["fewer than two substantial groups of works"], big
    x = separation_features(f, big)
    reasons = [
        f"{len(big)} groups cover {x['covered']:.0%} of the works",
        f"topic separation {x['separation']:.2f}",
        f"{x['cohesion']:.0%} of grouped works share a co-author inside their group, none across groups",
        f"name ambiguity prior {x['ambiguity']:.2f}",
    ]
    if x["name_conflict"]:
        reasons.append("the subject's name is printed in incompatible forms across groups")
    if x["concurrent"]:
        reasons.append("the groups publish in the same years")
    elif x["gap"]:
        reasons.append(f"{x['gap']:.0f} years between the groups")
    return _score(x), reasons, big


def _evidence(f: _Features, c: list[int], works: list[Work]) -> ClusterEvidence:
    co = Counter(k for i in c for k in f.coauthors[i])
    shared = [k.title() for k, n in co.most_common() if n >= 2][:8]
    top_terms: list[str] = []
    if f.tfidf is not None and f.terms:
        weights = f.tfidf.column_sums(c)
        top_terms = [f.terms[k] for k in weights.argsort()[::-1][:6] if weights[k] > 0]
    span = _year_span(f, c)
    venues = Counter(v for v in ((works[i].category or works[i].venue) for i in c) if v)
    forms = sorted({s for s in (f.own_strings[i] for i in c) if s})
    return ClusterEvidence(
        shared_coauthors=shared,
        top_terms=top_terms,
        years=list(span) if span else [],
        venues=[v for v, _ in venues.most_common(3)],
        name_forms=forms,
    )


def detect(works: list[Work], subject_name: str | None) -> ConflationResult:
    """Cluster a listing's works and decide whether they belong to more than one person."""
    if len(works) < 4:
        clusters = [Cluster(work_ids=[w.work_id for w in works], titles=[w.title for w in works])] if works else []
        return ConflationResult(
            detected=False,
            confidence=0.05,
            clusters=clusters,
            method=METHOD,
            reasons=["too few works to tell people apart"],
        )
    subject = _subject_form(works, subject_name)
    f = _features(works, subject)
    clusters = _cluster(f)
    confidence, reasons, big = _decide(f, clusters)
    detected = confidence >= DETECT_THRESHOLD
    if detected:
        # Works outside the substantial groups go to the most similar group when anything links them at all.
        rest = [i for c in clusters if c not in big for i in c]
        big = [list(c) for c in big]
        leftovers = []
        for i in rest:
            scores = [
                float(np.mean([_pair_similarity(f, i, j) for j in c])) if not _conflicts(f, [i], c) else -1 for c in big
            ]
            k = int(np.argmax(scores))
            if scores[k] > ATTACH_THRESHOLD:
                big[k].append(i)
            else:
                leftovers.append([i])
        out = big + leftovers
    else:
        out = [list(range(f.n))]
    result_clusters = [
        Cluster(
            work_ids=[works[i].work_id for i in sorted(c)],
            titles=[works[i].title for i in sorted(c)],
            evidence=_evidence(f, sorted(c), works),
        )
        for c in out
    ]
    return ConflationResult(
        detected=detected, confidence=round(confidence, 4), clusters=result_clusters, method=METHOD, reasons=reasons
    )
