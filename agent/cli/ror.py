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
@click.argument("text", required=False)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Match every string of a file ('-' = stdin): one per line, JSONL with an 'affiliation' key, or a JSON "
    "array of such objects (ROR's test files). Writes one JSON line per string, in input order.",
)
@click.option(
    "--email",
    "emails",
    multiple=True,
    metavar="ADDR",
    help="An e-mail address whose institutional domain helps the match (repeatable).",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Minimum score, 0-1 (default: the ror_match_threshold setting, ENRICH_ROR_THRESHOLD).",
)
@json_option
@pass_app
def match_cmd(
    app: Any, text: str | None, input_path: str | None, emails: tuple[str, ...], threshold: float | None, as_json: bool
) -> None:
    """Match an affiliation string to the ROR organisations it names, or say there is none.

    TEXT is an affiliation as a page states it, e.g. "Dept. of CS, Cornell University, Ithaca, NY". With --input,
    each output line is {"affiliation", "ror_ids", "matches": [{"ror_id", "name", "score", "matched_on",
    "span"}]}."""
    from enrich.agent.ror import index_status, match

    if (text is None) == (input_path is None):
        raise EnrichError("give either TEXT or --input FILE")
    threshold = app.settings.ror_match_threshold if threshold is None else threshold
    if not 0.0 <= threshold <= 1.0:
        raise EnrichError(f"the ROR match threshold is a score between 0 and 1, got {threshold:g}")
    store = app.store
    if index_status(store) is None:
        raise EnrichError(NO_INDEX)
    if input_path is not None:
        _match_file(store, input_path, list(emails), threshold)
        return
    assert text is not None  # exactly one of TEXT and --input (checked above)
    result = match(text, emails=list(emails), index=store, threshold=threshold)
    if as_json:
        emit_json(None if result is None else {**result.model_dump(), "origin": result.origin})
        return
    if result is None:
        click.echo("No match.")
        return
    for m in result.matches:
        click.echo(
            f"{m.ror_id}  {m.name} ({', '.join(p for p in (m.city, m.country) if p)})  "
            f"score {m.score:.2f} on {m.matched_on} {m.matched_text!r}  [{m.origin}]"
        )
    output(
        [c.model_dump() for c in result.candidates],
        ["ror_id", "name", "score", "matched_on", "matched_text", "city", "country", "status"],
        False,
        title="Candidates",
    )


def _match_file(store: Any, path: str, emails: list[str], threshold: float) -> None:
    """Bulk matching: one JSON line per input string, the string echoed exactly as read."""
    import contextlib
    import json
    import sys

    from enrich.agent.ror import match_all
    from enrich.agent.ror_input import InputError, read_affiliations

    try:
        strings = read_affiliations(path)
    except (InputError, OSError, UnicodeDecodeError) as exc:
        raise EnrichError(f"cannot read {path}: {exc}") from None
    index = _memory_index(store)
    out = sys.stdout
    bar = (
        click.progressbar(strings, label="Matching", file=sys.stderr, show_pos=True, show_percent=True)
        if sys.stderr.isatty()
        else contextlib.nullcontext(strings)
    )  # a bar on a terminal, nothing in a pipe or a log
    with bar as items:
        for s in items:
            found = match_all(s, emails=emails, index=index, threshold=threshold)
            line = {
                "affiliation": s,
                "ror_ids": [m.ror_id for m in found],
                "matches": [m.model_dump(include={"ror_id", "name", "score", "matched_on", "span"}) for m in found],
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    out.flush()


def _memory_index(store: Any) -> Any:
    from enrich.agent.ror import RorIndex

    return RorIndex.of(store).memory


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
