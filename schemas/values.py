"""Field values with provenance, proposals and the audit vocabulary.

The words here (status, origin, evidence) are used unchanged by the store, the CLI, the web page and the docs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Status = Literal["verified", "imported", "generated", "proposed", "accepted", "rejected", "superseded"]
STATUSES: tuple[str, ...] = ("verified", "imported", "generated", "proposed", "accepted", "rejected", "superseded")
# Statuses that make a value the field's current, applied value.
APPLIED_STATUSES = frozenset({"verified", "imported", "generated", "accepted"})
# Statuses only a person can overturn.
PROTECTED_STATUSES = frozenset({"verified", "accepted"})

WriterKind = Literal["import", "llm", "human", "match"]


_NOW: tuple[int, str] = (-1, "")  # (a second, its ISO text), replaced whole: a bulk job stamps many rows a second


def utcnow() -> str:
    """The current UTC time to the second, ISO 8601 (`2026-01-31T12:00:00+00:00`)."""
    global _NOW
    second = int(time.time())
    now = _NOW
    if now[0] != second:
        now = _NOW = (second, datetime.fromtimestamp(second, UTC).isoformat())
    return now[1]


def writer_kind(origin: str) -> WriterKind:
    """`import:<format>`, `llm:<backend>/<model>`, `human:<who>`, `match:<source>@<release>`."""
    kind = origin.split(":", 1)[0]
    if kind not in ("import", "llm", "human", "match") or ":" not in origin or not origin.split(":", 1)[1]:
        raise ValueError(f"origin must look like import:<format>, llm:<backend>/<model> or human:<who>, got {origin!r}")
    return kind  # type: ignore[return-value]


class Evidence(BaseModel):
    """A quote from a listing that supports a value. `quote=None` means there is no checked quote; `note` says why."""

    quote: str | None = None
    listing_id: int | None = None
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)
    checked: bool = False  # True only when the quote was found verbatim at [start, end) of the listing
    note: str | None = None  # e.g. "model inference, no quote"


class FieldValue(BaseModel):
    """One value of one enrichable field of one researcher, with where it came from. Rows are never edited."""

    id: int | None = None
    researcher_id: int
    field: str
    value: Any
    status: Status
    origin: str
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    prompt_version: str | None = None
    llm_call_id: int | None = None
    job_id: str | None = None
    listing_id: int | None = None
    created_at: str = Field(default_factory=utcnow)

    @field_validator("origin")
    @classmethod
    def _origin_shape(cls, v: str) -> str:
        writer_kind(v)
        return v


class DerivedFact(BaseModel):
    """A fact about a value that does not change it, e.g. the ROR id of an affiliation string."""

    id: int | None = None
    value_id: int
    kind: str  # e.g. "ror_id"
    value: Any
    origin: str  # e.g. "match:ror@v1.55"
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    detail: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=utcnow)


ProposalKind = Literal["field", "split", "merge"]
ProposalState = Literal["pending", "accepted", "rejected", "withdrawn"]


class Proposal(BaseModel):
    """A change waiting for a person. `field` proposals carry the proposed FieldValue and the current one it would
    replace; structural ones (`split`, `merge`) carry their plan in `payload`. All kinds render through one view:
    `summary` (what changes), `reason` (why) and the evidence."""

    id: int | None = None
    kind: ProposalKind = "field"
    researcher_id: int | None = None
    field: str | None = None
    proposed: FieldValue | None = None
    current: FieldValue | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    summary: str = ""
    reason: str = ""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    state: ProposalState = "pending"
    job_id: str | None = None
    created_at: str = Field(default_factory=utcnow)
    decided_at: str | None = None
    decided_by: str | None = None


class AuditEntry(BaseModel):
    id: int | None = None
    actor: str  # human:<who> or the origin of an automatic writer
    action: str  # set, accept, reject, edit, undo, rollback, import, generate, ...
    researcher_id: int | None = None
    field: str | None = None
    proposal_id: int | None = None
    before_value_id: int | None = None
    after_value_id: int | None = None
    before: Any = None
    after: Any = None
    job_id: str | None = None
    undoes: int | None = None  # the audit entry an `undo` reverted
    created_at: str = Field(default_factory=utcnow)


class WriteResult(BaseModel):
    """What the store did with a submitted value."""

    outcome: Literal["applied", "proposed", "unchanged", "skipped_rejected", "duplicate"]
    status: Status | None = None
    value_id: int | None = None
    proposal_id: int | None = None
    reason: str = ""
