"""`enrich run` (the enrichment job) and `enrich summarize` (one summary on demand)."""

from __future__ import annotations

import click

from enrich.agent.cli.common import EnrichError, emit_json, json_option, pass_app


def _client(app, backend: str | None, model: str | None, store=None, concurrency: int | None = None):
    from enrich.agent.llm import make_client
    from enrich.agent.llm.base import LLMError

    if backend or model or concurrency:
        app.override(backend=backend, model=model, concurrency=concurrency)
    try:
        return make_client(app.settings, store=store if store is not None else app.store)
    except LLMError as exc:
        raise EnrichError(str(exc)) from exc


def _ingest_first(ctx: click.Context, paths: tuple[str, ...], name: str | None) -> None:
    from enrich.agent.cli.ingest import ingest_cmd

    params: dict[str, tuple[str, ...] | str] = {"paths": paths}
    if name:
        params["name"] = name
    try:
        ctx.invoke(ingest_cmd, **params)
    except SystemExit as exc:  # a bad file in the batch: the good ones landed, the run goes on
        if exc.code not in (0, None):
            click.echo("Some files were not ingested (see above); enriching the rest.", err=True)


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(["affiliation", "topics", "summary"]),
    help="Only these fields (repeatable).",
)
@click.option("--researcher", "researchers", multiple=True, help="Only this researcher (id or name; repeatable).")
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Researchers in parallel [setting concurrency; the embedded model always runs one at a time].",
)
@click.option(
    "--processes",
    type=int,
    default=None,
    help="Worker processes [setting processes, default 1]: more cores for a CPU-bound job (the fake model, cached "
    "answers, a fast server); each worker runs one researcher at a time. Not for the embedded model.",
)
@click.option("--budget", type=float, default=None, help="Stop (resumable) once the job has cost this many USD.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Estimate calls, tokens and cost; call no model, write nothing (PATHS are not ingested).",
)
@click.option("--refresh", is_flag=True, help="Also redo values made by an older prompt version or another model.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also ask again for steps that failed (or found nothing) before on the same listings, prompt and model.",
)
@click.option("--resume", "resume", metavar="JOB", default=None, help="Continue an interrupted job.")
@click.option("--name", default=None, help="With PATHS: the researcher a listing is about (arXiv-style pages).")
@click.option("--backend", default=None, help="auto | embedded | openai | openai-compatible | fake [ENRICH_BACKEND].")
@click.option("--model", default=None, help="Model name [ENRICH_MODEL].")
@click.option(
    "--batch",
    "batch",
    is_flag=True,
    help="Bulk mode: write the model requests as Batch API files and submit them (OpenAI or a base URL serving "
    "/v1/batches); collect with `enrich batch collect JOB`.",
)
@click.option(
    "--batch-files",
    "batch_files",
    type=click.Path(file_okay=False),
    default=None,
    help="Bulk mode, files only: write the request files into DIR (for `vllm run-batch`), submit nothing.",
)
@json_option
@pass_app
@click.pass_context
def run_cmd(
    ctx,
    app,
    paths,
    only,
    researchers,
    concurrency,
    processes,
    budget,
    dry_run,
    refresh,
    retry_failed,
    resume,
    name,
    backend,
    model,
    batch,
    batch_files,
    as_json,
):
    """Enrich every researcher with missing or stale fields.

    With PATHS, ingest those listing files or folders first (`enrich run seeds/`).
    Steps per researcher: conflation check, affiliation (quoted from the page,
    normalised to ROR), topic tags, plain-language summary. Values go through the
    store's write policy: a model value fills an empty field only when its checks
    pass the auto-apply threshold; everything else becomes a proposal for
    `enrich review`. Re-running with unchanged inputs makes no model calls.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from enrich.agent.llm.base import LLMError
    from enrich.agent.loop import JobRunner, RunOptions, estimate
    from enrich.store import StoreError

    err = Console(stderr=True)
    if paths and not dry_run:
        _ingest_first(ctx, paths, name)
    store = app.store
    try:
        rids = [store.find_researcher(r).id for r in researchers]
    except StoreError as exc:
        raise EnrichError(str(exc)) from exc
    conc = concurrency if concurrency is not None else app.settings.concurrency
    opts = RunOptions(
        only=list(only),
        researcher_ids=rids,
        concurrency=max(1, conc),
        processes=max(1, processes if processes is not None else app.settings.processes),
        budget_usd=budget,
        dry_run=dry_run,
        refresh=refresh,
        retry_failed=retry_failed,
        resume=resume,
    )
    if batch or batch_files:
        if resume:
            raise EnrichError("--resume continues an online job; a bulk job continues with `enrich batch collect JOB`")
        _run_batch(app, store, opts, backend, model, batch_files, dry_run, as_json)
        return
    thread_store = None
    if conc > 1 and app.settings.db != ":memory:":
        from enrich.store.threads import ThreadLocalStore

        thread_store = ThreadLocalStore(app.settings.db)
    client = _client(app, backend, model, store=thread_store, concurrency=conc)
    try:
        runner = JobRunner(
            store, client, app.settings, thread_store=thread_store, on_note=lambda m: err.print(f"[yellow]{m}[/yellow]")
        )
        if dry_run:
            est = estimate(store, runner.plans(opts), client)
            if as_json:
                emit_json(est)
            else:
                click.echo(
                    f"Would enrich {est['researchers']} researcher(s): up to {est['calls']} model call(s), "
                    f"~{est['tokens_in']} tokens in, ~{est['tokens_out']} out, ~${est['cost_usd']:.4f} "
                    f"on {client.origin} ({est['note']})."
                )
            return
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
            disable=as_json,
        ) as bar:
            task = bar.add_task("enriching", total=None)

            def progress(done, total, plan, outcomes):
                bar.update(task, total=total, completed=done, description=f"{plan.name or plan.researcher_id}")
                if not as_json and outcomes and not err.is_terminal:  # a log file or a pipe: plain lines
                    err.file.write(
                        "".join(
                            f"  #{plan.researcher_id} {plan.name or ''} {o.step}: {o.status}"
                            + (f" - {o.detail}" if o.detail else "")
                            + "\n"
                            for o in outcomes
                        )
                    )
                elif not as_json and outcomes:
                    # one print per researcher (rendering is most of its cost); names and details are text, not markup
                    who = escape(f"#{plan.researcher_id} {plan.name or ''}")
                    err.print(
                        "\n".join(
                            f"  {who} [cyan]{o.step}[/cyan]: {o.status}"
                            + (f" - {escape(o.detail)}" if o.detail else "")
                            for o in outcomes
                        ),
                        highlight=False,
                        markup=True,
                    )

            runner.on_progress = progress
            try:
                job = runner.start(opts)
            except LLMError as exc:
                jobs = store.jobs(limit=1)
                where = f"; job {jobs[0].id} stopped, resume with `enrich run --resume {jobs[0].id}`" if jobs else ""
                raise EnrichError(f"{exc}{where}") from None
            except StoreError as exc:  # an unknown job, or one another process is running
                raise EnrichError(str(exc)) from None
            except KeyboardInterrupt:
                jobs = store.jobs(limit=1)
                raise EnrichError(
                    f"interrupted; resume with `enrich run --resume {jobs[0].id}`" if jobs else "interrupted"
                ) from None
    finally:
        client.close()
    if as_json:
        emit_json(job.model_dump())
        return
    c = job.counts
    click.echo(
        f"Job {job.id}: {job.state}. {c.get('researchers', 0)} researcher(s), {c.get('calls', 0)} model "
        f"call(s), {job.tokens_in} tokens in / {job.tokens_out} out, ${job.cost_usd:.4f}."
        + (f" {job.error}." if job.error else "")
    )
    from enrich.store import paging

    pending = paging.count_proposals(store, paging.QueueQuery())
    if pending:
        click.echo(f"{pending} proposal(s) wait for review: `enrich review`.")
    if job.errors:
        click.echo(
            f"{job.errors} step(s) raised an error and were recorded (the other researchers went on): "
            f"`enrich jobs {job.id} --errors` lists them; `enrich run --retry-failed` runs them again."
        )
    if job.state == "interrupted":
        click.echo(f"Resume with `enrich run --resume {job.id}`.")
    if c.get("not_retried"):
        click.echo(
            f"{c['not_retried']} step(s) failed before on the same listings, prompt and model and were not "
            "asked again: `enrich run --retry-failed` does."
        )


BULK_BACKENDS_HINT = (
    "bulk mode (--batch) needs OpenAI (OPENAI_API_KEY) or an OpenAI-compatible model name and base URL "
    "(ENRICH_MODEL + ENRICH_BASE_URL); the {backend} backend answers online only"
)


def _run_batch(app, store, opts, backend, model, folder, dry_run, as_json) -> None:
    from rich.console import Console

    from enrich.agent.batch.job import build
    from enrich.agent.llm.base import LLMError
    from enrich.agent.llm.factory import choose_backend

    if backend or model:
        app.override(backend=backend, model=model)
    try:
        chosen, _why = choose_backend(app.settings)
    except LLMError as exc:
        raise EnrichError(str(exc)) from None
    if chosen not in ("openai", "openai-compatible"):
        raise EnrichError(BULK_BACKENDS_HINT.format(backend=chosen))
    client = _client(app, None, None, store=store)
    err = Console(stderr=True)
    try:
        with err.status("building request files", spinner="dots") as status:
            report = build(
                store,
                app.settings,
                client,
                opts,
                folder=folder,
                submit=folder is None,
                dry_run=dry_run,
                on_progress=lambda n, total: status.update(f"building request files: {n}/{total} researchers"),
            )
    except LLMError as exc:
        raise EnrichError(str(exc)) from None
    finally:
        client.close()
    if as_json:
        emit_json(report.__dict__)
        return
    from enrich.agent.llm.pricing import known_price

    size = sum(f["bytes"] for f in report.files)
    what = "Would write" if dry_run else "Wrote"
    price = (
        f"~${report.cost_usd:.4f} at the batch price"
        if known_price(client.backend, client.model)
        else f"no price known for {client.model}"
    )
    click.echo(
        f"{what} {report.requests} request(s) for {report.researchers} researcher(s) in {len(report.files)} file(s)"
        f" ({size / 1e6:.1f} MB), ~{report.tokens_in} tokens in, ~{report.tokens_out} out, {price} on {client.origin}."
    )
    if report.still_out:
        click.echo(f"Not asked again: {report.still_out} question(s) still out in a waiting bulk job (`enrich jobs`).")
    if report.ran_here:
        click.echo(
            f"{sum(report.ran_here.values())} researcher(s) ran in this process, not in a worker: "
            + "; ".join(f"{why} ({n})" for why, n in sorted(report.ran_here.items()))
        )
    done = {k: v for k, v in sorted(report.outcomes.items()) if not k.endswith(":queued")}
    if done:
        click.echo("Finished at once (deterministic or cached): " + ", ".join(f"{k}={v}" for k, v in done.items()))
    if dry_run:
        return
    for f in report.files:
        click.echo(f"  {f['path']} ({f['requests']} requests)")
    if report.submitted:
        click.echo(f"Job {report.job_id}: submitted batch(es) {', '.join(report.submitted)}.")
        click.echo(f"Check with `enrich batch status {report.job_id}`, then `enrich batch collect {report.job_id}`.")
    elif report.requests:
        click.echo(
            f"Job {report.job_id}: run the files (e.g. `vllm run-batch -i FILE -o FILE.out.jsonl --model MODEL`),"
            f" then `enrich batch collect {report.job_id} --results FILE.out.jsonl ...`."
        )
    else:
        click.echo(f"Job {report.job_id}: nothing to ask a model.")


@click.command("summarize")
@click.argument("researcher")
@click.option("--backend", default=None, help="auto | embedded | openai | openai-compatible | fake.")
@click.option("--model", default=None, help="Model name.")
@json_option
@pass_app
def summarize_cmd(app, researcher, backend, model, as_json):
    """(Re)generate RESEARCHER's plain-language summary and print it with its citations.

    The new summary goes through the write policy like any model value: it fills an
    empty field when its checks pass, otherwise it is proposed for review.
    """
    from enrich.agent.llm.base import LLMError
    from enrich.agent.loop import make_context
    from enrich.agent.steps import summary
    from enrich.agent.steps.base import StepOutcome
    from enrich.store import StoreError

    store = app.store
    try:
        r = store.find_researcher(researcher)
    except StoreError as exc:
        raise EnrichError(str(exc)) from exc
    client = _client(app, backend, model)
    try:
        from enrich.agent import ror

        ctx = make_context(
            store, client, app.settings, r.id, None, ror.RorIndex.of(store) if ror.index_status(store) else None
        )
        from enrich.agent.llm.base import time_budget

        with time_budget(app.settings.step_budget):
            out: StepOutcome = summary.run(ctx)
    except LLMError as exc:
        first = str(exc).splitlines()[0]
        raise EnrichError(
            f"no summary for {r.name or r.id}: {first}"
            + (f" ({exc.hint})" if exc.hint and exc.hint not in first else "")
        ) from None
    finally:
        client.close()
    if out.value is None:
        raise EnrichError(f"no summary for {r.name or r.id}: {out.detail}")
    works = {w.work_id: w for w in ctx.works}
    value = out.value.value
    if as_json:
        emit_json(
            {
                "researcher_id": r.id,
                "name": r.name,
                "status": out.status,
                "summary": value,
                "confidence": out.value.confidence,
                "works": {
                    wid: {"title": works[wid].title, "year": works[wid].year}
                    for s in value["sentences"]
                    for wid in s["works"]
                    if wid in works
                },
            }
        )
        return
    click.echo(f"{r.name or r.id} ({out.status}, confidence {out.value.confidence}):\n")
    for s in value["sentences"]:
        click.echo(f"  {s['text']} " + " ".join(f"[{w}]" for w in s["works"]))
    click.echo("")
    for wid in dict.fromkeys(w for s in value["sentences"] for w in s["works"]):
        w = works.get(wid)
        if w:
            click.echo(f"  [{wid}] {w.year or '?'} {w.title or (w.abstract or '')[:80]}")
    read = value.get("readability")
    if read:
        click.echo(f"\n  readability: grade {read['grade']}, {read['unexplained_acronyms']} unexplained acronym(s)")
    note = out.value.evidence[0].note if out.value.evidence else None
    if note:
        click.echo(f"  checks: {note}")
