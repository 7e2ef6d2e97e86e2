"""The ROR index held in memory for matching: every name key, acronym, place and relationship of the loaded
records, read from the store once (store/ror.py `snapshot`) and rebuilt when a new dump is loaded.

Matching thousands of strings a second needs dictionary look-ups, not a query per candidate span; building the index
costs seconds and memory once per process (bench/bench_ror.py times it).
"""

from __future__ import annotations

import json
import math
import re
import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from enrich.schemas.text import org_key
from enrich.store import ror as ror_store

# Country names as affiliation strings write them besides the English short names ROR records carry.
COUNTRY_ALIASES = {
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
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "pr china": "CN",
    "p r china": "CN",
    "peoples republic of china": "CN",
    "people s republic of china": "CN",
    "prc": "CN",
    "korea": "KR",
    "republic of korea": "KR",
    "south korea": "KR",
    "korea republic of": "KR",
    "korea south": "KR",
    "turkey": "TR",
    "turkiye": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "russia": "RU",
    "russian federation": "RU",
    "czech republic": "CZ",
    "czechia": "CZ",
    "hong kong": "HK",
    "hong kong sar": "HK",
    "macau": "MO",
    "macao": "MO",
    "uae": "AE",
    "viet nam": "VN",
    "vietnam": "VN",
    "iran": "IR",
    "islamic republic of iran": "IR",
    "brasil": "BR",
    "deutschland": "DE",
    "espana": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "osterreich": "AT",
    "belgique": "BE",
    "belgie": "BE",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "polska": "PL",
    "suomi": "FI",
    "nippon": "JP",
    "taiwan roc": "TW",
    "republic of china": "TW",
    "ivory coast": "CI",
    "cote divoire": "CI",
}
# Places that affiliation strings name with another country's name ("Hong Kong, China", "Edinburgh, UK").
COUNTRY_GROUPS = [{"CN", "HK", "MO", "TW"}, {"GB", "IE"}, {"US", "PR"}, {"FR", "RE", "GP", "MQ", "GF", "NC", "PF"}]
MAX_NAME_TOKENS = 14
_QUALIFIER = re.compile(r"^(.{3,}?)\s*\(([^()]+)\)$")
_SPLIT_MARK = re.compile(r"[,:()]|\s[-\u2013\u2014/]\s")
# The organisation-type word in the languages affiliation strings use most: "Universität Bonn" and "University of
# Bonn" share one bag of words.
TYPE_WORDS = {
    **dict.fromkeys(
        ["universitat", "universita", "universidad", "universidade", "universite", "universiteit", "universitet",
         "uniwersytet", "univerzita", "universiti", "universitas", "universitatea", "universiteti", "universitetas",
         "universitesi", "universitaet", "univerza", "sveuciliste"],
        "university",
    ),
    **dict.fromkeys(["institut", "instituto", "istituto", "instytut"], "institute"),
    **dict.fromkeys(["hopital", "ospedale", "hospitale"], "hospital"),
    **dict.fromkeys(["centre", "centro", "zentrum", "centrum"], "center"),
    **dict.fromkeys(["technische", "technischen", "tecnica", "tecnico", "technique", "technologique"], "technical"),
    **dict.fromkeys(["politecnico", "polytechnique", "politechnika", "politecnica"], "polytechnic"),
    **dict.fromkeys(["nacional", "nazionale", "nationale"], "national"),
    **dict.fromkeys(["medizinische", "medica", "medicale", "medico"], "medical"),
    **dict.fromkeys(["hospitalier", "hospitalario", "ospedaliera", "ospedaliero"], "hospital"),
    **dict.fromkeys(["universitaire", "universitario", "universitaria", "universitari", "universitair"], "university"),
}  # fmt: skip
ORG_TYPE_WORDS = {"university", "institute", "hospital", "college", "school", "center", "academy", "laboratory",
                  "laboratories", "faculty", "department", "clinic", "foundation", "society", "council", "agency",
                  "ministry", "museum", "library", "company", "corporation", "inc", "ltd", "gmbh", "observatory",
                  "polytechnic", "association", "organization", "organisation", "service", "centers",
                  *TYPE_WORDS}  # fmt: skip
BAG_STOPWORDS = {"of", "the", "and", "de", "la", "le", "des", "du", "di", "del", "der", "und", "da", "do", "dos", "en",
                 "das", "in", "at", "y", "e", "et", "zu", "degli", "della", "delle", "dello", "van", "voor", "em"}  # fmt: skip


def _expanded_acronym(value: str, key: str) -> bool:
    """An acronym the match key spells out as a word (LAB -> laboratory, UNI -> university): in a string it would
    match that word ("INSTITUTE" in capitals), so it cannot be told apart and is left out."""
    return value.isascii() and " " not in key and key != "".join(c for c in value.casefold() if c.isalnum())


def bag_key(key: str) -> str:
    """Content words of a name key, type words translated, in sorted order: word order and language of the
    organisation word do not matter."""
    words = [TYPE_WORDS.get(w, w) for w in key.split() if w not in BAG_STOPWORDS]
    if "hospital" in words and "center" in words:  # "centre hospitalier": a hospital
        words.remove("center")
    words.sort()
    return " ".join(words) if len(words) >= 2 else ""


@dataclass(slots=True)
class Org:
    ror_id: str
    name: str
    status: str
    city: str | None
    country: str | None
    country_code: str
    city_key: str
    region_key: str
    types: frozenset[str]
    release: str
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    successors: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)


class MemoryIndex:
    """Name keys -> organisations, acronyms, places, relationships and domains of one store's ROR tables."""

    def __init__(self, snap: dict[str, list[tuple]]):
        self.orgs: dict[str, Org] = {}
        place_keys: dict[str | None, str] = {None: ""}

        def place_key(value: str | None) -> str:
            key = place_keys.get(value)
            if key is None:
                key = place_keys[value] = org_key(value or "")
            return key

        for rid, name, status, city, region, country, code, types, _is_child, release in snap["orgs"]:
            self.orgs[rid] = Org(
                rid,
                name,
                status or "active",
                city,
                country,
                (code or "").upper(),
                place_key(city),
                place_key(region),
                frozenset(json.loads(types or "[]")),
                release or "unknown",
            )
        for rid, kind, related in snap["relationships"]:
            org = self.orgs.get(rid)
            if org is None or related not in self.orgs:
                continue
            if kind == "parent":
                org.parents.append(related)
            elif kind == "child":
                org.children.append(related)
            elif kind == "successor":
                org.successors.append(related)
            elif kind == "related":
                org.related.append(related)

        # key -> [(ror_id, kind)]; acronyms apart (they count only when the text writes them in capitals)
        self.names: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.acronyms: dict[str, list[tuple[str, str]]] = defaultdict(list)
        seen: set[tuple[str, str, str]] = set()
        for rid, value, kind, key in snap["names"]:
            if rid not in self.orgs or not key or (kind == "acronym" and _expanded_acronym(value, key)):
                continue
            for variant in [key, *self._variants(value, key, kind, self.orgs[rid].country)]:
                if (rid, kind, variant) not in seen:
                    seen.add((rid, kind, variant))
                    (self.acronyms if kind == "acronym" else self.names)[variant].append((rid, kind))
        self.names = dict(self.names)
        self.acronyms = dict(self.acronyms)
        # names ROR ends with the record's country ("National Heart Centre Norway"), without it: strings write
        # "National Heart Centre, Oslo, Norway", so these count for a whole segment of a string stating that country
        self.without_country: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, entries in self.names.items():
            for rid, kind in entries:
                country = place_key(self.orgs[rid].country)
                if country and key.endswith(" " + country) and not key.startswith(country + " "):
                    rest = key[: -len(country) - 1].split()
                    if rest[-1] not in BAG_STOPWORDS and sum(w not in BAG_STOPWORDS for w in rest) >= 2:
                        self.without_country[" ".join(rest)].append((rid, kind))
        self.without_country = dict(self.without_country)
        # names written with a comma, bracket or spaced dash inside ("University of California, San Diego"): only
        # these may match across one in a string, where such marks otherwise separate organisations
        self.split_names: set[str] = {
            key for _rid, value, kind, key in snap["names"] if kind != "acronym" and _SPLIT_MARK.search(value)
        }
        self.bags: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, entries in self.names.items():
            bag = bag_key(key)
            if bag:
                for entry in entries:
                    if entry not in self.bags[bag]:
                        self.bags[bag].append(entry)
        self.bags = dict(self.bags)

        # how many names hold each word: rare words single a name out, common ones ("university") do not
        df: dict[str, int] = defaultdict(int)
        for key in self.names:
            for tok in set(key.split()):
                df[tok] += 1
        self.df = dict(df)
        self.n_names = max(1, len(self.names))
        # longest name (in words) starting with each word: bounds the n-gram look-ups of a string
        self.first: dict[str, int] = {}
        self.prefixes: set[str] = set()  # every name cut after each of its words: "university", "university of"
        for key in list(self.names) + list(self.acronyms):
            toks = key.split()
            if len(toks) <= MAX_NAME_TOKENS:
                self.first[toks[0]] = max(self.first.get(toks[0], 0), len(toks))
                prefix = toks[0]
                self.prefixes.add(prefix)
                for tok in toks[1:]:
                    prefix = f"{prefix} {tok}"
                    self.prefixes.add(prefix)

        self.countries: dict[str, str] = {}
        self.cities: dict[str, set[str]] = defaultdict(set)
        self.regions: dict[str, set[str]] = defaultdict(set)
        for org in self.orgs.values():
            if org.country and org.country_code:
                self.countries.setdefault(place_key(org.country), org.country_code)
            if org.city_key:
                self.cities[org.city_key].add(org.country_code)
            if org.region_key:
                self.regions[org.region_key].add(org.country_code)
        for alias, code in COUNTRY_ALIASES.items():
            self.countries.setdefault(alias, code)
        self.cities = dict(self.cities)
        self.regions = dict(self.regions)
        self.country_codes = {code.casefold() for code in self.countries.values()}

        self.domains: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for domain, rid, source in snap["domains"]:
            if rid in self.orgs:
                self.domains[domain].append((rid, source))
        self.domains = dict(self.domains)
        self._word_index: dict[str, list[str]] | None = None
        self._deletes: dict[str, list[str]] | None = None
        self.fuzzy_cache: dict[str, tuple[float, str] | None] = {}

    @staticmethod
    def _variants(value: str, key: str, kind: str, country: str | None) -> list[str]:
        """How strings write a name ROR spells more fully: without the country ROR adds to company names
        ("Novo Nordisk (Denmark)"), without the "at"/"in" before a campus ("University of Texas at El Paso" as
        "University of Texas, El Paso"), a British hospital trust without "NHS"."""
        if kind == "acronym":
            return []
        out = []
        qualified = _QUALIFIER.match(value)
        if qualified and country and qualified.group(2).strip() == country:
            out.append(org_key(qualified.group(1)))
        words = key.split()
        if "nhs" in words[1:] and len(words) >= 4:  # "Northfield NHS Foundation Trust", "Northfield Foundation Trust"
            out.append(" ".join(w for w in words if w != "nhs"))
        if len(words) >= 4:
            for i, w in enumerate(words[2:-1], 2):
                if w in ("at", "in"):
                    out.append(" ".join(words[:i] + words[i + 1 :]))
                    break
        return [v for v in out if v and v != key]

    # ---- word weights -------------------------------------------------------------------------------------------

    def idf(self, token: str) -> float:
        return math.log((self.n_names + 1) / (self.df.get(token, 0) + 1)) + 1.0

    def is_common(self, token: str) -> bool:
        """An organisation-type word, or in more than one name in 200 (national, research): alone, such words name
        no organisation. The count needs a real index; the type words hold in a small one too."""
        return token in ORG_TYPE_WORDS or self.df.get(token, 0) > max(20, self.n_names / 200)

    def is_place(self, key: str) -> bool:
        return key in self.countries or key in self.cities or key in self.regions

    def same_country(self, a: str, b: str) -> bool:
        if a == b:
            return True
        return any(a in group and b in group for group in COUNTRY_GROUPS)

    # ---- fuzzy candidates ---------------------------------------------------------------------------------------

    def word_index(self) -> dict[str, list[str]]:
        """Rare word -> name keys holding it (built on first use: only strings no exact name matches need it)."""
        if self._word_index is None:
            index: dict[str, list[str]] = defaultdict(list)
            for key in self.names:
                for tok in set(key.split()):
                    if not self.is_common(tok) and len(tok) > 2:
                        index[tok].append(key)
            self._word_index = dict(index)
        return self._word_index

    def near_words(self, token: str) -> set[str]:
        """Rare name words within one deleted letter of `token` either way (Hamadan / Hamedan, Universtiy):
        a symmetric-delete index, built on first use."""
        if self._deletes is None:
            deletes: dict[str, list[str]] = defaultdict(list)
            for word in self.word_index():
                if len(word) >= 5:
                    for i in range(len(word)):
                        deletes[word[:i] + word[i + 1 :]].append(word)
            self._deletes = dict(deletes)
        if token in self.word_index() or len(token) < 5:
            return {token}  # a known word: its misspellings are other names' words, not this one's
        found: set[str] = set()
        found.update(self._deletes.get(token, ()))
        for i in range(len(token)):
            shorter = token[:i] + token[i + 1 :]
            if shorter in self.word_index():
                found.add(shorter)
            found.update(self._deletes.get(shorter, ()))
        return found


_BY_OBJECT: weakref.WeakKeyDictionary[Any, tuple[int, MemoryIndex]] = weakref.WeakKeyDictionary()
_BY_FILE: dict[str, tuple[int, MemoryIndex]] = {}
_LOCK = threading.Lock()


def memory_index(db: Any) -> MemoryIndex:
    """One index per database file (threads of a job each open their own connection: they share it), rebuilt when
    a dump has been loaded since it was built; an in-memory database keeps its own."""
    generation = ror_store.last_import_id(db)
    path = ror_store.database_file(db)
    with _LOCK:
        cached = _BY_FILE.get(path) if path else _BY_OBJECT.get(db)
        if cached is None or cached[0] != generation:
            cached = (generation, MemoryIndex(ror_store.snapshot(db)))
            if path:
                _BY_FILE[path] = cached
            else:
                _BY_OBJECT[db] = cached
    return cached[1]
