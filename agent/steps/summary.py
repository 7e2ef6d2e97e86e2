"""Plain-language summary: 2-4 short sentences, each about the work it cites.

The model sees a compact digest of at most MAX_WORKS works (title and the abstract's contribution sentence), never
the whole page, and names each sentence's work before writing it. Every sentence goes through the sentence checks
(support.py: a fragment, a sentence that cites no work, too many works or a work that does not support it on its
own, filler, a claim or praise its cited works do not carry, a sentence that fits an uncited work better, a
paraphrase of an earlier sentence or a copy of an abstract sentence is refused) and a readability check (length
and Flesch-Kincaid grade). Citations are repaired when the repaired sentence passes every check; an answer with
fewer than two passing sentences is re-asked with the reasons, otherwise the refused sentences are dropped and the
confidence says so.

Answers fit the token cap: the JSON schema bounds the number of sentences and of citations, which a
grammar-constrained local model cannot exceed, and the prompt asks for sentences of 6-12 words (shorter than the
abstract line shown: a small model otherwise copies it).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from enrich.agent.prompts import load_prompt
from enrich.agent.readability import fk_grade, readability
from enrich.agent.sentences import gist, split_sentences, third_person
from enrich.agent.stop_words import ENGLISH_STOP_WORDS
from enrich.schemas import Evidence, FieldValue, Work
from enrich.schemas.text import word_key

from .base import CallEstimate, StepContext, StepOutcome, record_llm
from .checks import WorkNumbers
from .support import MAX_CITES, SupportChecker, Verdict, WorkText, matching

MAX_TOKENS = 400  # 4 sentences of <= 30 words + JSON is ~200 tokens: the cap is never what ends an answer
STEP = "summary"
MAX_WORKS = 6  # the prompt is most of a local model's time: six works, each title + one sentence of its abstract
ABSTRACT_CHARS = 200
ASK_SENTENCES = 4  # what the schema lets a grammar-constrained model write: two may be refused and two remain
MAX_SENTENCES = 4  # what is kept from another backend's longer answer
MIN_SENTENCES = 2
MAX_WORDS = 30  # a longer sentence is refused as hard to read (the prompt asks for 6-12)
MAX_SENTENCE_GRADE = 16.0  # a sentence above this Flesch-Kincaid grade (college graduate) is refused as hard to read
READABLE_GRADE = 12.0  # a summary above this grade (what a general reader manages) gets a lower confidence


class SentenceOut(BaseModel):
    # `works` comes first: a model that has named the work it writes about writes about that work (written after
    # the sentence, the 1.5B model's numbers were often off by one or listed every work). The schema requires a
    # citation (a grammar-constrained model cannot leave it out); validation stays lenient so an uncited sentence
    # from another backend can still be attributed to the one work it restates.
    model_config = ConfigDict(json_schema_extra={"required": ["works", "text"]})

    works: WorkNumbers = Field(
        default_factory=list,
        description="the number of the work this sentence is about (two at most)",
        json_schema_extra={"minItems": 1, "maxItems": MAX_CITES},
    )
    # no maxLength: a grammar of 200+ nested optional characters slows llama.cpp's sampler; the prompt and the
    # MAX_WORDS check bound it
    text: str = Field(description="one short sentence in plain words about that work")


class SummaryAnswer(BaseModel):
    # minItems/maxItems are for the schema only: a grammar-constrained local model (llama.cpp builds its grammar
    # from it) then writes 2-3 sentences with at most MAX_CITES citations each (unbounded, the 1.5B model copied
    # abstracts and repeated sentences until the token cap cut it off). Validation
    # itself stays in the validators below, so another backend's longer answer is split and checked, not refused.
    sentences: list[SentenceOut] = Field(
        description=f"{MIN_SENTENCES} to {ASK_SENTENCES} sentences, each about a different work",
        json_schema_extra={"minItems": MIN_SENTENCES, "maxItems": ASK_SENTENCES},
    )

    @field_validator("sentences", mode="before")
    @classmethod
    def _one_sentence_each(cls, v: Any, info: ValidationInfo) -> Any:
        """Small models pack several sentences into one item: split them (initials, "e.g.", "et al.", the works'
        titles and the researcher's name are not sentence ends), each keeping the item's citations."""
        if not isinstance(v, list):
            return v
        ctx = info.context or {}
        titles = [*ctx.get("titles", []), *([ctx["name"]] if ctx.get("name") else [])]
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
            if not verdict.accepted:
                repaired = _recite(checker, s, verdict, previous)
                if repaired is not None:
                    s.works, verdict, trimmed = [int(w) for w in repaired[0]], repaired[1], trimmed + 1
            if verdict.accepted:
                verdict = _readable(s.text, ctx.get("name", ""))
            if verdict.accepted:
                kept.append(s)
            else:
                refused.append(
                    {"n": i, "text": s.text, "works": s.works, "reason": verdict.reason, "detail": verdict.detail}
                )
        if len(kept) < MIN_SENTENCES:
            raise ValueError(_reask_reason(kept, refused, v, list(works)))
        if refused or trimmed or "_report" not in ctx:  # the client validates the kept sentences once more
            ctx["_report"] = {"refused": refused, "trimmed": trimmed}
        return kept[:MAX_SENTENCES]


def _readable(text: str, name: str = "") -> Verdict:
    """A sentence a general reader can read: at most MAX_WORDS words and a Flesch-Kincaid grade of at most
    MAX_SENTENCE_GRADE (long words pile up in short sentences too: "Leveraging dependency forests, X investigates
    medical relation extraction" is grade 22). The researcher's name is read as one short word: a long name is not
    a hard word."""
    n_words = len(text.split())
    if n_words > MAX_WORDS:
        return Verdict(False, "too_long", f"has {n_words} words; write at most 18 plain words")
    for part in sorted({name, *name.split()}, key=len, reverse=True):
        if len(part) > 1:
            text = _as_they(text, part)
    grade = fk_grade(text, 1)
    if grade is not None and grade > MAX_SENTENCE_GRADE:
        return Verdict(False, "hard_to_read", f"is hard to read (grade {grade:g}): use shorter, everyday words")
    return Verdict(True)


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"  # what `\w` matches in a str pattern


def _as_they(text: str, part: str) -> str:
    """`re.sub(rf"\\b{re.escape(part)}(?:['\u2019]s)?(?!\\w)", "They", text)`: every whole-word occurrence of
    `part` (possessive included) made "They", with str.find instead of a pattern compiled for each researcher's name
    (those compiles were a twentieth of a bulk collect). tests/steps/test_summary_support.py compares the two."""
    out, done, n = [], 0, len(part)
    i = text.find(part)
    while i != -1:
        end = -1
        if (i > 0 and _is_word(text[i - 1])) != _is_word(part[0]):  # \b before the part
            j = i + n
            if text[j : j + 2] in ("'s", "\u2019s") and not (j + 2 < len(text) and _is_word(text[j + 2])):
                end = j + 2
            elif not (j < len(text) and _is_word(text[j])):
                end = j
        if end < 0:
            i = text.find(part, i + 1)
            continue
        out += [text[done:i], "They"]
        done = end
        i = text.find(part, end)
    return "".join(out) + text[done:] if out else text


def _recite(checker: SupportChecker, s: SentenceOut, verdict: Verdict, previous: list[str]):
    """Deterministic repair of a sentence's citations, never of its words: keep only the cited works that support it
    on their own, cite the work it is clearly about instead of the one it names, or give an uncited sentence the one
    work it restates. The new citations must pass every check; returns (citations, verdict) or None."""
    cites = [str(w) for w in s.works]
    candidates: list[list[str]] = []
    if verdict.reason == "over_broad" and 0 < len(verdict.supporting) <= MAX_CITES:
        candidates.append(verdict.supporting)
    if verdict.reason in ("wrong_work", "filler", "over_broad") and cites:
        about = sorted(checker.about(checker.sentence_terms(s.text)) - set(cites))
        if len(about) == 1:  # one uncited work it is about: instead of the ones cited, or beside the ones that hold
            candidates.append(about)
            if verdict.reason != "wrong_work":
                # not for a claim taken from another work: citing both would let a blend of two works pass
                # ("semiring parsing for text generation", the method of one work and the task of another)
                candidates.append([*verdict.supporting, *about][:MAX_CITES])
    if not cites and verdict.reason == "no_citation":
        best = _best_source(checker, s.text)
        if best:
            candidates.append([best])
    for c in candidates:
        again = checker.check(s.text, c, previous)
        if again.accepted:
            return c, again
        if again.reason == "over_broad" and 0 < len(again.supporting) < len(c):
            candidates.append(again.supporting)  # of three works cited, two said to hold, and then only one does
    return None


def _reask_reason(kept: list[SentenceOut], refused: list[dict], answered: list[SentenceOut], works: list[str]) -> str:
    """What the model is told on a re-ask: which sentences to keep, why each other one was refused, and which works
    to write about instead (at temperature 0 a small model told only what was wrong repeats its answer word for
    word; a different work to write about is a different task)."""
    keep = [str(i) for i, s in enumerate(answered, 1) if s in kept]
    why = "; ".join(f'sentence {r["n"]} ("{r["text"][:70]}", works {r["works"]}) {r["detail"]}' for r in refused)
    used = {str(w) for s in answered for w in s.works}
    covered = {str(w) for s in kept for w in s.works}
    # works not written about yet first, then the works of the refused sentences
    fresh = [w for w in works if w not in used] + [w for w in works if w in used and w not in covered]
    wanted = min(len(fresh), max(MIN_SENTENCES - len(kept), min(ASK_SENTENCES, len(works)) - len(kept)))
    return (
        f"only {len(kept)} sentence(s) passed the checks"
        + (f". Refused: {why}" if why else "")
        + (f". Keep sentence {' and '.join(keep)} word for word" if keep else "")
        + f". Instead of the refused ones, write {wanted} short plain sentence(s) about work(s) "
        + ", ".join(fresh[:wanted])
        + ", one work each, in your own words."
    )


def _tidy(text: str) -> str:
    """White space normalised; an opening "He"/"She"/"His"/"Her" made "They"/"Their" (the page does not say which),
    and so is the authors' "We"/"Our"; a sentence the model left without its full stop gets one, unless it stops on
    a function word ("... both from the same"): that is a sentence cut off, and stays a fragment."""
    text = third_person(re.sub(r"\s+", " ", text).strip())
    last = text.rsplit(" ", 1)[-1].casefold() if text else ""
    if text and text[-1].isalnum() and last not in ENGLISH_STOP_WORDS:
        text += "."
    return text


def _best_source(checker: SupportChecker, sentence: str) -> str | None:
    """The one listed work an uncited sentence clearly restates (>= 3 shared content terms), or None."""
    terms = checker.sentence_terms(sentence)
    scored = sorted(((len(matching(terms, t)), k) for k, t in checker.terms.items()), reverse=True)
    return scored[0][1] if scored and scored[0][0] >= 3 else None


def digest(works) -> tuple[str, list]:
    """The works the model sees (most recent first, numbered 1..n: title and one sentence of the abstract), and the
    works in that order (to map numbers back to work ids)."""
    # works with an abstract first: for a work known by its title alone the model has little to say but guesses,
    # and the checks have only the title to hold a sentence against
    chosen = sorted((w for w in works if w.title or w.abstract), key=lambda w: (not w.abstract, -(w.year or 0)))
    chosen = chosen[:MAX_WORKS]
    lines = []
    for i, w in enumerate(chosen, 1):
        abstract = (w.abstract or "").strip()
        short = gist(abstract, ABSTRACT_CHARS)
        # the sentence on a line of its own: a title may hold ":" itself, and "title: sentence" lines were copied whole
        lines.append(f"{i}. {w.title or '(untitled)'}" + (f"\n   {short}" if short else ""))
    return "\n".join(lines), chosen


def generate(ctx: StepContext) -> tuple[Any, Any, str, dict[str, Any]]:
    """Ask the model; returns (ExtractResult, the value dict with work ids, prompt ref, the check report: sentences
    refused and citations trimmed in the accepted answer)."""
    text, chosen = digest(ctx.works)
    prompt = load_prompt(STEP)
    context: dict[str, Any] = {
        "name": ctx.name,
        "works": {str(i): (w.title or "", (w.abstract or "").strip()) for i, w in enumerate(chosen, 1)},
        "titles": [w.title for w in chosen if w.title],
    }
    result = ctx.client.extract(
        SummaryAnswer,
        prompt.messages(name=ctx.name, works=text, count=min(ASK_SENTENCES, max(MIN_SENTENCES, len(chosen)))),
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
    return result, value, prompt.prompt_ref.ref, report


def confidence(reasks: int, refused: int, trimmed: int, grade: float | None) -> float:
    """From the checks that passed: every sentence kept passed the sentence checks (else no summary at all); each
    re-ask, each sentence dropped, each citation list that had to be repaired and every grade of reading difficulty
    above READABLE_GRADE lower it."""
    conf = 0.95 - 0.15 * reasks - 0.1 * refused - 0.05 * trimmed
    if grade is not None:
        conf -= min(0.25, 0.05 * max(0.0, grade - READABLE_GRADE))
    return round(max(0.0, conf), 3)


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    if ctx.conflated:
        out.status, out.detail = "skipped", "listing mixes several people"
        return out
    if not any(w.title or w.abstract for w in ctx.works):
        out.detail = "no works to summarise"
        return out
    result, value, ref, report = generate(ctx)
    record_llm(out, result)
    cited = sorted({w for s in value["sentences"] for w in s["works"]})
    refused = report.get("refused", [])
    conf = confidence(result.reasks, len(refused), report.get("trimmed", 0), value["readability"]["grade"])
    notes = [f"{len(value['sentences'])} sentences passed the support check against {len(cited)} cited works"]
    if refused:
        notes.append("dropped: " + "; ".join(f"{r['reason']}: {r['text'][:80]}" for r in refused))
    if report.get("trimmed"):
        notes.append(f"{report['trimmed']} sentence(s) cite only the works they are about after a repair")
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
        # the prompt with its worked example (~1,700 characters) and the tool schema, then one line per work
        chars = 2_400 + sum(len(w.title or "") + ABSTRACT_CHARS + 5 for w in works[:MAX_WORKS])
        return CallEstimate.from_chars(chars, tokens_out=150)
