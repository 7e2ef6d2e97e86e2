"""Fields a researcher holds several values of (schemas.names.SLOTTED: a joint appointment, a lab and its
university): which slot each stated value goes to. Every slot is a field of its own (`affiliation`,
`affiliation.2`, ...), so Store.submit's write policy, proposals, review and the audit apply to each value one by one.

A value keeps its slot across listing versions and runs: a stated value goes to the slot that already holds (or
proposes) the same organisation (the same name once folded, or the same ROR id); the others take, in page order, the
slots no stated value claimed (a value the page no longer states is replaced there, which the write policy turns into
a proposal when a person verified or accepted it), then empty slots. A value this listing stated before is not
written again, whatever became of it (a person replaced or rejected it: that decision stands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from enrich.schemas import PROTECTED_STATUSES, FieldValue, WriteResult
from enrich.schemas.fields import SLOTTED, base_field, slot_fields
from enrich.schemas.text import org_key

from .rows import in_chunks
from .stand_in import hands_over
from .stored_text import load_json

if TYPE_CHECKING:
    from .core import Store


def identity(value: object, ror_id: str | None = None) -> set[str]:
    """What makes two values of a slotted field the same organisation: the folded name, the ROR id."""
    keys = set()
    if isinstance(value, dict) and value.get("name"):
        keys.add("name:" + org_key(str(value["name"])))
    if ror_id:
        keys.add("ror:" + ror_id)
    return keys


@dataclass
class Slot:
    name: str  # the field: `affiliation`, `affiliation.2`, ...
    keys: set[str] = field(default_factory=set)  # of the current value and of pending proposals
    occupied: bool = False
    by_person: set[str] = field(default_factory=set)  # keys of the current value when a person verified / accepted it


@dataclass
class Held:
    """What `assign` reads of a researcher's slots of one field: each slot, primary first, with what it holds or
    proposes; and the folded names of every value of the field (any slot, any status) written from each listing."""

    slots: list[Slot]
    stated: dict[int, set[str]] = field(default_factory=dict)  # by listing id


def held(store: Store, researcher_ids: Sequence[int], base: str) -> dict[int, Held]:
    """`Held` of `base` for each of these researchers, in three reads for all of them."""
    names = slot_fields(base)
    marks = ", ".join("?" * len(names))
    out = {rid: Held([Slot(f) for f in names]) for rid in researcher_ids}
    for ids, rid_marks in in_chunks(list(researcher_ids)):
        rows = store.db.conn.execute(
            "SELECT c.researcher_id, fv.field, fv.id, fv.value, fv.status FROM current_values c "
            "JOIN field_values fv ON fv.id = c.value_id "
            f"WHERE c.researcher_id IN ({rid_marks}) AND c.field IN ({marks}) "
            "UNION ALL SELECT p.researcher_id, fv.field, fv.id, fv.value, 'proposed' FROM proposals p "
            "JOIN field_values fv ON fv.id = p.value_id "
            f"WHERE p.state = 'pending' AND p.kind = 'field' AND p.researcher_id IN ({rid_marks}) "
            f"AND p.field IN ({marks})",
            [*ids, *names, *ids, *names],
        ).fetchall()
        ror = ror_ids(store, [r[2] for r in rows])
        for rid, f, vid, value, status in rows:
            slot = out[rid].slots[names.index(f)]
            keys = identity(load_json(value), ror.get(vid))
            slot.keys |= keys
            slot.occupied = True
            if status in PROTECTED_STATUSES:
                slot.by_person |= keys
        stated = store.db.conn.execute(
            f"SELECT researcher_id, listing_id, value FROM field_values WHERE researcher_id IN ({rid_marks}) "
            f"AND listing_id IS NOT NULL AND field IN ({marks})",
            [*ids, *names],
        )
        for rid, listing_id, value in stated:
            before = out[rid].stated.setdefault(listing_id, set())
            before.update(k for k in identity(load_json(value)) if k.startswith("name:"))
    return out


def ror_ids(store: Store, value_ids: list[int]) -> dict[int, str]:
    """The ROR id derived for each of these values (the newest when there are several); values without one are
    left out."""
    out: dict[int, str] = {}
    for ids, marks in in_chunks(value_ids):
        rows = store.db.conn.execute(
            f"SELECT value_id, value FROM derived_facts WHERE kind = 'ror_id' AND value_id IN ({marks}) ORDER BY id",
            ids,
        )
        out.update((vid, load_json(v)) for vid, v in rows if v is not None)
    return out


def assign(
    store: Store,
    researcher_id: int,
    base: str,
    values: Sequence[tuple[FieldValue, str | None]],
    known: Held | None = None,
) -> list[str | None]:
    """The field (slot) each (value, ROR id) goes to, in the order given (page order: the first is the primary);
    None for a value to leave unwritten: stated before by the same listing, the same organisation a person already
    verified or accepted in its slot (a rewording of it is no news), or no slot left. `known`: the researcher's
    `Held` of `base`, read before (else read here)."""
    if base not in SLOTTED:
        raise ValueError(f"{base!r} holds one value per researcher")
    got = known if known is not None else held(store, [researcher_id], base)[researcher_id]
    taken: set[str] = set()
    out: list[str | None] = [None] * len(values)
    keys = [identity(fv.value, ror) for fv, ror in values]
    seen: set[str] = set()
    for i in range(len(values)):  # the same organisation twice on one page: once
        if keys[i] & seen:
            keys[i] = set()
        seen |= keys[i]
    settled: set[int] = set()
    for i, k in enumerate(keys):
        for s in got.slots:
            if k and s.name not in taken and s.keys & k:
                taken.add(s.name)
                settled.add(i)
                out[i] = None if s.by_person & k else s.name
                break
    free = [s.name for s in got.slots if s.name not in taken and s.occupied]
    free += [s.name for s in got.slots if not s.occupied]
    for i, k in enumerate(keys):
        if i not in settled and k and free:
            out[i] = free.pop(0)
    for i, (fv, _) in enumerate(values):
        if (
            out[i] is not None
            and fv.listing_id is not None
            and identity(fv.value) & got.stated.get(fv.listing_id, set())
        ):
            out[i] = None
    return out


def place(
    store: Store, values: Sequence[tuple[FieldValue, str | None]], known: Held | None = None
) -> list[FieldValue | None]:
    """Each of one researcher's stated values of one slotted field (page order, primary first) as it goes to its
    slot (`assign`: its field is the slot), or None for a value left unwritten. Reads only (`known`: as `assign`'s)."""
    if not values:
        return []
    first = values[0][0]
    fields = assign(store, first.researcher_id, base_field(first.field), values, known)
    return [None if f is None else fv.model_copy(update={"field": f}) for (fv, _), f in zip(values, fields)]


@hands_over
def submit_all(
    store: Store, values: Sequence[tuple[FieldValue, str | None]], *, auto_apply: bool | Sequence[bool] = False
) -> list[tuple[FieldValue, WriteResult] | None]:
    """Submit the stated values of one slotted field of one researcher (page order, primary first), each to its
    slot (`place`); `auto_apply`: for all, or per value. Returns, per value, the value as written (its field is the
    slot) and what the store did, or None for a value left unwritten."""
    if not values:
        return []
    with store.transaction():
        return [
            None if placed is None else (placed, store.submit(placed, auto_apply=ok))
            for placed, ok in zip(place(store, values), per_value(auto_apply, values))
        ]


def per_value(auto_apply: bool | Sequence[bool], values: Sequence[object]) -> list[bool]:
    """`submit_all`'s `auto_apply`, one flag per value."""
    return [auto_apply] * len(values) if isinstance(auto_apply, bool) else list(auto_apply)
