"""Conflation step: does one listing mix several same-name researchers? Pure function of the works (no I/O, no model).

How it decides (co-author structure first; parameters fitted offline, leave-people-out):
1. Names (agent/names.py): the subject's own entry in each author list is found by surname + compatible given
   names ("Yan Sun" ~ "Y. Sun"); two printed forms that cannot be one person ("Robert E." / "Robert L. Mercer")
   become a cannot-link between those works. Co-author names are canonicalised ("L. Shen" -> "Li Shen").
2. Works sharing a co-author (the subject excluded) are grouped, chained: near-proof of one person.
3. Groups are merged greedily, most probable pair first, while a logistic model (agent/steps/work_pairs.py) gives
   them a same-person probability >= `merge`. Its weights may only say "closer = more likely one person" (see
   work_pairs.SIGNS): text, venue, years, categories, byline organisations, printed name forms, group sizes.
4. Detection: a second logistic model over the structure (how many works with co-authors lie outside the largest
   group; how unlikely the two largest groups are to be one person) and how ambiguous the page's name is (printed
   as initials only; a very common surname), weights >= 0: the same structure is stronger evidence of namesakes
   under a name many researchers share; how close in topic the works' titles are to each other (weight <= 0); and
   whether the page itself states an affiliation for its subject (page_states_affiliation), weight <= 0, fitted on
   top of the others so that its absence changes nothing. Its probability is the `confidence`; the listing is
   flagged at >= `threshold`. A name-form conflict (two printings that cannot be one person, across two
   substantial groups or each on as many works as a substantial group holds) is a constraint (confidence >= 0.95),
   not a fitted weight.
5. The proposed split: the substantial groups; a leftover work joins its most probable group above `attach`,
   the rest are proposed together as one cluster of works the method could not place.
All numbers (weights, `merge`, `attach`, `threshold`) are fitted by bench/fit_conflation.py on labelled listings
and read from agent/data/conflation-params.json; that script also reports leave-people-out figures.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import combinations
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from enrich.agent.stop_words import ENGLISH_STOP_WORDS
from enrich.schemas import Work
from enrich.schemas.conflation import Cluster, ClusterEvidence, ConflationResult

from ..names import PersonName, email_names_subject, looks_like_institution, names_subject
from .work_pairs import GroupState, PairModel, WorkVectors, affiliation_keys, incidence, venue_family, venue_words

METHOD = "coauthor-structure-name-titles-affiliation-v7"
NAME_CONFLICT_CONFIDENCE = 0.95
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
    parsed = [(a, PersonName.parse(a)) for a in w.authors if a and "et al" not in a.lower()]
    forms = [(a, f) for a, f in parsed if f is not None]
    own_idx = None
    if subject is not None:
        cands = [
            i
            for i, (_, f) in enumerate(forms)
            if f.surname == subject.surname
            and (not f.given or not subject.given or f.given[0][0] == subject.given[0][0])
        ]
        # Prefer the entry printed exactly as the subject's name, then one compatible with it: "Yan Liu" is a
        # co-author of "Yang Liu", and "Thuat Nguyen" a same-initial co-author of the page's "T. Nguyen".
        same = [i for i in cands if forms[i][1] == subject]
        exact = [i for i in cands if forms[i][1].compatible(subject)]
        if same or exact or cands:
            own_idx = (same or exact or cands)[0]
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


# ----------------------------------------------------------------- clustering


@dataclass
class _Features:
    n: int
    own_forms: list[PersonName | None]
    own_strings: list[str | None]
    coauthors: list[set[str]]
    sim: np.ndarray  # work x work topic similarity (TF-IDF cosine of title + abstract)
    years: list[int | None]
    terms: list[str]
    tfidf: _TfIdf | None
    cannot: np.ndarray  # n x n: the subject's printed names cannot be one person
    subject: PersonName | None
    vectors: WorkVectors
    name: PersonName | None = None  # the page's name as printed (or the subject's most frequent printing)
    page_affiliation: bool = False  # the page ties its subject to an organisation (see page_states_affiliation)


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
    without its per-call overhead (parameter validation, analyzer building, sparse checks: most of this step's
    time on a short listing). Same values, same float operations in the same order, so the same bits
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


def _rows(texts: list[str]) -> csr_matrix:
    """L2-normalised TF-IDF rows (all zero when only stop words are left)."""
    t = _tfidf(texts) if any(x.strip() for x in texts) else None
    return t.matrix() if t is not None else csr_matrix((len(texts), 1))


def _char_rows(texts: list[str]) -> csr_matrix:
    """Character 2-4-gram TF-IDF rows of name lists ("zh", "ng", "ğ": where a lab recruits)."""
    if not any(texts):
        return csr_matrix((len(texts), 1))
    from sklearn.feature_extraction.text import TfidfVectorizer  # here: importing sklearn costs a CPU-second

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    return vec.fit_transform([t or " " for t in texts]).tocsr()


def _name_matrices(own_forms: list[PersonName | None], subject: PersonName | None) -> tuple[np.ndarray, list[set[str]]]:
    """(cannot-link matrix, per work the printed form of the subject's name when it says more than the listing's)."""
    keys = sorted({f.key() for f in own_forms if f is not None})
    forms = {f.key(): f for f in own_forms if f is not None}
    idx = np.array([keys.index(f.key()) if f is not None else len(keys) for f in own_forms], dtype=int)
    k = len(keys)
    clash = np.zeros((k + 1, k + 1), dtype=bool)  # last row/column: no printed form
    for a in range(k):
        for b in range(a + 1, k):
            clash[a, b] = clash[b, a] = not forms[keys[a]].compatible(forms[keys[b]])
    sub_len = sum(len(g) for g in subject.given) + len(subject.given) if subject else 0
    full = [
        {f.key()} if f is not None and sum(len(g) for g in f.given) + len(f.given) > sub_len else set()
        for f in own_forms
    ]
    return clash[idx[:, None], idx[None, :]], full


def page_states_affiliation(hints: Sequence[Mapping[str, Any]], name: str | None) -> bool:
    """Does the page itself tie its subject to an organisation: a header line that reads as an organisation's name
    (its words, as the affiliation step decides without a ROR index) or an e-mail, or a byline affiliation or
    e-mail that names the subject? `hints`: the parser's hint values (`kind`, `text`, `author`), as the store keeps
    them. A page that states where its subject works is usually about one person (a fitted detection feature, not
    a rule: see README "What the page's affiliation rests on")."""
    for h in hints:
        kind, author, text = h.get("kind"), h.get("author"), h.get("text") or ""
        if kind == "header" and (looks_like_institution(text) or "@" in text):
            return True
        if name and kind in ("affiliation", "email") and names_subject(author, name):
            return True
        if name and kind == "email" and "@" in text and email_names_subject(text, name):
            return True
    return False


def _features(
    works: list[Work], subject: PersonName | None, name: str | None = None, page_affiliation: bool = False
) -> _Features:
    """name: the page's name as printed (None: the subject's most frequent printing in the works is used);
    page_affiliation: page_states_affiliation() of the page's hints."""
    n = len(works)
    own_strings, co_forms = [], []
    for w in works:
        own, co = _split_authors(w, subject)
        own_strings.append(own)
        co_forms.append(co)
    own_forms = [PersonName.parse(s) if s else None for s in own_strings]
    printed = Counter(f for f in own_forms if f is not None).most_common(1)
    page_name = (PersonName.parse(name) if name else None) or (printed[0][0] if printed else None)
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
    cannot, full_forms = _name_matrices(own_forms, subject)
    off = sim[~np.eye(n, dtype=bool)]
    vectors = WorkVectors(
        text=tfidf.matrix() if tfidf is not None else csr_matrix((n, 1)),
        title=_rows([w.title or "" for w in works]),
        coauthor_names=_char_rows([" ; ".join(sorted(keys)) for keys in coauthors]),
        coauthor_surnames=incidence([{f.surname for f in forms if len(f.surname) > 1} for forms in co_forms]),
        coauthors=incidence(coauthors),
        venue=_rows([venue_words(w.venue) for w in works]),
        families=incidence([{fam} if (fam := venue_family(w.venue)) else set() for w in works]),
        categories=incidence([{w.category} if w.category else set() for w in works]),
        affiliations=incidence([affiliation_keys(w.bylines) for w in works]),
        full_forms=incidence(full_forms),
        years=np.array([w.year or 0 for w in works], dtype=float),
        mean_text_cosine=float(off.mean()) if off.size else 0.0,
    )
    return _Features(
        n,
        own_forms,
        own_strings,
        coauthors,
        sim,
        [w.year for w in works],
        terms,
        tfidf,
        cannot,
        subject,
        vectors,
        page_name,
        page_affiliation,
    )


# ----------------------------------------------------------------- parameters


@dataclass
class Params:
    """Everything fitted offline by bench/fit_conflation.py (agent/data/conflation-params.json)."""

    pair: PairModel
    merge: float  # average-linkage probability needed to merge two groups of works
    attach: float  # a leftover work joins its most probable group above this
    detect_mean: np.ndarray
    detect_scale: np.ndarray
    detect_coef: np.ndarray
    detect_intercept: float
    threshold: float = 0.5  # flag the listing when the detection probability reaches this (fitted for F1)
    # The range each listing feature took in the fitting listings: a value outside it is clipped to it, so that a
    # page unlike any of them (a title repeated on every work) cannot drive the score with a straight line.
    detect_lo: np.ndarray | None = None
    detect_hi: np.ndarray | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Params:
        if list(d["detect"]["features"]) != list(LISTING_FEATURES):
            raise ValueError("conflation parameters were fitted on other listing features; re-run the fit")
        return cls(
            pair=PairModel.from_dict(d["pair"]),
            merge=float(d["merge"]),
            attach=float(d["attach"]),
            detect_mean=np.array(d["detect"]["mean"]),
            detect_scale=np.array(d["detect"]["scale"]),
            detect_coef=np.array(d["detect"]["coef"]),
            detect_intercept=float(d["detect"]["intercept"]),
            threshold=float(d.get("threshold", 0.5)),
            detect_lo=np.array(d["detect"]["lo"]) if "lo" in d["detect"] else None,
            detect_hi=np.array(d["detect"]["hi"]) if "hi" in d["detect"] else None,
        )


@lru_cache(maxsize=1)
def default_params() -> Params:
    text = resources.files("enrich.agent.data").joinpath("conflation-params.json").read_text(encoding="utf-8")
    return Params.from_dict(json.loads(text))


# ----------------------------------------------------------------- clustering


def coauthor_components(coauthors: list[set[str]]) -> np.ndarray:
    """Component label per work of the graph "shares a co-author"."""
    m = incidence(coauthors)
    _, labels = connected_components(csr_matrix((m @ m.T) > 0), directed=False)
    return labels


def _initial_groups(f: _Features) -> list[list[int]]:
    """Works that share a co-author (the subject excluded), chained: a shared co-author is near-proof of one person.
    A group holding incompatible printings of the subject's name is broken up again."""
    comp = coauthor_components(f.coauthors)
    groups: dict[int, list[int]] = {}
    for i in range(f.n):
        groups.setdefault(int(comp[i]), []).append(i)
    out: list[list[int]] = []
    for g in groups.values():
        if len(g) > 1 and f.cannot[np.ix_(g, g)].any():
            out.extend([i] for i in g)
        else:
            out.append(g)
    return out


def _blocked(f: _Features, groups: list[list[int]]) -> np.ndarray:
    if not f.cannot.any():
        return np.zeros((len(groups), len(groups)), dtype=bool)
    member = np.zeros((len(groups), f.n))
    for k, g in enumerate(groups):
        member[k, g] = 1.0
    return (member @ f.cannot.astype(float) @ member.T) > 0


def initial_state(f: _Features) -> GroupState:
    """The co-author groups before any merge (the same for every parameter set: the fitting script reuses it)."""
    return GroupState(f.vectors, _initial_groups(f))


def _cluster(
    f: _Features, params: Params, start: GroupState | None = None
) -> tuple[list[list[int]], GroupState, np.ndarray]:
    """Average-free agglomeration: repeatedly merge the two groups the fitted model finds most likely one person,
    while that probability reaches params.merge, never across a cannot-link. Returns (groups, state, probabilities
    between the final groups). `start`: initial_state(f), left unchanged."""
    state = start.copy() if start is not None else initial_state(f)
    k = len(state.groups)
    prob = params.pair.proba(state.features())
    blocked = _blocked(f, state.groups)
    alive = np.ones(k, dtype=bool)
    np.fill_diagonal(blocked, True)
    while alive.sum() > 1:
        mask = np.outer(alive, alive) & ~blocked
        if not mask.any():
            break
        cand = np.where(mask, prob, -1.0)
        a, b = (int(i) for i in np.unravel_index(int(np.argmax(cand)), cand.shape))
        if cand[a, b] < params.merge:
            break
        state.merge(a, b)
        alive[b] = False
        blocked[a, :] |= blocked[b, :]
        blocked[:, a] |= blocked[:, b]
        row = params.pair.proba(state.features([a]))[0]
        prob[a, :] = row
        prob[:, a] = row
    keep = [i for i in range(k) if alive[i]]
    order = sorted(keep, key=lambda i: (-len(state.groups[i]), min(state.groups[i])))
    clusters = [state.groups[i] for i in order]
    return clusters, state, prob[np.ix_(order, order)]


# ----------------------------------------------------------------- decision

LISTING_FEATURES = (
    "outside_largest",  # works with co-authors outside the largest group (scaled down past REFERENCE_WORKS works)
    "separation",  # 1 - same-person probability between the two largest substantial groups (0 with fewer)
    "initials_only",  # the page's name is initials + surname ("J. Lee")
    "common_surname",  # one of the most frequent surnames (names.COMMON_SURNAMES)
    "title_coherence",  # mean cosine between the works' title TF-IDF vectors: one person's works keep to topics
    "page_affiliation",  # the page states an organisation for its subject (header, byline, e-mail): one person
)
# The direction each listing feature may push the detection probability when fitted (+1: towards several people,
# -1: towards one person).
DETECT_SIGNS = (1, 1, 1, 1, -1, -1)
assert len(DETECT_SIGNS) == len(LISTING_FEATURES)
# Listings of the fitting data hold 6-12 works: a longer listing's count is scaled to this size, so that a
# prolific person's many small collaborations do not read as a second person.
REFERENCE_WORKS = 12
MIN_WORKS = 4  # fewer works are too few to tell people apart: the verdict says so without clustering


def min_group_size(n: int) -> int:
    return max(2, min(3, math.ceil(0.15 * n)))  # 3 works make a person even in a long listing


def title_coherence(titles: csr_matrix) -> float:
    """Mean cosine over all pairs of different works of their (L2-normalised) title vectors: the sum of all pair
    products is |sum of rows|^2 minus the rows' own |row|^2, so no n x n matrix is built. Titles, not abstracts:
    whether a page prints abstracts depends on its source, and would move the value."""
    n = titles.shape[0]
    if n < 2:
        return 0.0
    total = np.asarray(titles.sum(axis=0)).ravel()
    own = float(titles.multiply(titles).sum())
    return max(0.0, (float(total @ total) - own) / (n * (n - 1)))


def listing_features(f: _Features, prob: np.ndarray, clusters: list[list[int]]) -> tuple[np.ndarray, list]:
    """prob: same-person probability between the clusters (in the clusters' order, largest first)."""
    nbig = sum(1 for c in clusters if len(c) >= min_group_size(f.n))
    big = clusters[:nbig]
    largest = set(clusters[0]) if clusters else set()
    outside = sum(1 for i in range(f.n) if f.coauthors[i] and i not in largest)
    name = f.name
    x = {
        "outside_largest": outside * min(1.0, REFERENCE_WORKS / f.n),
        "separation": 1.0 - float(prob[0, 1]) if nbig >= 2 else 0.0,
        "initials_only": float(bool(name and name.initials_only)),
        "common_surname": float(bool(name and name.common_surname)),
        "title_coherence": title_coherence(f.vectors.title),
        "page_affiliation": float(f.page_affiliation),
    }
    return np.array([x[k] for k in LISTING_FEATURES]), big


def _name_conflict(f: _Features, big: list[list[int]]) -> bool:
    """Two printings of the subject's name that cannot be one person ("Robert E." / "Robert L. Mercer"), either
    across two substantial groups, or each on a substantial number of works whatever the co-author structure: a
    person whose collaborators rarely recur leaves only small groups, and the printed names are still evidence. A
    form printed on a single work is not enough on its own (a misprinted middle initial)."""
    if any(f.cannot[np.ix_(a, b)].any() for a, b in combinations(big, 2)):
        return True
    if not f.cannot.any():
        return False
    counts = Counter(x.key() for x in f.own_forms if x is not None)
    forms = {x.key(): x for x in f.own_forms if x is not None}
    repeated = [forms[k] for k, n in counts.items() if n >= min_group_size(f.n)]
    return any(not a.compatible(b) for a, b in combinations(repeated, 2))


def _sigmoid(x: float) -> float:
    """The logistic function without overflow: `math.exp` of a large argument raises, so the exponent is always
    <= 0 (a score driven very far from 0 gives 0.0 or 1.0, not an OverflowError)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def detection_probability(x: np.ndarray, params: Params) -> float:
    if params.detect_lo is not None and params.detect_hi is not None:
        x = np.clip(x, params.detect_lo, params.detect_hi)
    return _sigmoid(
        float(((x - params.detect_mean) / params.detect_scale) @ params.detect_coef + params.detect_intercept)
    )


def _reasons(x: np.ndarray, big: list[list[int]], f: _Features, conflict: bool) -> list[str]:
    v = dict(zip(LISTING_FEATURES, x))
    if len(big) < 2 and not conflict:
        return ["fewer than two substantial groups of works"]
    reasons = [
        f"{int(round(v['outside_largest'] * max(1.0, f.n / REFERENCE_WORKS)))} of {f.n} works share no co-author "
        "with the largest group",
        f"{len(big)} substantial groups; same-person probability between the two largest {1.0 - v['separation']:.2f}",
    ]
    if conflict:
        reasons.append("the subject's name is printed in incompatible forms across groups")
    ambiguous = [
        text
        for key, text in (
            ("initials_only", "the name is printed as initials only"),
            ("common_surname", "a very common surname"),
        )
        if v[key]
    ]
    if ambiguous:
        reasons.append("an ambiguous name: " + ", ".join(ambiguous))
    if v["page_affiliation"]:
        reasons.append("the page states an affiliation for its subject (evidence of one person)")
    return reasons


def _year_span(f: _Features, c: list[int]) -> tuple[int, int] | None:
    ys = sorted(y for y in (f.years[i] for i in c) if y)
    return (ys[0], ys[-1]) if ys else None


@dataclass
class Analysis:
    """Everything detect() computes, for the fitting script and the benchmark."""

    features: _Features
    prob: np.ndarray  # between the clusters
    clusters: list[list[int]]
    listing_x: np.ndarray
    big: list[list[int]]
    confidence: float
    name_conflict: bool = False


def analyse(
    works: list[Work], subject_name: str | None, params: Params | None = None, page_affiliation: bool = False
) -> Analysis:
    params = params or default_params()
    f = _features(works, _subject_form(works, subject_name), subject_name, page_affiliation)
    return analyse_features(f, params)


def analyse_features(f: _Features, params: Params, start: GroupState | None = None) -> Analysis:
    clusters, _, prob = _cluster(f, params, start)
    x, big = listing_features(f, prob, clusters)
    conflict = _name_conflict(f, big)
    return Analysis(f, prob, clusters, x, big, listing_confidence(x, params, conflict), conflict)


def listing_confidence(x: np.ndarray, params: Params, name_conflict: bool = False) -> float:
    confidence = detection_probability(x, params)
    if name_conflict:
        # Two substantial groups print the name in forms that cannot be one person ("Robert E." / "Robert L."):
        # a constraint, as in S2AND, rather than a fitted weight (too rare in the fitting data to be learnt).
        confidence = max(confidence, NAME_CONFLICT_CONFIDENCE)
    return confidence


def final_clusters(a: Analysis, params: Params) -> list[list[int]]:
    """The split to propose: the substantial groups; a leftover work joins its most probable group when that
    probability reaches params.attach, the others are proposed together as one more cluster (works the method
    could not place, for the reviewer to move) -- apart from a work whose printed name forbids it."""
    nbig = max(len(a.big), 1)
    big = [list(c) for c in a.clusters[:nbig]]
    blocked = _blocked(a.features, a.clusters)
    unplaced: list[int] = []
    alone: list[list[int]] = []
    for r in range(nbig, len(a.clusters)):
        scores = np.where(blocked[r, :nbig], -1.0, a.prob[r, :nbig])
        k = int(np.argmax(scores))
        if scores[k] >= params.attach:
            big[k].extend(a.clusters[r])
        elif unplaced and a.features.cannot[np.ix_(a.clusters[r], unplaced)].any():
            alone.append(list(a.clusters[r]))
        else:
            unplaced.extend(a.clusters[r])
    return big + ([unplaced] if unplaced else []) + alone


def _evidence(f: _Features, c: list[int], works: list[Work]) -> ClusterEvidence:
    co = Counter(k for i in c for k in sorted(f.coauthors[i]))  # sorted: ties listed alike whatever the hash seed
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


def detect(
    works: list[Work], subject_name: str | None, params: Params | None = None, page_affiliation: bool = False
) -> ConflationResult:
    """Cluster a listing's works and decide whether they belong to more than one person. page_affiliation:
    page_states_affiliation() of the listing's hints."""
    if len(works) < MIN_WORKS:
        clusters = [Cluster(work_ids=[w.work_id for w in works], titles=[w.title for w in works])] if works else []
        return ConflationResult(
            detected=False,
            confidence=0.05,
            clusters=clusters,
            method=METHOD,
            reasons=["too few works to tell people apart"],
        )
    params = params or default_params()
    a = analyse(works, subject_name, params, page_affiliation)
    f = a.features
    detected = a.confidence >= params.threshold and len(a.clusters) >= 2
    out = final_clusters(a, params) if detected else [list(range(f.n))]
    result_clusters = [
        Cluster(
            work_ids=[works[i].work_id for i in sorted(c)],
            titles=[works[i].title for i in sorted(c)],
            evidence=_evidence(f, sorted(c), works),
        )
        for c in out
    ]
    return ConflationResult(
        detected=detected,
        confidence=round(a.confidence, 4),
        clusters=result_clusters,
        method=METHOD,
        reasons=_reasons(a.listing_x, a.big, f, a.name_conflict),
    )
