"""One view of a proposal for every front end: what changes, why, and the evidence in its listing context.

The CLI (`enrich review show`) and the web page render the same `ProposalView`, whatever the proposal's kind
(a field value, or a structural split / merge from `payload`), so a new kind needs no new screen.
Listing text is untrusted: the view only ever holds plain strings split into segments; each front end escapes them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from enrich.schemas import Evidence, FieldValue, Proposal
from enrich.schemas.fields import base_field, display_value, shown_fields
from enrich.store import Store, StoreError, paging

CONTEXT_CHARS = 160  # listing text shown either side of an evidence quote
# payload keys the view renders itself (the rest are shown as "details"; `key` is a dedup key, not for people)
PAYLOAD_RENDERED = ("clusters", "shared_works", "unassigned", "key")


@dataclass
class Segment:
    text: str
    highlight: bool = False


@dataclass
class EvidenceView:
    quote: str | None
    listing_id: int | None
    listing_path: str | None
    segments: list[Segment]  # the quote (highlight=True) inside its surrounding listing text
    checked: bool
    located: bool  # the quote was found in the listing text (at its offsets, or by searching)
    note: str | None = None


@dataclass
class ClusterView:
    number: int
    works: list[dict[str, Any]]  # {"work_id", "title"}
    evidence: dict[str, list[Any]]


@dataclass
class ProposalView:
    id: int
    kind: str
    state: str
    researcher_id: int | None
    researcher_name: str | None
    field: str | None
    summary: str  # what changes, one line
    current: str  # the field's value now (display form), "" when empty
    current_status: str | None
    current_origin: str | None
    proposed: str  # the proposed value (display form)
    added: list[str]  # list fields (topics): items the proposal adds / removes
    removed: list[str]
    reason: str  # why
    origin: str | None
    backend: str | None
    model: str | None
    prompt_version: str | None
    confidence: float | None
    job_id: str | None
    created_at: str
    decided_at: str | None
    decided_by: str | None
    evidence: list[EvidenceView]
    # dataclasses.field, not field: the `field` attribute above shadows that name for type checkers
    clusters: list[ClusterView] = dataclasses.field(default_factory=list)
    shared_works: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {"work_id", "other", "title"}
    unassigned: list[dict[str, Any]] = dataclasses.field(
        default_factory=list
    )  # split: works that stay with the original
    details: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # other payload keys, as text
    edit_text: str = ""  # starting text for an edit (what `enrich review edit` / the edit box accepts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- evidence


def evidence_segments(text: str, start: int, end: int, context: int = CONTEXT_CHARS) -> list[Segment]:
    """The span [start, end) of `text` as a highlighted segment between up to `context` characters either side."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    if lo > 0:  # do not cut a word in half
        cut = min((i for i in (text.find(c, lo, start) for c in " \n\t") if i >= 0), default=-1)
        lo = cut + 1 if cut >= 0 else lo
    if hi < len(text):
        cut = max(text.rfind(c, end, hi) for c in " \n\t")
        hi = cut if cut >= 0 else hi
    before, quote, after = text[lo:start], text[start:end], text[end:hi]
    segments = [
        Segment(("…" if lo > 0 else "") + before),
        Segment(quote, True),
        Segment(after + ("…" if hi < len(text) else "")),
    ]
    return [s for s in segments if s.text]


def _locate(text: str, ev: Evidence) -> tuple[int, int] | None:
    if ev.quote is None:
        return None
    if ev.start is not None and ev.end is not None and text[ev.start : ev.end] == ev.quote:
        return ev.start, ev.end
    at = text.find(ev.quote)  # offsets missing or stale: a verbatim quote elsewhere in the text still counts
    return (at, at + len(ev.quote)) if at >= 0 and ev.quote else None


def evidence_view(store: Store, ev: Evidence, fallback_listing_id: int | None = None) -> EvidenceView:
    listing_id = ev.listing_id or fallback_listing_id
    listing = None
    if listing_id is not None:
        try:
            listing = store.get_listing(listing_id)
        except StoreError:
            listing = None
    span = _locate(listing.text, ev) if listing else None
    if listing and span:
        segments = evidence_segments(listing.text, *span)
        note = ev.note
    else:
        segments = [Segment(ev.quote, True)] if ev.quote else []
        note = ev.note or ("no quote" if ev.quote is None else "quote not found in the listing text")
    return EvidenceView(
        quote=ev.quote,
        listing_id=listing_id,
        listing_path=listing.path if listing else None,
        segments=segments,
        checked=ev.checked,
        located=span is not None,
        note=note,
    )


# ---------------------------------------------------------------------------------------------- proposals


def split_origin(origin: str | None) -> tuple[str | None, str | None]:
    """`llm:<backend>/<model>` -> (backend, model); other origins -> (None, None)."""
    if not origin or not origin.startswith("llm:"):
        return None, None
    backend, _, model = origin[4:].partition("/")
    return backend or None, model or None


def edit_text(field_name: str | None, value: Any) -> str:
    """A value as a person would type it back (schemas.fields.coerce_cli_value reads this form)."""
    if value is None or field_name is None:
        return ""
    if base_field(field_name) == "affiliation" and isinstance(value, dict):
        return str(value.get("name", ""))
    return json.dumps(value, ensure_ascii=False, indent=2)


def _topic_names(value: Any) -> list[str]:
    return [str(t.get("tag")) for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def _work_titles(store: Store, researcher_ids: list[Any]) -> dict[str, str | None]:
    titles: dict[str, str | None] = {}
    for rid in researcher_ids:
        if isinstance(rid, int):
            try:
                titles.update({w.work_id: w.title for w in store.researcher_works(rid)})
            except StoreError:
                pass
    return titles


def _work_ref(item: Any, titles: dict[str, str | None]) -> dict[str, Any]:
    """A work named in a payload: an id, {"work_id", "title"}, or a pair [id_a, id_b] (the same work on two pages)."""
    if isinstance(item, dict):
        wid = str(item.get("work_id"))
        return {"work_id": wid, "other": None, "title": item.get("title") or titles.get(wid)}
    if isinstance(item, (list, tuple)) and item:
        wid, other = str(item[0]), (str(item[1]) if len(item) > 1 else None)
        return {"work_id": wid, "other": other, "title": titles.get(wid) or (titles.get(other) if other else None)}
    return {"work_id": str(item), "other": None, "title": titles.get(str(item))}


def _clusters(
    store: Store, payload: dict[str, Any], researcher_id: int | None
) -> tuple[list[ClusterView], list[dict], list[dict]]:
    titles = _work_titles(store, [researcher_id, payload.get("researcher_a"), payload.get("researcher_b")])
    clusters = []
    for i, c in enumerate(payload.get("clusters") or [], start=1):
        ids = [str(w) for w in c.get("work_ids", [])]
        given = list(c.get("titles") or [])
        works = [
            {"work_id": wid, "other": None, "title": given[j] if j < len(given) and given[j] else titles.get(wid)}
            for j, wid in enumerate(ids)
        ]
        evidence = {k: list(v) for k, v in (c.get("evidence") or {}).items() if isinstance(v, list) and v}
        clusters.append(ClusterView(number=i, works=works, evidence=evidence))
    shared = [_work_ref(w, titles) for w in payload.get("shared_works") or []]
    unassigned = [_work_ref(w, titles) for w in payload.get("unassigned") or []]
    return clusters, shared, unassigned


def proposal_view(store: Store, proposal: Proposal | int) -> ProposalView:
    p = store.get_proposal(proposal) if isinstance(proposal, int) else proposal
    name = None
    if p.researcher_id is not None:
        try:
            name = store.get_researcher(p.researcher_id).name
        except StoreError:
            name = None
    proposed_fv: FieldValue | None = p.proposed
    # show the field as it is now (it may have changed since the proposal was made)
    now = store.current(p.researcher_id, p.field) if p.kind == "field" and p.researcher_id and p.field else None
    current_value = now.value if now else None
    proposed_value = proposed_fv.value if proposed_fv else None
    added = removed = []
    if p.field == "topics":
        old, new = _topic_names(current_value), _topic_names(proposed_value)
        added, removed = [t for t in new if t not in old], [t for t in old if t not in new]
    origin = proposed_fv.origin if proposed_fv else None
    backend, model = split_origin(origin)
    evidence = [evidence_view(store, ev, proposed_fv.listing_id) for ev in proposed_fv.evidence] if proposed_fv else []
    clusters, shared, unassigned = _clusters(store, p.payload, p.researcher_id)
    details = [
        (k.replace("_", " "), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
        for k, v in p.payload.items()
        if k not in PAYLOAD_RENDERED and v not in (None, "", [], {}) and not (k == "confidence" and v == p.confidence)
    ]
    return ProposalView(
        id=p.id or 0,
        kind=p.kind,
        state=p.state,
        researcher_id=p.researcher_id,
        researcher_name=name,
        field=p.field,
        summary=p.summary,
        current=display_value(p.field or "", current_value) if p.field else "",
        current_status=now.status if now else None,
        current_origin=now.origin if now else None,
        proposed=display_value(p.field or "", proposed_value) if p.field else "",
        added=added,
        removed=removed,
        reason=p.reason,
        origin=origin,
        backend=backend,
        model=model,
        prompt_version=proposed_fv.prompt_version if proposed_fv else None,
        confidence=p.confidence if p.confidence is not None else (proposed_fv.confidence if proposed_fv else None),
        job_id=p.job_id,
        created_at=p.created_at,
        decided_at=p.decided_at,
        decided_by=p.decided_by,
        evidence=evidence,
        clusters=clusters,
        shared_works=shared,
        unassigned=unassigned,
        details=details,
        edit_text=edit_text(p.field, proposed_value),
    )


@dataclass
class QueueFilters:
    field: str | None = None
    researcher: str | None = None  # id or name
    job: str | None = None
    min_confidence: float | None = None
    kind: str | None = None
    sort: str = "id"  # id | confidence | researcher

    def researcher_id(self, store: Store) -> int | None:
        return store.find_researcher(self.researcher).id if self.researcher else None


SORTS = {"id": "id", "confidence": "confidence", "researcher": "researcher"}


def _check_field(name: str | None) -> None:
    from enrich.schemas.fields import check_field

    if name is not None:
        try:
            check_field(name)
        except ValueError as exc:
            raise StoreError(str(exc)) from None


def queue(store: Store, filters: QueueFilters, state: str | None = "pending") -> list[Proposal]:
    """The proposals the CLI list, the bulk rules and the web queue all show (one query: Store.proposals)."""
    _check_field(filters.field)
    if filters.sort not in SORTS:
        raise StoreError(f"unknown sort {filters.sort!r}; use one of: {', '.join(SORTS)}")
    return store.proposals(
        state,
        field=filters.field,
        researcher_id=filters.researcher_id(store),
        job_id=filters.job,
        min_confidence=filters.min_confidence,
        kind=filters.kind,
        order=SORTS[filters.sort],
    )


def _query(store: Store, filters: QueueFilters, state: str | None) -> paging.QueueQuery:
    _check_field(filters.field)
    if filters.sort not in SORTS:
        raise StoreError(f"unknown sort {filters.sort!r}; use one of: {', '.join(SORTS)}")
    return paging.QueueQuery(
        state=state,
        field=filters.field,
        researcher_id=filters.researcher_id(store),
        job_id=filters.job,
        min_confidence=filters.min_confidence,
        kind=filters.kind,
        sort=SORTS[filters.sort],
    )


def queue_page(
    store: Store,
    filters: QueueFilters,
    *,
    limit: int = 50,
    after: str | None = None,
    before: str | None = None,
    state: str | None = "pending",
) -> paging.Page:
    """One page of the queue (keyset: `after` / `before` cursors) with the number of matching proposals in
    `page.extra["total"]`: what the CLI list and the web queue show."""
    q = _query(store, filters, state)
    try:
        page = paging.proposal_page(store, q, limit=limit, after=after, before=before)
    except paging.CursorError as exc:
        raise StoreError(str(exc)) from None
    page.extra["total"] = paging.count_proposals(store, q)
    return page


def queue_count(store: Store, filters: QueueFilters, state: str | None = "pending") -> int:
    return paging.count_proposals(store, _query(store, filters, state))


def queue_ids(store: Store, filters: QueueFilters, state: str | None = "pending") -> Iterator[int]:
    """Every matching proposal id in the queue's order, read a page at a time (bulk decisions)."""
    return paging.proposal_ids(store, _query(store, filters, state))


@dataclass
class BulkPlan:
    """What a bulk decision on a filter would do (shown with its count before a person confirms)."""

    action: str  # accept | reject
    matched: int
    todo: list[int]
    skipped_protected: list[int]  # accept: the field holds a verified / accepted value
    skipped_structural: list[int]  # split / merge: a person looks at each one

    def summary(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            f"would_{self.action}": len(self.todo),
            "skipped_protected": self.skipped_protected,
            "skipped_structural": self.skipped_structural,
        }


def bulk_plan(
    store: Store, filters: QueueFilters, *, action: str = "accept", include_protected: bool = False
) -> BulkPlan:
    """The proposals a bulk accept / reject on these filters decides: never a split or merge (each needs a
    look), and an accept never touches a field a person verified or accepted unless `include_protected`."""
    from enrich.schemas import PROTECTED_STATUSES

    if action not in ("accept", "reject"):
        raise StoreError(f"unknown bulk action {action!r}")
    rows = paging.decision_candidates(store, _query(store, filters, "pending"))
    plan = BulkPlan(action, len(rows), [], [], [])
    for pid, kind, current_status in rows:
        if kind != "field":
            plan.skipped_structural.append(pid)
        elif action == "accept" and current_status in PROTECTED_STATUSES and not include_protected:
            plan.skipped_protected.append(pid)
        else:
            plan.todo.append(pid)
    return plan


@dataclass
class BulkCounts:
    """How many proposals a bulk decision would decide and skip (counts only: the web confirmation page)."""

    action: str
    matched: int
    todo: int
    skipped_protected: int
    skipped_structural: int


def bulk_counts(store: Store, filters: QueueFilters, *, action: str = "accept") -> BulkCounts:
    if action not in ("accept", "reject"):
        raise StoreError(f"unknown bulk action {action!r}")
    c = paging.decision_counts(store, _query(store, filters, "pending"))
    protected = c["protected"] if action == "accept" else 0
    todo = c["matched"] - c["structural"] - protected
    return BulkCounts(action, c["matched"], todo, protected, c["structural"])


def queue_row(store: Store, p: Proposal, names: Mapping[int | None, str | None] | None = None) -> dict[str, Any]:
    """One line of the queue (CLI table / --json, web table)."""
    if names is None:
        names = {r.id: r.name for r in store.researchers(include_merged=True)}
    return {
        "id": p.id,
        "kind": p.kind,
        "researcher_id": p.researcher_id,
        "researcher": names.get(p.researcher_id) if p.researcher_id is not None else None,
        "field": p.field,
        "summary": p.summary,
        "confidence": p.confidence,
        "origin": p.proposed.origin if p.proposed else None,
        "job_id": p.job_id,
        "state": p.state,
        "created_at": p.created_at,
    }


def queue_rows(store: Store, filters: QueueFilters, state: str | None = "pending") -> list[dict[str, Any]]:
    names = {r.id: r.name for r in store.researchers(include_merged=True)}
    return [queue_row(store, p, names) for p in queue(store, filters, state)]


# ---------------------------------------------------------------------------------------------- researchers


@dataclass
class FieldView:
    field: str
    badge: str  # verified / imported / accepted / generated / proposed / empty
    value: str
    origin: str | None
    confidence: float | None
    job_id: str | None
    value_id: int | None
    ror_id: str | None = None
    pending: int = 0  # pending proposals for the field


@dataclass
class SentenceView:
    text: str
    works: list[str]  # cited work ids (anchors #work-<id> on the researcher page)


@dataclass
class ResearcherView:
    id: int
    name: str | None
    fields: list[FieldView]
    summary: list[SentenceView]  # the current plain-language summary, sentence by sentence
    summary_badge: str | None
    works: list[dict[str, Any]]
    proposals: list[Proposal]
    listings: list[dict[str, Any]]


def field_badge(current: FieldValue | None, pending: int) -> str:
    if current is not None:
        return current.status
    return "proposed" if pending else "empty"


def researcher_view(store: Store, researcher_id: int) -> ResearcherView:
    r = store.get_researcher(researcher_id)
    current = store.current_all(researcher_id)
    pending = store.proposals("pending", researcher_id=researcher_id)
    fields = []
    for name in shown_fields([*current, *(p.field for p in pending if p.field)]):  # each affiliation on its own row
        fv = current.get(name)
        n = sum(1 for p in pending if p.field == name)
        ror = None
        if fv is not None and fv.id is not None and base_field(name) == "affiliation":
            facts = store.derived(fv.id, "ror_id")
            ror = str(facts[0].value) if facts else None
        fields.append(
            FieldView(
                field=name,
                badge=field_badge(fv, n),
                value=display_value(name, fv.value) if fv else "",
                origin=fv.origin if fv else None,
                confidence=fv.confidence if fv else None,
                job_id=fv.job_id if fv else None,
                value_id=fv.id if fv else None,
                ror_id=ror,
                pending=n,
            )
        )
    summary_fv = current.get("summary")
    sentences = []
    if summary_fv and isinstance(summary_fv.value, dict):
        sentences = [
            SentenceView(text=str(s.get("text", "")), works=[str(w) for w in s.get("works", [])])
            for s in summary_fv.value.get("sentences", [])
        ]
    works = [
        {
            "work_id": w.work_id,
            "title": w.title,
            "year": w.year,
            "venue": w.venue,
            "authors": w.authors,
            "abstract": w.abstract,
        }
        for w in store.researcher_works(researcher_id)
    ]
    listings = [
        {"id": lst.id, "path": lst.path, "format": lst.format, "version": lst.version}
        for lst in store.researcher_listings(researcher_id)
    ]
    return ResearcherView(
        id=researcher_id,
        name=r.name,
        fields=fields,
        summary=sentences,
        summary_badge=summary_fv.status if summary_fv else None,
        works=works,
        proposals=pending,
        listings=listings,
    )


def audit_rows(
    store: Store, *, researcher_id: int | None = None, job_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Audit entries for display: who, when, action, before, after (values in display form)."""
    rows = []
    for a in store.audit_entries(researcher_id=researcher_id, job_id=job_id, limit=limit):

        def show(v: Any, field: str | None = a.field) -> str:
            if v is None:
                return ""
            if field:
                return display_value(field, v)
            return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

        rows.append(
            {
                "id": a.id,
                "when": a.created_at,
                "who": a.actor,
                "action": a.action,
                "researcher_id": a.researcher_id,
                "field": a.field,
                "proposal_id": a.proposal_id,
                "before": show(a.before),
                "after": show(a.after),
                "job_id": a.job_id,
                "undoes": a.undoes,
            }
        )
    return rows
