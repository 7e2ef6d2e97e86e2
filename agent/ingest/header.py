"""The header block of an author page: the name line (the first non-empty line), then optional lines such as an
affiliation ("Department of ..., University of ..., City, Country") or "Also published as: ...", up to the first
blank line or the first line that starts the publication list. Which header lines state an affiliation is decided
afterwards, by the layout and the ROR index (affiliations.py); here they are kept as `header` hints."""

from __future__ import annotations

import re

from enrich.schemas import ParsedListing

from .text import YEAR_RE, Line, looks_like_person_name, stated, strip_name_marks

ALIASES_RE = re.compile(r"^Also published as:\s*(?P<names>.+)$", re.I)
PUBS_RE = re.compile(r"^(?:Selected\s+)?Publications(?:\s*\((?P<n>\d+)\))?\s*:?$", re.I)
BRACKET_YEAR_RE = re.compile(r"^\[(?P<year>(?:19|20)\d{2})\]\s")
MARKER_RE = re.compile(r"^pdf(?:\s+bib)?(?:\s+abs)?$")
_NAME_BYLINE = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<org>[^()]+)\)$")


def starts_body(s: str) -> bool:
    return bool(
        YEAR_RE.match(s) or PUBS_RE.match(s) or BRACKET_YEAR_RE.match(s) or MARKER_RE.match(s) or s.startswith("Year:")
    )


def clean_name(line: str) -> str:
    """A name line without its footnote marks (`Ana Souza¹,²`, `Ana Souza1,2`, `Ana Souza*`)."""
    return strip_name_marks(line) or line


def name_byline(line: str) -> tuple[str, str] | None:
    """`Ana Souza (Universidade X)` -> (`Ana Souza`, `Universidade X`); None for any other name line."""
    m = _NAME_BYLINE.match(line.strip())
    if m and looks_like_person_name(clean_name(m.group("name"))):
        return clean_name(m.group("name")), m.group("org").strip()
    return None


def read_header(text: str, lines: list[Line], out: ParsedListing) -> int:
    """Fill name and aliases, keep the other header lines as `header` hints; return the index of the first body
    line."""
    i = 0
    while i < len(lines) and not lines[i].text:
        i += 1
    if i == len(lines):
        return i
    byline = name_byline(lines[i].text)  # `Name (Organisation)`: the organisation is a header line of its own
    out.name, out.name_origin = byline[0] if byline else clean_name(lines[i].text), "page"
    i += 1
    while i < len(lines) and lines[i].text and not starts_body(lines[i].text):
        ln = lines[i]
        if m := ALIASES_RE.match(ln.text):
            out.facts.setdefault("aliases", []).extend(n.strip() for n in m.group("names").split(",") if n.strip())
        else:
            out.hints.append(
                stated(text, ln.start, ln.end, {"kind": "header", "text": ln.text, "work": None, "author": out.name})
            )
        i += 1
    return i
