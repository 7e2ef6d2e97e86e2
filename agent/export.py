"""The export contract (schemas.runs.ExportLine, schema_version 2) built from store reads only.

`enrich export`, the agent and the web page all call these functions, so a researcher looks the same everywhere.
Only current (applied) values are exported; a field with no applied value is null (or [] for topics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from enrich.schemas import FieldValue, Listing, Researcher, Work
from enrich.schemas.fields import slot_fields
from enrich.schemas.runs import (
    ExportLine,
)
from enrich.store import Store, export_reads, structural

# CSV columns, in order, and what each holds. Shown by `enrich export --help` and the README.
CSV_COLUMNS: dict[str, str] = {
    "researcher_id": "researcher id (empty for a paper feed)",
    "name": "researcher name",
    "job_id": "the enrichment job that set the newest exported value",
    "listing_paths": "listing file paths, ';'-separated",
    "listing_formats": "listing formats, ';'-separated",
    "affiliation_value": "current affiliation",
    "affiliation_ror_id": "ROR id matched to the affiliation",
    "affiliation_status": "status of the affiliation (verified, imported, generated, accepted)",
    "affiliation_origin": "origin (human:<who>, import:<format>, llm:<backend>/<model>)",
    "affiliation_confidence": "confidence 0-1",
    "affiliation_evidence": "evidence quotes, ' | '-separated",
    "affiliations": "every affiliation, the primary first, as 'value <ror_id>', ' ; '-separated",
    "topics": "topic tags as 'tag:score;tag:score'",
    "topics_status": "status of the topics value",
    "summary_text": "plain-language summary",
    "summary_status": "status of the summary",
    "summary_origin": "origin of the summary",
    "conflation_detected": "true/false when the listing was checked for several same-name people, else empty",
    "conflation_confidence": "probability 0-1 that the listing mixes several people",
    "conflation_clusters": "number of work clusters found",
    "work_count": "number of works",
}


def _listing_path(store: Store, listing_id: int | None, cache: dict[int, str]) -> str | None:
    if listing_id is None:
        return None
    if listing_id not in cache:
        try:
            cache[listing_id] = store.get_listing(listing_id).path
        except Exception:  # a dangling id in old evidence: export the quote without its listing
            return None
    return cache[listing_id]


def _affiliations(
    values: dict[str, FieldValue], ror_ids: dict[int, str], listing_path: Any
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(`affiliation`, `affiliations`): every applied affiliation slot in slot order; the primary one is the first
    of them (the `affiliation` slot unless it is empty)."""
    items: list[dict[str, Any]] = []
    for f in slot_fields("affiliation"):
        fv = values.get(f)
        if fv is None:
            continue
        items.append(
            {
                "value": fv.value["name"],
                "ror_id": ror_ids.get(fv.id) if fv.id is not None else None,
                "status": fv.status,
                "origin": fv.origin,
                "confidence": fv.confidence,
                "job_id": fv.job_id,
                "evidence": [
                    {"quote": e.quote, "listing": listing_path(e.listing_id), "start": e.start, "end": e.end}
                    for e in fv.evidence
                ],
                "field": f,
                "primary": not items,
            }
        )
    primary = {k: v for k, v in items[0].items() if k not in ("field", "primary")} if items else None
    return primary, items


def _topics(fv: FieldValue | None) -> list[dict[str, Any]]:
    if fv is None:
        return []
    return [
        {"tag": t["tag"], "label": t["label"], "score": t["score"], "status": fv.status, "works": t.get("works", [])}
        for t in fv.value
    ]


def _summary(fv: FieldValue | None) -> dict[str, Any] | None:
    if fv is None:
        return None
    return {
        "text": fv.value["text"],
        "status": fv.status,
        "origin": fv.origin,
        "job_id": fv.job_id,
        "sentences": [{"text": s["text"], "works": s.get("works", [])} for s in fv.value.get("sentences", [])],
        "confidence": fv.confidence,
        "readability": fv.value.get("readability"),
    }


def _clusters(clusters: list[tuple[list[str], list[str | None]]]) -> list[list[dict[str, Any]]]:
    """Each cluster's works as (work ids, titles), titles possibly shorter than ids."""
    return [
        [{"work_id": wid, "title": titles[i] if i < len(titles) else None} for i, wid in enumerate(work_ids)]
        for work_ids, titles in clusters
    ]


def _conflation(store: Store, listings: list[Listing]) -> dict[str, Any] | None:
    """The verdict on the newest listing that has one."""
    for listing in sorted(listings, key=lambda lst: lst.id or 0, reverse=True):
        result = structural.get_conflation(store, listing_id=listing.id)
        if result is not None:
            return {
                "detected": result.detected,
                "confidence": result.confidence,
                "clusters": _clusters([(c.work_ids, c.titles) for c in result.clusters]),
            }
    return None


def _works(works: list[Work]) -> list[dict[str, Any]]:
    return [{"work_id": w.work_id, "title": w.title, "year": w.year, "venue": w.venue} for w in works]


def _listings(listings: list[Listing]) -> list[dict[str, Any]]:
    return [
        {"path": lst.path, "sha256": lst.sha256, "format": lst.format, "external_id": lst.external_id}
        for lst in listings
    ]


# The lines are built as plain data and validated once, by ExportLine, rather than object by object: one
# validation per line instead of a few dozen model constructions (export speed is a goal in bench/bench_scale.py).


def researcher_line(store: Store, researcher: Researcher | int) -> ExportLine:
    """One researcher's export line."""
    r = store.get_researcher(researcher) if isinstance(researcher, int) else researcher
    assert r.id is not None
    values = store.current_all(r.id)
    listings = store.researcher_listings(r.id)
    paths = {lst.id: lst.path for lst in listings if lst.id is not None}
    by_jobs = [fv for fv in values.values() if fv.job_id]
    newest_job = max(by_jobs, key=lambda fv: fv.id or 0).job_id if by_jobs else None
    ror_ids = {
        fv.id: facts[0].value
        for fv in values.values()
        if fv.id is not None and fv.field in slot_fields("affiliation") and (facts := store.derived(fv.id, "ror_id"))
    }
    affiliation, affiliations = _affiliations(values, ror_ids, lambda lid: _listing_path(store, lid, paths))
    return ExportLine.model_validate(
        {
            "researcher_id": r.id,
            "name": r.name,
            "job_id": newest_job,
            "external_id": next((lst.external_id for lst in listings if lst.external_id), None),
            "listings": _listings(listings),
            "affiliation": affiliation,
            "affiliations": affiliations,
            "topics": _topics(values.get("topics")),
            "summary": _summary(values.get("summary")),
            "conflation": _conflation(store, listings),
            "works": _works(store.researcher_works(r.id)),
        }
    )


def feed_line(store: Store, listing: Listing) -> ExportLine:
    """A listing with no identifiable person (a paper feed): its works only."""
    assert listing.id is not None
    return ExportLine.model_validate(
        {
            "researcher_id": None,
            "name": None,
            "listings": _listings([listing]),
            "conflation": _conflation(store, [listing]),
            "works": _works(store.listing_works(listing.id)),
        }
    )


def _batch_line(item: export_reads.ResearcherBatchItem) -> ExportLine:
    """researcher_line's result from a batch read (same fields, same order)."""
    values = item.values
    paths = {lst["id"]: lst["path"] for lst in item.listings}
    by_jobs = [fv for fv in values.values() if fv.job_id]
    newest_job = max(by_jobs, key=lambda fv: fv.id or 0).job_id if by_jobs else None
    affiliation, affiliations = _affiliations(values, item.ror_ids, paths.get)
    conflation = None
    if item.conflation is not None:
        conflation = {
            "detected": item.conflation["detected"],
            "confidence": item.conflation["confidence"],
            "clusters": _clusters(
                [(c.get("work_ids", []), c.get("titles") or []) for c in item.conflation["clusters"]]
            ),
        }
    return ExportLine.model_validate(
        {
            "researcher_id": item.id,
            "name": item.name,
            "job_id": newest_job,
            "external_id": next((lst["external_id"] for lst in item.listings if lst["external_id"]), None),
            "listings": [{k: lst[k] for k in ("path", "sha256", "format", "external_id")} for lst in item.listings],
            "affiliation": affiliation,
            "affiliations": affiliations,
            "topics": _topics(values.get("topics")),
            "summary": _summary(values.get("summary")),
            "conflation": conflation,
            "works": item.works,
        }
    )


def export_lines(store: Store, *, include_feeds: bool = False, since: str | None = None) -> Iterator[ExportLine]:
    """Every researcher, in id order, read a batch at a time (memory does not grow with the store); then, if asked,
    every paper feed (latest version of each path). `since` (an ISO time): only researchers with anything written,
    imported, reviewed or rolled back since then (feeds: imported since then)."""
    for ids in export_reads.researcher_ids(store, since):
        for item in export_reads.researcher_batch(store, ids):
            yield _batch_line(item)
    if include_feeds:
        latest: dict[str, Listing] = {}
        for lst in store.listings():
            if lst.kind == "feed" and (lst.path not in latest or lst.version > latest[lst.path].version):
                latest[lst.path] = lst
        for lst in sorted(latest.values(), key=lambda x: x.id or 0):
            if since is None or lst.imported_at >= since:
                yield feed_line(store, lst)


def resolve_since(store: Store, value: str) -> str:
    """`--since JOB|TIME`: a job id (its start time) or an ISO date/time (UTC unless it says otherwise), as the
    store's timestamp format."""
    from datetime import UTC, datetime

    from enrich.store import StoreError

    try:
        return store.get_job(value).started_at
    except StoreError:
        pass
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StoreError(f"--since {value!r} is neither a job id (see `enrich jobs`) nor an ISO time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def csv_row(line: ExportLine) -> dict[str, Any]:
    """Flatten one export line into the documented CSV columns (CSV_COLUMNS)."""
    a, s, c = line.affiliation, line.summary, line.conflation
    row = {
        "researcher_id": line.researcher_id,
        "name": line.name,
        "job_id": line.job_id,
        "listing_paths": ";".join(lst.path for lst in line.listings),
        "listing_formats": ";".join(lst.format for lst in line.listings),
        "affiliation_value": a.value if a else None,
        "affiliation_ror_id": a.ror_id if a else None,
        "affiliation_status": a.status if a else None,
        "affiliation_origin": a.origin if a else None,
        "affiliation_confidence": _num(a.confidence) if a else None,
        "affiliation_evidence": " | ".join(e.quote for e in a.evidence if e.quote) if a else None,
        "affiliations": " ; ".join(x.value + (f" <{x.ror_id}>" if x.ror_id else "") for x in line.affiliations),
        "topics": ";".join(f"{t.tag}:{t.score:.2f}" for t in line.topics),
        "topics_status": line.topics[0].status if line.topics else None,
        "summary_text": s.text if s else None,
        "summary_status": s.status if s else None,
        "summary_origin": s.origin if s else None,
        "conflation_detected": ("true" if c.detected else "false") if c else None,
        "conflation_confidence": _num(c.confidence) if c else None,
        "conflation_clusters": len(c.clusters) if c else None,
        "work_count": len(line.works),
    }
    assert list(row) == list(CSV_COLUMNS)
    return {k: "" if v is None else v for k, v in row.items()}
