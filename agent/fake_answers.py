"""A deterministic stand-in for a model that answers the agent's own questions from the context it is given.

Used by `--backend fake`, the test suite and the pipeline benchmarks: it exercises every step, check and store
write without a model. It is honest, not clever: it never invents an affiliation (it quotes an organisation
line only when the shown text has one), picks the first two candidate tags it is offered, and summarises with
words of the works' titles.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from enrich.agent.names import looks_like_institution
from enrich.agent.sentences import gist
from enrich.agent.stop_words import ENGLISH_STOP_WORDS
from enrich.agent.vocabulary import GENERIC


def _affiliation(context: dict[str, Any]) -> dict[str, Any]:
    for line in (context.get("shown_text") or "").splitlines():
        line = line.strip()
        if (
            4 < len(line) < 160
            and looks_like_institution(line)
            and not re.search(r"\b(abstract|propose)\b", line, re.I)
        ):
            return {"affiliation": line.split(",")[0].strip() if "," in line else line, "quote": line}
    return {"affiliation": None, "quote": None}


def _topics(context: dict[str, Any]) -> dict[str, Any]:
    allowed, works = context.get("allowed", []), context.get("work_ids", [])
    if not allowed or not works:
        return {"topics": []}
    half = max(1, len(works) // 2)
    picks = [{"tag": allowed[0], "works": works[:half] or works}]
    if len(allowed) > 1:
        picks.append({"tag": allowed[1], "works": works[half:] or works[:1]})
    return {"topics": picks}


def _summary(context: dict[str, Any]) -> dict[str, Any]:
    """One short sentence per work (up to four), each naming two of that work's rarer title words (the ones fewest
    of the listing's titles use, shortest first: plain to read) and citing only it; a listing with one work gets a
    second sentence from the words of its abstract's sentence the model is shown."""
    works: dict[str, tuple[str, str]] = context.get("works", {})
    # what the model is shown of each work (a server that only has the prompt answers the same)
    texts = {k: t.casefold() for k, (t, _a) in works.items()}

    def rare_words(text: str, skip: set[str]) -> list[str]:
        found = dict.fromkeys(w for w in re.findall(r"[A-Za-z]{4,}", text) if w.casefold() not in skip)
        used_by = {w: sum(w.casefold() in t for t in texts.values()) for w in found}
        return sorted(found, key=lambda w: (used_by[w], len(w)))[:2]

    common = set(ENGLISH_STOP_WORDS) | GENERIC
    name = context.get("name") or "They"
    sentences: list[dict[str, Any]] = []
    for key, (title, _abstract) in list(works.items())[:4]:
        picked = rare_words(title, common)
        if len(picked) == 2:
            subject = f"{name} studies" if not sentences else "They also study"
            sentences.append({"text": f"{subject} {picked[0]} and {picked[1]}.", "works": [int(key)]})
    if len(sentences) == 1:
        key, (title, abstract) = next(iter(works.items()))
        more = rare_words(gist(abstract), common | {w.casefold() for w in re.findall(r"[A-Za-z]+", title)})
        if len(more) == 2:
            sentences.append({"text": f"They also look at {more[0]} and {more[1]}.", "works": [int(key)]})
    return {"sentences": sentences}


def grounded_answer(
    response_model: type[BaseModel], messages: list[dict[str, Any]], context: dict[str, Any] | None
) -> dict[str, Any]:
    context = context or {}
    name = response_model.__name__
    if name == "AffiliationAnswer":
        return _affiliation(context)
    if name == "TopicsAnswer":
        return _topics(context)
    if name == "SummaryAnswer":
        return _summary(context)
    raise ValueError(f"the fake model has no answer for {name}")
