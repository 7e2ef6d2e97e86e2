"""`enrich ror import|match|status`: the local ROR index that normalises affiliations to ROR ids."""

from __future__ import annotations

from typing import Any

import click

from enrich.agent.cli.common import EnrichError, emit_json, json_option, output, pass_app
from enrich.agent.ror import NO_INDEX_MESSAGE as NO_INDEX


@click.group("ror")
def ror_group() -> None:
    """The local ROR index: load official dumps, match affiliation strings to ROR ids."""


@ror_group.command("import")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--release",
    default=None,
    help="Release string recorded as the match origin (default: read from the file name, else 'unknown').",
)
@json_option
@pass_app
def import_cmd(app: Any, dumps: tuple[str, ...], release: str | None, as_json: bool) -> None:
    """Load ROR data dumps (schema v1 or v2; .zip, .json or .json.gz); records are upserted by ROR id, so
    several dumps can share one index."""
    from enrich.agent.ror_dump import DumpError, read_dump
    from enrich.store.ror import load_orgs

    rows = []
    for path in dumps:
        try:
            file_release, orgs = read_dump(path)
            counts = load_orgs(app.store, orgs, release=release or file_release, source=str(path))
        except (DumpError, OSError, UnicodeDecodeError) as exc:
            raise EnrichError(f"cannot import {path}: {exc}") from None
        rows.append(
            {
                "file": str(path),
                "release": release or file_release,
                "records": counts.records,
                "names": counts.names,
                "domains": counts.domains,
                "seconds": counts.seconds,
            }
        )
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(
            f"Imported {row['records']:,} records ({row['names']:,} names, {row['domains']:,} domains) "
            f"from {row['file']}, release {row['release']}, in {row['seconds']:.1f} s"
        )


@ror_group.command("match")
@click.argument("text")
@click.option(
    "--email",
    "emails",
    multiple=True,
    metavar="ADDR",
    help="An e-mail address whose institutional domain helps the match (repeatable).",
)
@json_option
@pass_app
def match_cmd(app: Any, text: str, emails: tuple[str, ...], as_json: bool) -> None:
    """Match an affiliation string to a ROR organisation, or say there is none.

    TEXT is an affiliation as a page states it, e.g. "Dept. of CS, Cornell University, Ithaca, NY"."""
    from enrich.agent.ror import index_status, match

    store = app.store
    if index_status(store) is None:
        raise EnrichError(NO_INDEX)
    result = match(text, emails=list(emails), index=store)
    if as_json:
        emit_json(None if result is None else {**result.model_dump(), "origin": result.origin})
        return
    if result is None:
        click.echo("No match.")
        return
    click.echo(
        f"{result.ror_id}  {result.name} ({', '.join(p for p in (result.city, result.country) if p)})  "
        f"score {result.score:.2f} on {result.matched_on} {result.matched_text!r}  [{result.origin}]"
    )
    output(
        [c.model_dump() for c in result.candidates],
        ["ror_id", "name", "score", "matched_on", "matched_text", "city", "country", "status"],
        False,
        title="Candidates",
    )


@ror_group.command("status")
@json_option
@pass_app
def status_cmd(app: Any, as_json: bool) -> None:
    """Show what the ROR index holds: records, names, domains and the dumps loaded."""
    from enrich.agent.ror import index_status

    status = index_status(app.store)
    if as_json:
        emit_json(status)
        return
    if status is None:
        click.echo(NO_INDEX)
        return
    click.echo(
        f"{status['records']:,} records, {status['names']:,} names, {status['domains']:,} domains; "
        f"releases: {', '.join(status['releases'])}"
    )
    output(
        status["imports"],
        ["imported_at", "release", "schema", "records", "names", "domains", "seconds", "source"],
        False,
        title="Imports",
    )
