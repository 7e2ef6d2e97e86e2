"""The header block of an author page: the name line (the first non-empty line), then optional lines such as an
affiliation ("Department of ..., University of ..., City, Country") or "Also published as: ...", up to the first
blank line or the first line that starts the publication list."""

from __future__ import annotations

import re

from enrich.agent.names import looks_like_institution
from enrich.schemas import ParsedListing

from .text import YEAR_RE, Line, stated

_ALIASES_RE = re.compile(r"^Also published as:\s*(?P<names>.+)$", re.I)
PUBS_RE = re.compile(r"^(?:Selected\s+)?Publications(?:\s*\((?P<n>\d+)\))?\s*:?$", re.I)
BRACKET_YEAR_RE = re.compile(r"^\[(?P<year>(?:19|20)\d{2})\]\s")
MARKER_RE = re.compile(r"^pdf(?:\s+bib)?(?:\s+abs)?$")


def starts_body(s: str) -> bool:
    return bool(
        YEAR_RE.match(s) or PUBS_RE.match(s) or BRACKET_YEAR_RE.match(s) or MARKER_RE.match(s) or s.startswith("Year:")
    )


def read_header(text: str, lines: list[Line], out: ParsedListing) -> int:
    """Fill name, aliases and the stated affiliation; return the index of the first body line."""
    i = 0
    while i < len(lines) and not lines[i].text:
        i += 1
    if i == len(lines):
        return i
    out.name, out.name_origin = lines[i].text, "page"
    i += 1
    while i < len(lines) and lines[i].text and not starts_body(lines[i].text):
        ln = lines[i]
        if m := _ALIASES_RE.match(ln.text):
            out.facts.setdefault("aliases", []).extend(n.strip() for n in m.group("names").split(",") if n.strip())
        elif "affiliation" not in out.stated and looks_like_institution(ln.text):
            # only a line that names an organisation is imported as the page's statement of affiliation
            out.stated["affiliation"] = stated(text, ln.start, ln.end, {"name": ln.text})
        else:
            out.hints.append(
                stated(text, ln.start, ln.end, {"kind": "header", "text": ln.text, "work": None, "author": out.name})
            )
        i += 1
    return i
