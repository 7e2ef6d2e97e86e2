"""Topic tags from a controlled taxonomy, each with a score and the works that support it.

TF-IDF shortlists the taxonomy (the model picks from ~12 tags, not hundreds), the model judges which tags fit and
which works show them, and the score comes from checks: the share of works supporting the tag, agreement with the
TF-IDF ranking and with categories the page itself prints (arXiv listings)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from enrich.schemas import Evidence, FieldValue, Work

from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import WorkNumbers

MAX_TOKENS = 400  # a bounded answer: small local models otherwise ramble until the timeout
STEP = "topics"
MAX_WORKS = 40


class TopicPick(BaseModel):
    tag: str = Field(description="a tag code from the allowed list")
    works: WorkNumbers = Field(default_factory=list, description="numbers of listed works that show this topic")


class TopicsAnswer(BaseModel):
    topics: list[TopicPick] = Field(description="1 to 5 tags")

    @field_validator("topics")
    @classmethod
    def _allowed(cls, v: list[TopicPick], info: ValidationInfo) -> list[TopicPick]:
        ctx = info.context or {}
        allowed, numbers = set(ctx.get("allowed", [])), {int(n) for n in ctx.get("work_ids", [])}
        if not v:
            raise ValueError("choose at least one tag from the allowed list")
        bad = [t.tag for t in v if allowed and t.tag not in allowed]
        if bad:
            raise ValueError(f"tags not in the allowed list: {bad}; use only codes from the list")
        for t in v:
            unknown = [w for w in t.works if numbers and w not in numbers]
            if unknown:
                raise ValueError(f"works {unknown} are not in the list of works (use the numbers before the colon)")
        if not any(t.works for t in v):
            raise ValueError("each tag needs the numbers of the works that show it")
        seen, out = set(), []
        for t in v:  # keep the first pick of each tag; a tag no work supports is dropped
            if t.works and t.tag not in seen:
                seen.add(t.tag)
                out.append(t)
        return out[:5]


def _work_lines(works) -> str:
    """Works are numbered 1..n in the prompt: short numbers are cheaper for a small model than hashed ids and it
    cannot half-copy them; the step maps them back to work ids."""
    return "\n".join(
        f"{i}: {w.year or '?'}, {(w.title or (w.abstract or '')[:120]).strip()}" for i, w in enumerate(works, 1)
    )


def run(ctx: StepContext) -> StepOutcome:
    from enrich.agent.prompts import load_prompt
    from enrich.agent.taxonomy import load_taxonomy

    out = StepOutcome(STEP, "none")
    works = [w for w in ctx.works if w.title or w.abstract][:MAX_WORKS]
    if not works:
        out.detail = "no works to tag"
        return out
    taxonomy = load_taxonomy(getattr(ctx.settings, "taxonomy", None) or "arxiv")
    shortlist = taxonomy.shortlist(works)
    page_tags = Counter(t.tag for w in works if (t := taxonomy.from_page_category(w.category)))
    allowed = {t.tag: t for t, _ in shortlist}
    for code in page_tags:
        allowed.setdefault(code, taxonomy.get(code))
    if not allowed:
        out.detail = f"no {taxonomy.name} tag shares terms with these works"
        return out
    tfidf_rank = {t.tag: i for i, (t, _) in enumerate(shortlist)}
    prompt = load_prompt(STEP)
    tags_text = "\n".join(f"{t.tag}: {t.label}" for t in allowed.values())
    result = ctx.client.extract(
        TopicsAnswer,
        prompt.messages(name=ctx.name, tags=tags_text, works=_work_lines(works)),
        prompt=prompt.prompt_ref,
        context={"allowed": list(allowed), "work_ids": list(range(1, len(works) + 1))},
        job_id=ctx.job_id,
        max_tokens=MAX_TOKENS,
    )
    record_llm(out, result)
    n = len(works)
    tags = []
    for pick in result.value.topics:
        support = sorted({works[n - 1].work_id for n in pick.works})
        share = len(support) / n
        rank = tfidf_rank.get(pick.tag)
        agreement = 1.0 - rank / len(shortlist) if rank is not None else 0.0
        on_page = page_tags.get(pick.tag, 0) / n
        score = round(min(1.0, 0.2 + 0.4 * min(1.0, share * 2) + 0.25 * agreement + 0.15 * min(1.0, on_page * 2)), 3)
        tags.append({"tag": pick.tag, "label": allowed[pick.tag].label, "score": score, "works": support})
    tags.sort(key=lambda t: -t["score"])
    conf = round(max(0.0, (sum(t["score"] for t in tags) / len(tags)) - 0.1 * result.reasks), 3)
    fv = FieldValue(
        researcher_id=ctx.researcher.id,
        field=STEP,
        value=tags,
        status="proposed",
        origin=ctx.client.origin,
        confidence=conf,
        prompt_version=prompt.prompt_ref.ref,
        llm_call_id=result.call_id,
        job_id=ctx.job_id,
        listing_id=ctx.listing.id,
        evidence=[
            Evidence(
                note=f"taxonomy {taxonomy.name}@{taxonomy.version}; supported by "
                f"{sum(len(t['works']) for t in tags)} work citations"
            )
        ],
    )
    res = ctx.store.submit(fv, auto_apply=conf >= ctx.settings.auto_apply_topics)
    out.status, out.value = res.outcome, fv
    out.detail = ", ".join(t["tag"] for t in tags) + f" (confidence {conf}; {res.reason})"
    return out


class TopicsStep:
    name = STEP
    needs: tuple[str, ...] = ()
    answer = TopicsAnswer

    def run(self, ctx: StepContext) -> StepOutcome:
        return run(ctx)

    def estimate(self, works: list[Work]) -> CallEstimate:
        return CallEstimate.from_chars(1200 + sum(len(w.title or "") + 20 for w in works[:MAX_WORKS]), tokens_out=160)
