"""Small text helpers every parser shares: lines with their character offsets, person-name checks, stated values
whose quote is exactly the text at their offsets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from enrich.schemas import StatedValue, Work


@dataclass(frozen=True)
class Line:
    """One line of the listing, stripped; start/end are offsets of the stripped content in the full text."""

    text: str
    start: int
    end: int
    index: int


def split_lines(text: str) -> list[Line]:
    return list(_split_lines(text))


@lru_cache(maxsize=4)
def _split_lines(text: str) -> tuple[Line, ...]:
    """The format checks and then the format's parser split the same page: split once."""
    lines: list[Line] = []
    pos = 0
    for i, raw in enumerate(text.splitlines(keepends=True)):
        stripped = raw.strip()
        # an empty line starts (and ends) after its white space, as the offsets have always been
        start = pos + len(raw) - len(raw.lstrip()) if stripped else pos + len(raw.rstrip("\r\n"))
        lines.append(Line(stripped, start, start + len(stripped), i))
        pos += len(raw)
    return tuple(lines)


def blocks(lines: list[Line]) -> list[list[Line]]:
    """Runs of non-empty lines, split at blank lines (entries, paragraphs)."""
    out, cur = [], []
    for ln in lines:
        if ln.text:
            cur.append(ln)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def non_empty(lines: Iterable[Line]) -> list[Line]:
    return [ln for ln in lines if ln.text]


def stated(text: str, start: int, end: int, value: object) -> StatedValue:
    """A value the page states, quoted verbatim: text[start:end] == quote by construction."""
    return StatedValue(value=value, quote=text[start:end], start=start, end=end)


YEAR_RE = re.compile(r"^(19|20)\d{2}$")
_PARTICLES = {"van", "von", "de", "der", "den", "da", "del", "della", "di", "du", "le", "la", "bin", "al", "dos", "y"}
_NAME_TOKEN = re.compile(r"^[^\W\d_][^\W\d_'’.\-]*(?:[-'’][^\W\d_]+)*\.?$")


def looks_like_person_name(s: str, max_tokens: int = 5) -> bool:
    """'Yan Sun', 'Ian J. Barnett', 'Ting-Yun Chang', 'OneRec Team', 'S. Roy' -- not 'Deep Learning: A Review'."""
    tokens = s.split()
    if not 1 <= len(tokens) <= max_tokens:
        return False
    for tok in tokens:
        if tok in _PARTICLES:
            continue
        if not _NAME_TOKEN.match(tok) or not tok[0].isupper():
            return False
    return True


def split_pipe_authors(line: str) -> list[str]:
    """'A | B* | C (KAIST)' -> ['A', 'B', 'C'] (footnote marks and parenthesised affiliations removed)."""
    return [clean_author(a) for a in line.split("|") if clean_author(a)]


# Footnote marks after a name: symbols, superscript digits or plain numbers, one or several (`Ana Souza¹,²`,
# `Ana Souza1,2`, `Ana Souza*†`)
NAME_MARKS = re.compile(r"(?<=[^\W\d_])[\s,]*(?:[\u00b9\u00b2\u00b3\u2070-\u2079*\u2020\u2021\u00a7]|\d{1,2})[\d\s,\u00b9\u00b2\u00b3\u2070-\u2079*\u2020\u2021\u00a7]*$")  # fmt: skip


def strip_name_marks(name: str) -> str:
    return NAME_MARKS.sub("", name).strip()


def without_org(a: str) -> str:
    """An author entry without the `(Organisation)` after the name (`Lee Kim (KTH)` -> `Lee Kim`)."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", a.strip())


def clean_author(a: str) -> str:
    return strip_name_marks(without_org(a).rstrip("*† "))


def infer_subject(works: list[Work]) -> str | None:
    """The author named on most works (ties: the earliest first seen)."""
    counts: Counter[str] = Counter()
    for w in works:
        counts.update(dict.fromkeys(w.authors, 1))
    if not counts:
        return None
    return counts.most_common(1)[0][0]
