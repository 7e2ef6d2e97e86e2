"""Author bylines that reveal an affiliation or an institutional e-mail: `Name (KAIST)`, `Name*` with a
`* School of ...` footnote, `Contact: name@uni.edu`, `Name <name@uni.edu>`. Kept as hints (evidence for the agent),
each quoted with exact offsets."""

from __future__ import annotations

import re

from enrich.schemas import StatedValue

from .text import Line, stated

EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PAREN_RE = re.compile(r"(?P<name>[^|;,()]+?)\s*\((?P<aff>[^()]+)\)")
_FOOTNOTE_RE = re.compile(r"^[*†]\s*(?P<aff>\S.*)$")
_CONTACT_RE = re.compile(r"^(?:Contact|E-?mail)\s*:\s*(?P<email>\S+@\S+)$", re.I)
_NAMED_EMAIL_RE = re.compile(r"^(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>$")


def is_byline_line(s: str) -> bool:
    """A line of its own that is a byline, not a venue or an abstract."""
    return bool(_FOOTNOTE_RE.match(s) or _CONTACT_RE.match(s) or _NAMED_EMAIL_RE.match(s))


def starred_author(authors_line: str) -> str | None:
    for a in re.split(r"\s*[|;]\s*|,\s*|\s+and\s+", authors_line):
        if a.strip().endswith(("*", "†")):
            return a.strip().rstrip("*† ")
    return None


def line_hints(text: str, ln: Line, work_ordinal: int, authors_line: str | None = None) -> list[StatedValue]:
    """Hints from one byline line (footnote, contact, named e-mail)."""
    s = ln.text
    if m := _FOOTNOTE_RE.match(s):
        start = ln.start + m.start("aff")
        return [
            stated(
                text,
                start,
                ln.end,
                {
                    "kind": "affiliation",
                    "text": m.group("aff"),
                    "work": work_ordinal,
                    "author": starred_author(authors_line or ""),
                },
            )
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
