"""ACL Anthology author page: the name, then year lines, each followed by entries of title, `A | B | C` authors,
venue and abstract. Real pages copied as text may repeat the author and venue lines (the seed does), or put a
`pdf bib abs` line before each title; both are handled here (generic.py reuses `pipe_entries`)."""

from __future__ import annotations

import re

from enrich.schemas import ParsedListing, Work

from .bylines import author_line_hints, is_byline_line, line_hints
from .header import MARKER_RE, read_header
from .text import YEAR_RE, Line, split_lines, split_pipe_authors

FORMAT = "acl"
_ACL_ID_RE = re.compile(r"\b(?:\d{4}\.[a-z\-]+\.\d+|[A-Z]\d{2}-\d{4,5})\b")


def looks_like(text: str) -> bool:
    lines = [ln.text for ln in split_lines(text[:20000]) if ln.text]
    return len(lines) >= 4 and bool(YEAR_RE.match(lines[1])) and sum(" | " in s for s in lines[:12]) >= 1


def parse(text: str, *, name: str | None = None) -> ParsedListing:
    lines = split_lines(text)
    out = ParsedListing(format=FORMAT, kind="person")
    body = read_header(text, lines, out)
    pipe_entries(text, [ln for ln in lines[body:] if ln.text], out)
    if name and name != out.name:
        out.warnings.append(f"--name {name!r} overrides the page's name {out.name!r}")
        out.name, out.name_origin = name, "flag:--name"
    return out


def _is_author_line(s: str) -> bool:
    return " | " in s


def pipe_entries(text: str, lines: list[Line], out: ParsedListing) -> None:
    """Append the works of a `title / A | B / venue / abstract` list (non-empty lines only) to `out`."""
    marked = any(MARKER_RE.match(ln.text) for ln in lines)
    year: int | None = None
    starts: list[tuple[int, int | None]] = []  # (index of title line, year)
    for i, ln in enumerate(lines):
        if YEAR_RE.match(ln.text):
            year = int(ln.text)
        elif marked:
            if MARKER_RE.match(ln.text) and i + 1 < len(lines):
                starts.append((i + 1, year))
        elif (
            i + 1 < len(lines)
            and _is_author_line(lines[i + 1].text)
            and not _is_author_line(ln.text)
            and not _repeats(lines, i + 1)
            and not _repeats(lines, i)
        ):
            starts.append((i, year))
    for k, (t, yr) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        chunk = [ln for ln in lines[t:end] if not YEAR_RE.match(ln.text) and not MARKER_RE.match(ln.text)]
        if chunk:  # an entry made only of year / marker lines has no title: nothing to record
            out.works.append(_entry(text, chunk, yr, len(out.works), out))


def _repeats(lines: list[Line], i: int) -> bool:
    """The line repeats one just above it (the seed prints `authors / venue / authors / venue`)."""
    return any(lines[j].text == lines[i].text for j in range(max(0, i - 3), i))


def _entry(text: str, chunk: list[Line], year: int | None, ordinal: int, out: ParsedListing) -> Work:
    title = chunk[0]
    authors_ln = chunk[1] if len(chunk) > 1 else None
    authors = authors_ln.text if authors_ln else None
    venue: str | None = None
    abstract: list[str] = []
    bylines: list[str] = []
    seen = {title.text, authors or ""}
    if authors_ln:
        for h in author_line_hints(text, authors_ln, ordinal):
            out.hints.append(h)
            bylines.append(h.quote)
    for ln in chunk[2:]:
        if ln.text in seen:  # repeated author / venue line
            continue
        if is_byline_line(ln.text, authors):
            for h in line_hints(text, ln, ordinal, authors):
                out.hints.append(h)
            bylines.append(ln.text)
            continue
        seen.add(ln.text)
        if venue is None and not abstract:
            venue = ln.text
        else:
            abstract.append(ln.text)
    ids = {"acl": m.group()} if venue and (m := _ACL_ID_RE.search(venue)) else {}
    return Work(
        title=title.text,
        year=year,
        venue=venue,
        type=None,
        authors=split_pipe_authors(authors_ln.text) if authors_ln else [],
        abstract="\n".join(abstract) or None,
        bylines=bylines,
        ids=ids,
        start=title.start,
        end=chunk[-1].end,
        ordinal=ordinal,
    )
