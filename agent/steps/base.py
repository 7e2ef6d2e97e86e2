"""What every step gets and gives back. A step reads only what it needs, asks the model at most once (plus
re-asks), checks the answer deterministically and hands a FieldValue to the store, which decides value vs proposal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from enrich.schemas import FieldValue, Listing, Researcher, Work


@dataclass
class StepContext:
    store: Any  # store.Store (thread-local in concurrent runs)
    client: Any  # agent.llm.base.LLMClient
    settings: Any
    researcher: Researcher
    listings: list[Listing]
    works: list[Work]
    job_id: str | None = None
    conflated: bool = False  # set by the conflation step: no single affiliation or summary
    ror: Any = None  # agent.ror index handle, None when no ROR index is loaded
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.researcher.name or "(unnamed)"

    @property
    def listing(self) -> Listing:
        return self.listings[-1]


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


def record_llm(outcome: StepOutcome, result: Any) -> None:
    """Copy an ExtractResult's accounting onto the outcome."""
    outcome.calls += 0 if result.cached else max(1, result.attempts)
    outcome.cached = outcome.cached or result.cached
    outcome.tokens_in += result.tokens_in
    outcome.tokens_out += result.tokens_out
    outcome.cost_usd += result.cost_usd
