"""Plain-language summary: 2-4 sentences, each citing the works it rests on.

The model sees a compact digest of at most MAX_WORKS works (title, year, the abstract's opening), never the whole
page. Checks reject a sentence that cites nothing, cites a work that does not exist, or mentions a name or number
that appears in none of the works it cites; they also reject prompt words a small model leaks into prose."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from enrich.schemas import Evidence, FieldValue, Work
from enrich.schemas.text import ascii_key, word_key

from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import LEAK_WORDS, WorkNumbers, ungrounded_tokens

MAX_TOKENS = 500  # a bounded answer: small local models otherwise ramble until the timeout
STEP = "summary"
MAX_WORKS = 8
ABSTRACT_CHARS = 240


class SentenceOut(BaseModel):
    text: str = Field(description="one plain-language sentence")
    works: WorkNumbers = Field(
        default_factory=list, description="numbers of the listed works this sentence is based on"
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


class SummaryAnswer(BaseModel):
    # minItems/maxItems are for the schema only: a grammar-constrained local model (llama.cpp builds its grammar
    # from it) then cannot stop after one sentence, which the 1.5B model did on every re-ask at temperature 0.
    # Validation itself stays in the validators below, which first split sentences packed into one item.
    sentences: list[SentenceOut] = Field(
        description="2 to 4 sentences", json_schema_extra={"minItems": 2, "maxItems": 4}
    )

    @field_validator("sentences", mode="before")
    @classmethod
    def _one_sentence_each(cls, v: Any) -> Any:
        """Small models pack several sentences into one item: split them, each keeping the item's citations."""
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts = [p.strip() for p in _SENTENCE_END.split(item["text"].strip()) if p.strip()]
                out += [{**item, "text": p} for p in parts] or [item]
            else:
                out.append(item)
        return out

    @field_validator("sentences")
    @classmethod
    def _grounded(cls, v: list[SentenceOut], info: ValidationInfo) -> list[SentenceOut]:
        ctx = info.context or {}
        sources: dict[str, str] = ctx.get("sources", {})
        allowed_names: str = ctx.get("name", "")
        unique, seen = [], set()
        for s in v:  # a small model asked for 2-4 sentences may pad with a repeat: keep the first
            key = word_key(s.text)
            if key not in seen:
                seen.add(key)
                unique.append(s)
        v = unique
        if len(v) > 4:  # a small model that copies abstracts: keep the first four sentences, check them as usual
            v = v[:4]
        if len(v) < 2:
            raise ValueError(f"write 2 to 4 different sentences, not {len(v)}")
        problems = []
        for i, s in enumerate(v, 1):
            s.text = re.sub(r"\s+", " ", s.text).strip()
            if not s.works and sources:
                s.works = _best_source(s.text, sources)
            if not s.works:
                problems.append(f"sentence {i} cites no work")
                continue
            missing = [w for w in s.works if sources and str(w) not in sources]
            if missing:
                problems.append(f"sentence {i} cites works that do not exist: {missing}")
                continue
            if LEAK_WORDS.search(s.text):
                problems.append(f"sentence {i} talks about the request instead of the research")
            cited = " ".join(sources.get(str(w), "") for w in s.works)
            if s.text.endswith(("...", "…")):
                problems.append(f"sentence {i} is cut off; write a complete sentence")
            bad = ungrounded_tokens(s.text, cited, allowed_names) if sources else []
            if bad:
                problems.append(f"sentence {i} mentions {bad}, which its cited works do not")
        if problems:
            raise ValueError("; ".join(problems))
        return v


def _opening(abstract: str) -> str:
    """The abstract's first sentences within ABSTRACT_CHARS, never cut mid-sentence with "...": small models
    copy whatever they are shown, dangling ellipsis included."""
    if len(abstract) <= ABSTRACT_CHARS:
        return abstract
    kept = ""
    for sentence in _SENTENCE_END.split(abstract):
        if len(kept) + len(sentence) + 1 > ABSTRACT_CHARS:
            break
        kept = f"{kept} {sentence}".strip()
    return kept or abstract[:ABSTRACT_CHARS].rsplit(" ", 1)[0]


def copied_sentences(value: dict, sources: dict[str, str]) -> int:
    """How many sentences are lifted verbatim from the abstracts they cite (grounded, but not plain language)."""
    return sum(
        1
        for s in value["sentences"]
        if len(s["text"]) >= 40 and ascii_key(s["text"]) in ascii_key(" ".join(sources.values()))
    )


def _content_words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[A-Za-z][A-Za-z\-]{4,}", text)}


def _best_source(sentence: str, sources: dict[str, str]) -> list[int]:
    """A sentence that cites nothing is attributed to the one listed work it clearly restates (>= 3 shared
    content words), or to none -- then the check rejects it."""
    words = _content_words(sentence)
    scored = sorted(((len(words & _content_words(text)), k) for k, text in sources.items()), reverse=True)
    return [int(scored[0][1])] if scored and scored[0][0] >= 3 else []


def digest(works) -> tuple[str, dict[str, str], list]:
    """The works the model sees (most recent first, numbered 1..n), the full text each citation number is checked
    against, and the works in that order (to map numbers back to work ids)."""
    chosen = sorted((w for w in works if w.title or w.abstract), key=lambda w: -(w.year or 0))[:MAX_WORKS]
    lines, sources = [], {}
    for i, w in enumerate(chosen, 1):
        abstract = (w.abstract or "").strip()
        short = _opening(abstract)
        lines.append(f"{i}: {w.year or '?'}, {w.title or '(untitled)'}; {short}")
        sources[str(i)] = f"{w.title or ''} {w.year or ''} {w.venue or ''} {' '.join(w.authors)} {abstract}"
    return "\n".join(lines), sources, chosen


def generate(ctx: StepContext) -> tuple[Any, Any, str, dict[str, str]]:
    """Ask the model; returns (ExtractResult, the value dict with work ids, prompt ref, the cited texts)."""
    from enrich.agent.prompts import load_prompt

    text, sources, chosen = digest(ctx.works)
    prompt = load_prompt(STEP)
    result = ctx.client.extract(
        SummaryAnswer,
        prompt.messages(name=ctx.name, works=text),
        prompt=prompt.prompt_ref,
        context={"sources": sources, "name": ctx.name},
        job_id=ctx.job_id,
        max_tokens=MAX_TOKENS,
    )
    sentences = [
        {"text": s.text, "works": list(dict.fromkeys(chosen[n - 1].work_id for n in s.works))}
        for s in result.value.sentences
    ]
    value = {"text": " ".join(s["text"] for s in sentences), "sentences": sentences}
    return result, value, prompt.prompt_ref.ref, sources


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    if ctx.conflated:
        out.status, out.detail = "skipped", "listing mixes several people"
        return out
    if not any(w.title or w.abstract for w in ctx.works):
        out.detail = "no works to summarise"
        return out
    result, value, ref, sources = generate(ctx)
    record_llm(out, result)
    cited = sorted({w for s in value["sentences"] for w in s["works"]})
    copied = copied_sentences(value, sources)
    conf = round(max(0.0, 0.9 - 0.15 * result.reasks - (0.4 if copied else 0.0)), 3)
    fv = FieldValue(
        researcher_id=ctx.researcher.id,
        field=STEP,
        value=value,
        status="proposed",
        origin=ctx.client.origin,
        confidence=conf,
        prompt_version=ref,
        llm_call_id=result.call_id,
        job_id=ctx.job_id,
        listing_id=ctx.listing.id,
        evidence=[
            Evidence(
                note=f"every sentence cites works; checked against {len(cited)} cited works"
                + (f"; {copied} sentence(s) copied from an abstract" if copied else "")
            )
        ],
    )
    res = ctx.store.submit(fv, auto_apply=conf >= ctx.settings.auto_apply_summary)
    out.status, out.value = res.outcome, fv
    out.detail = f"{len(value['sentences'])} sentences citing {len(cited)} works (confidence {conf}; {res.reason})"
    return out


class SummaryStep:
    name = STEP
    needs = ("conflation",)  # a listing mixing several people gets no single summary
    answer = SummaryAnswer

    def run(self, ctx: StepContext) -> StepOutcome:
        return run(ctx)

    def estimate(self, works: list[Work]) -> CallEstimate:
        chars = 900 + sum(len(w.title or "") + ABSTRACT_CHARS + 20 for w in works[:MAX_WORKS])
        return CallEstimate.from_chars(chars, tokens_out=260)
