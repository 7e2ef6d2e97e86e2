"""Hugging Face daily-papers page: a paper feed, not a person. Entries are paragraphs: title, abstract, then an
optional meta block (`• N authors` or an organisation line, `·`, the date [+ upvotes])."""

from __future__ import annotations

import datetime as dt
import re

from enrich.schemas import ParsedListing, Work

from .text import Line, blocks, split_lines

FORMAT = "hf-papers"
_AUTHORS_RE = re.compile(r"^[•·\-*]?\s*(?P<n>\d+)\s+authors?$")
_DATE_RE = re.compile(r"^(?P<mon>[A-Z][a-z]{2})\s(?P<day>\d{1,2})(?:,\s(?P<year>\d{4}))?(?:\s+\d+)?$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def looks_like(text: str) -> bool:
    head = text[:3000]
    return "Daily Papers" in head or ("trending papers" in head.lower() and " authors" in text[:20000])


def _is_meta(p: list[Line]) -> bool:
    return any(ln.text == "·" for ln in p) or any(_AUTHORS_RE.match(ln.text) for ln in p)


def _date(s: str, today: dt.date) -> tuple[str | None, int | None]:
    m = _DATE_RE.match(s)
    if not m or m.group("mon") not in _MONTHS:
        return None, None
    year = int(m.group("year")) if m.group("year") else today.year
    return dt.date(year, _MONTHS.index(m.group("mon")) + 1, int(m.group("day"))).isoformat(), year


def parse(text: str, *, name: str | None = None, today: dt.date | None = None) -> ParsedListing:
    today = today or dt.date.today()
    out = ParsedListing(format=FORMAT, kind="feed")
    paras = blocks(split_lines(text))
    # the page header ends at the feed's date line ("Mar 11"); entries follow
    start = next((i + 1 for i, p in enumerate(paras) if len(p) == 1 and _DATE_RE.match(p[0].text)), 0)
    if start:
        out.facts["feed_date"] = _date(paras[start - 1][0].text, today)[0]
    i = start
    while i + 1 < len(paras):
        title_p, abstract_p = paras[i], paras[i + 1]
        if _is_meta(title_p) or _is_meta(abstract_p):
            out.warnings.append(f"skipped an unexpected block at character {title_p[0].start}")
            i += 1
            continue
        work = Work(
            title=" ".join(ln.text for ln in title_p),
            abstract="\n".join(ln.text for ln in abstract_p),
            start=title_p[0].start,
            end=abstract_p[-1].end,
            ordinal=len(out.works),
        )
        i += 2
        if i < len(paras) and _is_meta(paras[i]):
            _apply_meta(work, paras[i], today)
            i += 1
        out.works.append(Work(**{**work.model_dump(), "work_id": ""}))
    return out


def _apply_meta(work: Work, meta: list[Line], today: dt.date) -> None:
    for ln in meta:
        if m := _AUTHORS_RE.match(ln.text):
            work.author_count = int(m.group("n"))
        elif ln.text != "·":
            date, year = _date(ln.text, today)
            if date:
                work.date, work.year = date, year
            else:  # an organisation shown instead of the author count
                work.bylines.append(ln.text)
    work.end = meta[-1].end
