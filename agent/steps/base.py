"""What every step is, gets and gives back. A step reads only what it needs, asks the model at most once (plus
re-asks), checks the answer deterministically and hands a FieldValue to the store, which decides value vs proposal.

The job loop (agent/loop.py) knows steps only through the `Step` protocol: its name, the steps it needs run before
it, its answer schema, `run(ctx)` and its own estimate of one model call's size for `enrich run --dry-run`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from enrich.schemas import FieldValue, Listing, Researcher, Work

if TYPE_CHECKING:
    from enrich.store import Store

    from ..llm.base import LLMClient
    from ..ror import RorIndex
    from ..settings import Settings


@dataclass
class StepContext:
    store: Store  # thread-local (store.threads.ThreadLocalStore, which looks like a Store) in concurrent runs
    client: LLMClient
    settings: Settings
    researcher: Researcher
    listings: list[Listing]
    works: list[Work]
    job_id: str | None = None
    conflated: bool = False  # set by the conflation step: no single affiliation or summary
    ror: RorIndex | None = None  # None when no ROR index is loaded
    notes: list[str] = field(default_factory=list)
    _hints: list[dict[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.researcher.name or "(unnamed)"

    @property
    def listing(self) -> Listing:
        return self.listings[-1]

    # the context is built from stored rows, which always have ids (the schemas allow None for rows not stored yet)
    @property
    def researcher_id(self) -> int:
        assert self.researcher.id is not None
        return self.researcher.id

    @property
    def listing_id(self) -> int:
        assert self.listing.id is not None
        return self.listing.id

    @property
    def hints(self) -> list[dict[str, Any]]:
        """The listing's parser hints (header lines, bylines, e-mails), read once for the steps that use them: they
        are written at import only. (Not a cached_property: its lock cost more than the read-ahead store's answer.)"""
        if self._hints is None:
            self._hints = self.store.listing_hints(self.listing_id)
        return self._hints


@dataclass(frozen=True)
class CallEstimate:
    """One model call's size before it is made (tokens estimated as characters / 4)."""

    tokens_in: int
    tokens_out: int

    @classmethod
    def from_chars(cls, prompt_chars: int, tokens_out: int) -> CallEstimate:
        return cls(prompt_chars // 4, tokens_out)


class Step(Protocol):
    """One enrichment step. `needs`: steps that must run before this one for the same researcher (the planner adds
    them). `answer`: the schema the model answers in (part of a remembered miss's key), None for a step that never
    asks the model. `estimate`: the size of the model call it would make for these works, None for none."""

    @property
    def name(self) -> str: ...

    @property
    def needs(self) -> tuple[str, ...]: ...

    @property
    def answer(self) -> type[BaseModel] | None: ...

    def run(self, ctx: StepContext) -> StepOutcome: ...

    def estimate(self, works: list[Work]) -> CallEstimate | None: ...


@dataclass
class StepOutcome:
    step: str
    status: str  # applied | proposed | unchanged | skipped | none | failed | duplicate | skipped_rejected
    detail: str = ""
    value: FieldValue | None = None
    calls: int = 0
    cached: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def add_counts(counts: dict[str, int], more: Mapping[str, int]) -> None:
    """Add `more` into `counts`, key by key."""
    for key, n in more.items():
        counts[key] = counts.get(key, 0) + n


def count_outcomes(counts: dict[str, int], outcomes: Iterable[StepOutcome]) -> None:
    """Count each outcome under `step:status` (a job's counts, a bulk job's report)."""
    for o in outcomes:
        key = f"{o.step}:{o.status}"
        counts[key] = counts.get(key, 0) + 1


def record_llm(outcome: StepOutcome, result: Any) -> None:
    """Copy an ExtractResult's accounting onto the outcome."""
    outcome.calls += 0 if result.cached else max(1, result.attempts)
    outcome.cached = outcome.cached or result.cached
    outcome.tokens_in += result.tokens_in
    outcome.tokens_out += result.tokens_out
    outcome.cost_usd += result.cost_usd
