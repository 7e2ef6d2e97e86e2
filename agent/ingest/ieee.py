"""IEEE-Xplore-style author page: the affiliation line first, then "Abstract:" paragraphs only. The page has no
name, no titles and no years: those stay None (never invented)."""

from __future__ import annotations

from enrich.schemas import ParsedListing, Work

from .text import non_empty, split_lines, stated

FORMAT = "ieee"
_MARK = "Abstract:"


def looks_like(text: str) -> bool:
    lines = [ln.text for ln in non_empty(split_lines(text[:20000]))]
    if len(lines) < 2 or lines[0].startswith(_MARK):
        return False
    rest = lines[1:]
    return sum(ln.startswith(_MARK) for ln in rest) >= max(1, int(0.8 * len(rest)))


def parse(text: str, *, name: str | None = None) -> ParsedListing:
    lines = non_empty(split_lines(text))
    out = ParsedListing(format=FORMAT, kind="person")
    if name:
        out.name, out.name_origin = name, "flag:--name"
    if lines and not lines[0].text.startswith(_MARK):
        first = lines[0]
        out.stated["affiliation"] = stated(text, first.start, first.end, {"name": first.text})
    for ln in lines:
        if ln.text.startswith(_MARK):
            abstract = ln.text[len(_MARK) :].strip()
            out.works.append(Work(abstract=abstract or None, start=ln.start, end=ln.end, ordinal=len(out.works)))
        elif out.works:  # a wrapped abstract continues on the next line
            w = out.works[-1]
            w.abstract = f"{w.abstract}\n{ln.text}" if w.abstract else ln.text
            w.end = ln.end
    # ids come from the abstract, which may have grown; recompute them
    out.works = [Work(**{**w.model_dump(), "work_id": ""}) for w in out.works]
    return out
