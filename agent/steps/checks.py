"""Deterministic grounding checks. Model output is never trusted: each check here can reject it.

They are plain functions so the steps' pydantic validators (which instructor turns into re-asks) and the tests
share one implementation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from enrich.schemas.text import fold, norm_space

# Organisation-name checks live with the other name matching (agent/names.py); importable from here too.
from ..names import looks_like_institution, mentions_institution  # noqa: F401


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, (str, int)) else v


# The numbers (1..n) of listed works an answer cites; a lone number is accepted as a list of one.
WorkNumbers = Annotated[list[int], BeforeValidator(_listify)]

# Words a small model leaks from the request scaffolding into prose.
LEAK_WORDS = re.compile(
    r"\b(json|schema|response_model|pydantic|instructor|function call|tool call|"
    r"work ids?|W[0-9a-f]{10})\b",
    re.IGNORECASE,
)
NULLISH = {"", "null", "none", "n/a", "na", "unknown", "not specified", "not stated", "not available", "-"}


def is_nullish(value: str | None) -> bool:
    return value is None or norm_space(value).strip(" .\"'").casefold() in NULLISH


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Offsets of `quote` in `text`: exact first, then tolerant of runs of white space (pages wrap lines)."""
    if not quote:
        return None
    i = text.find(quote)
    if i >= 0:
        return i, i + len(quote)
    pattern = r"\s+".join(re.escape(p) for p in quote.split())
    if not pattern:
        return None
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


def within(span: tuple[int, int], regions: list[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in regions)


def name_in_quote(name: str, quote: str) -> bool:
    """The answer must be (a normalised part of) the quote, not a model's paraphrase."""
    a, b = fold(name), fold(quote)
    return bool(a) and a in b


_NUM = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?")
_CAP = re.compile(r"\b[A-Z][\w\-]*[A-Z0-9][\w\-]*\b|\b[A-Z][a-z]+\b")
_COMMON = set(
    """A An The This These That Those It Its In On Of For And Or But With By From To As At Their They Our We He
She His Her Also Such Both Each Many Most Some Several Other Others New Recent Recently Overall However Together Work
Works Research Researcher Their Across Into Using Through While When Where Which Who Whose How Why What Besides Beyond
Further Furthermore Moreover Additionally Finally First Second Third Then Thus Here There Its Among Within Without
Large Small Deep Machine Language Learning Models Model Data Neural Networks Network""".split()
)


def ungrounded_tokens(sentence: str, sources: str, allowed: str = "") -> list[str]:
    """Numbers and capitalised names in `sentence` that appear neither in the cited works nor in `allowed`."""
    haystack = (sources + " " + allowed).casefold()
    bad = []
    for m in _NUM.finditer(sentence):
        if m.group(0).casefold() not in haystack:
            bad.append(m.group(0))
    first_word = True
    for m in _CAP.finditer(sentence):
        tok = m.group(0)
        starts_sentence = first_word and m.start() < 2
        first_word = False
        if starts_sentence or tok in _COMMON:
            continue
        # a hyphenated name counts as found when each capitalised part is ("English-to-French": "English-to- French")
        parts = [p for p in tok.split("-") if p[:1].isupper()] if "-" in tok else [tok]
        if any(p.casefold() not in haystack for p in parts or [tok]):
            bad.append(tok)
    return bad
