"""Plain-language summary: 2-4 sentences, each citing the one to three works it is about.

The model sees a compact digest of at most MAX_WORKS works (title, year, the abstract's opening), never the whole
page. Every sentence goes through the support check (support.py): a fragment, a sentence that cites no work, too many
works or a work it says nothing about, filler, a claim (name, number, wording) its cited works do not carry, a
sentence that fits an uncited work better, or a paraphrase of an earlier sentence is refused. An answer with fewer
than two supported sentences is re-asked with the reasons; otherwise the refused sentences are dropped and the
confidence says so.

Answers fit the token cap: the JSON schema bounds the number of sentences and of citations, which a
grammar-constrained local model cannot exceed, and the prompt asks for sentences of at most 25 words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from enrich.agent.readability import readability
from enrich.agent.sentences import split_sentences
from enrich.schemas import Evidence, FieldValue, Work
from enrich.schemas.text import ascii_key, word_key

from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import WorkNumbers
from .support import MAX_CITES, SupportChecker, WorkText

MAX_TOKENS = 400  # 3 sentences of <= 30 words + JSON is ~150 tokens: the cap is never what ends an answer
STEP = "summary"
MAX_WORKS = 6  # the prompt is most of a local model's time: six works, each title + the abstract's opening
ABSTRACT_CHARS = 180
OPENING_LOOKAHEAD = 60  # characters past ABSTRACT_CHARS the splitter sees (the next sentence's first words)
ASK_SENTENCES = 3  # what the schema lets a grammar-constrained model write
MAX_SENTENCES = 4  # what is kept from another backend's longer answer
MIN_SENTENCES = 2


class SentenceOut(BaseModel):
    # the schema requires a citation (a grammar-constrained model cannot leave it out); validation stays lenient so
    # an uncited sentence from another backend can still be attributed to the one work it restates
    model_config = ConfigDict(json_schema_extra={"required": ["text", "works"]})

    # no maxLength: a grammar of 200+ nested optional characters slows llama.cpp's sampler; the prompt bounds it
    text: str = Field(description="one short plain-language sentence, at most 30 words")
    works: WorkNumbers = Field(
        default_factory=list,
        description=f"numbers of the 1 to {MAX_CITES} listed works this sentence is about",
        json_schema_extra={"minItems": 1, "maxItems": MAX_CITES},
    )


class SummaryAnswer(BaseModel):
    # minItems/maxItems are for the schema only: a grammar-constrained local model (llama.cpp builds its grammar
    # from it) then writes 2-3 sentences with at most MAX_CITES citations each (unbounded, the 1.5B model copied
    # abstracts and repeated sentences until the token cap cut it off). Validation
    # itself stays in the validators below, so another backend's longer answer is split and checked, not refused.
    sentences: list[SentenceOut] = Field(
        description=f"{MIN_SENTENCES} to {ASK_SENTENCES} sentences, each about different works or a different point",
        json_schema_extra={"minItems": MIN_SENTENCES, "maxItems": ASK_SENTENCES},
    )

    @field_validator("sentences", mode="before")
    @classmethod
    def _one_sentence_each(cls, v: Any, info: ValidationInfo) -> Any:
        """Small models pack several sentences into one item: split them (initials, "e.g.", "et al." and the
        works' titles are not sentence ends), each keeping the item's citations."""
        if not isinstance(v, list):
            return v
        titles = (info.context or {}).get("titles", [])
        out = []
        for item in v:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts = split_sentences(item["text"], keep_whole=titles)
                out += [{**item, "text": p} for p in parts] or [item]
            else:
                out.append(item)
        return out

    @field_validator("sentences")
    @classmethod
    def _supported(cls, v: list[SentenceOut], info: ValidationInfo) -> list[SentenceOut]:
        ctx = info.context or {}
        works: dict[str, tuple[str, str]] = ctx.get("works", {})
        if not works:  # no listing to check against (a schema round trip): only the shape is checked
            return v
        checker = SupportChecker([WorkText(k, t, a) for k, (t, a) in works.items()], ctx.get("name", ""))
        kept: list[SentenceOut] = []
        refused: list[dict[str, Any]] = []
        trimmed, seen = 0, set()
        for i, s in enumerate(v, 1):
            s.text = _tidy(s.text)
            key = word_key(s.text)
            if key in seen:  # an exact repeat is padding, not a claim worth a re-ask
                continue
            seen.add(key)
            previous = [k.text for k in kept]
            verdict = checker.check(s.text, [str(w) for w in s.works], previous)
            if not verdict.accepted and not s.works:
                # an uncited sentence that clearly restates one work is attributed to it
                best = _best_source(checker, s.text)
                if best:
                    s.works = [int(best)]
                    verdict = checker.check(s.text, [best], previous)
            if not verdict.accepted and verdict.reason == "over_broad" and 0 < len(verdict.supporting) <= MAX_CITES:
                retry = checker.check(s.text, verdict.supporting, previous)  # keep the citations that hold
                if retry.accepted:
                    s.works, verdict, trimmed = [int(w) for w in verdict.supporting], retry, trimmed + 1
            if verdict.accepted:
                kept.append(s)
            else:
                refused.append({"n": i, "text": s.text, "reason": verdict.reason, "detail": verdict.detail})
        if len(kept) < MIN_SENTENCES:
            reasons = "; ".join(f'sentence {r["n"]} ("{r["text"][:60]}") {r["detail"]}' for r in refused)
            raise ValueError(
                f"write {MIN_SENTENCES} to {MAX_SENTENCES} different sentences, each citing the 1 to {MAX_CITES} "
                f"works it is about; only {len(kept)} passed the checks" + (f": {reasons}" if reasons else "")
            )
        if refused or trimmed or "_report" not in ctx:  # the client validates the kept sentences once more
            ctx["_report"] = {"refused": refused, "trimmed": trimmed}
        return kept[:MAX_SENTENCES]


def _tidy(text: str) -> str:
    """White space normalised; a sentence the model left without its full stop gets one, unless it stops on a
    function word ("... both from the same"): that is a sentence cut off, and stays a fragment."""
    text = re.sub(r"\s+", " ", text).strip()
    last = text.rsplit(" ", 1)[-1].casefold() if text else ""
    if text and text[-1].isalnum() and last not in ENGLISH_STOP_WORDS:
        text += "."
    return text


def _best_source(checker: SupportChecker, sentence: str) -> str | None:
    """The one listed work an uncited sentence clearly restates (>= 3 shared content terms), or None."""
    from .support import matching

    terms = checker.sentence_terms(sentence)
    scored = sorted(((len(matching(terms, t)), k) for k, t in checker.terms.items()), reverse=True)
    return scored[0][1] if scored and scored[0][0] >= 3 else None


@lru_cache(maxsize=4096)  # a paper is listed on each of its authors' pages (and duplicate profiles repeat them all)
def _opening(abstract: str) -> str:
    """The abstract's first sentences within ABSTRACT_CHARS, never cut mid-sentence with "...": small models
    copy whatever they are shown, dangling ellipsis included."""
    if len(abstract) <= ABSTRACT_CHARS:
        return abstract
    kept = ""
    # only the opening is segmented (the rest cannot be kept, and segmenting is the step's largest cost); the
    # look-ahead past ABSTRACT_CHARS lets the splitter see what follows the last sentence that can be kept
    for sentence in split_sentences(abstract[: ABSTRACT_CHARS + OPENING_LOOKAHEAD]):
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


def digest(works) -> tuple[str, dict[str, str], list]:
    """The works the model sees (most recent first, numbered 1..n), the full text each citation number is checked
    against, and the works in that order (to map numbers back to work ids)."""
    chosen = sorted((w for w in works if w.title or w.abstract), key=lambda w: -(w.year or 0))[:MAX_WORKS]
    lines, sources = [], {}
    for i, w in enumerate(chosen, 1):
        abstract = (w.abstract or "").strip()
        short = _opening(abstract)
        lines.append(f"{i}: {w.year or '?'}, {w.title or '(untitled)'}; {short}")
        sources[str(i)] = f"{w.title or ''} {abstract}"
    return "\n".join(lines), sources, chosen


def generate(ctx: StepContext) -> tuple[Any, Any, str, dict[str, str], dict[str, Any]]:
    """Ask the model; returns (ExtractResult, the value dict with work ids, prompt ref, the cited texts, the
    check report: sentences refused and citations trimmed in the accepted answer)."""
    from enrich.agent.prompts import load_prompt

    text, sources, chosen = digest(ctx.works)
    prompt = load_prompt(STEP)
    context: dict[str, Any] = {
        "sources": sources,
        "name": ctx.name,
        "works": {str(i): (w.title or "", (w.abstract or "").strip()) for i, w in enumerate(chosen, 1)},
        "titles": [w.title for w in chosen if w.title],
    }
    result = ctx.client.extract(
        SummaryAnswer,
        prompt.messages(name=ctx.name, works=text),
        prompt=prompt.prompt_ref,
        context=context,
        job_id=ctx.job_id,
        max_tokens=MAX_TOKENS,
    )
    report = context.get("_report", {"refused": [], "trimmed": 0})
    sentences: list[dict[str, Any]] = [
        {"text": s.text, "works": list(dict.fromkeys(chosen[n - 1].work_id for n in s.works))}
        for s in result.value.sentences
    ]
    text_out = " ".join(s["text"] for s in sentences)
    value = {"text": text_out, "sentences": sentences, "readability": readability(text_out, len(sentences))}
    return result, value, prompt.prompt_ref.ref, sources, report


def confidence(reasks: int, refused: int, trimmed: int, copied: int, grade: float | None) -> float:
    """From the checks that passed: every sentence kept passed the support check (else no summary at all); each
    re-ask, each sentence dropped, each citation list that had to be trimmed, a sentence copied from an abstract
    and hard reading lower it."""
    conf = 0.95 - 0.15 * reasks - 0.1 * refused - 0.05 * trimmed - (0.4 if copied else 0.0)
    if grade is not None and grade > 14:
        conf -= 0.1
    return round(max(0.0, conf), 3)


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    if ctx.conflated:
        out.status, out.detail = "skipped", "listing mixes several people"
        return out
    if not any(w.title or w.abstract for w in ctx.works):
        out.detail = "no works to summarise"
        return out
    result, value, ref, sources, report = generate(ctx)
    record_llm(out, result)
    cited = sorted({w for s in value["sentences"] for w in s["works"]})
    copied = copied_sentences(value, sources)
    refused = report.get("refused", [])
    conf = confidence(result.reasks, len(refused), report.get("trimmed", 0), copied, value["readability"]["grade"])
    notes = [f"{len(value['sentences'])} sentences passed the support check against {len(cited)} cited works"]
    if refused:
        notes.append("dropped: " + "; ".join(f"{r['reason']}: {r['text'][:80]}" for r in refused))
    if report.get("trimmed"):
        notes.append(f"{report['trimmed']} sentence(s) kept only the works they are about")
    if copied:
        notes.append(f"{copied} sentence(s) copied from an abstract")
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
        evidence=[Evidence(note="; ".join(notes))],
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
        return CallEstimate.from_chars(chars, tokens_out=150)
