"""The slot before affiliation and summary: does this listing mix several same-name people?

Deterministic clustering (agent.steps.conflation); a flagged listing gets a `split` proposal for review and no
single affiliation or summary until a person rejects the split (then it is one person and the agent continues)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from enrich.schemas import Work
from enrich.schemas.conflation import ConflationResult
from enrich.store import structural

from .base import StepContext, StepOutcome
from .conflation import MIN_WORKS, detect, page_states_affiliation

STEP = "conflation"


def run(ctx: StepContext) -> StepOutcome:
    out = StepOutcome(STEP, "none")
    if ctx.researcher.single_person or ctx.researcher.split_from is not None:
        out.status, out.detail = "skipped", "a person decided this listing is one person"
        return out
    if ctx.listing.kind != "person" or len(ctx.works) < 2:
        out.detail = "too few works to judge"
        return out
    existing = structural.get_conflation(ctx.store, listing_id=ctx.listing.id)
    result = existing
    if result is None:
        hints = [h.get("value") or {} for h in ctx.hints]
        result = _detect(ctx.works, ctx.researcher.name, page_states_affiliation(hints, ctx.researcher.name))
        structural.save_conflation(ctx.store, ctx.listing_id, ctx.researcher_id, result)
    ctx.conflated = structural.is_flagged(ctx.store, ctx.researcher_id, ctx.researcher)
    if result.detected:
        pid = structural.propose_split(ctx.store, ctx.researcher_id, ctx.listing_id, result, job_id=ctx.job_id)
        out.status = "proposed" if pid else "none"
        out.detail = f"mixes {len(result.clusters)} groups (confidence {result.confidence:.2f}); split proposal {pid}"
    else:
        out.detail = f"one person (confidence of mixing {result.confidence:.2f})"
    return out


_SEEN: OrderedDict[bytes, bytes] = OrderedDict()  # the last verdicts (as JSON), by the content they judged
_SEEN_MAX = 2048
_SEEN_LOCK = threading.Lock()


def _detect(works: list[Work], name: str | None, page_affiliation: bool = False) -> ConflationResult:
    """`detect`, remembered by content: the verdict is a function of the works, the name and whether the page
    states an affiliation for its subject, and a platform's duplicate profiles (the same page under another id)
    list the same works again. Kept as pydantic's JSON, so a caller changing its copy changes nothing here (a deep
    copy of every new verdict cost more than the look-up). A listing with fewer than MIN_WORKS works is judged
    without clustering, for less than its key would cost."""
    if len(works) < MIN_WORKS:
        return detect(works, name, page_affiliation=page_affiliation)
    key = hashlib.blake2b(
        json.dumps([name, page_affiliation]).encode() + b"".join(w.__pydantic_serializer__.to_json(w) for w in works),
        digest_size=16,
    ).digest()
    with _SEEN_LOCK:
        seen = _SEEN.get(key)
        if seen is not None:
            _SEEN.move_to_end(key)
            return ConflationResult.model_validate_json(seen)
    result = detect(works, name, page_affiliation=page_affiliation)
    with _SEEN_LOCK:
        _SEEN[key] = result.__pydantic_serializer__.to_json(result)
        while len(_SEEN) > _SEEN_MAX:
            _SEEN.popitem(last=False)
    return result


class ConflationStep:
    name = STEP
    needs: tuple[str, ...] = ()
    answer = None  # deterministic: never asks the model

    def run(self, ctx: StepContext) -> StepOutcome:
        return run(ctx)

    def estimate(self, works: list[Work]) -> None:
        return None
