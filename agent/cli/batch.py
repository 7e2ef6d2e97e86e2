"""`enrich batch status JOB` and `enrich batch collect JOB`: follow and collect a bulk-mode job (`enrich run
--batch`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from enrich.agent.cli.common import EnrichError, emit_json, json_option, pass_app


@contextmanager
def _job_client(app, job_id: str) -> Iterator[tuple[Any, Any]]:
    """(job, the model client it was built for: same backend and model, so values get the same origin); the client
    is closed on the way out, and a store or model error becomes a one-line CLI error."""
    from enrich.agent.llm import make_client
    from enrich.agent.llm.base import LLMError
    from enrich.store import StoreError

    try:
        job = app.store.get_job(job_id)
    except StoreError as exc:
        raise EnrichError(str(exc)) from None
    if job.kind != "batch":
        raise EnrichError(f"job {job_id} ran online; `enrich batch` follows bulk jobs (`enrich run --batch`)")
    b = job.params.get("batch") or {}
    app.override(backend=b.get("backend"), model=b.get("model"))
    try:
        client = make_client(app.settings, store=app.store)
    except LLMError as exc:
        raise EnrichError(str(exc)) from None
    try:
        yield job, client
    except (LLMError, StoreError) as exc:
        raise EnrichError(str(exc)) from None
    finally:
        client.close()


@click.group("batch")
def batch_group() -> None:
    """Follow and collect bulk-mode jobs (`enrich run --batch`)."""


@batch_group.command("status")
@click.argument("job_id", metavar="JOB")
@json_option
@pass_app
def status_cmd(app, job_id, as_json):
    """Show JOB's request files and batches (asking the server about running ones) and its request states."""
    from enrich.agent.batch.job import status

    with _job_client(app, job_id) as (job, client):
        remote = client if (job.params.get("batch") or {}).get("mode") == "remote" else None
        info = status(app.store, remote, job_id)
    if as_json:
        emit_json(info)
        return
    click.echo(f"Job {job_id}: {info['state']} ({info['mode']} mode)")
    for b in info["batches"]:
        click.echo(
            f"  round {b['round']}: {b['batch_id'] or '(not submitted)'} {b['status']}"
            + (f" {b['progress']}" if b.get("progress") else "")
            + f" -- {b['requests']} requests, {b['path']}"
        )
    click.echo("  requests: " + ", ".join(f"{k}={v}" for k, v in sorted(info["requests"].items())))


@batch_group.command("collect")
@click.argument("job_id", metavar="JOB")
@click.option(
    "--results",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="An output file to read instead of asking the server (e.g. `vllm run-batch`'s); repeatable.",
)
@click.option("--wait", is_flag=True, help="Poll until every batch (re-ask rounds included) has finished.")
@click.option("--poll", type=float, default=30.0, show_default=True, help="Seconds between polls with --wait.")
@click.option(
    "--processes",
    type=int,
    default=None,
    help="Worker processes [setting processes, default 1]: answers are checked and applied on more cores.",
)
@json_option
@pass_app
def collect_cmd(app, job_id, results, wait, poll, processes, as_json):
    """Apply JOB's answers through the same checks as an online run.

    Invalid answers go into a follow-up batch with the validation error (up to
    max_reasks re-asks). Collecting twice, or again after a crash, applies nothing
    twice. Expired or cancelled batches, error lines, unknown custom_ids and
    malformed lines are reported.
    """
    from rich.console import Console

    from enrich.agent.batch.job import collect

    err = Console(stderr=True)
    reports = []
    with _job_client(app, job_id) as (_job, client):
        while True:
            with err.status("collecting", spinner="dots") as st:
                rep = collect(
                    app.store,
                    app.settings,
                    client,
                    job_id,
                    results=[Path(r) for r in results] or None,
                    processes=max(1, processes if processes is not None else app.settings.processes),
                    on_progress=lambda n: st.update(f"collecting: {n} line(s) read"),
                )
            reports.append(rep)
            if not as_json:
                _print_report(rep)
            if not wait or results or rep.state == "done":
                break
            time.sleep(max(0.0, poll))
    if as_json:
        emit_json([{**r.__dict__, "report": r.messages()} for r in reports])


def _print_report(rep) -> None:
    click.echo(
        f"Job {rep.job_id}: {rep.applied} answer(s) applied, {rep.reasked} re-asked, {rep.failed} failed, "
        f"{rep.skipped} already applied; job {rep.state}."
    )
    if rep.outcomes:
        click.echo("  " + ", ".join(f"{k}={v}" for k, v in sorted(rep.outcomes.items())))
    for line in rep.messages():
        click.echo(f"  {line}")
    if rep.waiting:
        click.echo(f"  {len(rep.waiting)} batch(es) still running: collect again later (or use --wait).")
    for f in rep.followup:
        click.echo(f"  re-ask round: {f['requests']} request(s) in {f['path']}")


@batch_group.command("cancel")
@click.argument("job_id", metavar="JOB")
@json_option
@pass_app
def cancel_cmd(app, job_id, as_json):
    """Give up JOB's questions: cancel its running batches on the server and end the requests no runner has.

    What a cancelled batch answered before it stopped is still applied by
    `enrich batch collect JOB`; every question that was not answered is asked
    again by the next `enrich run --batch`.
    """
    from enrich.agent.batch.job import cancel

    with _job_client(app, job_id) as (_job, client):
        info = cancel(app.store, client, job_id)
    if as_json:
        emit_json(info)
        return
    if info["cancelled_batches"]:
        click.echo(
            f"Job {job_id}: cancelling batch(es) {', '.join(info['cancelled_batches'])}; collect what they answered"
            f" with `enrich batch collect {job_id}`."
        )
    click.echo(f"Job {job_id}: {info['requests_ended']} request(s) never sent were ended; job {info['state']}.")
