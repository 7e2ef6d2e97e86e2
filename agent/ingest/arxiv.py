"""arXiv-style listing: `LGApr 7, 2023Code` (category + date [+ Code]), then title and authors run together on one
line (`...A Literature ReviewLi Shen, Yan Sun, Zhiyuan Yu et al.`), then the abstract. The page never names its
subject: the name comes from --name, else the most frequent author (marked as inferred)."""

from __future__ import annotations

import datetime as dt
import re

from enrich.schemas import ParsedListing, Work

from .text import Line, infer_subject, looks_like_person_name, non_empty, split_lines

FORMAT = "arxiv"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
HEAD_RE = re.compile(
    r"^(?P<cat>[A-Za-z][A-Za-z.\-]{0,11}?)(?P<mon>" + "|".join(_MONTHS) + r")\s(?P<day>\d{1,2})"
    r"(?:,\s(?P<year>\d{4}))?(?P<code>Code)?$"
)
_ET_AL = re.compile(r",?\s+et al\.?$")
_GLUE = re.compile(r"[a-z]{3,}[A-Z]")  # a word glued to a capital inside one token ("NeedsYan"; not "McCarthy")
_CAPS = re.compile(r"[A-Z]{2,}[a-z]")  # "RLVRTao": an acronym glued to a name is not where the name starts


def looks_like(text: str) -> bool:
    lines = non_empty(split_lines(text[:20000]))[:30]
    heads = sum(bool(HEAD_RE.match(ln.text)) for ln in lines)
    return heads >= 2 or (bool(lines) and bool(HEAD_RE.match(lines[0].text)) and len(lines) >= 3)


def split_title_authors(s: str) -> tuple[str, list[str], bool] | None:
    """Find where the title ends and the author list begins in a run-together line. The author list starts at a
    capital letter glued to the previous character, and the rest of the line must be a comma-separated list of
    person names (optionally ending "et al."). The earliest such split wins."""
    truncated = bool(_ET_AL.search(s))
    body = _ET_AL.sub("", s) if truncated else s
    for i in range(1, len(body)):
        if not body[i].isupper() or body[i - 1].isspace():
            continue
        names = [n.strip() for n in body[i:].split(",")]
        first = names[0].split()
        if (
            len(first) < 2
            or len(first) > 4
            or any(_GLUE.search(tok) for tok in first[1:])
            or any(_CAPS.search(t) for t in first)
        ):
            continue
        if all(n and looks_like_person_name(n, max_tokens=5) for n in names):
            return body[:i].strip(), names, truncated
    return None


def _iso(m: re.Match[str], today: dt.date) -> tuple[str, int]:
    year = int(m.group("year")) if m.group("year") else today.year
    month = _MONTHS.index(m.group("mon")) + 1
    return dt.date(year, month, int(m.group("day"))).isoformat(), year


def parse(text: str, *, name: str | None = None, today: dt.date | None = None) -> ParsedListing:
    today = today or dt.date.today()
    lines = non_empty(split_lines(text))
    out = ParsedListing(format=FORMAT, kind="person")
    heads = [i for i, ln in enumerate(lines) if HEAD_RE.match(ln.text)]
    for k, h in enumerate(heads):
        end_i = heads[k + 1] if k + 1 < len(heads) else len(lines)
        out.works.append(_work(lines, h, end_i, today, len(out.works), out.warnings))
    if any(not m.group("year") for h in heads if (m := HEAD_RE.match(lines[h].text))):
        out.warnings.append(f"dates without a year were read as {today.year}")
    if name:
        out.name, out.name_origin = name, "flag:--name"
    else:
        out.name = infer_subject(out.works)
        out.name_origin = "inferred:most-frequent-author" if out.name else None
    return out


def _work(lines: list[Line], h: int, end_i: int, today: dt.date, ordinal: int, warnings: list[str]) -> Work:
    m = HEAD_RE.match(lines[h].text)
    assert m
    date, year = _iso(m, today)
    title: str | None = None
    authors: list[str] = []
    truncated = False
    if h + 1 < end_i:
        split = split_title_authors(lines[h + 1].text)
        if split:
            title, authors, truncated = split
        else:
            title = lines[h + 1].text
            warnings.append(f"work {ordinal + 1}: could not separate title from authors")
    abstract = "\n".join(ln.text for ln in lines[h + 2 : end_i]) or None
    return Work(
        title=title,
        year=year,
        date=date,
        category=m.group("cat"),
        authors=authors,
        authors_truncated=truncated,
        abstract=abstract,
        ids={"code": "linked"} if m.group("code") else {},
        start=lines[h].start,
        end=lines[end_i - 1].end,
        ordinal=ordinal,
    )
