"""Text normalisation: the one place that decides when two strings count as "the same" text.

Every comparison of titles, quotes, organisation names or sentences goes through one of these keys, so indexing and
lookup (or the two sides of a comparison) always agree. It sits in schemas/ -- the bottom layer, pure functions, no
I/O -- because work ids (schemas), the ROR index (store) and the matchers (agent) all key on it. Person names have
their own matcher built on these keys: enrich.agent.names.

Which key answers which question:
- `norm_space`: the same text as printed, ignoring line wrapping and compatibility characters (display-safe).
- `fold`: the same text ignoring case too (is this quote / title / name written in that page?).
- `word_key`: the same words, punctuation ignored, Unicode letters kept: the basis of work ids (stored: never change
  what it returns for a given input, or every work id changes).
- `ascii_key`: the same words with accents folded to ASCII: one paper's title or abstract as two pages print it, a
  sentence copied from an abstract.
- `org_key`: the same organisation name: `ascii_key`-like but letters outside ASCII survive (CJK names), `&` spelled
  out, common abbreviations expanded, a leading "the" dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"\W+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)

# Abbreviations folded into the organisation key on both sides (dump names and affiliation strings).
ORG_ABBREVIATIONS = {
    "univ": "university",
    "uni": "university",
    "inst": "institute",
    "natl": "national",
    "nat": "national",
    "tech": "technology",
    "techn": "technology",
    "dept": "department",
    "sci": "science",
    "acad": "academy",
    "coll": "college",
    "intl": "international",
    "lab": "laboratory",
    "labs": "laboratories",
    "ctr": "center",
    "centre": "center",
    "res": "research",
    "st": "saint",
    "chu": "center hospitalier universitaire",  # French university hospitals: "CHU Rouen"
}
# Letters NFKD does not take apart and whose Unicode name gives no base letter (Turkish dotless i, ae, eth, thorn,
# oe), folded after casefold; letters with a stroke, hook or tail (ł, ø, đ, ħ, ʂ) go to their base letter by name
# (_latin_base). So "Acibadem" finds "Acıbadem" and "Lodz" finds "Łódź".
_ORG_FOLD = str.maketrans({"ı": "i", "æ": "ae", "ð": "d", "þ": "th", "œ": "oe"})


def norm_space(text: str) -> str:
    """NFKC, runs of white space as one space, stripped."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def fold(text: str) -> str:
    """`norm_space`, case-folded."""
    return norm_space(text).casefold()


def word_key(text: str) -> str:
    """NFKC, case-folded, runs of non-word characters as one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def ascii_key(text: str | None) -> str:
    """Accents folded to ASCII (other letters dropped), lower case, runs of anything but [a-z0-9] as one space."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub(" ", text).strip()


_LATIN_BASE = re.compile(r"LATIN (?:SMALL|CAPITAL) LETTER ([A-Z]) WITH ")


@lru_cache(maxsize=1024)
def _latin_base(ch: str) -> str:
    """The base letter of a Latin letter with a hook, stroke or tail that NFKD keeps whole (`ʂ` -> `s`, `ƒ` ->
    `f`): strings carry such lookalikes where the name has an ordinary accented letter."""
    m = _LATIN_BASE.match(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else ch


def org_key(text: str) -> str:
    """The match key of an organisation name: case-folded, accents stripped, punctuation dropped, `&` spelled out,
    common abbreviations expanded, a leading "the" dropped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.casefold().translate(_ORG_FOLD))
        text = "".join(ch if ch.isascii() else _latin_base(ch) for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = _PUNCT.sub(" ", text).replace("_", " ")
    words = [ORG_ABBREVIATIONS.get(w, w) for w in _SPACES.split(text.strip()) if w]
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)
