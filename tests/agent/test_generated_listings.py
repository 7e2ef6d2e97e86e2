"""Generated listings in every supported layout, with odd content, go through ingest and every agent step with the
fake model: no job aborts, and every step that raised is recorded for its researcher and step.

Listings are batched (one store and one job per batch of BATCH listings) so that >= 500 of them run in a few
seconds of the normal suite."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from listing_gen import ListingSpec, listing_specs, render
from store_sql import rows

from enrich.agent.fake_answers import grounded_answer
from enrich.agent.ingest import UnknownFormatError, parse
from enrich.agent.llm.fake import FunctionModel
from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.settings import load
from enrich.store import Store

BATCH = 12
EXAMPLES = 44
STATS: Counter[str] = Counter()


@functools.cache
def _migrated() -> Store:
    return Store.open(":memory:")


def fresh_store() -> Store:
    """An empty, migrated in-memory store: a copy of one migrated once (the migrations take ~0.1 s a store)."""
    store = Store.open(":memory:", migrate=False)
    _migrated().db.conn.backup(store.db.conn)
    return store


def ingest(store: Store, specs: list[ListingSpec]) -> None:
    for i, spec in enumerate(specs):
        STATS["generated"] += 1  # (a second version of a page counts again)
        text = render(spec)
        try:
            parsed = parse(text, path=f"gen-{i}.txt")
        except UnknownFormatError:  # `enrich ingest` reports the file and goes on
            STATS["unknown_format"] += 1
            continue
        STATS[f"format:{parsed.format}"] += 1
        store.record_import(parsed, text=text, path=f"gen-{i}.txt")
        STATS["listings"] += 1


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(
    specs=st.lists(listing_specs(), min_size=BATCH - 1, max_size=BATCH - 1),
    # one listing of each batch may be long: 300 works (one batch in six), else a few
    last=st.sampled_from([300, 1, 2, 3, 6, 12]).flatmap(lambda n: listing_specs(n_works=n)),
)
def check_batch(specs: list[ListingSpec], last: ListingSpec) -> None:
    store = fresh_store()
    try:
        ingest(store, [*specs, last])
        STATS["first_versions"] += BATCH
        run_and_check(store)
        # a second version of every third page (its last work gone, or a work added): stale values, new versions
        changed = [
            dataclasses.replace(s, works=s.works[:-1] if len(s.works) > 1 else s.works * 2) if i % 3 == 0 else s
            for i, s in enumerate([*specs, last])
        ]
        ingest(store, changed)
        run_and_check(store)
    finally:
        store.close()


def run_and_check(store: Store) -> None:
    seen: list[tuple[int, str, str]] = []
    runner = JobRunner(
        store,
        FunctionModel(grounded_answer, store=store),
        load(db=":memory:"),
        on_progress=lambda done, total, plan, outcomes: seen.extend(
            (plan.researcher_id, o.step, o.status) for o in outcomes
        ),
    )
    job = runner.start(RunOptions())
    STATS["jobs"] += 1
    STATS["aborted"] += job.state != "done"
    assert job.state == "done", job.error
    assert job.cursor == len(job.todo)
    # every step that raised is on record for its researcher and step, and counted on the job
    raised = sorted((rid, step) for rid, step, status in seen if status == "error")
    recorded = sorted((e.researcher_id, e.step) for e in store.job_errors(job_id=job.id, limit=10_000))
    assert raised == recorded and job.errors == len(recorded)
    # every step that failed or raised is remembered for its researcher (held back until --retry-failed)
    missed = {
        (r["researcher_id"], r["field"]) for r in rows(store, "SELECT * FROM step_misses WHERE status = 'failed'")
    }
    assert {(rid, step) for rid, step, status in seen if status in ("failed", "error")} <= missed
    STATS["step_failures"] += sum(status == "failed" for _, _, status in seen)
    STATS["step_errors"] += len(recorded)
    STATS["steps"] += len(seen)
    STATS.update(f"{step}:{status}" for _, step, status in seen)


def test_generated_listings_never_abort_a_job():
    STATS.clear()
    check_batch()
    assert STATS["aborted"] == 0
    assert STATS["first_versions"] >= 500, STATS
    # >= 500 listings went through the steps (the module's promise). Not a share of those generated: hypothesis
    # draws odd pages (one-word titles, lone initials) in bursts, and a format that cannot be told is skipped as
    # `enrich ingest` skips it; the share seen was 0.70-0.90 between runs
    assert STATS["listings"] >= 500, STATS
    assert STATS["steps"] > STATS["listings"]  # the steps did run
