"""Does each summary sentence say something its cited works say, and only those works?

A sentence is compared with the works of its listing through *content terms*: stemmed words that are neither
English stop words nor the vocabulary every research summary uses ("work", "method", "contribution", "field").
Only a work's title and abstract count as evidence (author lists, venues and years do not).

Refusals, in the order they are checked (the first one found is the reason the model sees on a re-ask):
- fragment: not a complete sentence (agent/sentences.py);
- no_citation: cites no listed work;
- over_broad: cites more than MAX_CITES works, or a cited work that does not support the sentence on its own: it
  shares no content term with it, or what it shares is only part of what another cited work already carries (a
  correct work cited alongside an extra one);
- filler: no content term of any cited work (generic praise and padding, whatever its wording);
- unsupported: a name or number in none of the cited works, a claim of awards or scale or praise ("impressive")
  they do not state, or too little of the sentence found in them;
- wrong_work: the sentence matches a work it does not cite clearly better than the works it cites;
- paraphrase_repeat: it says again, in other words, what an earlier sentence of the summary said;
- copied: a near-copy of a sentence of a cited abstract (a word or two swapped, a pronoun changed), or a sentence
  in the authors' own voice ("we propose"): grounded, but not a summary in plain words.
A refusal's `supporting` lists the cited works that do support the sentence on their own, so a caller can keep just
those (and check again) instead of throwing the sentence away.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cache, lru_cache

from rapidfuzz.distance import LCSseq
from snowballstemmer import stemmer

from enrich.agent.sentences import fragment_reason, split_sentences
from enrich.agent.stop_words import ENGLISH_STOP_WORDS

from ..vocabulary import CLAIMS, GENERIC, PRAISE
from .checks import LEAK_WORDS, ungrounded_tokens

MAX_CITES = 3  # a sentence is about one to three works; more is a citation that says nothing
MIN_FOUND_SHARE = 0.3  # of a sentence's content terms, the share its cited works must contain
WRONG_WORK_MARGIN = 2.0  # an uncited work explains this many more (weighted) terms than the cited ones together
# ... or at least half as much as the cited works, when that is a substantial part: about two terms specific to it
WRONG_WORK_PART = 2 * WRONG_WORK_MARGIN
PARAPHRASE_SIMILARITY = 0.5  # share of a sentence's (cited) content already said by one earlier sentence
MIN_NEW_TERMS = 3  # specific terms a sentence must add when an earlier sentence is about the same work
# Copying: the similarity of a sentence to one abstract sentence, on their stemmed words without stop words (2 x the
# words they share in the same order / both lengths: one word swapped in ten is 0.9; a pronoun changed is nothing).
COPY_SIMILARITY = 0.8
COPY_MIN_WORDS = 6  # shorter sentences share their few words with an abstract by necessity

_FIRST_PERSON = re.compile(r"\b(?:[Ww]e|[Oo]ur|us)\b")  # "US" is a country; a summary speaks of the researcher
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['\u2019][a-z]+)?|\d+(?:[.,]\d+)*")


@cache
def _stem_word(word: str) -> str:
    return _stemmer().stemWord(word)


_local = threading.local()


def _stemmer():
    """One stemmer per thread: a snowballstemmer instance keeps its word in instance state, so a job's worker
    threads sharing one corrupt each other's stems (seen as crashes inside the stemmer at --concurrency 4)."""
    st = getattr(_local, "stemmer", None)
    if st is None:
        st = _local.stemmer = stemmer("english")
    return st


def words(text: str) -> list[str]:
    """Lower-cased word tokens; hyphenated and possessive forms are split into their parts."""
    text = text or ""
    toks = _TOKEN.findall(text)
    if "'" in text or "\u2019" in text:
        toks = [t[:-2] if t.endswith(_POSSESSIVE) else t for t in toks]
    return [t.casefold() for t in toks]


_POSSESSIVE = ("'s", "\u2019s")
_NOT_CONTENT = ENGLISH_STOP_WORDS | GENERIC


_COMPOUND = re.compile(r"\b[A-Za-z]+(?:-[A-Za-z]+)+\b")


def content_terms(text: str, exclude: Iterable[str] = ()) -> set[str]:
    """Stems of the words of `text` that carry content (no stop words, no summary vocabulary, no `exclude`).
    A hyphenated compound also gives its initials ("part-of-speech" -> "pos"), and a negated word its root
    ("unsupervised" -> "supervis"), so a plain paraphrase still meets the abstract's wording."""
    return set(_content_terms(text or "", frozenset(w.casefold() for w in exclude)))


@lru_cache(maxsize=8192)  # a work's text is read for every sentence checked against it, and on each co-author's page
def _content_terms(text: str, skip: frozenset[str]) -> frozenset[str]:
    terms = set()
    generic_stems = _generic_stems_cached()
    for w in set(words(text)):  # each word once: an abstract repeats its words
        if w in _NOT_CONTENT or w in skip or len(w) < 2 or w.isdigit():
            continue
        stem = _stem_word(w)
        if stem in generic_stems or stem in skip:
            continue
        terms.add(stem)
        if w.startswith("un") and len(w) >= 7:
            terms.add(_stem_word(w[2:]))
    for m in _COMPOUND.finditer(text):
        parts = m.group(0).split("-")
        if len(parts) >= 3:  # two-part initials ("cl" of "cross-lingual") are noise
            terms.add("".join(p[0] for p in parts).casefold())
    return frozenset(terms)


def matching(terms: AbstractSet[str], vocabulary: AbstractSet[str]) -> set[str]:
    """The terms found in `vocabulary`, a stem also matching a longer or shorter form of itself ("induc" and
    "induct", five letters at least)."""
    found = set(terms & vocabulary)  # a set of its own, whatever `terms` is: stems are added below
    rest = [t for t in terms - found if len(t) >= 5]
    if rest:
        # a work's terms are a frozenset met again for every sentence checked against the listing: its index once
        heads = _heads(vocabulary) if isinstance(vocabulary, frozenset) else _heads.__wrapped__(vocabulary)
        for t in rest:
            if any(v.startswith(t) or t.startswith(v) for v in heads.get(t[:5], ())):
                found.add(t)
    return found


@lru_cache(maxsize=4096)
def _heads(vocabulary: Iterable[str]) -> dict[str, list[str]]:
    """The stems of five letters or more by their first five letters: two stems of that length, one the start of
    the other, share them."""
    heads: dict[str, list[str]] = {}
    for v in vocabulary:
        if len(v) >= 5:
            heads.setdefault(v[:5], []).append(v)
    return heads


@cache
def _generic_stems_cached() -> frozenset[str]:
    return frozenset(_stem_word(w) for w in GENERIC)


_CLAIM_STEMS = frozenset(_stem_word(w) for w in CLAIMS)


@dataclass
class WorkText:
    key: str  # what a citation names: a work number or id
    title: str
    abstract: str = ""

    @property
    def text(self) -> str:
        return f"{self.title} {self.abstract}"


@dataclass
class Verdict:
    accepted: bool
    reason: str | None = None  # one of the refusal names in the module docstring
    detail: str = ""  # what the model is told on a re-ask
    supporting: list[str] = field(default_factory=list)  # cited works that share content terms with the sentence
    found_share: float = 0.0


class SupportChecker:
    """The listing's works, prepared once; `check` judges one sentence against them."""

    def __init__(self, works: Sequence[WorkText], researcher: str = ""):
        self.works = {w.key: w for w in works}
        self.researcher = researcher
        self.name_words = {w for w in words(researcher) if len(w) > 1}
        skip = self._skip = frozenset(w.casefold() for w in self.name_words)
        self.terms = {w.key: _content_terms(w.text or "", skip) for w in works}  # frozensets: see matching
        n = max(1, len(works))
        df: dict[str, int] = {}
        for ts in self.terms.values():
            for t in ts:
                df[t] = df.get(t, 0) + 1
        # a term in every work of the listing says little about which work a sentence is about
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        # on a page of 4+ works, a term in more than half of them is the page's common vocabulary ("language" on a
        # linguist's page): it does not make a sentence specific
        self.common = {t for t, c in df.items() if n >= 4 and c > n / 2}
        self._abstract_cache: dict[str, list[list[str]]] = {}

    def weight(self, terms: Iterable[str]) -> float:
        return sum(self.idf.get(t, 0.0) for t in terms)

    def sentence_terms(self, sentence: str) -> frozenset[str]:
        """The sentence's content terms (content_terms without the researcher's name), as cached: not to be changed."""
        return _content_terms(sentence or "", self._skip)

    def check(self, sentence: str, cites: Sequence[str], previous: Sequence[str] = ()) -> Verdict:
        sentence = sentence.strip()
        names = [self.researcher] if self.researcher else []
        reason = fragment_reason(sentence, names)
        if reason:
            return Verdict(False, "fragment", f"is not a complete sentence ({reason})")
        if LEAK_WORDS.search(sentence):
            return Verdict(False, "unsupported", "talks about the request instead of the research")
        cites = list(dict.fromkeys(str(c) for c in cites))
        unknown = [c for c in cites if c not in self.works]
        if unknown:
            return Verdict(False, "unsupported", f"cites works that are not listed: {unknown}")
        terms = self.sentence_terms(sentence)
        if not cites:
            if not any(matching(terms, wt) for wt in self.terms.values()):
                return Verdict(False, "filler", "says nothing specific about any listed work")
            return Verdict(False, "no_citation", "cites no work; cite the 1 to 3 works it is about")
        per_work = {c: matching(terms, self.terms[c]) for c in cites}
        found = set().union(*per_work.values())
        supporting = [c for c in cites if per_work[c]]
        share = len(found) / len(terms) if terms else 0.0
        if len(cites) > MAX_CITES:
            return Verdict(
                False,
                "over_broad",
                f"cites {len(cites)} works; cite only the 1 to {MAX_CITES} works it is about",
                supporting,
                share,
            )
        if not found - self.common:
            return Verdict(False, "filler", "has no specific content from the works it cites", [], share)
        if len(supporting) < len(cites):
            idle = [c for c in cites if c not in supporting]
            return Verdict(False, "over_broad", f"cites {idle}, which it says nothing about", supporting, share)
        extra = self._extra_citations(per_work)
        if extra:
            holding = [c for c in cites if c not in extra]
            return Verdict(
                False,
                "over_broad",
                f"cites {extra}, which adds nothing to what work {holding[0]} already carries; cite only the works "
                "it is about",
                holding,
                share,
            )
        wrong = self._better_uncited(terms, cites, found)
        if wrong:
            key, taken, more = wrong
            detail = (
                f"is about work {key}, which it does not cite, more than about the works it cites"
                if more
                else f"says {', '.join(_words_of(sentence, taken)[:6])} of work {key}, which it does not cite"
            )
            return Verdict(False, "wrong_work", detail, supporting, share)
        cited_text = " ".join(self.works[c].text for c in cites)
        bad = ungrounded_tokens(sentence, cited_text, _name_forms(self.researcher))
        if bad:
            return Verdict(False, "unsupported", f"mentions {bad}, which its cited works do not", supporting, share)
        claims = sorted(w for w in words(sentence) if _stem_word(w) in _CLAIM_STEMS and _stem_word(w) not in found)
        if claims:
            return Verdict(
                False, "unsupported", f"claims {claims}, which its cited works do not state", supporting, share
            )
        praised = {w for w in words(sentence) if w in PRAISE}
        cited_stems = {_stem_word(w) for w in words(cited_text)} if praised else set()
        praise = sorted(w for w in praised if _stem_word(w) not in cited_stems)
        if praise:
            return Verdict(
                False,
                "unsupported",
                f"praises the work ({', '.join(praise)}), which its cited works do not",
                supporting,
                share,
            )
        if share < MIN_FOUND_SHARE:
            missing = _words_of(sentence, terms - found)[:6]
            return Verdict(
                False, "unsupported", f"says things its cited works do not ({', '.join(missing)})", supporting, share
            )
        repeat = self._repeats(terms, found, cites, previous)
        if repeat:
            return Verdict(
                False, "paraphrase_repeat", f"repeats what sentence {repeat} already says", supporting, share
            )
        if _FIRST_PERSON.search(sentence):
            return Verdict(
                False,
                "copied",
                "speaks as the paper's authors ('we', 'our'): say what the researcher does, in your own words",
                supporting,
                share,
            )
        source = self.copied_from(sentence, cites)
        if source:
            return Verdict(
                False,
                "copied",
                f"copies a sentence of work {source}'s abstract; say what it does in at most 10 plain words of your own",
                supporting,
                share,
            )
        return Verdict(True, None, "", supporting, share)

    def _extra_citations(self, per_work: dict[str, set[str]]) -> list[str]:
        """Cited works that do not support the sentence on their own: every term they share with it is also shared
        by one other cited work, which shares more. Two works carrying the same part equally are both kept."""
        extra = []
        for c, own in per_work.items():
            for other, theirs in per_work.items():
                if other != c and other not in extra and own <= theirs and self.weight(own) < self.weight(theirs):
                    extra.append(c)
                    break
        return extra

    def copied_from(self, sentence: str, cites: Sequence[str]) -> str | None:
        """The cited work whose abstract the sentence copies (see COPY_SIMILARITY, COPY_SHARE), or None."""
        mine = self._copy_tokens(sentence)
        if len(mine) < COPY_MIN_WORDS:
            return None
        for c in cites:
            for theirs in self._abstract_sentences(c):
                if 2 * LCSseq.similarity(mine, theirs) / (len(mine) + len(theirs)) >= COPY_SIMILARITY:
                    return c
        return None

    def _copy_tokens(self, text: str) -> list[str]:
        return [_stem_word(w) for w in words(text) if w not in self.name_words and w not in ENGLISH_STOP_WORDS]

    def _abstract_sentences(self, key: str) -> list[list[str]]:
        cached = self._abstract_cache.get(key)
        if cached is None:
            cached = self._abstract_cache[key] = [
                self._copy_tokens(s) for s in split_sentences(self.works[key].abstract)
            ]
        return cached

    def _better_uncited(
        self, terms: AbstractSet[str], cites: Sequence[str], found: set[str]
    ) -> tuple[str, set[str], bool] | None:
        """An uncited work that accounts for clearly more of the sentence than the cited works do, or for a
        substantial part of it, at least half of what the cited works account for ("His parsing work introduced the
        X treebank": the title's words are the cited work's, the claim is another's). Returns (the work, the terms
        only it accounts for, whether that is more than the cited works account for) or None."""
        own = self.weight(found)
        best, best_key, best_terms = 0.0, None, set()
        for key, wt in self.terms.items():
            if key in cites:
                continue
            taken = matching(terms, wt) - found
            extra = self.weight(taken)
            if extra > best:
                best, best_key, best_terms = extra, key, taken
        if best_key is None or best < WRONG_WORK_MARGIN:
            return None
        if best > own or best >= max(WRONG_WORK_PART, own / 2):
            return best_key, best_terms, best > own
        return None

    def about(self, sentence_terms: AbstractSet[str]) -> set[str]:
        """The works a sentence is mostly about (by weighted shared terms), whatever it cites."""
        scores = {k: self.weight(matching(sentence_terms, wt)) for k, wt in self.terms.items()}
        top = max(scores.values(), default=0.0)
        return {k for k, v in scores.items() if v > 0 and v >= 0.5 * top}

    def _repeats(self, terms: AbstractSet[str], found: set[str], cites: Sequence[str], previous: Sequence[str]) -> int:
        """The number of an earlier sentence this one repeats, or 0. A sentence repeats when an earlier sentence is
        about the same work and it brings fewer than MIN_NEW_TERMS specific terms of its works that no earlier
        sentence used, or when one earlier sentence already said most of its content (of what it takes from its
        works, when that sentence is about the same work)."""
        if not previous:
            return 0
        prev_terms = [self.sentence_terms(p) for p in previous]  # frozensets: `matching` indexes each one once
        said = frozenset().union(*prev_terms)
        new = found - matching(found, said)
        best_i, best_sim, same_work = 0, 0.0, False
        for i, pt in enumerate(prev_terms, 1):
            sim = self.similarity(terms, pt)
            if set(cites) & self.about(pt):
                same_work = True
                shared = matching(found, pt)
                sim = max(sim, self.weight(shared) / max(self.weight(found), 1e-9))
            if sim > best_sim:
                best_i, best_sim = i, sim
        # a short sentence has few terms: it repeats when it adds fewer than MIN_NEW_TERMS or than all it has
        if (same_work and len(new) < min(MIN_NEW_TERMS, len(found))) or best_sim >= PARAPHRASE_SIMILARITY:
            return best_i or len(previous)
        return 0

    def similarity(self, a: AbstractSet[str], b: AbstractSet[str]) -> float:
        """Weighted share of `a`'s content terms also in `b` (1.0 = nothing new in `a`)."""
        if not a:
            return 1.0
        shared = matching(a, b)
        total = sum(max(self.idf.get(t, 1.0), 0.5) for t in a)
        return sum(max(self.idf.get(t, 1.0), 0.5) for t in shared) / total


def _words_of(sentence: str, stems: AbstractSet[str]) -> list[str]:
    """The sentence's own words behind some content-term stems, in sentence order (a re-ask names words, not stems)."""
    out: list[str] = []
    for w in words(sentence):
        if _stem_word(w) in stems and w not in out:
            out.append(w)
    return out


def _name_forms(name: str) -> str:
    """The researcher's name with its initial forms ("Philip S. Yu" -> "P. S. Yu", "P. Yu", "Yu")."""
    parts = [p for p in re.split(r"\s+", name.strip()) if p]
    initials = " ".join(p[0] + "." for p in parts[:-1])
    return f"{name} {initials} {parts[-1] if parts else ''}"
