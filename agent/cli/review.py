"""`enrich review` (decide what the agent proposed), `enrich rollback JOB` and `enrich audit`.

Every decision goes through the store's review actions (accept / reject / undo / rollback_job), which apply the
never-override rule and write the audit row; this module only chooses proposals and prints.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import click

from enrich.agent.cli.common import EnrichError, emit_json, json_option, output, pass_app

T = TypeVar("T")

QUEUE_COLUMNS = ["id", "kind", "researcher_id", "researcher", "field", "summary", "confidence", "origin", "job_id"]
AUDIT_COLUMNS = ["id", "when", "who", "action", "researcher_id", "field", "proposal_id", "before", "after", "job_id"]


def default_reviewer() -> str:
    return os.environ.get("USER") or "reviewer"


def who_option(fn: Callable) -> Callable:
    return click.option(
        "--who",
        default=default_reviewer,
        show_default="$USER or 'reviewer'",
        help="Who decides (recorded in the audit log as human:<who>).",
    )(fn)


def filter_options(fn: Callable) -> Callable:
    """The queue filters, shared by `review`, `review list` and bulk `review accept`."""
    for opt in reversed(
        [
            click.option(
                "--field",
                default=None,
                help="Only proposals for this field (affiliation: every affiliation; affiliation.2: the second; topics, summary).",
            ),
            click.option("--researcher", default=None, help="Only proposals for this researcher (id or exact name)."),
            click.option("--job", default=None, help="Only proposals made by this job id."),
            click.option(
                "--min-confidence",
                type=click.FloatRange(0, 1),
                default=None,
                help="Only proposals with at least this confidence (0-1).",
            ),
            click.option(
                "--kind",
                type=click.Choice(["field", "split", "merge"]),
                default=None,
                help="Only proposals of this kind.",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _filters(
    field: str | None,
    researcher: str | None,
    job: str | None,
    min_confidence: float | None,
    kind: str | None,
    sort: str = "id",
):
    from enrich.agent.review_view import QueueFilters

    return QueueFilters(
        field=field, researcher=researcher, job=job, min_confidence=min_confidence, kind=kind, sort=sort
    )


def _store_errors(fn: Callable[[], T]) -> T:
    """Run a store call, turning its refusals (and invalid values) into one-line user errors."""
    from pydantic import ValidationError

    from enrich.store import StoreError

    try:
        return fn()
    except StoreError as exc:
        raise EnrichError(str(exc)) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise EnrichError(f"invalid value: {loc + ': ' if loc else ''}{first.get('msg')}") from exc


sort_option = click.option(
    "--sort",
    type=click.Choice(["id", "confidence", "researcher"]),
    default="id",
    show_default=True,
    help="Order of the list.",
)


def page_options(fn: Callable) -> Callable:
    """Keyset paging of the list: a page costs the same wherever it is in the queue."""
    fn = click.option(
        "--after",
        "after",
        default=None,
        metavar="CURSOR",
        help="Start after this cursor (the `cursor` of the last row of the previous page, printed below the table).",
    )(fn)
    return click.option(
        "--limit",
        type=click.IntRange(1, 1000),
        default=50,
        show_default=True,
        help="Proposals per page.",
    )(fn)


def _list(app, filters, as_json: bool, limit: int = 50, after: str | None = None) -> None:
    from enrich.agent.review_view import queue_page

    page = _store_errors(lambda: queue_page(app.store, filters, limit=limit, after=after))
    rows = page.rows
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        if r["confidence"] is not None:
            r["confidence"] = f"{r['confidence']:.2f}"
    total = page.extra["total"]
    title = f"{len(rows)} of {total} pending proposal(s)" if page.next or after else f"{total} pending proposal(s)"
    output(rows, QUEUE_COLUMNS, False, title=title)
    if page.next:
        click.echo(
            f"next page: enrich review --after {page.next}"
            + (f" --sort {filters.sort}" if filters.sort != "id" else "")
        )


# ---------------------------------------------------------------------------------------------- review group


@click.group("review", invoke_without_command=True)
@filter_options
@sort_option
@page_options
@json_option
@pass_app
@click.pass_context
def review(ctx: click.Context, app, field, researcher, job, min_confidence, kind, sort, limit, after, as_json) -> None:
    """Review what the agent proposed. Without a subcommand: list pending proposals.

    \b
    enrich review --field topics --sort confidence
    enrich review --limit 50 --after CURSOR       (next page; --json rows carry their cursor)
    enrich review show 12
    enrich review accept 12 13 / reject 14 / edit 15 "University of Oslo" / undo
    enrich review accept --field topics --min-confidence 0.9 --job J   (bulk, asks first)
    """
    if ctx.invoked_subcommand is None:
        _list(app, _filters(field, researcher, job, min_confidence, kind, sort), as_json, limit, after)


@review.command("list")
@filter_options
@sort_option
@page_options
@json_option
@pass_app
def review_list(app, field, researcher, job, min_confidence, kind, sort, limit, after, as_json) -> None:
    """List pending proposals, a page at a time (filter, sort, --limit, --after, --json)."""
    _list(app, _filters(field, researcher, job, min_confidence, kind, sort), as_json, limit, after)


@review.command("show")
@click.argument("proposal_id", type=int)
@json_option
@pass_app
def review_show(app, proposal_id: int, as_json: bool) -> None:
    """Show one proposal: current vs proposed, why, and the evidence in its listing text."""
    from enrich.agent.review_view import proposal_view

    view = _store_errors(lambda: proposal_view(app.store, proposal_id))
    if as_json:
        emit_json(view.to_dict())
        return
    print_view(view)


def print_view(view) -> None:
    """Render a ProposalView with rich. Listing text goes in as Text objects, never as markup."""
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    who = view.researcher_name or "?"
    console.print(
        Text(
            f"Proposal {view.id} · {view.kind}"
            + (f" · {view.field}" if view.field else "")
            + f" · {view.state} · researcher {view.researcher_id} ({who})",
            style="bold",
        )
    )
    console.print(Text(view.summary))
    if view.kind == "field":
        side = Table(show_header=True, expand=True)
        cur_head = "current" + (
            f" ({view.current_status}, {view.current_origin})" if view.current_status else " (empty)"
        )
        side.add_column(cur_head, ratio=1, overflow="fold")
        side.add_column("proposed", ratio=1, overflow="fold")
        side.add_row(
            Text(view.current or "—", style="red" if view.current else "dim"), Text(view.proposed, style="green")
        )
        console.print(side)
        if view.added or view.removed:
            console.print(
                Text("adds: " + (", ".join(view.added) or "—") + "   removes: " + (", ".join(view.removed) or "—"))
            )
    why = Table.grid(padding=(0, 2))
    why.add_column(style="bold")
    why.add_column(overflow="fold")
    for label, value in (
        ("why", view.reason),
        ("origin", view.origin),
        ("model", view.model),
        ("prompt version", view.prompt_version),
        ("confidence", None if view.confidence is None else f"{view.confidence:.2f}"),
        ("job", view.job_id),
        ("created", view.created_at),
        ("decided", view.decided_at and f"{view.decided_at} by {view.decided_by}"),
    ):
        if value:
            why.add_row(label, Text(str(value)))
    for key, value in view.details:
        why.add_row(key, Text(value))
    console.print(why)
    for c in view.clusters:
        body = Text()
        for w in c.works:
            body.append(f"{w['work_id']}  ", style="cyan")
            body.append(f"{w['title'] or '(untitled)'}\n")
        for k, v in c.evidence.items():
            body.append(f"{k.replace('_', ' ')}: ", style="bold")
            body.append(", ".join(str(x) for x in v) + "\n")
        body.rstrip()
        console.print(Panel(body, title=f"cluster {c.number} ({len(c.works)} works)", title_align="left"))
    for title, works in (("stay with the original researcher", view.unassigned), ("shared works", view.shared_works)):
        if works:
            body = Text()
            for w in works:
                body.append(w["work_id"] + (f" <-> {w['other']}" if w.get("other") else "") + "  ", style="cyan")
                body.append(f"{w['title'] or '(untitled)'}\n")
            body.rstrip()
            console.print(Panel(body, title=title, title_align="left"))
    for i, ev in enumerate(view.evidence, start=1):
        text = Text()
        for seg in ev.segments:
            if seg.highlight and console.color_system is None:  # no colour (piped): mark the quote in the text
                text.append(f"»{seg.text}«")
            else:
                text.append(seg.text, style="bold black on yellow" if seg.highlight else None)
        text.rstrip()
        status = "checked" if ev.checked else ("found in listing" if ev.located else "not checked")
        head = f"evidence {i} · {status}" + (f" · listing {ev.listing_id} {ev.listing_path}" if ev.listing_id else "")
        parts = [text] + ([Text(ev.note, style="italic")] if ev.note else [])
        console.print(Panel(Group(*parts), title=Text(head), title_align="left"))
    if not view.evidence and view.kind == "field":
        console.print(Text("no evidence quote", style="italic"))


@review.command("accept")
@click.argument("proposal_ids", type=int, nargs=-1)
@filter_options
@click.option("--dry-run", is_flag=True, help="Bulk: only print how many proposals the filters match.")
@click.option("--yes", "-y", is_flag=True, help="Bulk: do not ask for confirmation.")
@click.option(
    "--include-protected",
    is_flag=True,
    help="Bulk: also accept proposals whose field holds a verified or accepted value "
    "(by default those are left for one-by-one review).",
)
@who_option
@json_option
@pass_app
def review_accept(
    app, proposal_ids, field, researcher, job, min_confidence, kind, dry_run, yes, include_protected, who, as_json
) -> None:
    """Accept proposals by id, or in bulk by filters (prints the count first and asks).

    A bulk rule goes through the same review action as a single accept, so every value it writes is
    `accepted` and audited; it never touches a field a person verified or accepted unless --include-protected.
    """
    store = app.store
    bulk = any(v is not None for v in (field, researcher, job, min_confidence, kind))
    if proposal_ids and bulk:
        raise EnrichError("give proposal ids or filters, not both")
    if not proposal_ids and not bulk:
        raise EnrichError(
            "give proposal ids, or filters for a bulk accept (--field, --researcher, --job, --min-confidence, --kind)"
        )
    if proposal_ids:
        if dry_run:
            raise EnrichError("--dry-run is for bulk accepts (filters)")
        results = []
        for pid in proposal_ids:
            res = _store_errors(functools.partial(store.accept, pid, who))
            results.append({"proposal_id": pid, "value_id": res.value_id, "status": res.status or "accepted"})
            if not as_json:
                click.echo(f"accepted proposal {pid}")
        if as_json:
            emit_json(results)
        return
    _bulk_accept(
        app, _filters(field, researcher, job, min_confidence, kind), dry_run, yes, include_protected, who, as_json
    )


def _bulk_accept(app, filters, dry_run: bool, yes: bool, include_protected: bool, who: str, as_json: bool) -> None:
    from enrich.agent.review_view import bulk_plan

    store = app.store
    plan = _store_errors(lambda: bulk_plan(store, filters, include_protected=include_protected))
    todo, protected, structural = plan.todo, plan.skipped_protected, plan.skipped_structural
    summary = plan.summary()
    if not as_json or dry_run:
        msg = f"{len(todo)} proposal(s) would be accepted"
        if protected:
            msg += f"; {len(protected)} skipped (field holds a verified/accepted value): {_ids(protected)}"
        if structural:
            msg += f"; {len(structural)} split/merge skipped (review them one by one): {_ids(structural)}"
        if as_json:
            emit_json(summary)
        else:
            click.echo(msg)
    if dry_run or not todo:
        return
    if not yes:
        click.confirm(f"Accept {len(todo)} proposal(s) as {who}?", abort=True)
    accepted = []
    for pid in todo:
        res = _store_errors(functools.partial(store.accept, pid, who))
        accepted.append({"proposal_id": pid, "value_id": res.value_id})
    if as_json:
        emit_json({**summary, "accepted": accepted})
    else:
        click.echo(f"accepted {len(accepted)} proposal(s)")


def _ids(ids: Sequence[int | None], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


@review.command("reject")
@click.argument("proposal_ids", type=int, nargs=-1, required=True)
@who_option
@pass_app
def review_reject(app, proposal_ids, who: str) -> None:
    """Reject proposals (the same value from the same origin is not proposed again)."""
    for pid in proposal_ids:
        _store_errors(functools.partial(app.store.reject, pid, who))
        click.echo(f"rejected proposal {pid}")


@review.command("edit")
@click.argument("proposal_id", type=int)
@click.argument("value")
@who_option
@pass_app
def review_edit(app, proposal_id: int, value: str, who: str) -> None:
    """Accept a proposal with a corrected VALUE (it becomes a human-origin value).

    \b
    affiliation: plain text              "University of Oslo"
    topics:      comma-separated tags    "cs.CL, cs.LG"   (or a JSON list of tags)
    summary:     plain text              (or JSON {"text": ..., "sentences": [...]})
    """
    from enrich.schemas.fields import coerce_cli_value

    store = app.store
    p = _store_errors(lambda: store.get_proposal(proposal_id))
    if p.kind != "field" or not p.field:
        raise EnrichError(f"proposal {proposal_id} is a {p.kind} proposal; only field proposals can be edited")
    try:
        typed = coerce_cli_value(p.field, value)
    except json.JSONDecodeError as exc:
        raise EnrichError(
            f"VALUE for {p.field} is not valid JSON: {exc.msg} (line {exc.lineno} col {exc.colno})"
        ) from None
    res = _store_errors(lambda: store.accept(proposal_id, who, value=typed))
    click.echo(f"edited and accepted proposal {proposal_id} (value {res.value_id})")


def _correct(app, proposal_id: int, who: str, as_json: bool, op: str, **args) -> None:
    """Apply one split correction through the store (audited, undoable) and show the corrected proposal."""
    from enrich.agent.review_view import proposal_view
    from enrich.store import split_edit

    desc = _store_errors(lambda: split_edit.correct_split(app.store, proposal_id, who, op, **args))
    view = proposal_view(app.store, proposal_id)
    if as_json:
        emit_json({"proposal_id": proposal_id, "done": desc, **view.to_dict()})
        return
    click.echo(f"proposal {proposal_id}: {desc}")
    print_view(view)


def _cluster_target(value: str) -> str | int:
    v = value.strip().lower()
    if v in ("new", "none", "0"):
        return v
    if v.isdigit():
        return int(v)
    raise click.BadParameter("a cluster number, 'new' (a new cluster) or 'none' (stays with the original researcher)")


@review.command("move")
@click.argument("proposal_id", type=int)
@click.argument("work_id")
@click.argument("to", metavar="TO")
@who_option
@json_option
@pass_app
def review_move(app, proposal_id: int, work_id: str, to: str, who: str, as_json: bool) -> None:
    """Correct a split proposal: move WORK_ID to cluster TO (a number as `review show` prints it, 'new' for a new
    cluster, 'none' to leave the work with the original researcher). Audited; `enrich review undo` reverts it."""
    try:
        target = _cluster_target(to)
    except click.BadParameter as exc:
        raise EnrichError(f"TO: {exc.message}") from None
    _correct(app, proposal_id, who, as_json, "move", work_id=work_id, to=target)


@review.command("merge-clusters")
@click.argument("proposal_id", type=int)
@click.argument("cluster", type=click.IntRange(1))
@click.argument("into", type=click.IntRange(1))
@who_option
@json_option
@pass_app
def review_merge_clusters(app, proposal_id: int, cluster: int, into: int, who: str, as_json: bool) -> None:
    """Correct a split proposal: merge CLUSTER into cluster INTO (the two are one person). Audited and undoable."""
    _correct(app, proposal_id, who, as_json, "merge", cluster=cluster, into=into)


@review.command("split-cluster")
@click.argument("proposal_id", type=int)
@click.argument("cluster", type=click.IntRange(1))
@click.argument("work_ids", nargs=-1, required=True)
@who_option
@json_option
@pass_app
def review_split_cluster(
    app, proposal_id: int, cluster: int, work_ids: tuple[str, ...], who: str, as_json: bool
) -> None:
    """Correct a split proposal: WORK_IDS of CLUSTER become a new cluster (another person). Audited and undoable."""
    _correct(app, proposal_id, who, as_json, "split", cluster=cluster, work_ids=list(work_ids))


@review.command("undo")
@who_option
@json_option
@pass_app
def review_undo(app, who: str, as_json: bool) -> None:
    """Undo the last review action (accept, edit, reject, set, a split correction): what it changed returns."""
    entry = _store_errors(lambda: app.store.undo(who))
    if as_json:
        emit_json(entry.model_dump())
        return
    click.echo(
        f"undone: audit entry {entry.undoes} ({_undone_action(app.store, entry.undoes)}) "
        f"for researcher {entry.researcher_id}" + (f" field {entry.field}" if entry.field else "")
    )


def _undone_action(store, audit_id: int | None) -> str:
    entry = store.audit_entry(audit_id) if audit_id else None
    if entry is None:
        return "?"
    return entry.action + (f" of proposal {entry.proposal_id}" if entry.proposal_id else "")


# ---------------------------------------------------------------------------------------------- top level


@click.command("rollback")
@click.argument("job_id")
@who_option
@json_option
@pass_app
def rollback(app, job_id: str, who: str, as_json: bool) -> None:
    """Revert everything job JOB_ID applied and withdraw its pending proposals.

    Values return to what they were before the job; a value a person changed since is kept.
    """
    counts = _store_errors(lambda: app.store.rollback_job(job_id, who))
    if as_json:
        emit_json({"job_id": job_id, **counts})
        return
    if not any(counts.values()):
        click.echo(f"job {job_id}: nothing to roll back")
        return
    click.echo(
        f"rolled back job {job_id}: reverted {counts['reverted']}, kept {counts['kept']} "
        f"(changed by a person since), withdrew {counts['withdrawn']} proposal(s)"
    )


@click.command("audit")
@click.option("--researcher", default=None, help="Only entries about this researcher (id or exact name).")
@click.option("--job", default=None, help="Only entries of this job id.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Newest N entries.")
@json_option
@pass_app
def audit(app, researcher: str | None, job: str | None, limit: int, as_json: bool) -> None:
    """Show the audit log: who did what, when, and the value before and after."""
    from enrich.agent.review_view import audit_rows

    store = app.store
    rid = _store_errors(lambda: store.find_researcher(researcher).id) if researcher else None
    rows = audit_rows(store, researcher_id=rid, job_id=job, limit=limit)
    if not as_json:
        for r in rows:
            for k in ("before", "after"):
                if len(r[k]) > 80:
                    r[k] = r[k][:79] + "…"
    output(rows, AUDIT_COLUMNS, as_json, title=None if as_json else f"audit log (newest {limit})")
