"""Evidence that two groups of works of one listing (single works at first) were written by the same person.

S2AND-style: every pair of groups gets a feature vector (co-author name population, title + abstract similarity,
venue and venue family, year gap, printed categories, affiliation / e-mail lines, how the subject's name is
printed, group sizes); a logistic model whose weights are fitted offline (bench/fit_conflation.py, numbers in
agent/data/conflation-params.json) turns it into the probability that both groups are one person. Groups are
compared through summed vectors, so merging two groups is a row update and a 200-work listing stays in
milliseconds. Works sharing a co-author are grouped before any of this (agent.steps.conflation). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

FEATURES = (
    "text_cosine",  # cosine of the groups' summed TF-IDF vectors of title + abstract
    "text_relative",  # the same over the listing's mean work-to-work cosine (how close, for this listing)
    "title_cosine",  # cosine of the summed title vectors
    "coauthor_names_cosine",  # character 2-4-gram cosine of the co-author names (a lab's name population)
    "coauthor_surnames",  # co-author surnames shared without sharing the person
    "venue_cosine",  # cosine of the venue names, boilerplate removed
    "venue_family",  # share of the smaller group's venue families found in the other group
    "year_gap",  # years between the groups' spans / 10 (0 when they overlap), capped at 2
    "year_overlap",  # the spans overlap
    "same_category",  # a printed (arXiv) category in common
    "affiliation_shared",  # byline / e-mail lines share an organisation word or a mail domain
    "name_same_full",  # both groups print the subject's name in one form longer than the listing's own
    "log_min_size",
    "log_max_size",
    "solo",  # one of the groups has no co-author at all
)
# The direction each feature may push the same-person probability when fitted (+1 towards one person, -1 towards
# two, 0 either way): the fitting listings pair people chosen for close topics, which makes text, venue and year
# closeness look like evidence of two people there; a real page does not work that way, so those weights may only
# be >= 0 (and the year gap's <= 0).
SIGNS = (1, 1, 1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 0, 0, 0)
assert len(SIGNS) == len(FEATURES)

_VENUE_BOILERPLATE = frozenset(
    """proceedings proceeding of the and on in for annual meeting conference international joint workshop
    workshops volume long short papers paper demonstrations demonstration system student research track main
    findings association chapter st nd rd th first second third fourth fifth sixth seventh eighth ninth tenth
    eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
    number special issue journal transactions symposium january february march april may june july august
    september october november december""".split()
)
_ACRONYM = re.compile(r"\b([A-Z][A-Za-z]*[A-Z][A-Za-z]*)(?:[- ]?\d{2,4})?\b")
_WORD = re.compile(r"[a-z]{2,}")
_ORG_STOP = frozenset(
    "of the and for at de university universitat universite institute school department dept faculty college "
    "center centre laboratory lab research science sciences technology engineering computer computing".split()
)


def venue_words(venue: str | None) -> str:
    """The venue name without its boilerplate ("Proceedings of the 57th Annual Meeting of ..." -> content words)."""
    if not venue:
        return ""
    return " ".join(w for w in _WORD.findall(venue.lower()) if w not in _VENUE_BOILERPLATE)


def venue_family(venue: str | None) -> str | None:
    """A venue's family: its acronym ("EMNLP", "CoNLL", "LREC") or else its cleaned words."""
    if not venue:
        return None
    # An acronym in parentheses names the venue ("... Natural Language Processing (EMNLP)"); else the first one.
    for part in [*re.findall(r"\(([^)]*)\)", venue), venue]:
        for m in _ACRONYM.finditer(part):
            tok = m.group(1)
            if sum(c.isupper() for c in tok) >= 2 and len(tok) >= 3:
                return tok.upper().split("-")[0]
    return venue_words(venue) or None


def affiliation_keys(lines: list[str]) -> set[str]:
    """Organisation words and e-mail domains of a work's byline lines ("Jane Doe (KAIST)", "x@cs.uni.edu")."""
    keys: set[str] = set()
    for line in lines:
        for dom in re.findall(r"@([\w.-]+)", line):
            keys.add("@" + ".".join(dom.lower().split(".")[-2:]))
        text = re.sub(r"\S+@\S+", " ", line)
        inner = re.findall(r"\(([^)]*)\)", text)
        source = " ".join(inner) if inner else text.lstrip("*† ")
        keys |= {w for w in _WORD.findall(source.lower()) if w not in _ORG_STOP and len(w) > 2}
    return keys


def incidence(sets: list[set[str]]) -> csr_matrix:
    """works x keys 0/1 matrix."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for k in s:
            rows.append(i)
            cols.append(vocab.setdefault(k, len(vocab)))
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), max(1, len(vocab))))


@dataclass
class WorkVectors:
    """Per-work inputs (rows = works), built by agent.steps.conflation."""

    text: csr_matrix  # L2-normalised TF-IDF rows of title + abstract
    title: csr_matrix
    coauthor_names: csr_matrix  # character n-gram TF-IDF of the co-author names
    coauthor_surnames: csr_matrix  # incidence
    coauthors: csr_matrix  # incidence of canonical co-authors
    venue: csr_matrix
    families: csr_matrix  # incidence
    categories: csr_matrix  # incidence
    affiliations: csr_matrix  # incidence
    full_forms: csr_matrix  # incidence of informative printed forms of the subject's name
    years: np.ndarray  # 0 = unknown
    mean_text_cosine: float  # mean off-diagonal work-to-work cosine of the listing


_SUMMED = ("text", "title", "names", "venue")


class GroupState:
    """The current groups. A group's summed vector is never built: dot products of sums are sums of the works' dot
    products, so each vector space is kept as the k x k matrix of group-to-group dot products (like average
    linkage's sums), and a merge is one row and column addition."""

    def __init__(self, v: WorkVectors, groups: list[list[int]]) -> None:
        self.v = v
        n = v.text.shape[0]
        member = np.zeros((len(groups), n))
        for k, g in enumerate(groups):
            member[k, g] = 1.0
        m = csr_matrix(member)
        self.groups = [list(g) for g in groups]
        self.dots = {}
        for name, x in zip(_SUMMED, (v.text, v.title, v.coauthor_names, v.venue)):
            gx = m @ x
            self.dots[name] = (gx @ gx.T).toarray()
        self.surnames = (m @ v.coauthor_surnames).toarray() > 0
        self.coauthors = (m @ v.coauthors).toarray() > 0
        self.families = (m @ v.families).toarray() > 0
        self.categories = (m @ v.categories).toarray() > 0
        self.affiliations = (m @ v.affiliations).toarray() > 0
        self.forms = (m @ v.full_forms).toarray() > 0
        ys = [[v.years[i] for i in g if v.years[i] > 0] for g in groups]
        self.lo = np.array([min(y) if y else 0 for y in ys], dtype=float)
        self.hi = np.array([max(y) if y else 0 for y in ys], dtype=float)
        self.size = np.array([len(g) for g in groups], dtype=float)

    def copy(self) -> GroupState:
        """An independent copy (merges on it leave this state as it is)."""
        new = object.__new__(GroupState)
        new.__dict__.update(self.__dict__)
        new.groups = [list(g) for g in self.groups]
        new.dots = {k: d.copy() for k, d in self.dots.items()}
        for name in ("surnames", "coauthors", "families", "categories", "affiliations", "forms", "lo", "hi", "size"):
            setattr(new, name, getattr(self, name).copy())
        return new

    def _cosine(self, name: str, r: np.ndarray) -> np.ndarray:
        d = self.dots[name]
        norm = np.sqrt(np.maximum(np.diag(d), 0.0))
        return d[r] / np.maximum(np.outer(norm[r], norm), 1e-12)

    def features(self, rows: Sequence[int] | None = None) -> np.ndarray:
        """Features of groups `rows` (default all) against every group: len(rows) x k x len(FEATURES)."""
        r = np.arange(len(self.groups)) if rows is None else np.asarray(rows)
        k = len(self.groups)
        out = np.zeros((len(r), k, len(FEATURES)))
        text = self._cosine("text", r)
        out[..., 0] = text
        out[..., 1] = text / max(self.v.mean_text_cosine, 0.01)
        out[..., 2] = self._cosine("title", r)
        out[..., 3] = self._cosine("names", r)
        sur = self.surnames.astype(float)
        shared_sur = sur[r] @ sur.T
        out[..., 4] = np.log1p(shared_sur)
        out[..., 5] = self._cosine("venue", r)
        fam = self.families.astype(float)
        nf = fam.sum(axis=1)
        both = fam[r] @ fam.T
        out[..., 6] = both / np.maximum(np.minimum(nf[r][:, None], nf[None, :]), 1.0)
        known = (self.lo > 0)[r][:, None] & (self.lo > 0)[None, :]
        gap = np.maximum(self.lo[None, :] - self.hi[r][:, None], self.lo[r][:, None] - self.hi[None, :])
        out[..., 7] = np.where(known, np.clip(gap, 0, 20) / 10.0, 0.0)
        out[..., 8] = known & (gap <= 0)
        cat = self.categories.astype(float)
        out[..., 9] = (cat[r] @ cat.T) > 0
        aff = self.affiliations.astype(float)
        out[..., 10] = (aff[r] @ aff.T) > 0
        forms = self.forms.astype(float)
        out[..., 11] = (forms[r] @ forms.T) > 0
        out[..., 12] = np.log(np.minimum(self.size[r][:, None], self.size[None, :]))
        out[..., 13] = np.log(np.maximum(self.size[r][:, None], self.size[None, :]))
        has_co = self.coauthors.any(axis=1)
        out[..., 14] = ~has_co[r][:, None] | ~has_co[None, :]
        return out

    def merge(self, a: int, b: int) -> None:
        """Fold group b into group a (b is left empty; the caller stops considering it)."""
        self.groups[a] = self.groups[a] + self.groups[b]
        self.groups[b] = []
        for d in self.dots.values():
            d[a, :] += d[b, :]
            d[:, a] += d[:, b]
        for name in ("surnames", "coauthors", "families", "categories", "affiliations", "forms"):
            arr = getattr(self, name)
            arr[a] |= arr[b]
        lo = [x for x in (self.lo[a], self.lo[b]) if x > 0]
        hi = [x for x in (self.hi[a], self.hi[b]) if x > 0]
        self.lo[a] = min(lo) if lo else 0
        self.hi[a] = max(hi) if hi else 0
        self.size[a] += self.size[b]


@dataclass
class PairModel:
    """Logistic model over standardised features (weights fitted by bench/fit_conflation.py)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_dict(cls, d: dict) -> PairModel:
        if list(d["features"]) != list(FEATURES):
            raise ValueError("conflation parameters were fitted on other pair features; re-run bench/fit_conflation.py")
        return cls(np.array(d["mean"]), np.array(d["scale"]), np.array(d["coef"]), float(d["intercept"]))

    def proba(self, feats: np.ndarray) -> np.ndarray:
        z = ((feats - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
