"""BZPEER researcher profile page: name, headline, affiliation slot, trust snapshot, counts, published works."""

from __future__ import annotations

import re

from enrich.schemas import ParsedListing, Work

from .text import Line, non_empty, split_lines, stated

FORMAT = "bzpeer"

_AFFIL_RE = re.compile(r"^Researcher(?P<aff>.*?)(?:Open to collaborate)?$")
_TRUST_RE = re.compile(r"^Trust\s+(?P<score>\d+)\s*-\s*(?P<label>.+?)Verification\s+(?P<level>L\d+)(?P<claim>.*)$")
_COUNT_RE = re.compile(r"^(?P<n>\d+)\s*(?P<what>works|followers|topics|close collaborators)$")
_ITEMS_RE = re.compile(r"^(?P<n>\d+) published item\(s\)$")
# "preprint2026arXiv", "journal article2024Nature" -> type, year, venue
_WORK_HEAD_RE = re.compile(r"^(?P<type>[a-z][a-z \-]*?)(?P<year>(?:19|20)\d{2})(?P<venue>\S.*)?$")
_NOT_IMPORTED = "Affiliation not imported"


def looks_like(text: str) -> bool:
    head = text[:4000]
    return "Trust snapshot" in head or ("Researcher profile" in head[:200] and "Verification L" in head)


def parse(text: str, *, name: str | None = None) -> ParsedListing:
    lines = non_empty(split_lines(text))
    out = ParsedListing(format=FORMAT, kind="person")
    texts = [ln.text for ln in lines]
    i0 = 1 if texts and texts[0] == "Researcher profile" else 0
    if i0 < len(lines):
        out.name, out.name_origin = lines[i0].text, "page"
        if i0 + 1 < len(lines) and not lines[i0 + 1].text.startswith("Researcher"):
            out.facts["headline"] = lines[i0 + 1].text
    for ln in lines:
        if (
            ln.text != "Researcher profile"
            and "open_to_collaborate" not in out.facts
            and (m := _AFFIL_RE.match(ln.text))
        ):
            aff = m.group("aff").strip()
            if aff == _NOT_IMPORTED:
                out.facts["affiliation_imported"] = False
            elif aff:
                start = ln.start + m.start("aff")
                out.stated["affiliation"] = stated(text, start, start + len(m.group("aff").rstrip()), {"name": aff})
            out.facts["open_to_collaborate"] = ln.text.endswith("Open to collaborate")
        elif m := _TRUST_RE.match(ln.text):
            out.facts.update(
                trust_score=int(m.group("score")),
                trust_label=m.group("label").strip(),
                verification_level=m.group("level"),
            )
            claim = m.group("claim").strip().lower()
            if claim:
                out.facts["claimed"] = not claim.startswith("unclaimed")
        elif m := _COUNT_RE.match(ln.text):
            out.facts.setdefault("counts", {})[m.group("what").replace(" ", "_")] = int(m.group("n"))
        elif m := _ITEMS_RE.match(ln.text):
            out.stated_work_count = int(m.group("n"))
    if out.stated_work_count is None:
        out.stated_work_count = out.facts.get("counts", {}).get("works")
    out.works = _works(text, lines)
    if name and name != out.name:
        out.warnings.append(f"--name {name!r} overrides the page's name {out.name!r}")
        out.name, out.name_origin = name, "flag:--name"
    return out


def _works(text: str, lines: list[Line]) -> list[Work]:
    try:
        first = next(i for i, ln in enumerate(lines) if ln.text == "Published work")
    except StopIteration:
        return []
    heads = [i for i in range(first + 1, len(lines)) if _WORK_HEAD_RE.match(lines[i].text) and i + 1 < len(lines)]
    works: list[Work] = []
    for k, h in enumerate(heads):
        end_i = heads[k + 1] if k + 1 < len(heads) else len(lines)
        m = _WORK_HEAD_RE.match(lines[h].text)
        assert m
        body = lines[h + 1 : end_i]
        title = body[0].text if body else None
        abstract = "\n".join(ln.text for ln in body[1:]) or None
        works.append(
            Work(
                title=title,
                year=int(m.group("year")),
                type=m.group("type").strip(),
                venue=(m.group("venue") or "").strip() or None,
                abstract=abstract,
                start=lines[h].start,
                end=lines[end_i - 1].end,
                ordinal=len(works),
            )
        )
    return works
