"""Topic tags from a controlled taxonomy: evidence first, the model chooses among what the evidence supports.

Evidence, per work: the category the page prints (arXiv listings), the field of the venue it appeared in (the venue
map: an ACL, EMNLP or COLING paper is computational linguistics), and the tags its own title and abstract rank
highest against the taxonomy (TF-IDF). A tag's *support* is the set of works with any of that evidence for it.

The field-level tag with the most printed/venue evidence (else the most text support) comes first and is applied
when enough works support it. A finer tag is applied only when the model chose it, enough works support it, and
either a printed category or venue backs it or the page prints none and it stays in the first tag's group (no
`math.NA` for a language researcher on the strength of two words in a title). At most a handful are applied;
weaker candidates are proposed for review. A tag's score is the agreement of its evidence; the value's confidence
is the lowest score among the applied tags."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from enrich.agent.llm.base import LLMError
from enrich.agent.prompts import load_prompt
from enrich.agent.taxonomy import load_taxonomy
from enrich.agent.venues import load_venue_map, venue_evidence
from enrich.schemas import Evidence, FieldValue, Work

from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import WorkNumbers

MAX_TOKENS = 200  # a bounded answer: small local models otherwise ramble until the timeout
STEP = "topics"
MAX_WORKS = 16  # works shown to the model (each candidate's supporting works in turn): a short prompt
MAX_EVIDENCE_WORKS = 400  # works read for deterministic evidence
MAX_CANDIDATES = 8  # tags offered to the model
MAX_APPLIED = 4
MAX_PROPOSED = 5
MIN_SHARE = 0.2  # a tag needs support from this share of the works (at least 2; all of them below 4 works)
TEXT_K, TEXT_MIN = 3, 0.1  # a work's text is evidence for its 3 best tags at TF-IDF similarity >= 0.1
STRONG_COVERAGE = 0.5  # a page where this share of works has a printed category or known venue


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


def needed_support(n_works: int) -> int:
    """Works a tag needs behind it to be applied: all of them on a short listing, else 2 or MIN_SHARE of them."""
    return n_works if n_works < 4 else max(2, math.ceil(MIN_SHARE * n_works))


@dataclass
class TagEvidence:
    tag: str
    printed: set[str] = field(default_factory=set)
    venue: set[str] = field(default_factory=set)
    text: set[str] = field(default_factory=set)
    text_score: float = 0.0
    picked: bool = False  # the model chose it

    @property
    def strong(self) -> set[str]:
        return self.printed | self.venue

    @property
    def support(self) -> set[str]:
        return self.printed | self.venue | self.text

    def score(self, n: int) -> float:
        """Agreement of the evidence: printed/venue share, text share (full marks at 60 % of the works), the
        model's choice. Calibrated on the dev set (bench/eval_topics.py prints the reliability table)."""
        strong = min(1.0, len(self.strong) / n)
        text = min(1.0, len(self.text) / (0.6 * n))
        return round(min(1.0, 0.2 + 0.4 * strong + 0.3 * text + 0.1 * self.picked), 3)

    def rank_key(self) -> tuple[int, int, float]:
        return (len(self.strong), len(self.support), self.text_score)


def gather_evidence(works: list[Work], taxonomy, venue_map) -> dict[str, TagEvidence]:
    """Printed categories, venues and text ranking, per tag. Text evidence counts for the tag and its ancestors
    down to the field level (a work about one OpenAlex topic supports that topic's subfield too)."""
    ev: dict[str, TagEvidence] = {}

    def at(code: str) -> TagEvidence:
        e = ev.get(code)
        if e is None:  # not setdefault: it would build a TagEvidence on every call
            e = ev[code] = TagEvidence(code)
        return e

    ranked = taxonomy.rank_works(works, k=TEXT_K, min_similarity=TEXT_MIN)
    for w, text_tags in zip(works, ranked):
        printed = taxonomy.from_page_category(w.category)
        if printed is not None:
            at(printed.tag).printed.add(w.work_id)
        venue = venue_evidence(w, taxonomy.name, venue_map)
        if venue is not None and taxonomy.get(venue.tag) is not None:
            at(venue.tag).venue.add(w.work_id)
        for code, sim in text_tags:
            for c in taxonomy.down_to_field(code):
                e = at(c)
                e.text.add(w.work_id)
                e.text_score += sim
    return ev


@dataclass
class Decision:
    applied: list[TagEvidence]
    proposed: list[TagEvidence]
    need: int


def _primary(ev: dict[str, TagEvidence], taxonomy, need: int) -> TagEvidence | None:
    """The field-level tag with the most printed/venue evidence among those with enough support (else overall)."""
    field_tags = [e for e in ev.values() if taxonomy.depth(e.tag) == taxonomy.field_depth]
    supported = [e for e in field_tags if len(e.support) >= need]
    return max(supported or field_tags, key=TagEvidence.rank_key, default=None)


def choosable(ev: dict[str, TagEvidence], works: list[Work], taxonomy, threshold: float):
    """The first tag, and the finer tags the model's choice would apply: enough supporting works, a printed category
    or venue behind them (on a page with neither: the first tag's group; from another group: behind enough works),
    under a field-level tag that can be applied, and a score that passes with the model's vote. With none, the
    model has nothing to choose."""
    n = len(works)
    need = needed_support(n)
    primary = _primary(ev, taxonomy, need)
    if primary is None or len(primary.support) < need:
        return primary, []
    strong_page = len({wid for e in ev.values() for wid in e.strong}) >= STRONG_COVERAGE * n
    group = taxonomy.group(primary.tag)
    codes, out = {primary.tag}, []
    rest = sorted(  # only a tag with enough support can be chosen: the others are not sorted
        (
            e
            for e in ev.values()
            if e is not primary and taxonomy.depth(e.tag) >= taxonomy.field_depth and len(e.support) >= need
        ),
        key=lambda e: (-taxonomy.depth(e.tag), *e.rank_key()),
        reverse=True,
    )
    for e in rest:
        same_group = taxonomy.group(e.tag) == group
        # printed/venue backing; a tag from another group (stat.* for a cs.* researcher) needs it from enough works
        backed = (len(e.strong) >= need if not same_group else bool(e.strong)) or (not strong_page and same_group)
        under = taxonomy.depth(e.tag) == taxonomy.field_depth or taxonomy.field_level(e.tag) in codes
        if backed and under and e.score(n) + (0.0 if e.picked else 0.1) >= threshold:
            out.append(e)
            codes.add(e.tag)
    return primary, out[: MAX_CANDIDATES - 1]


def decide(
    ev: dict[str, TagEvidence],
    works: list[Work],
    taxonomy,
    threshold: float,
    chosen: tuple[TagEvidence | None, list[TagEvidence]] | None = None,
) -> Decision:
    """Which tags are applied and which proposed (pure: the tests drive it directly). `chosen`: what `choosable`
    gave for this evidence, when the model has not picked anything since."""
    n = len(works)
    need = needed_support(n)
    primary, finer = chosen or choosable(ev, works, taxonomy, threshold)
    applied: list[TagEvidence] = []
    if primary is not None and len(primary.support) >= need:
        applied.append(primary)
    codes = {e.tag for e in applied}
    for e in finer:
        under = taxonomy.depth(e.tag) == taxonomy.field_depth or taxonomy.field_level(e.tag) in codes
        if applied and len(applied) < MAX_APPLIED and e.picked and under:
            applied.append(e)
            codes.add(e.tag)
    kept: list[TagEvidence] = []  # a tag whose evidence does not agree enough is proposed (and its finer tags)
    for e in applied:
        finer_tag = taxonomy.depth(e.tag) > taxonomy.field_depth
        if e.score(n) >= threshold and (not finer_tag or taxonomy.field_level(e.tag) in {k.tag for k in kept}):
            kept.append(e)
    applied = kept
    codes = {e.tag for e in applied}
    group = taxonomy.group(primary.tag) if primary else None
    proposable = [  # filtered before the (stable) sort: the same order, fewer sort keys
        e
        for e in ev.values()
        if e.tag not in codes
        and taxonomy.depth(e.tag) >= taxonomy.field_depth
        and (e is primary or e.picked or e.strong or (len(e.support) >= min(2, n) and taxonomy.group(e.tag) == group))
    ]
    proposed = sorted(proposable, key=lambda e: (e is primary, e.picked, *e.rank_key()), reverse=True)[:MAX_PROPOSED]
    return Decision(applied, proposed, need)


def _shown(works: list[Work], candidates: list[TagEvidence]) -> list[Work]:
    """The works the model sees: the candidates' supporting works taken in turn (so each tag shows its evidence),
    at most MAX_WORKS, in page order. On a 1.5B model on two shared cores a 40-title prompt took minutes."""
    order = {w.work_id: i for i, w in enumerate(works)}
    lists = [sorted(e.support, key=lambda w: order.get(w, 0)) for e in candidates]
    picked: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if i < len(x) and x[i] not in picked and len(picked) < MAX_WORKS:
                picked.append(x[i])
    keep = set(picked)
    return [w for w in works if w.work_id in keep] or works[:MAX_WORKS]


def _work_lines(works) -> str:
    """Works are numbered 1..n in the prompt: short numbers are cheaper for a small model than hashed ids and it
    cannot half-copy them; the step maps them back to work ids."""
    return "\n".join(
        f"{i}: {w.year or '?'}, {(w.title or (w.abstract or '')[:120]).strip()}" for i, w in enumerate(works, 1)
    )


def _tag_line(e: TagEvidence, taxonomy, n: int) -> str:
    bits = []
    if e.printed:
        bits.append(f"printed on {len(e.printed)}")
    if e.venue:
        bits.append(f"venue of {len(e.venue)}")
    if e.text:
        bits.append(f"text of {len(e.text)}")
    return f"{e.tag}: {taxonomy.get(e.tag).label} (evidence: {', '.join(bits)} of {n} works)"


def _entry(e: TagEvidence, taxonomy, n: int, order: dict[str, int]) -> dict:
    return {
        "tag": e.tag,
        "label": taxonomy.get(e.tag).label,
        "score": e.score(n),
        "works": sorted(e.support, key=lambda w: order.get(w, 0)),
        "evidence": {"printed": len(e.printed), "venue": len(e.venue), "text": len(e.text), "model": e.picked},
    }


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    works = [w for w in ctx.works if w.title or w.abstract][:MAX_EVIDENCE_WORKS]
    if not works:
        out.detail = "no works to tag"
        return out
    settings = ctx.settings
    taxonomy = load_taxonomy(getattr(settings, "taxonomy", None) or "arxiv", getattr(settings, "taxonomy_dir", None))
    venue_map = load_venue_map(getattr(settings, "venues", None))
    threshold = settings.auto_apply_topics
    n = len(works)
    ev = gather_evidence(works, taxonomy, venue_map)
    if not ev:
        out.detail = f"no {taxonomy.name} tag has evidence in these works"
        return out
    chosen = primary, finer = choosable(ev, works, taxonomy, threshold)
    prompt = load_prompt(STEP)
    reasks, call_id, asked, picked = 0, None, bool(finer), False  # nothing to choose: no call
    how = "" if asked else " [evidence only: no finer tag the model could choose]"
    if asked:
        assert primary is not None  # finer tags come under a first tag
        candidates = [primary, *finer]
        shown = _shown(works, candidates)
        try:
            result = ctx.client.extract(
                TopicsAnswer,
                prompt.messages(
                    name=ctx.name,
                    tags="\n".join(_tag_line(e, taxonomy, n) for e in candidates),
                    works=_work_lines(shown),
                ),
                prompt=prompt.prompt_ref,
                context={"allowed": [e.tag for e in candidates], "work_ids": list(range(1, len(shown) + 1))},
                job_id=ctx.job_id,
                max_tokens=MAX_TOKENS,
            )
        except LLMError as exc:
            if exc.fatal:
                raise
            out.calls += len(exc.call_ids)
            ctx.notes.append(f"topics: the model gave no usable answer ({str(exc)[:120]}); evidence alone decides")
            asked, how = False, " [evidence only: the model gave no usable answer]"
        else:
            record_llm(out, result)
            reasks, call_id = result.reasks, result.call_id
            for pick in result.value.topics:
                ev[pick.tag].picked = picked = True
    decision = decide(ev, works, taxonomy, threshold, None if picked else chosen)
    if not decision.applied and not decision.proposed:
        out.detail = f"no tag has support from {decision.need} of {n} works"
        return out
    order = {w.work_id: i for i, w in enumerate(works)}
    applied = [_entry(e, taxonomy, n, order) for e in decision.applied]
    proposed = [_entry(e, taxonomy, n, order) for e in decision.proposed]
    conf = round(max(0.0, min((t["score"] for t in applied), default=0.0) - 0.1 * reasks), 3)
    note = f"taxonomy {taxonomy.name}@{taxonomy.version}; a tag needs {decision.need} of {n} works; " + "; ".join(
        f"{t['tag']}: printed {t['evidence']['printed']}, venue {t['evidence']['venue']}, "
        f"text {t['evidence']['text']}, model {'yes' if t['evidence']['model'] else 'no'}"
        for t in applied + proposed
    )

    def value(tags: list[dict], confidence: float) -> FieldValue:
        return FieldValue(
            researcher_id=ctx.researcher.id,
            field=STEP,
            value=tags,
            status="proposed",
            origin=ctx.client.origin,
            confidence=confidence,
            prompt_version=prompt.prompt_ref.ref,
            llm_call_id=call_id,
            job_id=ctx.job_id,
            listing_id=ctx.listing.id,
            evidence=[Evidence(note=note)],
        )

    empty = ctx.store.current(ctx.researcher_id, STEP) is None
    if applied and empty and conf >= threshold:
        fv = value(applied, conf)
        res = ctx.store.submit(fv, auto_apply=True)
        out.status, out.value = res.outcome, fv
        detail = f"{', '.join(t['tag'] for t in applied)} (confidence {conf}; {res.reason})"
        if proposed and res.outcome == "applied":
            more = value(applied + proposed, min(t["score"] for t in proposed))
            extra = ctx.store.submit(more, auto_apply=False)
            detail += f"; proposed {', '.join(t['tag'] for t in proposed)} ({extra.outcome})"
    else:
        tags = applied + proposed
        fv = value(tags, conf if applied else min(t["score"] for t in tags))
        res = ctx.store.submit(fv, auto_apply=False)
        out.status, out.value = res.outcome, fv
        detail = f"proposed {', '.join(t['tag'] for t in tags)} (confidence {fv.confidence}; {res.reason})"
    out.detail = detail + how
    return out


class TopicsStep:
    name = STEP
    needs: tuple[str, ...] = ()
    answer = TopicsAnswer

    def run(self, ctx: StepContext) -> StepOutcome:
        return run(ctx)

    def estimate(self, works: list[Work]) -> CallEstimate:
        return CallEstimate.from_chars(1200 + sum(len(w.title or "") + 20 for w in works[:MAX_WORKS]), tokens_out=160)
