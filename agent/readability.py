"""How hard a text is to read: the Flesch-Kincaid grade level and the acronyms it leaves unexplained.

Syllables come from pyphen's hyphenation dictionary (textstat >= 0.7.10 would download nltk's CMU dictionary at run
time, which an offline tool cannot do); the grade is the standard formula
0.39 x words per sentence + 11.8 x syllables per word - 15.59.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pyphen

from enrich.agent.sentences import split_sentences

_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)?")
_ACRONYM = re.compile(r"\b[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*\b")  # NLP, UCCA, BERT, GPT2, LLMs, SemEval


@cache
def _dic() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


@lru_cache(maxsize=16384)  # a pure function of the word, and words repeat
def syllables(word: str) -> int:
    w = word.casefold()
    n = len(_dic().positions(w)) + 1
    if n == 1 and len(w) > 3:  # words the dictionary cannot hyphenate: count vowel groups
        n = max(1, len(re.findall(r"[aeiouy]+", w)) - (1 if w.endswith("e") and not w.endswith("le") else 0))
    return n


def fk_grade(text: str, sentences: int | None = None) -> float | None:
    """`sentences`: the text's number of sentences when the caller has them already (a summary's sentences were
    split and checked one by one: splitting the joined text again cost a fifth of collecting a bulk answer)."""
    words = _WORD.findall(text or "")
    if not words:
        return None
    n_sent = max(1, sentences if sentences is not None else len(split_sentences(text)))
    syl = sum(syllables(w) for w in words)
    return round(0.39 * len(words) / n_sent + 11.8 * syl / len(words) - 15.59, 1)


def acronyms(text: str) -> tuple[list[str], list[str]]:
    """(all acronyms, the unexplained ones). An acronym is explained when the text spells it out next to it,
    "Universal Dependencies (UD)" or "UD (Universal Dependencies)", the spelled-out words starting with its letters."""
    found = list(dict.fromkeys(m.group(0) for m in _ACRONYM.finditer(text or "")))
    unexplained = []
    for acro in found:
        caps = re.sub(r"[^A-Z]", "", acro)
        if not _explained(text, acro, caps):
            unexplained.append(acro)
    return found, unexplained


def _explained(text: str, acro: str, caps: str) -> bool:
    if "(" not in text:  # both forms put one of them in parentheses
        return False
    esc = re.escape(acro)
    span = len(caps) + 3
    before = re.search(r"((?:[\w\-]+\s+){1," + str(span) + r"})\(\s*" + esc + r"\s*\)", text)
    after = re.search(esc + r"\s*\(([^)]{3,120})\)", text)
    for m in (before, after):
        if m and _initials_match(m.group(1), caps):
            return True
    return False


def _initials_match(phrase: str, caps: str) -> bool:
    initials = "".join(w[0] for w in re.split(r"[\s\-]+", phrase.strip()) if w and w[0].isalpha()).upper()
    return caps[:1] in initials and all(c in initials for c in caps)


def readability(text: str, sentences: int | None = None) -> dict:
    found, unexplained = acronyms(text)
    return {"grade": fk_grade(text, sentences), "acronyms": len(found), "unexplained_acronyms": len(unexplained)}
