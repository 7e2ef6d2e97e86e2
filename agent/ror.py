"""Matching an affiliation string (and institutional e-mail addresses) to the ROR organisations it names: a set,
possibly empty, each with its span, score and what it matched on.

How it works (agent/ror_index.py holds the names, places and relationships in memory):
1. Clean the text without moving offsets we report: HTML entities decoded, footnote marks glued to a word
   (`2University of Bergen`, `Bergen1,`) blanked. Split it into words; `;` and line breaks are hard boundaries no
   name crosses; commas, brackets, spaced dashes and a slash between two capitalised words are soft: a name
   crosses one where ROR writes it so (`Technion – Israel Institute of Technology`) or into a place or campus
   (`University of Wisconsin, Madison`).
2. Places: segments or trailing words that are a country, city or region known to the index (also written with
   its kind of unit: `Ningbo City`, `Hunan Province`).
3. Exact names: every run of words whose match key (schemas/text.py `org_key`: case, accents, punctuation, `&`,
   `Univ.`/`Inst.`/`Tech.`... folded) is a name, alias or label of a record, in any language. This finds the
   organisation inside a department segment and in strings with no separators at all. Acronyms count only when
   written in capitals, single common words never.
4. Each run's records are weighed by place (a stated country elsewhere rules a record out; a stated city singles
   one out of several), status and specificity; a run that still fits several records is no match.
5. Runs are taken longest first without overlap: `Johns Hopkins School of Medicine` (its own record) beats
   `Johns Hopkins`. Beside the organisations a string names in full, its acronyms add nothing, and a record named
   like a department or sitting inside a longer unknown name is taken for a unit. A unit (laboratory, institute,
   school) named beside the university it belongs to gives way to it, as ROR's curators assign such strings, and so
   does a research centre beside any university, linked in ROR or not; a hospital beside its university, or an
   institute beside its academy or agency, stays (both are named).
   A whole segment also matches a name with the same words in another order or language (`Universität Bonn`,
   `Heidelberg University Hospital`, `CHU Rouen`), with the city segment after it if need be, and a name ROR ends
   with the record's country (`National Heart Centre Norway`) is found without it where the string states it.
6. A segment no name covers gets a fuzzy pass (misspellings) on its rare words; a school or faculty of an
   organisation without its own record (`Yale School of Public Health`) falls back to that organisation.
7. E-mail domains (and their parent domains) resolve through the records' `domains` and link hostnames.
8. Only matches reaching the threshold (0-1, setting `ror_match_threshold`) are returned: "no match" beats the
   nearest string.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Any

from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process

from enrich.agent.ror_index import ORG_TYPE_WORDS, MemoryIndex, bag_key, memory_index
from enrich.schemas.text import org_key
from enrich.store import ror as ror_store

DEFAULT_THRESHOLD = 0.85  # 0-1, like every score here; `ror_match_threshold` / ENRICH_ROR_THRESHOLD override it
MAX_CANDIDATES = 5
MAX_WORDS = 200  # an affiliation line, not a page

_KIND_WEIGHT = {"name": 1.0, "alias": 0.97, "label": 0.97, "acronym": 0.92}
_STATUS_WEIGHT = {"active": 1.0, "inactive": 0.93, "withdrawn": 0.0}
_WRONG_COUNTRY = 0.7
_OTHER_CITY = 0.85  # an inexact match (word bag, fuzzy, school) to a record in another city than the one stated
_NO_PLACE_ACRONYM = 0.93  # a unique acronym with no place to confirm it
_AGREEMENT_BONUS = 0.05  # name and e-mail domain point at the same organisation
_DOMAIN_SCORE = {"domains": 0.9, "link": 0.86}
_FUZZY_FLOOR = 0.88
_FUZZY_POOL = 60  # names compared with a segment in the fuzzy pass
_LONG_SEGMENT = 6  # words: a longer segment may hold several names with no separator between them
_NEAR_CITY = 85  # rapidfuzz ratio (0-100) of a misspelt city to the record's
_MISSPELT_CITY = 0.95
_SUCCESSOR = 0.97  # a withdrawn record's name, matched to the record ROR says replaced it

_EMAIL = re.compile(r"[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,30});")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|&")
_HARD = re.compile(r"[;\[\]{}|\n\t\u2022\u00b7]")
_GLUED_LEADING = re.compile(r"(?<![\w.])\d{1,3}(?=[A-Z\u00C0-\u024F][a-z\u00E0-\u024F])")
_GLUED_TRAILING = re.compile(r"(?<=[a-z\u00E0-\u024F]{3})\d{1,2}(?=[\s,;.)]|$)")
_LEADING_MARK = re.compile(r"^\s*(?:[a-z\d]{1,2}|[*\u2020\u2021\u00a7#]+)\s+(?=[A-Z])")
_UNIT_WORDS = {"department", "departamento", "departement", "dipartimento", "division", "section", "unit", "unidad",
               "laboratory", "laboratoire", "laboratorio", "service", "servicio", "programme", "program", "chair"}  # fmt: skip
_ORG_START = {"university", "universite", "universitat", "universidad", "universidade", "universita", "hospital",
              "institute", "institut", "instituto", "istituto", "college", "school", "faculty", "center", "the",
              "national", "state", "royal", "federal", "academy", "clinic", "klinikum"}  # fmt: skip
_ORG_WORDS = {"university", "college", "institute", "technology", "state", "campus", "system"}
_DIRECTIONS = {"north", "northern", "south", "southern", "east", "eastern", "west", "western", "central", "upper",
               "lower"}  # fmt: skip
# "<place> City", "<place> Province": a place written with its kind of administrative unit
_ADMIN_UNITS = {"city", "province", "prefecture", "county", "municipality"}
_DASHES = {"-", "\u2013", "\u2014", "/"}
_POSTCODE = re.compile(r"\b[A-Z]{0,2}-?\d[\d -]{2,}\d\b|\b\d{3,}\b")
_US_STATE = re.compile(r"^[A-Z]{2}$")
_PUBLIC_SECOND_LEVEL = {"ac", "edu", "co", "com", "org", "gov", "net", "or", "go", "ne", "gob", "gouv", "nic", "res"}
_STOPWORDS = {"of", "the", "and", "for", "de", "la", "le", "des", "du", "di", "del", "der", "und", "fur", "y", "e",
              "at", "in", "on", "a", "an", "da", "do", "dos", "das", "van", "von", "zu", "et"}  # fmt: skip
# "<X> School of Medicine", "<X> Medical School": a part of X, which may have no record of its own
_SCHOOL_OF = re.compile(
    r"^(?P<org>.+?)\s+(?:(?:graduate\s+)?(?:school|college|faculty)\s+of\s+.+|"
    r"(?:medical|law|business|dental|nursing|graduate|management|engineering|medicine)\s+(?:school|college)|"
    r"(?:school|college|faculty)\s+(?:of\s+)?medicine)$"
)


class Candidate(BaseModel):
    ror_id: str
    name: str
    score: float = Field(ge=0.0, le=1.0)
    matched_on: str  # name | alias | acronym | label | domain | fuzzy | parent
    matched_text: str
    country: str | None = None
    city: str | None = None
    status: str = "active"


class OrgMatch(BaseModel):
    """One organisation a string names: where (`span`, character offsets into the input), how sure, and why."""

    ror_id: str  # full https://ror.org/... URL
    name: str
    score: float = Field(ge=0.0, le=1.0)
    matched_on: str
    matched_text: str
    span: tuple[int, int] | None = None  # None for a match on an e-mail passed beside the text
    country: str | None = None
    city: str | None = None
    release: str = "unknown"

    @property
    def origin(self) -> str:
        return f"match:ror@{self.release}"


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
    span: tuple[int, int] | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    matches: list[OrgMatch] = Field(default_factory=list)  # every organisation the text names

    @property
    def origin(self) -> str:
        return f"match:ror@{self.release}"


NO_INDEX_MESSAGE = (
    "No ROR index: run `enrich ror import <dump>` (an official ROR data dump, .zip/.json/.json.gz) "
    "to normalise affiliations to ROR ids."
)


class RorIndex:
    """A store's ROR tables: `db` for SQL look-ups, `memory` for matching (built once per load of a dump)."""

    def __init__(self, db: Any):
        self.db = db

    @property
    def memory(self) -> MemoryIndex:
        return memory_index(self.db)

    @property
    def places(self) -> tuple[dict[str, str], set[str], set[str]]:
        """(country key -> country code, city keys, region keys)."""
        mem = self.memory
        return mem.countries, set(mem.cities), set(mem.regions)

    @classmethod
    def of(cls, obj: Any) -> RorIndex:
        """Accept a RorIndex, a Store (anything with `.db`) or a sqlite_utils Database."""
        if isinstance(obj, RorIndex):
            return obj
        return cls(getattr(obj, "db", obj))


def index_status(store: Any) -> dict[str, Any] | None:
    """Counts and releases of the loaded ROR index ({records, names, domains, releases, imports}), or None when
    no index is loaded (the caller then prints NO_INDEX_MESSAGE once)."""
    db = getattr(store, "db", store)
    return ror_store.index_counts(db)


# ---- cleaning and words --------------------------------------------------------------------------------------------


def _clean(text: str) -> tuple[str, list[int]]:
    """Entities decoded and glued footnote marks blanked; returns the clean text and, for each of its characters,
    the offset in `text` it came from (plus one past the end)."""
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for m in _ENTITY.finditer(text):
        out.append(text[pos : m.start()])
        where.extend(range(pos, m.start()))
        decoded = html.unescape(m.group(0))
        out.append(decoded)
        where.extend([m.start()] * len(decoded))
        pos = m.end()
    out.append(text[pos:])
    where.extend(range(pos, len(text)))
    where.append(len(text))
    clean = "".join(out)
    clean = _GLUED_LEADING.sub(lambda m: " " * len(m.group(0)), clean)
    clean = _GLUED_TRAILING.sub(lambda m: " " * len(m.group(0)), clean)
    clean = _LEADING_MARK.sub(lambda m: " " * len(m.group(0)), clean)
    return clean, where


@lru_cache(maxsize=65536)
def _word_key(word: str) -> str:
    return org_key(word)


@dataclass(slots=True)
class _Word:
    text: str
    key: str
    start: int  # offsets in the clean text
    end: int
    segment: int  # comma segment number
    block: int  # hard-boundary block number
    joined: bool = False  # written against the word before it, with no space ("Sher-E-Kashmir")


def _words(clean: str) -> list[_Word]:
    words: list[_Word] = []
    segment = block = 0
    last_end = 0
    for m in _WORD.finditer(clean):
        gap = clean[last_end : m.start()]
        if words:
            if _HARD.search(gap):
                block += 1
                segment += 1
            elif (
                any(c in gap for c in ",:()")
                or (" " in gap and gap.strip() in _DASHES)
                or (gap == "/" and words[-1].text[:1].isupper() and m.group(0)[:1].isupper())
            ):
                segment += 1  # soft: "Technion – Israel Institute of Technology" is one name
        key = _word_key(m.group(0))
        if key:
            joined = bool(words) and bool(gap) and not any(c.isspace() for c in gap)
            words.append(_Word(m.group(0), key, m.start(), m.end(), segment, block, joined))
        last_end = m.end()
        if len(words) >= MAX_WORDS:
            break
    return words


# ---- places ----------------------------------------------------------------------------------------------------------


@dataclass
class _Places:
    countries: set[str]
    cities: set[str]  # keys
    place_words: set[int]  # indexes of words that are part of a place segment
    stated_cities: set[str] = field(default_factory=set)  # of `cities`, those written as a place of their own
    short_segments: set[str] = field(default_factory=set)  # keys of 1-3 word segments that are not known places


def _places(words: list[_Word], mem: MemoryIndex) -> _Places:
    countries: set[str] = set()
    cities: set[str] = set()
    place_words: set[int] = set()
    short: set[str] = set()
    by_segment: dict[int, list[int]] = {}
    for i, w in enumerate(words):
        by_segment.setdefault(w.segment, []).append(i)
    for idx in by_segment.values():
        keys = [words[i].key for i in idx if not words[i].key.isdigit() and not _POSTCODE.fullmatch(words[i].text)]
        key = " ".join(keys)
        if not key:
            place_words.update(idx)
            continue
        head, _, rest = key.partition(" ")
        admin, _, kind = key.rpartition(" ")
        if kind in _ADMIN_UNITS and (admin in mem.cities or admin in mem.regions):
            key = admin  # "Ningbo City", "Hunan Province": the place itself
        if key in mem.countries:
            countries.add(mem.countries[key])
        elif head in _DIRECTIONS and rest in mem.countries:  # "Northern Cyprus": still that country
            countries.add(mem.countries[rest])
        elif key in mem.cities or key in mem.regions:
            cities.add(key)
        elif len(keys) == 1 and _US_STATE.match(words[idx[-1]].text):
            pass
        else:
            if len(keys) <= 3:
                short.add(key)
            continue
        place_words.update(idx)
    # no separators ("... Beijing China"): trailing words naming a country, then a city before them
    if words and not countries:
        for n in (3, 2, 1):
            if len(words) >= n:
                key = " ".join(w.key for w in words[-n:])
                if key in mem.countries:
                    countries.add(mem.countries[key])
                    for m in (2, 1):
                        if len(words) >= n + m:
                            ckey = " ".join(w.key for w in words[-n - m : -n])
                            if ckey in mem.cities:
                                cities.add(ckey)
                                break
                    break
    stated = set(cities)
    # a city written inside an organisation segment still places it ("Sun Yat-sen University, Guangzhou")
    for i, w in enumerate(words):
        if w.key in mem.cities and w.text[:1].isupper():
            cities.add(w.key)
        if i + 1 < len(words):
            pair = f"{w.key} {words[i + 1].key}"
            if pair in mem.cities:
                cities.add(pair)
    return _Places(countries, cities, place_words, stated, short)


# ---- exact names ---------------------------------------------------------------------------------------------------


@dataclass
class _Hit:
    start: int  # word indexes, end exclusive
    end: int
    key: str
    ror_id: str
    kind: str
    score: float


def _looks_like_acronym(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    return len(letters) >= 2 and upper >= 2 and upper * 3 >= len(letters) * 2


def _place_weight(org: Any, places: _Places, mem: MemoryIndex) -> float:
    if (
        places.countries
        and org.country_code
        and not any(mem.same_country(org.country_code, c) for c in places.countries)
    ):
        return _WRONG_COUNTRY
    return 1.0


def _city_weight(org: Any, places: _Places) -> float:
    """Short word-bag matches only: the string names a city and the record is in none of those named (ROR
    places many organisations in a suburb of the city strings name, so longer or exact names never pay this)."""
    if places.cities and org.city_key and org.city_key not in places.cities:
        return _OTHER_CITY
    return 1.0


def _successors(entries: list[tuple[str, str]], places: _Places, mem: MemoryIndex) -> Iterable[tuple[str, str, float]]:
    """Each entry, a withdrawn record replaced by the active record(s) ROR names as its successors: a withdrawn
    record is never a match, but strings keep the name it had (factor < 1: the name is not the successor's own).
    Where the string states a city, the successor must be in it (some successors are a merger far away)."""
    for rid, kind in entries:
        org = mem.orgs[rid]
        live = [
            s
            for s in (org.successors if org.status == "withdrawn" else ())
            if mem.orgs[s].status == "active" and (not places.cities or mem.orgs[s].city_key in places.cities)
        ]
        if live:
            yield from ((s, kind, _SUCCESSOR) for s in live)
        else:
            yield rid, kind, 1.0


def _near_city(
    scored: list[tuple[float, str, str, bool]], places: _Places, mem: MemoryIndex
) -> tuple[float, str, str, bool] | None:
    """Among records sharing a name, the one whose city a short segment spells with a letter or two wrong
    ("Kottyam" for Kottayam), when exactly one is; a tie-break only, never a match on its own."""
    near = [
        s
        for s in scored
        if s[0] >= 0.9
        and (city := mem.orgs[s[1]].city_key)
        and len(city) >= 5
        and any(fuzz.ratio(city, seg) >= _NEAR_CITY for seg in places.short_segments)
    ]
    return near[0] if len({s[1] for s in near}) == 1 else None


def _choose(
    entries: list[tuple[str, str]], places: _Places, mem: MemoryIndex, *, acronym: bool, generic: bool
) -> tuple[str, str, float] | None:
    """The one record a run of words names, or None when the place does not single one out."""
    scored: list[tuple[float, str, str, bool]] = []
    for rid, kind, moved in _successors(entries, places, mem):
        org = mem.orgs[rid]
        weight = _KIND_WEIGHT[kind] * _STATUS_WEIGHT.get(org.status, 0.8) * _place_weight(org, places, mem) * moved
        if weight <= 0:
            continue
        in_city = bool(org.city_key and org.city_key in places.cities)
        scored.append((weight, rid, kind, in_city))
    if not scored:
        return None
    scored.sort(key=lambda s: (s[0], s[3]), reverse=True)
    ids = {s[1] for s in scored}
    if len(ids) > 1:
        # several records share the words: the stated city, else the only active one in the stated country
        city_hits = [s for s in scored if s[3] and s[0] >= 0.9]
        if len({s[1] for s in city_hits}) > 1:  # a city written as a place beats one inside a name ("St. Mary's")
            city_hits = [s for s in city_hits if mem.orgs[s[1]].city_key in places.stated_cities]
        if len({s[1] for s in city_hits}) == 1:
            return city_hits[0][1], city_hits[0][2], city_hits[0][0]
        if not city_hits and (near := _near_city(scored, places, mem)):
            return near[1], near[2], near[0] * _MISSPELT_CITY
        top = [s for s in scored if s[0] >= scored[0][0] - 1e-9]
        if len({s[1] for s in top}) == 1 and places.countries and not acronym and not generic:
            return top[0][1], top[0][2], top[0][0]
        # successors and parents of each other: the name moved between records
        live = [s for s in top if mem.orgs[s[1]].status == "active"]
        if len({s[1] for s in live}) == 1 and not acronym and not generic:
            return live[0][1], live[0][2], live[0][0] * 0.97
        return None
    weight, rid, kind, in_city = scored[0]
    org = mem.orgs[rid]
    if acronym or generic:
        # a unique acronym or a generic name ("Central Hospital") needs its place stated, or loses weight
        placed = in_city or (places.countries and org.country_code in places.countries)
        if not placed:
            weight *= _NO_PLACE_ACRONYM if acronym else 0.8
    return rid, kind, weight


def _exact_hits(words: list[_Word], places: _Places, mem: MemoryIndex) -> list[_Hit]:
    hits: list[_Hit] = []
    n = len(words)
    for i in range(n):
        limit = mem.first.get(words[i].key)
        if not limit:
            continue
        key = ""
        for j in range(i, min(n, i + limit)):
            if j > i and words[j].block != words[i].block:
                break
            key = words[j].key if j == i else f"{key} {words[j].key}"
            if key not in mem.prefixes:
                break  # no name goes on like this
            size = j - i + 1
            names = mem.names.get(key)
            if names and words[j].segment != words[i].segment and key not in mem.split_names:
                # across a comma into a place or a campus ("University of Wisconsin, Madison"), not into the
                # next organisation ("Health Sciences, University of Bristol")
                first_other = next(k for k in range(i, j + 1) if words[k].segment != words[i].segment)
                if words[first_other].key in _ORG_START or words[first_other].key in _UNIT_WORDS:
                    names = None
            acr = mem.acronyms.get(key)
            if not names and not acr:
                continue
            raw = " ".join(w.text for w in words[i : j + 1])
            if (
                names
                and size == 1
                and not (_single_word_name_ok(words[i], mem) or _company_family(words[i], names, mem))
            ):
                names = None
            if names and size > 1 and _generic(words, i, j + 1, mem):
                generic = True
            else:
                generic = False
            if names and size >= 1 and (size > 1 or not generic):
                # a place name alone ("Lausanne") names a city, not the organisation of that name
                if key in mem.countries or (size == 1 and mem.is_place(key)) or _places_only(words, i, j + 1, mem):
                    names = None
            if names:
                chosen = _choose(names, places, mem, acronym=False, generic=generic)
                if chosen:
                    hits.append(_Hit(i, j + 1, raw, chosen[0], chosen[1], chosen[2]))
                    continue
            if acr and _looks_like_acronym(raw) and _acronym_ok(raw, key, mem):
                chosen = _choose(acr, places, mem, acronym=True, generic=False)
                if chosen:
                    hits.append(_Hit(i, j + 1, raw, chosen[0], chosen[1], chosen[2]))
    return hits


def _places_only(words: list[_Word], start: int, end: int, mem: MemoryIndex) -> bool:
    """A run across commas made of places only ("Ube, Japan") names where, not who, even where a company is
    called so ("Ube (Japan)")."""
    if words[start].segment == words[end - 1].segment:
        return False
    parts: dict[int, list[str]] = {}
    for w in words[start:end]:
        parts.setdefault(w.segment, []).append(w.key)
    return len(parts) > 1 and all(mem.is_place(" ".join(keys)) for keys in parts.values())


def _bag_hits(words: list[_Word], places: _Places, mem: MemoryIndex) -> list[_Hit]:
    """A whole segment holding a name's words in another order or language ("Heidelberg University Hospital",
    "Universität Bonn", "CHU Rouen"), optionally with the place segment after it ("Federico II University,
    Naples"); then name-shaped runs inside long segments (_inner_spans), whose city must agree."""
    hits = []
    segments = _segments(words, places)
    for start, end in segments:
        if end - start > 12 or words[start].key in _UNIT_WORDS:
            continue
        key = " ".join(w.key for w in words[start:end])
        if entries := [e for e in mem.without_country.get(key, ()) if mem.orgs[e[0]].country_code in places.countries]:
            if chosen := _choose(entries, places, mem, acronym=False, generic=False):
                raw = " ".join(w.text for w in words[start:end])
                hits.append(_Hit(start, end, raw, chosen[0], "words", chosen[2] * 0.96))
                continue
        span_end = end
        bag = mem.bags.get(bag_key(key))
        # the place after it completes a name ("Federico II University, Naples"), but a bare "University, Dayton"
        # is the tail of a name cut by a stray comma, not the organisation named after the town
        if not bag and end < len(words) and end in places.place_words and not _generic(words, start, end, mem):
            nxt = [k for k in range(end, len(words)) if words[k].segment == words[end].segment]
            bag = mem.bags.get(bag_key(key + " " + " ".join(words[k].key for k in nxt)))
            span_end = nxt[-1] + 1
        few = sum(1 for w in words[start:end] if w.key not in _STOPWORDS) <= 2  # few words: the city must agree
        if hit := _word_order_hit(words, start, end, span_end, bag, places, mem, city_must_agree=few):
            hits.append(hit)
    for seg_start, seg_end in segments:
        for start, end in _inner_spans(words, seg_start, seg_end, mem):
            bag = mem.bags.get(bag_key(" ".join(w.key for w in words[start:end])))
            if hit := _word_order_hit(words, start, end, end, bag, places, mem, city_must_agree=True):
                hits.append(hit)
    return hits


def _word_order_hit(
    words: list[_Word],
    start: int,
    end: int,
    span_end: int,
    bag: list[tuple[str, str]] | None,
    places: _Places,
    mem: MemoryIndex,
    *,
    city_must_agree: bool,
) -> _Hit | None:
    """The record the words start:end name in another order (`bag`), as a hit over start:span_end."""
    chosen = _choose(bag, places, mem, acronym=False, generic=_generic(words, start, end, mem)) if bag else None
    if not chosen:
        return None
    score = chosen[2] * 0.96
    if city_must_agree:
        score *= _city_weight(mem.orgs[chosen[0]], places)
    raw = " ".join(w.text for w in words[start:span_end])
    return _Hit(start, span_end, raw, chosen[0], "words", score)


def _generic(words: list[_Word], start: int, end: int, mem: MemoryIndex) -> bool:
    """Only stop words and words many names hold ("Central Hospital"): a name that needs its place stated."""
    return all(w.key in _STOPWORDS or mem.is_common(w.key) for w in words[start:end])


def _single_word_name_ok(word: _Word, mem: MemoryIndex) -> bool:
    """A one-word name (Inserm, Fiocruz, Sorbonne) counts when written with a capital and not a common word."""
    first = word.text[:1]
    capital = first.isupper() or first.lower() == first.upper()  # scripts without case (中国科学院) count
    return capital and len(word.key) > 3 and mem.df.get(word.key, 0) <= 3


def _company_family(word: _Word, entries: list[tuple[str, str]], mem: MemoryIndex) -> bool:
    """A one-word name held by several companies that ROR names after their country ("Sanofi (France)",
    "Sanofi (Japan)"): a firm, however many names hold its word; the place written beside it picks the one."""
    ids = {rid for rid, _kind in entries}
    return (
        word.text[:1].isupper()
        and len(ids) >= 2
        and all("company" in mem.orgs[rid].types and mem.orgs[rid].name.endswith(")") for rid in ids)
    )


def _acronym_ok(raw: str, key: str, mem: MemoryIndex) -> bool:
    """Capitals that are a country or state code (USA, UK, NY) or a title (PhD, MD) are not organisations."""
    letters = "".join(c for c in raw if c.isalpha())
    if len(letters) < 2 or key in mem.countries or key in mem.country_codes:
        return False
    return len(letters) > 2 or not _US_STATE.match(raw)


def _select(hits: list[_Hit], words: list[_Word]) -> list[_Hit]:
    """Longest runs first, no overlaps; one hit per record."""
    chosen: list[_Hit] = []
    taken: set[int] = set()

    def weight(h: _Hit) -> tuple[int, bool, float]:
        content = sum(1 for w in words[h.start : h.end] if w.key not in _STOPWORDS)
        return content, h.kind != "words", h.score

    for hit in sorted(hits, key=weight, reverse=True):
        if any(k in taken for k in range(hit.start, hit.end)):
            continue
        chosen.append(hit)
        taken.update(range(hit.start, hit.end))
    best: dict[str, _Hit] = {}
    for hit in chosen:
        if hit.ror_id not in best or hit.score > best[hit.ror_id].score:
            best[hit.ror_id] = hit
    return sorted(best.values(), key=lambda h: h.start)


def _unit_like(hit: _Hit, words: list[_Word], hits: list[_Hit]) -> bool:
    """Beside another organisation, a record named like a department ("Department of Biotechnology") or found
    inside a longer name it does not cover ("Culver Vision Discovery Institute") is more likely a unit of that
    organisation than the record of the same name."""
    if words[hit.start].key in _UNIT_WORDS:
        return True
    before = hit.start - 1
    if before < 0 or words[before].segment != words[hit.start].segment:
        return False
    if any(h.start <= before < h.end for h in hits):
        return False
    word = words[before]
    if _looks_like_acronym(word.text):
        return False
    return word.text[:1].isupper() and word.key not in _STOPWORDS and word.key not in _UNIT_WORDS


def _gives_way_to(parent: Any) -> bool:
    """A university (or a research facility) absorbs its units; an academy or agency of government keeps its
    institutes beside it ("Kunming Institute of Zoology, Chinese Academy of Sciences": both)."""
    return bool(parent.types & {"education", "facility"}) and "government" not in parent.types


def _resolve_family(hits: list[_Hit], mem: MemoryIndex, words: list[_Word]) -> list[_Hit]:
    """A string naming a unit and the university it belongs to ("State Key Laboratory of X, Tsinghua
    University") is the university's: a lab, institute or school named beside such a parent gives way to it. A
    hospital stays beside its university, an institute beside its academy (see _gives_way_to). Acronyms add nothing
    to a string whose full names already matched: capitals in a long string are more often units, programmes or
    places."""
    named = [h for h in hits if h.kind != "acronym"]
    if len(named) > 1:
        named = [h for h in named if not _unit_like(h, words, hits)] or named
    if named:
        hits = named
    ids = {h.ror_id for h in hits}
    universities = {h.ror_id for h in hits if _university(mem.orgs[h.ror_id])}
    members = {h.ror_id for h in hits if h.ror_id in universities and _named_university(h, words)}
    keep = []
    for h in hits:
        org = mem.orgs[h.ror_id]
        named_parents = [mem.orgs[p] for p in org.parents if p in ids]
        if h.ror_id in members and any(p.ror_id in universities for p in named_parents):
            keep.append(h)  # a university of a system named with it ("Eastbrook University, State University of X")
            continue
        if "healthcare" not in org.types and any(_gives_way_to(p) for p in named_parents):
            continue
        if universities and _research_unit(org):
            continue
        if h.ror_id in universities and any(c in members for c in org.children):
            continue  # a system of universities gives way to its university
        keep.append(h)
    return keep


def _named_university(hit: _Hit, words: list[_Word]) -> bool:
    """The string writes this organisation's name as a university's ("... University", "Universidad ..."), not as a
    school or faculty of one."""
    return any(w.key.startswith("univ") for w in words[hit.start : hit.end])


def _university(org: Any) -> bool:
    return "education" in org.types and "healthcare" not in org.types


def _research_unit(org: Any) -> bool:
    """A research centre, institute or consortium (ROR `facility`, `nonprofit`, `other`) that is not itself a
    university, hospital or agency: named beside a university, ROR's curators give the string the university whether
    or not the records are linked ("Software Research Centre, University of Galway")."""
    return bool(org.types & {"facility", "nonprofit", "other"}) and not (
        org.types & {"education", "healthcare", "government"}
    )


def _kin_after_comma(hits: list[_Hit], words: list[_Word], places: _Places, mem: MemoryIndex) -> list[_Hit]:
    """A name ROR writes with its parent's or partner's name in it, written in the string as two segments ("Ruby
    Hospital, Eastbrook University" for ROR's "Ruby Hospital Eastbrook University"): the string names
    both, and the segment after the comma is the related record's own name."""
    found: list[_Hit] = []
    ids = {h.ror_id for h in hits}
    for h in hits:
        org = mem.orgs[h.ror_id]
        # a university whose name carries its system's ("Eastbrook University, State University of X") names the
        # university only
        kin = (set() if _university(org) else set(org.parents)) | set(org.related)
        if not kin or words[h.start].segment == words[h.end - 1].segment:
            continue
        for start in range(h.start + 1, h.end):
            if words[start].segment == words[start - 1].segment:
                continue
            end = start
            while end < h.end and words[end].segment == words[start].segment:
                end += 1
            key = " ".join(w.key for w in words[start:end])
            entries = [(rid, kind) for rid, kind in mem.names.get(key, ()) if rid in kin and rid not in ids]
            chosen = _choose(entries, places, mem, acronym=False, generic=False) if end - start > 1 else None
            if chosen:
                ids.add(chosen[0])
                raw = " ".join(w.text for w in words[start:end])
                found.append(_Hit(start, end, raw, chosen[0], chosen[1], chosen[2]))
    return found


# ---- fuzzy and school-of fallbacks ---------------------------------------------------------------------------------


def _content(key: str) -> list[str]:
    return [t for t in key.split() if t not in _STOPWORDS]


def _agreement(a: str, b: str, mem: MemoryIndex) -> float:
    """F-measure of the words two names share, each weighted by its rarity; words match when spelled alike."""
    ta, tb = _content(a), _content(b)
    if not ta or not tb:
        return 0.0

    def covered(src: list[str], other: list[str]) -> float:
        total = hit = 0.0
        for tok in src:
            w = mem.idf(tok)
            total += w
            if tok in other or any(fuzz.ratio(tok, o) >= 80 for o in other if len(o) > 5 and len(tok) > 5):
                hit += w
        return hit / total

    r, p = covered(ta, tb), covered(tb, ta)
    return 0.0 if r + p == 0 else 2 * r * p / (r + p)


def _segments(words: list[_Word], places: _Places) -> list[tuple[int, int]]:
    """(start, end) word ranges of comma segments that are not places."""
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].segment != words[start].segment:
            if not all(k in places.place_words for k in range(start, i)):
                out.append((start, i))
            start = i
    return out


def _inner_spans(words: list[_Word], start: int, end: int, mem: MemoryIndex) -> Iterable[tuple[int, int]]:
    """Name-shaped runs inside a long segment, for strings written without separators ("Department of Physics
    University of Heidelberg Heidelberg Germany"): an organisation word, "of", then one to three words
    (`University of Naples Parthenope`), or one to three words closing on an organisation word (`Heidelberg
    University`) that no further organisation word or "of" follows (`... University Hospital`). Runs that are a
    name as written were decided by the exact pass already; a run whose shorter part is a name is not stretched
    over the neighbouring words (`Technology | Nanjing University`)."""
    if end - start <= _LONG_SEGMENT:
        return

    def named(i: int, j: int) -> bool:
        return " ".join(w.key for w in words[i:j]) in mem.names

    for i in range(start, end):
        if words[i].key not in ORG_TYPE_WORDS:
            continue
        if i + 2 < end and words[i + 1].key in _STOPWORDS:
            for j in range(i + 3, min(end, i + 5) + 1):
                last = words[j - 1].key
                if last not in _STOPWORDS and last not in ORG_TYPE_WORDS and not named(i, j - 1) and not named(i, j):
                    yield i, j
        after = words[i + 1].key if i + 1 < end else ""
        if after not in ORG_TYPE_WORDS and after.removesuffix("s") not in ORG_TYPE_WORDS and after not in _STOPWORDS:
            for k in range(i - 1, max(start, i - 3) - 1, -1):
                if words[k].key in _STOPWORDS or words[k].key in ORG_TYPE_WORDS or named(k + 1, i + 1):
                    break
                if not words[k].joined and not named(k, i + 1):
                    yield k, i + 1


def _fuzzy_hits(words: list[_Word], covered: set[int], places: _Places, mem: MemoryIndex) -> list[_Hit]:
    hits: list[_Hit] = []
    for start, end in _segments(words, places):
        if any(k in covered for k in range(start, end)) or end - start > 12:
            continue
        key = " ".join(w.key for w in words[start:end])
        school = _SCHOOL_OF.match(key)
        if school:
            hit = _school_hit(school.group("org"), start, end, words, places, mem)
            if hit:
                hits.append(hit)
                continue
        rare = [w.key for w in words[start:end] if not mem.is_common(w.key) and len(w.key) > 2]
        if not rare or end - start < 2:
            continue  # one word is too little to guess at
        if words[start].key in _UNIT_WORDS:
            continue  # "Department of ...": a unit, not an organisation's name
        best = _nearest_name(key, rare, mem)
        if best and best[0] >= _FUZZY_FLOOR:
            chosen = _choose(mem.names[best[1]], places, mem, acronym=False, generic=False)
            if chosen:
                raw = " ".join(w.text for w in words[start:end])
                hits.append(_Hit(start, end, raw, chosen[0], "fuzzy", chosen[2] * best[0]))
    return hits


def _nearest_name(key: str, rare: list[str], mem: MemoryIndex) -> tuple[float, str] | None:
    """The name closest to `key` among those sharing a rare word (or a near spelling of one), with its similarity;
    remembered per key (affiliation strings repeat their segments)."""
    cache = mem.fuzzy_cache
    if key in cache:
        return cache[key]
    index = mem.word_index()
    pool = Counter(chain.from_iterable(index.get(near, ())[:200] for t in rare for near in mem.near_words(t)))
    # the names sharing most rare words; among those tied at the cut (one word many names share gives no order),
    # the most alike rather than the first indexed
    ranked = pool.most_common()
    if len(ranked) <= _FUZZY_POOL:
        keep = [cand for cand, _n in ranked]
    else:
        cut = ranked[_FUZZY_POOL - 1][1]
        keep = [cand for cand, n in ranked if n > cut]
        ties = [cand for cand, n in ranked if n == cut]
        keep += [c for c, _s, _i in process.extract(key, ties, scorer=fuzz.ratio, limit=_FUZZY_POOL - len(keep))]
    best: tuple[float, str] | None = None
    for cand in keep:
        sim = max(fuzz.ratio(key, cand), fuzz.token_sort_ratio(key, cand)) / 100.0
        if sim < _FUZZY_FLOOR:
            continue
        sim = min(sim, _agreement(key, cand, mem))
        if best is None or sim > best[0]:
            best = (sim, cand)
    if len(cache) > 100_000:
        cache.clear()
    cache[key] = best
    return best


def _school_hit(
    org_key: str, start: int, end: int, words: list[_Word], places: _Places, mem: MemoryIndex
) -> _Hit | None:
    """ "Yale School of Public Health", "Dartmouth Medical School" with no record of their own: the organisation
    they belong to, named by the same words plus an organisation word or the stated city."""
    entries: list[tuple[str, str]] = []
    if mem.is_place(org_key):
        return None
    for key in (org_key, f"{org_key} university", f"university of {org_key}", f"{org_key} college"):
        if key == org_key and (mem.is_place(org_key) or all(mem.is_common(t) for t in org_key.split())):
            continue
        entries = mem.names.get(key, [])
        if entries:
            break
    if not entries:
        rare = [t for t in org_key.split() if not mem.is_common(t) and t not in _STOPWORDS]
        if not rare:
            return None
        allowed = _STOPWORDS | _ORG_WORDS | {t for c in places.cities for t in c.split()}
        rarest = min(rare, key=lambda t: mem.df.get(t, 0))
        for cand in mem.word_index().get(rarest, ())[:400]:
            if cand.startswith(org_key + " ") and all(t in allowed for t in cand[len(org_key) + 1 :].split()):
                entries += mem.names[cand]
    if not entries:
        return None
    chosen = _choose(entries, places, mem, acronym=False, generic=False)
    if not chosen or "education" not in mem.orgs[chosen[0]].types:
        return None
    raw = " ".join(w.text for w in words[start:end])
    return _Hit(start, end, raw, chosen[0], "parent", chosen[2] * 0.95)


# ---- e-mail domains ------------------------------------------------------------------------------------------------


def _email_domains(text: str, emails: Iterable[str]) -> list[tuple[str, tuple[int, int] | None]]:
    found: list[tuple[str, tuple[int, int] | None]] = [
        (m.group(1).lower(), (m.start(), m.end())) for m in _EMAIL.finditer(text)
    ]
    found += [(e.split("@", 1)[1].lower().strip(), None) for e in emails if "@" in e]
    seen: dict[str, tuple[int, int] | None] = {}
    for domain, span in found:
        seen.setdefault(domain, span)
    return list(seen.items())


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


def _domain_matches(domains: list[tuple[str, tuple[int, int] | None]], mem: MemoryIndex) -> list[OrgMatch]:
    out: list[OrgMatch] = []
    for domain, span in domains:
        for suffix in _domain_suffixes(domain):
            owners = mem.domains.get(suffix)
            if not owners:
                continue
            best_source = "domains" if any(src == "domains" for _, src in owners) else "link"
            rids = [rid for rid, src in owners if src == best_source]
            top_level = [rid for rid in rids if not mem.orgs[rid].parents] or rids
            share = 1.0 if len(top_level) == 1 else 0.9
            for rid in top_level:
                org = mem.orgs[rid]
                score = _DOMAIN_SCORE[best_source] * share * _STATUS_WEIGHT.get(org.status, 0.8)
                if score > 0:
                    out.append(_org_match(org, score, "domain", suffix, span))
            break  # the most specific domain owned by someone wins
    return out


# ---- the matcher ---------------------------------------------------------------------------------------------------


def _org_match(org: Any, score: float, matched_on: str, text: str, span: tuple[int, int] | None) -> OrgMatch:
    return OrgMatch(
        ror_id=org.ror_id,
        name=org.name,
        score=round(min(1.0, score), 4),
        matched_on=matched_on,
        matched_text=text,
        span=span,
        country=org.country,
        city=org.city,
        release=org.release,
    )


def match_all(text: str, *, emails: Iterable[str] = (), index: Any, threshold: float | None = None) -> list[OrgMatch]:
    """Every ROR organisation `text` names (helped by the domains of `emails`), best first; empty when none
    reaches `threshold` (0-1). `index` is a RorIndex, a Store, a sqlite_utils Database or a MemoryIndex."""
    return _match(text or "", emails, index, DEFAULT_THRESHOLD if threshold is None else threshold)[0]


def _memory(index: Any) -> MemoryIndex:
    if isinstance(index, MemoryIndex):
        return index
    return RorIndex.of(index).memory


def _match(text: str, emails: Iterable[str], index: Any, threshold: float) -> tuple[list[OrgMatch], list[OrgMatch]]:
    """(accepted matches, every scored candidate) for `text`."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the ROR match threshold is a score between 0 and 1, got {threshold:g}")
    mem = _memory(index)
    clean, where = _clean(_EMAIL.sub(lambda m: " " * len(m.group(0)), text))
    words = _words(clean)
    places = _places(words, mem)
    hits = _exact_hits(words, places, mem) + _bag_hits(words, places, mem)
    chosen = [h for h in _select([h for h in hits if h.score >= threshold], words)]
    covered = {k for h in chosen for k in range(h.start, h.end)}
    fuzzy = _fuzzy_hits(words, covered | places.place_words, places, mem)
    # a school named after one university beside another named in full ("Tongji Medical College, Huazhong
    # University ..."): the school is the named university's, not its namesake's
    named_education = any("education" in mem.orgs[h.ror_id].types for h in chosen)
    fuzzy = [h for h in fuzzy if not (h.kind == "parent" and named_education)]
    chosen += [h for h in fuzzy if h.score >= threshold and h.ror_id not in {c.ror_id for c in chosen}]
    chosen = _resolve_family(chosen, mem, words)
    chosen += _kin_after_comma(chosen, words, places, mem)

    def span_of(h: _Hit) -> tuple[int, int]:
        return where[words[h.start].start], where[words[h.end - 1].end]

    found = {h.ror_id: _org_match(mem.orgs[h.ror_id], h.score, h.kind, h.key, span_of(h)) for h in chosen}
    for d in _domain_matches(_email_domains(text, emails), mem):
        org = mem.orgs[d.ror_id]
        d.score = round(d.score * _place_weight(org, places, mem), 4)
        named = found.get(d.ror_id)
        if named is not None:  # the text and the e-mail agree
            named.score = round(min(1.0, max(named.score, d.score) + _AGREEMENT_BONUS), 4)
        elif d.score >= threshold and not found:
            found[d.ror_id] = d
    accepted = sorted(found.values(), key=lambda m: (m.score, -(m.span or (0, 0))[0]), reverse=True)
    candidates = {h.ror_id: h for h in sorted(hits + fuzzy, key=lambda h: h.score)}
    cands = [
        _org_match(mem.orgs[h.ror_id], h.score, h.kind, h.key, span_of(h))
        for h in sorted(candidates.values(), key=lambda h: h.score, reverse=True)
    ]
    return accepted, cands


def place_spans(text: str, *, index: Any) -> list[tuple[int, int]]:
    """Character spans of the words of `text` that state a place the index knows, as the matcher reads places (a
    country, city or region segment): `Campinas` and `Brazil` in `UNICAMP, Campinas, Brazil`."""
    mem = _memory(index)
    clean, where = _clean(text or "")
    words = _words(clean)
    places = _places(words, mem)
    return [(where[words[i].start], where[words[i].end]) for i in sorted(places.place_words)]


def match(text: str, *, emails: Iterable[str] = (), index: Any, threshold: float | None = None) -> MatchResult | None:
    """The organisation `text` names first and best (helped by the domains of `emails`), with every other
    organisation it names in `matches`; None when none reaches `threshold` (0-1)."""
    accepted, cands = _match(text or "", emails, index, DEFAULT_THRESHOLD if threshold is None else threshold)
    if not accepted:
        return None
    top = accepted[0]
    mem = _memory(index)
    candidates = [
        Candidate(
            ror_id=c.ror_id,
            name=c.name,
            score=c.score,
            matched_on=c.matched_on,
            matched_text=c.matched_text,
            country=c.country,
            city=c.city,
            status=mem.orgs[c.ror_id].status,
        )
        for c in (accepted + [c for c in cands if c.ror_id not in {a.ror_id for a in accepted}])[:MAX_CANDIDATES]
    ]
    return MatchResult(**top.model_dump(), candidates=candidates, matches=accepted)
