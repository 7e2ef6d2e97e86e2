"""Matching an affiliation string (and institutional e-mail addresses) to a ROR organisation, or to nothing.

How it works:
1. Split the text into segments at commas, semicolons, brackets and dashes; pull out e-mail addresses.
2. Classify segments: a location (a city, region or country known to the index, postal codes allowed), a
   department/school/lab (dropped unless nothing else is left), or a possible organisation name.
3. Spans = an organisation segment, alone or with up to two following place segments ("University of
   California" + "San Diego").
   Candidates for each span come from the exact name key and from the FTS5 index (store/ror.py).
4. Each (span, candidate name) is scored with rapidfuzz; exact acronyms count only when the text writes them as
   one (KAIST, CAS) and are down-weighted when several organisations share them. Location segments lift
   candidates in the stated city and push down those in another country. Active records beat inactive/withdrawn.
5. E-mail domains (and their parent domains) are looked up in the index's `domains` (v2) and link hostnames (v1).
6. The best candidate must reach THRESHOLD, otherwise the answer is None: "no match" beats the nearest string.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from enrich.schemas.text import org_key
from enrich.store import ror as ror_store

THRESHOLD = 0.85
MAX_SPAN = 3
MAX_SEGMENTS = 24  # an affiliation line, not a page: bounds the work on a long author list
MAX_CANDIDATES = 5

_KIND_WEIGHT = {"name": 1.0, "alias": 0.98, "label": 0.97, "acronym": 0.9}
_STATUS_WEIGHT = {"active": 1.0, "inactive": 0.9, "withdrawn": 0.8}
_WRONG_COUNTRY = 0.85
_CITY_BONUS = 0.03
_CONTAINED = 0.92  # the name is inside the segment, the rest being department words or places
_AGREEMENT_BONUS = 0.05  # name and e-mail domain point at the same organisation
_DOMAIN_SCORE = {"domains": 0.9, "link": 0.86}

_EMAIL = re.compile(r"[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_SEPARATORS = re.compile(r"[,;|\n\t()\[\]{}\u00b7\u2022]+|\s+[-\u2013\u2014/]\s+")
_POSTCODE = re.compile(r"\b[A-Z]{0,2}-?\d[\d -]{2,}\d\b|\b\d{3,}\b")
_ACRONYM = re.compile(r"^[A-Z][A-Za-z&.\-]{1,11}$")
_STOPWORDS = {
    "of",
    "the",
    "and",
    "for",
    "de",
    "la",
    "le",
    "des",
    "du",
    "di",
    "del",
    "der",
    "und",
    "fur",
    "y",
    "e",
    "at",
    "in",
    "on",
    "a",
    "an",
}
_DEPT_WORDS = {
    "department",
    "dept",
    "school",
    "faculty",
    "division",
    "laboratory",
    "laboratories",
    "lab",
    "group",
    "chair",
    "program",
    "programme",
    "unit",
    "section",
    "center",
    "centre",
    "college",
}
_DEPT_START = re.compile(
    r"^(department|school|faculty|division|laboratory|laboratories|chair|program|programme|"
    r"graduate school|research group|group|section|unit|key laboratory|state key laboratory)\b"
)
_DEPT_END = re.compile(r"\b(department|laboratory|laboratories|lab|group|program|programme)$")
_SUBJECT_WORDS = {
    "computer",
    "science",
    "sciences",
    "engineering",
    "computing",
    "informatics",
    "information",
    "electrical",
    "electronic",
    "mathematics",
    "physics",
    "linguistics",
    "data",
    "artificial",
    "intelligence",
    "technology",
    "studies",
    "language",
    "languages",
    "communication",
    "software",
    "systems",
    "statistics",
    "biology",
    "chemistry",
    "medicine",
    "economics",
    "business",
    "management",
    "research",
}
_PUBLIC_SECOND_LEVEL = {"ac", "edu", "co", "com", "org", "gov", "net", "or", "go", "ne", "gob", "gouv", "nic", "res"}
_COUNTRY_ALIASES = {
    "usa": "US",
    "u s a": "US",
    "us": "US",
    "u s": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "u k": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "pr china": "CN",
    "p r china": "CN",
    "peoples republic of china": "CN",
    "prc": "CN",
    "korea": "KR",
    "republic of korea": "KR",
    "south korea": "KR",
    "turkey": "TR",
    "turkiye": "TR",
    "holland": "NL",
    "russian federation": "RU",
    "czech republic": "CZ",
    "hong kong": "HK",
    "macau": "MO",
    "uae": "AE",
    "viet nam": "VN",
    "iran": "IR",
}


class Candidate(BaseModel):
    ror_id: str
    name: str
    score: float = Field(ge=0.0, le=1.0)
    matched_on: str  # name | alias | acronym | label | domain
    matched_text: str
    country: str | None = None
    city: str | None = None
    status: str = "active"


class MatchResult(BaseModel):
    """The organisation an affiliation string names, with how sure and why; `origin` is the provenance tag."""

    ror_id: str  # full https://ror.org/... URL
    name: str
    score: float = Field(ge=0.0, le=1.0)
    matched_on: str
    matched_text: str
    country: str | None = None
    city: str | None = None
    release: str = "unknown"
    candidates: list[Candidate] = Field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"match:ror@{self.release}"


NO_INDEX_MESSAGE = (
    "No ROR index: run `enrich ror import <dump>` (an official ROR data dump, .zip/.json/.json.gz) "
    "to normalise affiliations to ROR ids."
)


class RorIndex:
    """The ROR tables of a store plus the location vocabulary the matcher needs (read once, then cached)."""

    def __init__(self, db: Any):
        self.db = db
        self._places: tuple[dict[str, str], set[str], set[str]] | None = None
        self._token_weights: tuple[dict[str, int], int] | None = None
        self._generation: int | None = None

    def token_weight(self, token: str) -> float:
        """Inverse document frequency of a name token; a token no name contains weighs the most."""
        if self._token_weights is None:
            self._token_weights = ror_store.token_document_counts(self.db)
        counts, total = self._token_weights
        return math.log((total + 1) / (counts.get(token, 0) + 1)) + 1.0

    def is_common(self, token: str) -> bool:
        """In more than one name in 33 (university, institute, of): too common to look candidates up by."""
        self.token_weight(token)
        counts, total = self._token_weights  # type: ignore[misc]
        return counts.get(token, 0) > max(50, total / 33)

    @classmethod
    def of(cls, obj: Any) -> RorIndex:
        """Accept a RorIndex, a Store (anything with `.db`) or a sqlite_utils Database; one cached index per
        database, so the vocabularies are read once, not on every match."""
        if isinstance(obj, RorIndex):
            index = obj
        else:
            db = getattr(obj, "db", obj)
            index = _INDEXES.get(db)
            if index is None:
                index = _INDEXES[db] = cls(db)
        index._drop_stale_vocabularies()
        return index

    def _drop_stale_vocabularies(self) -> None:
        """A dump loaded since the vocabularies were read makes them stale."""
        generation = ror_store.last_import_id(self.db)
        if generation != self._generation:
            self._generation = generation
            self._places = None
            self._token_weights = None

    @property
    def places(self) -> tuple[dict[str, str], set[str], set[str]]:
        """(country key -> country code, city keys, region keys)."""
        if self._places is None:
            countries: dict[str, str] = {}
            for name, code in ror_store.country_codes(self.db):
                countries[org_key(name)] = code.upper()
            for alias, code in _COUNTRY_ALIASES.items():
                countries.setdefault(alias, code)
            vocab = ror_store.location_vocabulary(self.db)
            self._places = (countries, vocab["city"], vocab["region"])
        return self._places


_INDEXES: weakref.WeakKeyDictionary[Any, RorIndex] = weakref.WeakKeyDictionary()


def index_status(store: Any) -> dict[str, Any] | None:
    """Counts and releases of the loaded ROR index ({records, names, domains, releases, imports}), or None when
    no index is loaded (the caller then prints NO_INDEX_MESSAGE once)."""
    db = getattr(store, "db", store)
    return ror_store.index_counts(db)


# ---- segmentation --------------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    text: str
    key: str
    kind: str  # "org" | "place" | "dept"
    country_code: str | None = None
    city: str | None = None  # key


@dataclass
class _Span:
    text: str
    key: str
    size: int  # segments covered
    acronym: bool


def _is_dept(key: str) -> bool:
    return bool(_DEPT_START.match(key) or _DEPT_END.search(key))


def _classify(text: str, index: RorIndex) -> _Segment:
    key = org_key(text)
    countries, cities, regions = index.places
    stripped = org_key(_POSTCODE.sub(" ", text))
    for candidate in (key, stripped):
        if not candidate:
            continue
        if candidate in countries:
            return _Segment(text, key, "place", country_code=countries[candidate])
        if candidate in cities or candidate in regions:
            return _Segment(text, key, "place", city=candidate if candidate in cities else None)
    if re.fullmatch(r"[A-Z]{2}", _POSTCODE.sub(" ", text).strip()):
        return _Segment(text, key, "place")  # a state or country code ("CA 92093"): a place, not a constraint
    if _is_dept(key):
        return _Segment(text, key, "dept")
    return _Segment(text, key, "org")


def _segments(text: str, index: RorIndex) -> list[_Segment]:
    text = _EMAIL.sub(" , ", text)
    parts: list[str] = []
    for part in _SEPARATORS.split(text):
        part = part.strip(" .:\"'")
        if not part:
            continue
        parts.append(part)
        # "Professor at X", "Department of CS at X": X alone is a span of its own
        at = re.split(r"\s+at\s+", part)
        if len(at) > 1 and at[-1].strip():
            parts.append(at[-1].strip())
    return [s for s in (_classify(p, index) for p in parts[:MAX_SEGMENTS]) if s.key]


def _spans(segments: list[_Segment]) -> list[_Span]:
    # department/school/lab segments are dropped, unless nothing else names an organisation
    usable_kind = "org" if any(s.kind == "org" for s in segments) else "dept"
    spans: list[_Span] = []
    for i, seg in enumerate(segments):
        if seg.kind != usable_kind:
            continue
        for j in range(i + 1, min(i + MAX_SPAN, len(segments)) + 1):
            part = segments[i:j]
            if j > i + 1 and part[-1].kind != "place":  # "University of California" + "San Diego"
                break
            text = ", ".join(s.text for s in part)
            acronym = j == i + 1 and _looks_like_acronym(seg.text)
            spans.append(_Span(text, " ".join(s.key for s in part), j - i, acronym))
    return spans


def _looks_like_acronym(text: str) -> bool:
    text = text.strip()
    if not _ACRONYM.match(text):
        return False
    letters = [c for c in text if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    return upper >= 2 and upper * 2 >= len(letters)


# ---- candidates and scoring ----------------------------------------------------------------------------------------


def _content_tokens(key: str) -> list[str]:
    return [t for t in key.split() if t not in _STOPWORDS]


def _candidate_ids(span: _Span, index: RorIndex) -> set[str]:
    ids = {rid for rid, _kind in ror_store.orgs_by_name_key(index.db, span.key)}
    tokens = _content_tokens(span.key)
    if span.acronym and len(tokens) == 1:
        return ids
    found = ror_store.fts_candidates(index.db, tokens, all_tokens=True, limit=40)
    if not found and span.size == 1:
        # any word will do; skip the very common ones ("university") unless nothing else is left, for speed
        rare = sorted(tokens, key=index.token_weight, reverse=True)
        rare = [t for t in rare if not index.is_common(t)] or rare[:1]
        found = ror_store.fts_candidates(index.db, rare, all_tokens=False, limit=40)
    return ids | set(found)


def _contained_score(span_key: str, name: str, index: RorIndex) -> float:
    """The name occurs inside the span and what is left says department or place, e.g.
    "cornell university department of computer science"."""
    if len(name.split()) < 2 or f" {name} " not in f" {span_key} ":
        return 0.0
    rest = f" {span_key} ".replace(f" {name} ", " ", 1).split()
    _countries, cities, regions = index.places
    allowed = _STOPWORDS | _DEPT_WORDS | _SUBJECT_WORDS
    if all(w in allowed or w in cities or w in regions or w.isdigit() for w in rest):
        return _CONTAINED
    return 0.0


def _name_similarity(span: _Span, name_key_: str, kind: str, index: RorIndex) -> float:
    if kind == "acronym":
        return 1.0 if span.acronym and span.key == name_key_ else 0.0
    if span.key == name_key_:
        return 1.0
    sim = max(fuzz.ratio(span.key, name_key_), fuzz.token_sort_ratio(span.key, name_key_)) / 100.0
    sim = min(sim, _token_agreement(span.key, name_key_, index))
    return max(sim, _contained_score(span.key, name_key_, index))


def _token_agreement(a: str, b: str, index: RorIndex) -> float:
    """F-measure of the words two names share, each word weighted by its rarity: "National University of Defense
    Technology" and "National University of Science and Technology" look alike as strings but differ in the one
    word that matters. Words match when spelled alike (defence/defense)."""
    ta, tb = _content_tokens(a), _content_tokens(b)
    if not ta or not tb:
        return 0.0

    def covered(src: list[str], other: list[str]) -> float:
        total = hit = 0.0
        for tok in src:
            w = index.token_weight(tok)
            total += w
            if tok in other or any(fuzz.ratio(tok, o) >= 88 for o in other if len(o) > 4 and len(tok) > 4):
                hit += w
        return hit / total

    recall, precision = covered(ta, tb), covered(tb, ta)
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


@dataclass
class _Scored:
    ror_id: str
    score: float
    matched_on: str
    matched_text: str
    span_size: int = 0


def _place_factor(org: dict[str, Any], stated_countries: set[str]) -> float:
    """The text names a country and the organisation is elsewhere."""
    code = (org.get("country_code") or "").upper()
    return _WRONG_COUNTRY if stated_countries and code and code not in stated_countries else 1.0


def _city_bonus(org: dict[str, Any], stated_cities: set[str]) -> float:
    return _CITY_BONUS if org.get("city") and org_key(org["city"]) in stated_cities else 0.0


def _email_domains(text: str, emails: Iterable[str]) -> list[str]:
    domains = [m.group(1).lower() for m in _EMAIL.finditer(text)]
    domains += [e.split("@", 1)[1].lower().strip() for e in emails if "@" in e]
    return list(dict.fromkeys(domains))


def _domain_suffixes(domain: str) -> list[str]:
    """cs.cornell.edu -> [cs.cornell.edu, cornell.edu]; stops before public suffixes like ac.uk or edu.cn."""
    labels = domain.split(".")
    out = []
    for i in range(len(labels) - 1):
        rest = labels[i:]
        if len(rest) == 2 and rest[0] in _PUBLIC_SECOND_LEVEL:
            break
        out.append(".".join(rest))
    return out


def _domain_matches(domains: list[str], index: RorIndex) -> list[_Scored]:
    scored: list[_Scored] = []
    for domain in domains:
        for suffix in _domain_suffixes(domain):
            owners = ror_store.orgs_by_domain(index.db, suffix)
            if not owners:
                continue
            best_source = "domains" if any(src == "domains" for _, src in owners) else "link"
            owners = [(rid, src) for rid, src in owners if src == best_source]
            details = ror_store.org_details(index.db, [rid for rid, _ in owners])
            top_level = [rid for rid, _ in owners if not details.get(rid, {}).get("is_child")] or [r for r, _ in owners]
            share = 1.0 if len(top_level) == 1 else 0.9
            for rid in top_level:
                org = details.get(rid)
                if org:
                    score = _DOMAIN_SCORE[best_source] * share * _STATUS_WEIGHT.get(org["status"], 0.8)
                    scored.append(_Scored(rid, score, "domain", suffix))
            break  # the most specific domain owned by someone wins
    return scored


def match(text: str, *, emails: Iterable[str] = (), index: Any) -> MatchResult | None:
    """The ROR organisation `text` names (helped by the domains of `emails`), or None when no candidate is good
    enough. `index` is a RorIndex, a Store or a sqlite_utils Database holding the ROR tables."""
    index = RorIndex.of(index)
    text = text or ""
    segments = _segments(text, index)
    stated_countries = {s.country_code for s in segments if s.country_code}
    stated_cities = {s.city for s in segments if s.city}
    spans = _spans(segments)

    span_candidates = {id(span): _candidate_ids(span, index) for span in spans}
    all_ids = set().union(*span_candidates.values()) if span_candidates else set()
    domain_scored = _domain_matches(_email_domains(text, emails), index)
    all_ids |= {d.ror_id for d in domain_scored}
    if not all_ids:
        return None
    orgs = ror_store.org_details(index.db, all_ids)

    best: dict[str, _Scored] = {}

    def offer(s: _Scored) -> None:
        cur = best.get(s.ror_id)
        if cur is None or (s.score, s.span_size) > (cur.score, cur.span_size):
            best[s.ror_id] = s

    # acronyms shared by several organisations only count where the stated place singles one out
    for span in spans:
        acronym_orgs: list[str] = []
        for rid in span_candidates[id(span)]:
            org = orgs.get(rid)
            if not org:
                continue
            top: _Scored | None = None
            for value, kind, key in org["names"]:
                sim = _name_similarity(span, key, kind, index)
                if sim <= 0.0:
                    continue
                score = sim * _KIND_WEIGHT[kind]
                if top is None or score > top.score:
                    top = _Scored(rid, score, kind, value, span.size)
            if top is None:
                continue
            if top.matched_on == "acronym":
                acronym_orgs.append(rid)
            top.score *= _STATUS_WEIGHT.get(org["status"], 0.8) * _place_factor(org, stated_countries)
            top.score = min(1.0, top.score + _city_bonus(org, stated_cities))
            offer(top)
        _weigh_shared_acronym(acronym_orgs, orgs, best, stated_countries, stated_cities)

    for d in domain_scored:
        org = orgs[d.ror_id]
        d.score *= _place_factor(org, stated_countries)
        named = best.get(d.ror_id)
        if named is not None and named.score >= 0.6:  # the text and the e-mail agree
            named.score = min(1.0, max(named.score, d.score) + _AGREEMENT_BONUS)
        else:
            offer(d)

    ranked = sorted(
        best.values(),
        key=lambda s: (round(s.score, 2), s.span_size, not orgs[s.ror_id]["is_child"], s.score),
        reverse=True,
    )
    if not ranked or ranked[0].score < THRESHOLD:
        return None
    top = ranked[0]
    org = orgs[top.ror_id]
    candidates = [
        Candidate(
            ror_id=s.ror_id,
            name=orgs[s.ror_id]["name"],
            score=round(min(s.score, 1.0), 4),
            matched_on=s.matched_on,
            matched_text=s.matched_text,
            country=orgs[s.ror_id]["country"],
            city=orgs[s.ror_id]["city"],
            status=orgs[s.ror_id]["status"],
        )
        for s in ranked[:MAX_CANDIDATES]
    ]
    return MatchResult(
        ror_id=top.ror_id,
        name=org["name"],
        score=round(min(top.score, 1.0), 4),
        matched_on=top.matched_on,
        matched_text=top.matched_text,
        country=org["country"],
        city=org["city"],
        release=org["release"],
        candidates=candidates,
    )


def _weigh_shared_acronym(
    acronym_orgs: list[str],
    orgs: dict[str, dict[str, Any]],
    best: dict[str, _Scored],
    stated_countries: set[str],
    stated_cities: set[str],
) -> None:
    """Several live organisations share the acronym: keep those the stated place singles out (city first, then
    country), down-weight the others below the threshold."""
    live = [rid for rid in acronym_orgs if orgs[rid]["status"] == "active"]
    if len(live) <= 1:
        return
    in_city = [rid for rid in live if orgs[rid]["city"] and org_key(orgs[rid]["city"]) in stated_cities]
    in_country = [rid for rid in live if (orgs[rid]["country_code"] or "").upper() in stated_countries]
    chosen = in_city if len(in_city) == 1 else in_country if len(in_country) == 1 else []
    for rid in acronym_orgs:
        scored = best.get(rid)
        if scored is not None and scored.matched_on == "acronym" and rid not in chosen:
            scored.score *= 0.8
