"""Affiliation: only ever a value quoted from the page's header or author lines, normalised to ROR. A researcher may
hold several (`affiliation` is the primary one, `affiliation.2`...: store/slots.py puts each in its own slot, so the
never-override rules and review apply to each).

Order of preference (deterministic first):
1. the page header states them: every header line that ingest/affiliations.py decides is an affiliation line (by
   the ROR index in any language, by organisation words without one) is one affiliation, in page order; failing
   that, a header e-mail whose domain a ROR record owns gives that organisation (value: its ROR name, quote: the
   address, origin `import:email-domain`). Values the ingest already imported are not written again; every
   affiliation held gets its ROR id attached as a derived fact;
2. a byline or institutional e-mail in the works that names the subject (`Name (KAIST)`, `name@bu.edu`);
3. the model reads the header + author lines (never the abstracts: text inside works is data and may carry
   injected instructions) and must return a quote found verbatim in exactly that text.
A page that states no affiliation gets none: nothing is applied or proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from enrich.agent.prompts import load_prompt
from enrich.schemas import DerivedFact, Evidence, FieldValue, Work
from enrich.schemas.fields import slot_fields
from enrich.schemas.text import fold
from enrich.store import slots

from ..ingest.affiliations import HEADER_LIMIT, OrgLines, StatedAffiliation, header_lines
from ..ingest.detect import NAME_FIRST
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
    for h in ctx.hints:
        if (h.get("value") or {}).get("kind") == "header" and h["end"] <= head_end:
            continue  # a header line: already shown with the header
        regions.append((h["start"], h["end"]))
        parts.append(h["quote"])
    return "\n".join(p for p in parts if p), regions


def subject_hints(ctx: StepContext) -> list[dict[str, Any]]:
    """Byline affiliations / e-mails that name the subject, most frequent first."""
    found: dict[str, dict[str, Any]] = {}
    for h in ctx.hints:
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


def _ror_match(ctx: StepContext, text: str, emails: Sequence[str] = ()) -> Any:
    if ctx.ror is None:
        return None
    from enrich.agent import ror

    return ror.match(text, emails=list(emails), index=ctx.ror, threshold=_threshold(ctx))


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


def _threshold(ctx: StepContext) -> float | None:
    """The minimum ROR match score the settings ask for (None: the matcher's default)."""
    return getattr(ctx.settings, "ror_match_threshold", None) if ctx.settings is not None else None


def _orgs(ctx: StepContext) -> OrgLines:
    return OrgLines(ctx.ror, _threshold(ctx))


def _matched_on(fv: FieldValue) -> tuple[str, list[str]]:
    """What a value's ROR id is matched on: the address, for a value read off an e-mail (its quote; its name is
    the ROR name the domain gave, which another record may share), else its name."""
    if fv.origin == "import:email-domain" and fv.evidence and fv.evidence[0].quote:
        return "", [fv.evidence[0].quote]
    return fv.value["name"], []


def normalise_all(ctx: StepContext) -> list[str]:
    """Attach the ROR id to every affiliation the researcher holds (derived facts; values unchanged)."""
    notes = []
    fields = slot_fields(STEP)
    held = ctx.store.current_all(ctx.researcher_id, fields)  # one read for all slots (a ROR id changes no value)
    for f in fields:
        cur = held.get(f)
        if cur is not None and cur.id is not None:
            m = attach_ror(ctx, cur.id, *_matched_on(cur))
            notes.append(
                f"{f}: " + (f"ROR {m.ror_id}" if m else "ROR no match" if ctx.ror is not None else "no ROR index")
            )
    return notes


def _header_statements(ctx: StepContext, orgs: OrgLines) -> list[tuple[StatedAffiliation, str]]:
    """(affiliation, note) for every affiliation the page header states (ingest/affiliations.py decides); else the
    organisation owning a header e-mail's domain (ROR index only)."""
    listing = ctx.listing
    if listing.kind != "person" or listing.format not in NAME_FIRST:
        return []
    first = min((w.start for w in ctx.works if w.start is not None), default=len(listing.text))
    lines = header_lines(listing.text, first)
    how = "resolved by the ROR index" if ctx.ror is not None else "read as an organisation's name (no ROR index)"
    found = [(a, f"{a.role} header line {how}") for a in orgs.stated(lines)]
    if not found and (mail := orgs.email_affiliation(lines)) is not None:
        domain = mail.quote.rsplit("@", 1)[-1]
        found = [(mail, f"e-mail domain {domain} belongs to {mail.ror_name} ({mail.ror_id})")]
    return found


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    current = ctx.store.current(ctx.researcher_id, STEP)
    stated_by_page = current is not None and not current.origin.startswith("llm:")
    if ctx.conflated:
        notes = normalise_all(ctx) if stated_by_page else []
        out.status, out.detail = (
            ("unchanged" if notes else "skipped"),
            "; ".join(["listing mixes several people"] + notes),
        )
        return out
    orgs = _orgs(ctx)
    text = ctx.listing.text
    found = _header_statements(ctx, orgs)
    values: list[tuple[FieldValue, str | None]] = []
    if found:  # deterministic: what the page header states, every affiliation of it
        for a, note in found:
            origin = "import:email-domain" if a.role == "email" else "import:header"
            conf = confidence(
                linked=ctx.listing.kind == "person",
                ror_score=a.score,
                reasks=0,
                institution=looks_like_institution(a.name),
                ror_loaded=ctx.ror is not None,
            )
            values.append(
                (_value(ctx, a.name, origin, conf, [_page_quote(ctx, a.quote, a.start, a.end, note)]), a.ror_id)
            )
    elif current is not None and stated_by_page:  # the page (or a person) stated it: normalise only
        out.status, out.detail = "unchanged", f"{current.status}; " + "; ".join(normalise_all(ctx))
        return out
    elif candidates := subject_hints(ctx):  # deterministic: a byline or e-mail naming the subject
        best = candidates[0]
        h = best["hint"]
        m = None
        if best["kind"] == "email":
            m = _ror_match(ctx, "", [best["text"]])
            if m is None:
                out.detail = f"e-mail {best['text']} matches no ROR domain"
                return out
            name, origin = m.name, "import:email-domain"
            note = f"e-mail of {ctx.name} in {best['count']} work(s); its domain belongs to {m.name} ({m.ror_id})"
        else:
            name, origin = best["text"], "import:byline"
            note = f"affiliation naming {ctx.name} in {best['count']} work(s)"
            m = _ror_match(ctx, name)
        conf = confidence(
            linked=True,
            ror_score=m.score if m else None,
            reasks=0,
            institution=looks_like_institution(name),
            ror_loaded=ctx.ror is not None,
        )
        quote = _page_quote(ctx, h["quote"], h["start"], h["end"], note)
        values.append((_value(ctx, name, origin, conf, [quote]), m.ror_id if m else None))
    else:
        shown, regions = header_regions(ctx)
        if not shown.strip() or not mentions_institution(shown):
            out.detail = "the page names no organisation"
            return out
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
        name = ans.affiliation
        m = _ror_match(ctx, name)
        conf = confidence(
            linked=ctx.listing.kind == "person",
            ror_score=m.score if m else None,
            reasks=result.reasks,
            institution=looks_like_institution(name),
            ror_loaded=ctx.ror is not None,
        )
        fv = _value(ctx, name, ctx.client.origin, conf, [_page_quote(ctx, text[start:end], start, end)])
        fv.prompt_version, fv.llm_call_id = f"{STEP}@{prompt.version}", result.call_id
        values.append((fv, m.ror_id if m else None))
    normalise_all(ctx)  # the ROR ids of what is held first: a stated value finds its slot by them (store/slots.py)
    threshold = ctx.settings.auto_apply_affiliation
    written = slots.submit_all(ctx.store, values, auto_apply=[(fv.confidence or 0) >= threshold for fv, _ in values])
    parts = []
    for (fv, _), w in zip(values, written):
        if w is None:
            parts.append(f"{fv.value['name']}: stated before")
            continue
        placed, res = w
        if res.value_id:
            attach_ror(ctx, res.value_id, *_matched_on(placed))
        parts.append(
            f"{placed.field} {placed.value['name']} (confidence {placed.confidence}; {res.reason or res.outcome})"
        )
        if out.value is None:
            out.status, out.value = res.outcome, placed
    if out.value is None:
        out.status = "unchanged"
    out.detail = "; ".join(parts)
    return out


def _value(ctx: StepContext, name: str, origin: str, conf: float, evidence: list[Evidence]) -> FieldValue:
    return FieldValue(
        researcher_id=ctx.researcher_id,
        field=STEP,
        value={"name": name},
        status="proposed",
        origin=origin,
        confidence=conf,
        evidence=evidence,
        job_id=ctx.job_id,
        listing_id=ctx.listing_id,
    )


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
    return Evidence(quote=quote, listing_id=ctx.listing_id, start=start, end=end, checked=True, note=note)
