"""Author bylines that reveal an affiliation or an institutional e-mail: `Name (KAIST)`, a footnote mark after a
name (`Name*`, `Name¹,²`, `Name1,2`) with its footnote line (`* School of ...`, `¹ School of ...`, `1 School of ...`),
`Contact: name@uni.edu`, `Name <name@uni.edu>`. Kept as hints (evidence for the agent), each quoted with exact
offsets."""

from __future__ import annotations

import re

from enrich.schemas import StatedValue

from .text import Line, stated, without_org

EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PAREN_RE = re.compile(r"(?P<name>[^|;,()]+?)\s*\((?P<aff>[^()]+)\)")
# a footnote line: a symbol or superscript mark before any text; a plain number only before a word, and only where
# an author on the work's author line carries that number (else "3 Workshop ..." would read as a footnote)
_FOOTNOTE_RE = re.compile(
    r"^(?:(?P<mark>[*†‡§]|[\u00b9\u00b2\u00b3\u2070-\u2079]{1,2})\s*(?P<aff>\S.*)|(?P<num>\d{1,2})\s*(?P<naff>[^\W\d_].*))$"
)
_SUPERSCRIPT = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", "0123456789")
_AUTHOR_MARKS_RE = re.compile(
    r"(?<=[^\W\d_.])\.?(?P<marks>(?:[\s,]*(?:[*†‡§]|[\u00b9\u00b2\u00b3\u2070-\u2079]+|\d{1,2}))+)$"
)
_MARK_RE = re.compile(r"[*†‡§]|[\u00b9\u00b2\u00b3\u2070-\u2079]+|\d+")
_CONTACT_RE = re.compile(r"^(?:Contact|E-?mail)\s*:\s*(?P<email>\S+@\S+)$", re.I)
_NAMED_EMAIL_RE = re.compile(r"^(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>$")


def is_byline_line(s: str, authors_line: str | None = None) -> bool:
    """A line of its own that is a byline, not a venue or an abstract."""
    if m := _FOOTNOTE_RE.match(s):
        return m.group("mark") is not None or m.group("num") in author_marks(authors_line or "")
    return bool(_CONTACT_RE.match(s) or _NAMED_EMAIL_RE.match(s))


def split_author_line(authors_line: str) -> list[str]:
    """An author list's names, marks and all: split at `|` or `;` where the page uses them, else at commas and "and"."""
    if "|" in authors_line or ";" in authors_line:
        return re.split(r"\s*[|;]\s*", authors_line)
    # a comma before another mark separates marks (`Ana Souza1,2, Li Wei2`), not authors
    return re.split(r",\s*(?![\d\u00b9\u00b2\u00b3\u2070-\u2079*†‡§])|\s+and\s+", authors_line)


def _mark_keys(raw: str) -> list[str]:
    """`*` -> [`*`]; `¹` / `1` -> [`1`]; `¹²` / `12` -> [`12`, `1`, `2`] (one mark 12, or marks 1 and 2: the
    footnote lines decide)."""
    keys = []
    for m in _MARK_RE.findall(raw):
        m = m.translate(_SUPERSCRIPT)
        keys.append(m)
        if len(m) == 2 and m.isdigit():
            keys.extend(m)
    return keys


def author_marks(authors_line: str) -> dict[str, list[str]]:
    """Footnote mark -> the authors that carry it, in line order (`A¹ | B¹,² | C*` -> 1: [A, B], 2: [B], *: [C])."""
    out: dict[str, list[str]] = {}
    for a in split_author_line(authors_line):
        a = without_org(a)
        if m := _AUTHOR_MARKS_RE.search(a):
            name = a[: m.start()].strip()
            for key in _mark_keys(m.group("marks")):
                if name not in out.setdefault(key, []):
                    out[key].append(name)
    return out


def footnote_authors(authors_line: str, mark: str) -> list[str | None]:
    """Whose footnote a footnote line is: the authors carrying its mark; for `*` / `†`, else the first author
    carrying either (pages mix them); else nobody known ([None])."""
    marks = author_marks(authors_line)
    found: list[str | None] = list(marks.get(mark.translate(_SUPERSCRIPT), []))
    if not found and mark in ("*", "†"):
        found = next(([marks[key][0]] for key in ("*", "†") if key in marks), [])
    return found or [None]


def line_hints(text: str, ln: Line, work_ordinal: int, authors_line: str | None = None) -> list[StatedValue]:
    """Hints from one byline line (footnote, contact, named e-mail)."""
    s = ln.text
    if m := _FOOTNOTE_RE.match(s):
        group = "aff" if m.group("mark") is not None else "naff"
        start = ln.start + m.start(group)
        return [
            stated(
                text,
                start,
                ln.end,
                {"kind": "affiliation", "text": m.group(group), "work": work_ordinal, "author": author},
            )
            for author in footnote_authors(authors_line or "", m.group("mark") or m.group("num"))
        ]
    if m := _CONTACT_RE.match(s):
        start = ln.start + m.start("email")
        return [
            stated(
                text,
                start,
                start + len(m.group("email")),
                {"kind": "email", "text": m.group("email"), "work": work_ordinal, "author": None},
            )
        ]
    if m := _NAMED_EMAIL_RE.match(s):  # the quote is the address; the name beside it says whose it is
        start = ln.start + m.start("email")
        return [
            stated(
                text,
                start,
                start + len(m.group("email")),
                {"kind": "email", "text": m.group("email"), "work": work_ordinal, "author": m.group("name").strip()},
            )
        ]
    return []


def author_line_hints(text: str, ln: Line, work_ordinal: int) -> list[StatedValue]:
    """`Name (KAIST)` inside an author list; the quote is the whole `Name (KAIST)` segment."""
    out = []
    for m in _PAREN_RE.finditer(ln.text):
        raw = m.group("name")
        if (cut := re.search(r".*\s+and\s+", raw)) is not None:  # "Lee Kim and Jonas Lindqvist (KTH)"
            raw = raw[cut.end() :]
        name = raw.strip()
        lead = len(m.group("name")) - len(raw) + len(raw) - len(raw.lstrip())
        start, end = ln.start + m.start() + lead, ln.start + m.end()
        out.append(
            stated(
                text,
                start,
                end,
                {
                    "kind": "affiliation",
                    "text": m.group("aff").strip(),
                    "work": work_ordinal,
                    "author": name.rstrip("*† "),
                },
            )
        )
    for m in EMAIL_RE.finditer(ln.text):
        start = ln.start + m.start()
        out.append(
            stated(
                text,
                start,
                start + len(m.group()),
                {"kind": "email", "text": m.group(), "work": work_ordinal, "author": None},
            )
        )
    return out
