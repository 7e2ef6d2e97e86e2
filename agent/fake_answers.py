"""A deterministic stand-in for a model that answers the agent's own questions from the context it is given.

Used by `--backend fake`, the test suite and the pipeline benchmarks: it exercises every step, check and store
write without a model. It is honest, not clever: it never invents an affiliation (it quotes an organisation
line only when the shown text has one), picks the first two candidate tags it is offered, and summarises with the
works' titles.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from enrich.agent.names import looks_like_institution


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
    """One sentence per work (up to four), each restating that work's title and citing only it; a listing with one
    work gets a second sentence from its abstract's opening words."""
    works: dict[str, tuple[str, str]] = context.get("works", {})
    sentences: list[dict[str, Any]] = []
    for key, (title, _abstract) in list(works.items())[:4]:
        if title:
            opener = "One of the works" if not sentences else "Another work"
            sentences.append({"text": f"{opener} is about {title.rstrip('.?!')}.", "works": [int(key)]})
    if len(sentences) == 1:
        key, (_title, abstract) = next(iter(works.items()))
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z\-]{3,}", abstract)][:12]
        if words:
            sentences.append({"text": f"It discusses {' '.join(words)}.", "works": [int(key)]})
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
