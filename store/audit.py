"""The audit trail and proposal decisions, written inside a store transaction: by `Store` for every change of a
current value and every review action, and by the structural operations (structural.py, split_edit.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enrich.schemas import utcnow

from .rows import encode_json

if TYPE_CHECKING:
    from .core import Store


def record(
    store: Store,
    actor: str,
    action: str,
    *,
    researcher_id: int | None = None,
    field: str | None = None,
    proposal_id: int | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    job_id: str | None = None,
    before: Any = None,
    after: Any = None,
    undoes: int | None = None,
) -> int:
    """One audit row. A side that names a value row keeps no copy of it (values are append-only: the row stays, and
    the audit reads it from there); the copy was the largest part of every audit row."""
    return store.insert_row(
        "audit_log",
        {
            "actor": actor,
            "action": action,
            "researcher_id": researcher_id,
            "field": field,
            "proposal_id": proposal_id,
            "before_value_id": before_id,
            "after_value_id": after_id,
            "before": None if before_id is not None else encode_json(before),
            "after": None if after_id is not None else encode_json(after),
            "job_id": job_id,
            "undoes": undoes,
            "created_at": utcnow(),
        },
    )


def decide(store: Store, proposal_id: int, state: str, actor: str, result_value_id: int | None = None) -> None:
    """Close a proposal: accepted, rejected or withdrawn, by whom and when."""
    store.db.execute(
        "UPDATE proposals SET state = ?, decided_at = ?, decided_by = ?, result_value_id = ? WHERE id = ?",
        [state, utcnow(), actor, result_value_id, proposal_id],
    )
