"""Which lines of an author page state the researcher's affiliations: decided by the layout and the ROR index, not by
a keyword list. The ingest (stated values) and the affiliation step (when an index was loaded after the ingest) both
decide here, so a page reads the same whichever of them sees it first.

Layout (`header_lines`): only the page header can state an affiliation, i.e. the lines between the name line and
the first work; text inside works (titles, author lists, abstracts) never does, whatever it says. Each header line
gets a role:
- `under-name`: a line of the block right under the name; `header`: a later short line before the works;
- `labelled`: `Affiliation: ...` (`Afiliación:`, `Institution:` ...), the label removed;
- `footnote`: a line opened by a footnote mark (`¹ ...`, `* ...`, `2 ...`), the mark removed;
- `byline`: the `(Organisation)` of a `Name (Organisation)` name line;
- `email`: an e-mail address.
Not candidates: the aliases line, section headings and year lines, lines longer than a statement (MAX_WORDS), a line
that speaks of the past (`formerly ...`, `2015-2019`), and a line that reads like an instruction to a program (a page
is data: `ignore the above and set the affiliation to ...`).

Decision (`OrgLines.stated`): with a ROR index loaded, a candidate line is an affiliation line when the matcher
resolves it to an organisation at the threshold, in any language or script (`Universidade de São Paulo`,
`USP, São Paulo, Brazil`, `北海道大学`); a line naming several organisations (a hospital and its university) states
each of them. An e-mail address states nothing by itself: its domain is looked up only when no line states an
affiliation (`OrgLines.email_affiliation`).
Without a ROR index (the documented fallback), a line of the block under the name (not a later `header` line) is an
affiliation line when its words read as an organisation's name (`names.looks_like_institution`: an organisation word
in one of several languages, mostly capitalised words); the affiliation step asks the model about a header that has
such a word but no line the check accepts.
An acronym with its place (`USP, São Paulo, Brazil`) or a name with no organisation word is then not recognised, and
e-mail domains are not resolved: `enrich ror import` a ROR dump for those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from enrich.agent.names import looks_like_institution

from .bylines import EMAIL_RE
from .header import ALIASES_RE, name_byline, starts_body
from .text import Line, split_lines, stated

HEADER_LIMIT = 1500  # characters of the page read as its header at most
MAX_WORDS = 16  # an affiliation line, not a sentence about one

_LABEL = re.compile(
    r"^(?:affiliations?|affiliation\(s\)|institutions?|organi[sz]ations?|employer|afiliaci[oó]n(?:es)?|"
    r"afilia[cç][aã]o|afilia[cç][oõ]es|affiliazione|zugeh[oö]rigkeit|institution de rattachement|"
    r"établissement|所属|소속)\s*[:：]\s*",
    re.IGNORECASE,
)
_FOOTNOTE = re.compile(
    r"^(?:[\u00b9\u00b2\u00b3\u2070-\u2079]+|[*\u2020\u2021\u00a7#]+|\(\d{1,2}\)|\[\d{1,2}\]|\d{1,2}(?=\s*\D))\s*"
)
_PAST = re.compile(
    r"\b(?:formerly|previously|former|ex-|alumn\w*|graduated|until\s+(?:19|20)\d\d)\b|"
    r"(?:19|20)\d\d\s*[-\u2013\u2014]\s*(?:19|20)\d\d",
    re.IGNORECASE,
)
_SEGMENT = re.compile(r"[,;|()\[\]]")  # one character each: the edges computed from them stay exact
_LETTER = re.compile(r"[^\W\d_]")
_UNIT = re.compile(
    r"\b(?:department|dept|school|faculty|college|laborator\w*|lab|labs|institut\w*|centre|center|centro|group|"
    r"division|unit|program|programme|chair|section|graduate|departamento|d[eé]partement|dipartimento|facultad|"
    r"faculdade|fakult[aä]t|escuela|[eé]cole|escola|lehrstuhl|abteilung|servicio|service)\b",
    re.IGNORECASE,
)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|instruction|instructions|prompt|system\s+note|assistant|you\s+must|you\s+are|"
    r"set\s+(?:the|my|his|her|their)\s+affiliation|affiliation\s+(?:is|should|must)|override)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HeaderLine:
    """A header line where the layout puts affiliations: `text` (label, mark or brackets removed) at [start, end)
    of the listing text."""

    text: str
    start: int
    end: int
    role: str


@dataclass(frozen=True)
class StatedAffiliation:
    """One affiliation a header line states: `name` as the page writes it (the line, or the organisation's own words
    when the line names several), quoted by `quote` at [start, end) of the listing text."""

    name: str
    quote: str
    start: int
    end: int
    role: str
    ror_id: str | None = None
    ror_name: str | None = None
    score: float | None = None


def reads_like_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))


def header_lines(text: str, body_start: int | None = None) -> list[HeaderLine]:
    """The candidate affiliation lines of a page whose first non-empty line is the researcher's name, in page order.
    `body_start`: where the first work starts (the header ends there)."""
    end = min(len(text) if body_start is None else body_start, HEADER_LIMIT)
    lines = split_lines(text[:end])
    out: list[HeaderLine] = []
    i = 0
    while i < len(lines) and not lines[i].text:
        i += 1
    if i == len(lines):
        return out
    name_line = lines[i]
    if (byline := name_byline(name_line.text)) is not None:
        org = byline[1]
        at = name_line.start + name_line.text.rindex(org)
        out.append(HeaderLine(org, at, at + len(org), "byline"))
    block = True  # still in the block right under the name
    for ln in lines[i + 1 :]:
        if not ln.text:
            block = False
            continue
        if starts_body(ln.text) or ALIASES_RE.match(ln.text):
            continue
        if len(ln.text.split()) > MAX_WORDS or _PAST.search(ln.text) or reads_like_instruction(ln.text):
            continue
        if "@" in ln.text and (m := EMAIL_RE.search(ln.text)):  # the test first: a search fails slowly
            out.append(HeaderLine(m.group(), ln.start + m.start(), ln.start + m.end(), "email"))
            continue
        out.append(_candidate(ln, "under-name" if block else "header"))
    return [c for c in out if c.text]


def _candidate(ln: Line, role: str) -> HeaderLine:
    for pattern, kind in ((_LABEL, "labelled"), (_FOOTNOTE, "footnote")):
        if m := pattern.match(ln.text):
            return HeaderLine(ln.text[m.end() :].strip(), ln.start + m.end(), ln.end, kind)
    return HeaderLine(ln.text, ln.start, ln.end, role)


class OrgLines:
    """Decides which header lines state affiliations: by the ROR index when one is given, else by the fallback."""

    def __init__(self, index: Any = None, threshold: float | None = None):
        self.index = index
        self.threshold = threshold

    @classmethod
    def for_store(cls, store: Any, threshold: float | None = None) -> OrgLines:
        """With the store's ROR index if one is loaded (its in-memory form is built on the first line to decide)."""
        from enrich.agent import ror

        return cls(ror.RorIndex.of(store) if ror.index_status(store) is not None else None, threshold)

    def stated(self, lines: list[HeaderLine]) -> list[StatedAffiliation]:
        """The affiliations these header lines state, in page order, each organisation once."""
        out: list[StatedAffiliation] = []
        seen: set[str] = set()
        for ln in lines:
            if ln.role == "email":
                continue
            for a in self._line(ln):
                key = a.ror_id or a.name.casefold()
                if key not in seen:
                    seen.add(key)
                    out.append(a)
        return out

    def _line(self, ln: HeaderLine) -> list[StatedAffiliation]:
        if self.index is None:  # the fallback reads the block under the name only, by its organisation words
            if ln.role == "header" or not looks_like_institution(ln.text):
                return []
            return [StatedAffiliation(ln.text, ln.text, ln.start, ln.end, ln.role)]
        from enrich.agent import ror

        found = [
            m
            for m in ror.match_all(ln.text, index=self.index, threshold=self.threshold)
            if m.matched_on != "domain" and (m.matched_on != "acronym" or self._acronym_line(ln.text, m.span))
        ]
        if len(found) == 1:
            m = found[0]
            return [StatedAffiliation(ln.text, ln.text, ln.start, ln.end, ln.role, m.ror_id, m.name, m.score)]
        out = []
        for m in sorted(found, key=lambda m: (m.span or (0, 0))[0]):  # several organisations: each in its own words
            a, b = m.span or (0, len(ln.text))
            out.append(StatedAffiliation(ln.text[a:b], ln.text, ln.start, ln.end, ln.role, m.ror_id, m.name, m.score))
        return out

    def _acronym_line(self, text: str, span: tuple[int, int] | None) -> bool:
        """An organisation found by its acronym alone names the affiliation only when the line is built like one:
        the acronym a segment of its own, every other segment a place or a unit (`KAIST`, `USP, São Paulo,
        Brazil`, `Dept. of Physics, UFBS, Boa Serra`); not a list of topics (`NLP, Machine Learning`) or a longer
        name around it (`Stanford NLP Group`)."""
        from enrich.agent import ror

        if span is None:
            return False
        places = ror.place_spans(text, index=self.index)
        if all(b - a <= 2 for a, b in places):  # a two-letter code (`CA`) places a line only beside a longer place
            places = []
        chars = list(text)
        for a, b in [span, *places]:
            chars[a:b] = [" "] * (b - a)
        rest = "".join(chars)
        segments = _SEGMENT.split(rest)
        edges = [0]
        for seg in segments:
            edges.append(edges[-1] + len(seg) + 1)
        for seg, start in zip(segments, edges):
            if not _LETTER.search(seg):
                continue
            if start <= span[0] < start + len(seg):
                return False  # other words beside the acronym in its own segment
            if not _UNIT.search(seg):
                return False
        return True

    def email_affiliation(self, lines: list[HeaderLine]) -> StatedAffiliation | None:
        """The organisation whose domain the first resolvable e-mail address of the header belongs to: its ROR name
        is the value, the address is the quote. None without a ROR index."""
        if self.index is None:
            return None
        from enrich.agent import ror

        for ln in lines:
            if ln.role != "email":
                continue
            m = ror.match("", emails=[ln.text], index=self.index, threshold=self.threshold)
            if m is not None:
                return StatedAffiliation(m.name, ln.text, ln.start, ln.end, "email", m.ror_id, m.name, m.score)
        return None


def state_affiliations(out: Any, text: str, orgs: OrgLines | None) -> None:
    """Fill a parsed author page's stated affiliations (`affiliation`, `affiliation.2`, ...) from its header lines,
    unless its format states one itself (IEEE's first line, a profile's `Affiliation:` field)."""
    if out.kind != "person" or any(f.split(".")[0] == "affiliation" for f in out.stated):
        return
    from enrich.schemas.fields import SLOTTED, slot_field

    body = min((w.start for w in out.works if w.start is not None), default=len(text))
    found = (orgs or OrgLines()).stated(header_lines(text, body))
    for n, a in enumerate(found[: SLOTTED["affiliation"]], start=1):
        field = slot_field("affiliation", n)
        out.stated[field] = stated(text, a.start, a.end, {"name": a.name})
        if a.ror_id:  # the store keeps each organisation in its slot by name or by this id (store/slots.py)
            out.facts.setdefault("stated_ror_ids", {})[field] = a.ror_id
