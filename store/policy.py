"""The write policy: writer x current status -> result. The store applies it; nothing else decides it.

| writer \\ current | empty | imported | generated | proposed | accepted / verified |
|---|---|---|---|---|---|
| page import (`import:<format>`) | imported | imported (supersedes) | imported (supersedes) | imported, proposal left unchanged | proposal |
| model (`llm:<backend>/<model>`) | generated if the policy allows, else proposal | proposal | proposal | new proposal | proposal |
| person (`human:<who>`: set / edit, accept) | verified / accepted | verified / accepted | verified / accepted | verified / accepted | verified / accepted |

"proposed" means the field has no applied value but a pending proposal. A value a person rejected is not
proposed again by the same origin with the same value.
"""

from __future__ import annotations

from typing import Literal

Current = Literal["empty", "imported", "generated", "proposed", "accepted", "verified"]
Result = Literal["imported", "generated", "proposal", "verified", "accepted"]

WRITE_POLICY: dict[str, dict[str, str]] = {
    "import": {
        "empty": "imported",
        "imported": "imported",
        "generated": "imported",
        "proposed": "imported",
        "accepted": "proposal",
        "verified": "proposal",
    },
    "llm": {
        "empty": "generated_if_allowed",
        "imported": "proposal",
        "generated": "proposal",
        "proposed": "proposal",
        "accepted": "proposal",
        "verified": "proposal",
    },
    "human_set": {c: "verified" for c in ("empty", "imported", "generated", "proposed", "accepted", "verified")},
    "human_accept": {c: "accepted" for c in ("empty", "imported", "generated", "proposed", "accepted", "verified")},
}


def current_state(current_status: str | None, has_pending: bool) -> Current:
    if current_status is None:
        return "proposed" if has_pending else "empty"
    return current_status  # type: ignore[return-value]


def decide(writer: str, current: Current, *, auto_apply_allowed: bool = False) -> Result:
    result = WRITE_POLICY[writer][current]
    if result == "generated_if_allowed":
        return "generated" if auto_apply_allowed else "proposal"
    return result  # type: ignore[return-value]
