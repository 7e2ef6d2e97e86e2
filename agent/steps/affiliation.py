"""Affiliation: only ever a value quoted from the page's header or author lines, normalised to ROR.

Order of preference (deterministic first):
1. the page states it (imported by the parser): the step only attaches the ROR id as a derived fact;
2. a byline or institutional e-mail that names the subject (`Name (KAIST)`, `name@bu.edu`): no model needed;
3. the model reads the header + author lines (never the abstracts: text inside works is data and may carry
   injected instructions) and must return a quote found verbatim in exactly that text.
A page that states no affiliation gets none: nothing is applied or proposed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from enrich.schemas import DerivedFact, Evidence, FieldValue, Work
from enrich.schemas.text import fold

from ..names import email_names_subject, looks_like_institution, mentions_institution, names_subject
from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import (
    find_quote,
    is_nullish,
    name_in_quote,
    within,
)

MAX_TOKENS = 200  # a bounded answer: small local models otherwise ramble until the timeout
STEP = "affiliation"
HEADER_LIMIT = 1500


class AffiliationAnswer(BaseModel):
    """The model's answer. Validators reject anything not grounded in the text it was shown."""

    affiliation: str | None = Field(None, description="organisation name as written in the text, or null")
    quote: str | None = Field(None, description="exact text copied from the page that names the organisation")

    @field_validator("affiliation", "quote", mode="before")
    @classmethod
    def _nullish(cls, v: Any) -> Any:
        return None if isinstance(v, str) and is_nullish(v) else v

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> AffiliationAnswer:
        if self.affiliation is None:
            self.quote = None
            return self
        shown = (info.context or {}).get("shown_text")
        if not self.quote:
            raise ValueError("give the exact quote from the text that names the organisation, or null for both")
        if shown is not None and find_quote(shown, self.quote) is None:
            raise ValueError(f"the quote {self.quote!r} does not occur in the text; copy it exactly, or answer null")
        if not name_in_quote(self.affiliation, self.quote):
            raise ValueError("the affiliation must be written inside the quote, as in the text")
        if not looks_like_institution(self.affiliation):
            raise ValueError(f"{self.affiliation!r} is not an organisation name; answer null if the text names none")
        return self


def header_regions(ctx: StepContext) -> tuple[str, list[tuple[int, int]]]:
    """The only text an affiliation may come from: the page header (before the first work) and the author lines
    the parser kept as hints. Returns the text shown to the model and the allowed spans of the listing."""
    listing = ctx.listing
    first = min((w.start for w in ctx.works if w.start is not None), default=len(listing.text))
    head_end = min(first, HEADER_LIMIT)
    regions = [(0, head_end)]
    parts = [listing.text[:head_end].strip()]
    for h in ctx.store.listing_hints(ctx.listing_id):
        regions.append((h["start"], h["end"]))
        parts.append(h["quote"])
    return "\n".join(p for p in parts if p), regions


def subject_hints(ctx: StepContext) -> list[dict[str, Any]]:
    """Byline affiliations / e-mails that name the subject, most frequent first."""
    found: dict[str, dict[str, Any]] = {}
    for h in ctx.store.listing_hints(ctx.listing_id):
        v = h.get("value") or {}
        text = v.get("text") or ""
        if v.get("kind") == "affiliation" and names_subject(v.get("author"), ctx.name):
            key = fold(text)
        elif v.get("kind") == "email" and (
            names_subject(v.get("author"), ctx.name) or email_names_subject(text, ctx.name)
        ):
            key = "@" + text.split("@", 1)[1].casefold()
        else:
            continue
        entry = found.setdefault(key, {"hint": h, "kind": v.get("kind"), "text": text, "count": 0})
        entry["count"] += 1
    return sorted(found.values(), key=lambda e: -e["count"])


_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
MAX_HEADER_LINE_WORDS = 16  # an affiliation line, not a sentence about one


def header_line(ctx: StepContext) -> tuple[str, int, int, str, str, list[str]] | None:
    """With a ROR index loaded, the page header decides by the index, not by English keywords: the first line under
    the name that the matcher resolves to an organisation is the affiliation line, in whatever language
    (`Universidade de São Paulo`, `USP, São Paulo, Brazil`); else an e-mail address in the header whose domain an
    organisation owns gives that organisation's ROR name (the quote is the address). Returns (quote, start, end,
    name, origin, e-mails) or None. Without an index: None, and the keyword check and the model decide as before."""
    if ctx.ror is None:
        return None
    from enrich.agent import ror

    text = ctx.listing.text
    first = min((w.start for w in ctx.works if w.start is not None), default=len(text))
    head_end = min(first, HEADER_LIMIT)
    threshold = getattr(ctx.settings, "ror_match_threshold", None)
    lines = []
    pos = 0
    for raw in text[:head_end].split("\n"):
        stripped = raw.strip()
        if stripped:
            start = pos + raw.index(stripped)
            lines.append((stripped, start, start + len(stripped)))
        pos += len(raw) + 1
    email_hit = None
    for line, start, end in lines[1:]:  # the first line is the name
        addresses = _EMAIL.findall(line)
        if addresses:
            if email_hit is None:
                m = ror.match("", emails=addresses[:1], index=ctx.ror, threshold=threshold)
                if m is not None:
                    at = line.index(addresses[0])
                    email_hit = (addresses[0], start + at, start + at + len(addresses[0]), m.name, "import:email",
                                 addresses[:1])  # fmt: skip
            continue
        if len(line.split()) > MAX_HEADER_LINE_WORDS:
            continue
        m = ror.match(line, index=ctx.ror, threshold=threshold)
        if m is not None and m.matched_on != "domain":
            return line, start, end, line, "import:header", []
    return email_hit


def _ror_match(ctx: StepContext, text: str, emails: Sequence[str] = ()) -> Any:
    if ctx.ror is None:
        return None
    from enrich.agent import ror

    threshold = getattr(ctx.settings, "ror_match_threshold", None) if ctx.settings is not None else None
    return ror.match(text, emails=list(emails), index=ctx.ror, threshold=threshold)


def attach_ror(ctx: StepContext, value_id: int, name: str, emails: Sequence[str] = ()) -> Any:
    """Derived fact beside the value (origin match:ror@<release>); never changes the value itself."""
    m = _ror_match(ctx, name, emails)
    if m is None:
        return None
    existing = ctx.store.derived(value_id, "ror_id")
    if existing and existing[0].value == m.ror_id:
        return m
    ctx.store.add_derived(
        DerivedFact(
            value_id=value_id,
            kind="ror_id",
            value=m.ror_id,
            origin=m.origin,
            confidence=round(m.score, 3),
            detail={"name": m.name, "matched_on": m.matched_on, "matched_text": m.matched_text},
        )
    )
    return m


def confidence(*, linked: bool, ror_score: float | None, reasks: int, institution: bool, ror_loaded: bool) -> float:
    """Checks, not the model's self-report: quote found (required) 0.5, the quote is tied to the subject (page
    header of a person page, or a byline/e-mail naming them) 0.2, ROR match 0.3 x score; without a ROR index 0.1
    if the name reads as an organisation (with an index, no match adds nothing); minus 0.1 per re-ask."""
    c = 0.5 + (0.2 if linked else 0.0)
    if ror_score is not None:
        c += 0.3 * ror_score
    elif not ror_loaded and institution:
        c += 0.1
    return round(max(0.0, min(1.0, c - 0.1 * reasks)), 3)


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    current = ctx.store.current(ctx.researcher_id, STEP)
    if current is not None and not current.origin.startswith("llm:"):
        # the page (or a person) stated it: normalise only
        assert current.id is not None  # a stored value
        m = attach_ror(ctx, current.id, current.value["name"])
        out.status, out.detail = (
            "unchanged",
            f"{current.status}; "
            + (f"ROR {m.ror_id}" if m else "ROR no match" if ctx.ror is not None else "no ROR index loaded"),
        )
        return out
    if ctx.conflated:
        out.status, out.detail = "skipped", "listing mixes several people"
        return out
    text = ctx.listing.text
    origin = ctx.client.origin
    candidates = subject_hints(ctx)
    quote = name = None
    reasks, linked, llm_call, prompt_version = 0, True, None, None
    emails: list[str] = []
    header = None if candidates else header_line(ctx)
    if header is not None:  # deterministic: a header line the ROR index resolves (any language), or its e-mail
        quote, start, end, name, origin, emails = header
        note = "header line resolved by the ROR index" if origin == "import:header" else "e-mail in the header"
        evidence = [_page_quote(ctx, quote, start, end, note)]
        linked = ctx.listing.kind == "person"
    elif candidates:  # deterministic: a byline or e-mail naming the subject
        best = candidates[0]
        h = best["hint"]
        quote, start, end = h["quote"], h["start"], h["end"]
        if best["kind"] == "email":
            emails = [best["text"]]
            m = _ror_match(ctx, "", emails)
            if m is None:
                out.detail = f"e-mail {best['text']} matches no ROR domain"
                return out
            name = m.name
        else:
            name = best["text"]
        origin = "import:byline" if best["kind"] == "affiliation" else "import:email"
        evidence = [_page_quote(ctx, quote, start, end, f"{best['kind']} naming {ctx.name} in {best['count']} work(s)")]
    else:
        shown, regions = header_regions(ctx)
        if not shown.strip() or not mentions_institution(shown):
            out.detail = "the page names no organisation"
            return out
        from enrich.agent.prompts import load_prompt

        prompt = load_prompt(STEP)
        result = ctx.client.extract(
            AffiliationAnswer,
            prompt.messages(name=ctx.name, context=shown),
            prompt=prompt.prompt_ref,
            context={"shown_text": shown},
            job_id=ctx.job_id,
            max_tokens=MAX_TOKENS,
        )
        record_llm(out, result)
        ans: AffiliationAnswer = result.value
        if ans.affiliation is None:
            out.detail = "model: the page names no organisation"
            return out
        span = find_quote(text, ans.quote or "")
        if span is None or not within(span, regions):
            out.status, out.detail = "none", "rejected: quote not found in the page header or author lines"
            return out
        start, end = span
        quote, name = text[start:end], ans.affiliation
        reasks, llm_call, prompt_version = result.reasks, result.call_id, prompt.version
        evidence = [_page_quote(ctx, quote, start, end)]
        linked = ctx.listing.kind == "person"
    m = _ror_match(ctx, name, emails)
    conf = confidence(
        linked=linked,
        ror_score=m.score if m else None,
        reasks=reasks,
        institution=looks_like_institution(name),
        ror_loaded=ctx.ror is not None,
    )
    fv = FieldValue(
        researcher_id=ctx.researcher.id,
        field=STEP,
        value={"name": name},
        status="proposed",
        origin=origin,
        confidence=conf,
        evidence=evidence,
        prompt_version=prompt_version and f"{STEP}@{prompt_version}",
        llm_call_id=llm_call,
        job_id=ctx.job_id,
        listing_id=ctx.listing.id,
    )
    res = ctx.store.submit(fv, auto_apply=conf >= ctx.settings.auto_apply_affiliation)
    if res.value_id:
        attach_ror(ctx, res.value_id, name, emails)
    out.status, out.value = res.outcome, fv
    out.detail = f"{name} (confidence {conf}; {res.reason})"
    return out


class AffiliationStep:
    name = STEP
    needs = ("conflation",)  # a listing mixing several people gets no single affiliation
    answer = AffiliationAnswer

    def run(self, ctx: StepContext) -> StepOutcome:
        return run(ctx)

    def estimate(self, works: list[Work]) -> CallEstimate:
        return CallEstimate.from_chars(HEADER_LIMIT, tokens_out=60)  # at most the header, whatever the works


def _page_quote(ctx: StepContext, quote: str, start: int, end: int, note: str | None = None) -> Evidence:
    """A quote found in this listing's text at start:end (located by the ingest or checked above), as evidence."""
    return Evidence(quote=quote, listing_id=ctx.listing.id, start=start, end=end, checked=True, note=note)
