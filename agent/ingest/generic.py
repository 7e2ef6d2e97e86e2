"""One parser for the author-page layouts users bring (rather than one per site). After the header block (see
header.py) the body is one of:
- `[2020] A, B and C. Title. Venue. ACL Anthology 2020.emnlp-main.101.` lines, each optionally followed by an
  indented `Abstract: ...` line ("bracket-year");
- blank-line separated blocks under `Publications (N)`: title / `A; B; C` / venue / `Year: 2020 | Conference Paper |
  ACL Anthology X` / `Abstract: ...` ("year-blocks");
- ACL-style entries with `pdf bib abs` lines and year groups ("acl-entries", parsed by acl.pipe_entries).
Bylines (`Name (KAIST)`, `Name*` + `* School of ...`, `Contact: name@uni.edu`, `Name <name@uni.edu>`) become hints."""

from __future__ import annotations

import re
from functools import lru_cache

from enrich.schemas import ParsedListing, Work

from .acl import pipe_entries
from .bylines import author_line_hints, is_byline_line, line_hints, split_author_line
from .header import BRACKET_YEAR_RE, MARKER_RE, PUBS_RE, read_header
from .text import Line, clean_author, split_lines
from .text import blocks as text_blocks

FORMAT = "generic"
_YEAR_LINE_RE = re.compile(r"^Year:\s*(?P<year>\d{4})(?P<rest>(?:\s*\|\s*[^|]+)*)$")
_ANTHOLOGY_RE = re.compile(r"\s*\.?\s*ACL Anthology\s+(?P<id>[\w.\-]+?)\.?$")
_ABSTRACT_RE = re.compile(r"^Abstract:\s*")
# an author list ends at the first ". " not preceded by a lone initial ("Frank F. Xu")
_AUTHORS_END_RE = re.compile(r"(?<!\b[A-Z])\.\s+")


@lru_cache(maxsize=4)  # the format check and then the parser ask for the same page
def layout(text: str) -> str | None:
    lines = [ln.text for ln in split_lines(text[:200000]) if ln.text]
    if any(MARKER_RE.match(s) for s in lines):
        return "acl-entries"
    if any(_YEAR_LINE_RE.match(s) for s in lines) or any(PUBS_RE.match(s) and "(" in s for s in lines[:10]):
        return "year-blocks"
    if sum(bool(BRACKET_YEAR_RE.match(s)) for s in lines) >= 1:
        return "bracket-year"
    return None


def looks_like(text: str) -> bool:
    return layout(text) is not None


def parse(text: str, *, name: str | None = None) -> ParsedListing:
    lines = split_lines(text)
    out = ParsedListing(format=FORMAT, kind="person")
    body = read_header(text, lines, out)
    kind = layout(text)
    out.facts["layout"] = kind
    for ln in [ln for ln in lines[body:] if ln.text][:5]:  # "Publications (N)" heads the list
        if (m := PUBS_RE.match(ln.text)) and m.group("n"):
            out.stated_work_count = int(m.group("n"))
            break
    rest = lines[body:]
    if kind == "acl-entries":
        pipe_entries(text, [ln for ln in rest if ln.text], out)
    elif kind == "year-blocks":
        blocks = text_blocks(rest)
        pubs = next((i for i, b in enumerate(blocks) if PUBS_RE.match(b[0].text)), -1)
        for i, block in enumerate(blocks):
            if i < pubs or (len(block) == 1 and not _YEAR_LINE_RE.match(block[0].text)):
                # prose before the publication list ("Jane Doe works on ..."): not a work, not an affiliation
                if not PUBS_RE.match(block[0].text):
                    out.facts.setdefault("about", []).append(" ".join(ln.text for ln in block))
            elif i != pubs:
                out.works.append(_year_block(text, block, len(out.works), out))
    elif kind == "bracket-year":
        _bracket_entries(text, rest, out)
    if name and name != out.name:
        out.warnings.append(f"--name {name!r} overrides the page's name {out.name!r}")
        out.name, out.name_origin = name, "flag:--name"
    return out


def _split_list(s: str, sep: str) -> list[str]:
    return [a for a in (clean_author(x) for x in s.split(sep)) if a]


def _year_block(text: str, block: list[Line], ordinal: int, out: ParsedListing) -> Work:
    title = block[0]
    authors_ln = block[1] if len(block) > 1 else None
    authors = authors_ln.text if authors_ln else None
    year = type_ = venue = abstract = None
    ids: dict[str, str] = {}
    bylines: list[str] = []
    if authors_ln:
        for h in author_line_hints(text, authors_ln, ordinal):
            out.hints.append(h)
            bylines.append(h.quote)
    for ln in block[2:]:
        if m := _YEAR_LINE_RE.match(ln.text):
            year = int(m.group("year"))
            parts = [p.strip() for p in m.group("rest").split("|") if p.strip()]
            for p in parts:
                if p.startswith("ACL Anthology"):
                    ids["acl"] = p.removeprefix("ACL Anthology").strip()
                elif type_ is None:
                    type_ = p
        elif _ABSTRACT_RE.match(ln.text):
            abstract = _ABSTRACT_RE.sub("", ln.text)
        elif is_byline_line(ln.text, authors):
            out.hints.extend(line_hints(text, ln, ordinal, authors))
            bylines.append(ln.text)
        elif abstract is not None:
            abstract += "\n" + ln.text
        elif venue is None:
            venue = ln.text
    return Work(
        title=title.text,
        year=year,
        type=type_,
        venue=venue,
        ids=ids,
        abstract=abstract,
        authors=_split_list(authors_ln.text, ";") if authors_ln else [],
        bylines=bylines,
        start=title.start,
        end=block[-1].end,
        ordinal=ordinal,
    )


def _bracket_entries(text: str, lines: list[Line], out: ParsedListing) -> None:
    work: Work | None = None
    authors_s = ""
    for ln in lines:
        if m := BRACKET_YEAR_RE.match(ln.text):
            work, authors_s = _bracket_line(text, ln, int(m.group("year")), len(out.works), out)
            out.works.append(work)
        elif work is not None and ln.text:
            if _ABSTRACT_RE.match(ln.text):
                work.abstract = _ABSTRACT_RE.sub("", ln.text)
            elif is_byline_line(ln.text, authors_s):
                out.hints.extend(line_hints(text, ln, work.ordinal, authors_s))
                work.bylines.append(ln.text)
            elif work.abstract is not None:
                work.abstract += "\n" + ln.text
            else:
                continue
            work.end = ln.end


def _bracket_line(text: str, ln: Line, year: int, ordinal: int, out: ParsedListing) -> tuple[Work, str]:
    """The entry of one `[2020] A, B and C. Title. Venue.` line, and its author list as written."""
    s = BRACKET_YEAR_RE.sub("", ln.text)
    ids: dict[str, str] = {}
    if m := _ANTHOLOGY_RE.search(s):
        ids["acl"] = m.group("id")
        s = s[: m.start()]
    s = s.rstrip(". ")
    m = _AUTHORS_END_RE.search(s)
    authors_s, rest = (s[: m.start()], s[m.end() :]) if m else ("", s)
    # the venue is the last ". "-separated segment; the title is everything between
    title, _, venue = rest.rpartition(". ")
    if not title:
        title, venue = venue, ""
    authors = [a for a in (clean_author(x) for x in split_author_line(authors_s)) if a]
    bylines: list[str] = []
    offset = ln.start + ln.text.index(authors_s) if authors_s else ln.start
    for h in author_line_hints(text, Line(authors_s, offset, offset + len(authors_s), ln.index), ordinal):
        out.hints.append(h)
        bylines.append(h.quote)
    return Work(
        title=title.strip() or None,
        year=year,
        venue=venue.strip() or None,
        authors=authors,
        ids=ids,
        bylines=bylines,
        start=ln.start,
        end=ln.end,
        ordinal=ordinal,
    ), authors_s
