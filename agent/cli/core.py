"""The core commands: init, list, show, set, import-verified, history, jobs, export, schema, config.

They only read the store or write through its review actions (`set_value`), so the never-override rule and the
audit log apply here exactly as everywhere else.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from enrich.agent.cli.common import AppContext, EnrichError, emit_json, json_option, output, pass_app
from enrich.schemas import FIELDS


class FieldName(click.ParamType):
    """A field (`affiliation`, `topics`, `summary`) or one slot of a field a researcher holds several values of
    (`affiliation.2`: the second affiliation)."""

    name = "field"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from enrich.schemas.fields import check_field

        try:
            return check_field(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


FIELD_CHOICE = FieldName()


def default_who() -> str:
    return os.environ.get("USER") or "reviewer"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the store's refusals and invalid values into one-line errors (exit 1, no traceback)."""
    from pydantic import ValidationError

    from enrich.store import StoreError

    try:
        yield
    except StoreError as exc:
        raise EnrichError(str(exc)) from exc
    except ValidationError as exc:
        raise EnrichError(f"invalid value: {validation_message(exc)}") from exc
    except json.JSONDecodeError as exc:
        raise EnrichError(f"invalid JSON value: {exc.msg} at character {exc.pos}") from exc


def validation_message(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        return f"{loc + ': ' if loc else ''}{first.get('msg')}"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at character {exc.pos})"
    return str(exc)


def _fmt_conf(x: float | None) -> str | None:
    return None if x is None else f"{x:.2f}"


# ---------------------------------------------------------------------------------------------- init, list, show


def _cmd_init(app: AppContext) -> None:
    """Create the database (or bring an existing one up to the current schema)."""
    with user_errors():
        store = app.store
    click.echo(
        f"Database ready: {app.settings.db} (schema: {store.schema_version() or 'none'}, "
        f"{len(store.researchers())} researcher(s))"
    )


def researcher_rows(store, limit: int = 50, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of researchers (keyset: `after` is the cursor of the previous page's last row) and the cursor of
    the next page; read in a few queries per page whatever the store's size."""
    from enrich.store import export_reads, paging

    try:
        page = paging.researcher_page(store, limit=limit, after=after)
    except paging.CursorError as exc:
        raise EnrichError(str(exc)) from None
    items = {it.id: it for it in export_reads.researcher_batch(store, [r["id"] for r in page.rows])}
    rows = []
    for r in page.rows:
        it = items[r["id"]]
        rows.append(
            {
                "id": r["id"],
                "name": r["name"],
                "listings": [lst["path"] for lst in it.listings],
                "works": len(it.works),
                "missing": [f for f in FIELDS if f not in it.values],
                "pending_proposals": r["pending"],
                "cursor": r["cursor"],
            }
        )
    return rows, page.next


def field_view(store, fv) -> dict[str, Any] | None:
    from enrich.schemas.fields import base_field, display_value

    if fv is None:
        return None
    return {
        "value": fv.value,
        "display": display_value(fv.field, fv.value),
        "status": fv.status,
        "origin": fv.origin,
        "confidence": fv.confidence,
        "value_id": fv.id,
        "job_id": fv.job_id,
        "evidence": [
            {
                "quote": e.quote,
                "listing_id": e.listing_id,
                "start": e.start,
                "end": e.end,
                "checked": e.checked,
                "note": e.note,
            }
            for e in fv.evidence
        ],
        "ror_id": next((d.value for d in store.derived(fv.id, "ror_id")), None)
        if base_field(fv.field) == "affiliation"
        else None,
    }


def show_data(store, ref: str) -> dict[str, Any]:
    from enrich.schemas.fields import shown_fields

    r = store.find_researcher(ref)
    current = store.current_all(r.id)
    pending = store.proposals("pending", researcher_id=r.id)
    return {
        "id": r.id,
        "name": r.name,
        "name_origin": r.name_origin,
        "listings": [
            {"id": lst.id, "path": lst.path, "format": lst.format, "version": lst.version, "sha256": lst.sha256}
            for lst in store.researcher_listings(r.id)
        ],
        "works": len(store.researcher_works(r.id)),
        "fields": {
            f: field_view(store, current.get(f))
            for f in shown_fields([*current, *(p.field for p in pending if p.field)])
        },
        "pending_proposals": len(pending),
        "errors": [e.model_dump() for e in store.latest_job_errors(r.id)],
    }


def error_line(e: Any) -> str:
    """One recorded job error for people: where it happened and what it said."""
    who = f"researcher {e.researcher_id} " if e.researcher_id is not None else ""
    return (
        f"{who}{e.step or 'job'}: {e.error_type}: {e.message}"
        + (f" (at {e.location})" if e.location else "")
        + f" [job {e.job_id}]"
    )


def print_show(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    console.print(Text(f"Researcher {data['id']}: {data['name'] or '(no name)'}", style="bold"))
    for lst in data["listings"]:
        console.print(Text(f"  listing {lst['id']}: {lst['path']} ({lst['format']}, version {lst['version']})"))
    console.print(Text(f"  works: {data['works']}   pending proposals: {data['pending_proposals']}"))
    for e in data["errors"]:
        line = f"{e['step'] or 'job'} failed with {e['error_type']}: {e['message']}"
        console.print(Text(f"  error: {line} (job {e['job_id']}; `enrich run --retry-failed` retries)", style="red"))
    table = Table(show_lines=True)
    for col in ("field", "value", "status", "origin", "confidence", "evidence"):
        table.add_column(col, overflow="fold")
    for name, v in data["fields"].items():
        if v is None:
            table.add_row(name, Text("(missing)", style="dim"), "", "", "", "")
            continue
        ev = (
            "\n".join(
                (f'"{e["quote"]}" [{e["start"]}:{e["end"]}]' + ("" if e["checked"] else " (unchecked)"))
                if e["quote"]
                else f"(no quote{': ' + e['note'] if e['note'] else ''})"
                for e in v["evidence"]
            )
            or "(none)"
        )
        value = v["display"] + (f"\nROR {v['ror_id']}" if v.get("ror_id") else "")
        read = v["value"].get("readability") if name == "summary" and isinstance(v["value"], dict) else None
        if read:
            value += f"\nreadability: grade {read.get('grade')}, {read.get('unexplained_acronyms', 0)} unexplained acronym(s)"
        table.add_row(name, Text(value), v["status"], v["origin"], _fmt_conf(v["confidence"]) or "", Text(ev))
    console.print(table)


# ---------------------------------------------------------------------------------------------- import-verified


@dataclass
class CsvRow:
    line: int
    researcher_id: int
    field: str
    value: Any
    who: str


def read_verified_csv(store, text: str, default_who: str) -> tuple[list[CsvRow], list[str]]:
    """Validate every row; return the good rows and one error line per bad row ("line N: ...")."""
    from enrich.schemas import validate_field_value
    from enrich.schemas.fields import check_field, coerce_cli_value
    from enrich.store import StoreError

    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("researcher", "field", "value") if c not in header]
    if missing:
        raise EnrichError(
            f"CSV header must have columns researcher, field, value[, who]; missing: {', '.join(missing)}"
        )
    reader.fieldnames = header
    good: list[CsvRow] = []
    errors: list[str] = []
    for rec in reader:
        line = reader.line_num
        try:
            if None in rec:
                raise ValueError(f"{len(header) + len(rec[None])} cells, the header has {len(header)}")
            ref, field, raw = ((rec.get(k) or "").strip() for k in ("researcher", "field", "value"))
            if not ref:
                raise ValueError("empty researcher")
            check_field(field)
            if not raw:
                raise ValueError("empty value")
            r = store.find_researcher(ref)
            value = validate_field_value(field, coerce_cli_value(field, raw))
            good.append(CsvRow(line, r.id, field, value, (rec.get("who") or "").strip() or default_who))
        except (StoreError, ValueError) as exc:  # pydantic's ValidationError and JSONDecodeError are ValueErrors
            errors.append(f"line {line}: {validation_message(exc)}")
    return good, errors


# ---------------------------------------------------------------------------------------------- export


def _csv_help() -> str:
    from enrich.agent.export import CSV_COLUMNS

    return "\n".join(f"  {k}: {v}" for k, v in CSV_COLUMNS.items())


def write_export(store, fmt: str, out, include_feeds: bool, since: str | None = None) -> int:
    from enrich.agent.export import CSV_COLUMNS, csv_row, export_lines, resolve_since

    n = 0
    since = resolve_since(store, since) if since else None
    if fmt == "jsonl":
        for line in export_lines(store, include_feeds=include_feeds, since=since):
            out.write(line.model_dump_json() + "\n")
            n += 1
    else:
        writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for line in export_lines(store, include_feeds=include_feeds, since=since):
            writer.writerow(csv_row(line))
            n += 1
    return n


# ---------------------------------------------------------------------------------------------- registration


@click.command("init")
@pass_app
def init_cmd(app: AppContext) -> None:
    """Create the database (default ./enrich.db, or --db / $ENRICH_DB) or upgrade it to the current schema."""
    _cmd_init(app)


@click.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Researchers per page.")
@click.option(
    "--after", default=None, metavar="CURSOR", help="Start after this cursor (printed below the previous page)."
)
@json_option
@pass_app
def list_cmd(app: AppContext, limit: int, after: str | None, as_json: bool) -> None:
    """List researchers a page at a time: id, name, listing files, works and which fields are still missing
    (--json rows carry the `cursor` that --after takes)."""
    from enrich.store import paging

    with user_errors():
        rows, nxt = researcher_rows(app.store, limit, after)
        total = paging.count_researchers(app.store)
    if not as_json:
        rows = [{**r, "listings": "\n".join(r["listings"]), "missing": ", ".join(r["missing"]) or "-"} for r in rows]
    output(
        rows,
        ["id", "name", "listings", "works", "missing", "pending_proposals"],
        as_json,
        title=None
        if as_json
        else (f"{len(rows)} of {total} researcher(s)" if nxt or after else f"{total} researcher(s)"),
    )
    if not as_json:
        if nxt:
            click.echo(f"next page: enrich list --after {nxt}")
        for lst in paging.feed_summaries(app.store) if not after else []:
            # works only, no researcher: shown so nothing ingested seems lost
            click.echo(
                f"paper feed (no researcher): {lst['path']} ({lst['format']}, {lst['works']} works; "
                f"`enrich export --include-feeds` exports them)"
            )


@click.command("show")
@click.argument("researcher")
@json_option
@pass_app
def show_cmd(app: AppContext, researcher: str, as_json: bool) -> None:
    """Show one researcher (id or exact name): every field with status, origin, confidence and evidence."""
    with user_errors():
        data = show_data(app.store, researcher)
    if as_json:
        emit_json(data)
    else:
        print_show(data)


@click.command("set")
@click.argument("researcher")
@click.argument("field", type=FIELD_CHOICE, metavar="FIELD")
@click.argument("value")
@click.option(
    "--who",
    default=default_who,
    show_default="$USER",
    help="Who states the value (recorded as origin human:<who>).",
)
@json_option
@pass_app
def set_cmd(app: AppContext, researcher: str, field: str, value: str, who: str, as_json: bool) -> None:
    """Set a person's verified value for a field; no model value will ever override it.

    VALUE is plain text for affiliation; for topics a comma-separated list of tags or a JSON list of
    {tag, label, score, works}; for summary plain text or JSON {text, sentences}.
    """
    from enrich.schemas.fields import coerce_cli_value

    with user_errors():
        r = app.store.find_researcher(researcher)
        result = app.store.set_value(r.id, field, coerce_cli_value(field, value), who)
    if as_json:
        emit_json(result.model_dump())
    else:
        click.echo(
            f"{field} of researcher {r.id} ({r.name}) set by human:{who.removeprefix('human:')} "
            f"(verified, value {result.value_id})"
        )


@click.command("import-verified")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@click.option("--who", default=default_who, show_default="$USER", help="Who vouches for rows without a `who` cell.")
@click.option(
    "--strict",
    is_flag=True,
    help="Apply nothing if any row is bad (default: apply the good rows, report the bad ones).",
)
@json_option
@pass_app
def import_verified_cmd(app: AppContext, csv_file: str, who: str, strict: bool, as_json: bool) -> None:
    """Import a person's verified values from a CSV file with columns researcher, field, value[, who].

    `researcher` is an id or an exact name; values are written as for `enrich set`. Every row is validated
    first; each bad row is reported with its line number and the exit code is 1. A row whose value is
    already the current verified value is skipped, so re-running a file is harmless.
    """
    path = Path(csv_file)
    if not path.is_file():
        raise EnrichError(f"no such file: {csv_file}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EnrichError(f"{csv_file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    store = app.store
    good, errors = read_verified_csv(store, text, who)
    applied, unchanged = [], []
    if not (strict and errors):
        from enrich.store.core import value_hash

        with user_errors(), store.transaction():
            for row in good:
                cur = store.current(row.researcher_id, row.field)
                if (
                    cur is not None
                    and cur.status == "verified"
                    and value_hash(row.field, cur.value) == value_hash(row.field, row.value)
                ):
                    unchanged.append(row.line)
                    continue
                store.set_value(row.researcher_id, row.field, row.value, row.who, action="import-verified")
                applied.append(row.line)
    if as_json:
        emit_json(
            {
                "applied": applied,
                "unchanged": unchanged,
                "errors": errors,
                "strict_aborted": bool(strict and errors),
            }
        )
    else:
        for e in errors:
            click.echo(f"{csv_file}: {e}", err=True)
        note = " (nothing applied: --strict)" if strict and errors else ""
        click.echo(f"{len(applied)} value(s) set, {len(unchanged)} already verified, {len(errors)} bad row(s)" + note)
    if errors:
        sys.exit(1)


@click.command("history")
@click.argument("researcher")
@click.argument("field", type=FIELD_CHOICE, metavar="FIELD")
@json_option
@pass_app
def history_cmd(app: AppContext, researcher: str, field: str, as_json: bool) -> None:
    """Every value ever written for a researcher's field, oldest first, with what became of it."""
    from enrich.schemas.fields import display_value

    with user_errors():
        r = app.store.find_researcher(researcher)
        rows = app.store.history(r.id, field)
    if as_json:
        emit_json(rows)
        return
    table = [
        {
            "id": h["id"],
            "when": h["created_at"],
            "status": h["shown_status"] + (" *" if h["current"] else ""),
            "origin": h["origin"],
            "confidence": _fmt_conf(h["confidence"]),
            "value": display_value(field, h["value"]),
            "proposal": h["proposal_id"],
            "job": h["job_id"],
        }
        for h in rows
    ]
    output(
        table,
        ["id", "when", "status", "origin", "confidence", "value", "proposal", "job"],
        False,
        title=f"{field} of researcher {r.id} ({r.name}); * = current",
    )


@click.command("jobs")
@click.argument("job", required=False)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Show at most this many.")
@click.option("--errors", "with_errors", is_flag=True, help="Also list the errors each job recorded.")
@json_option
@pass_app
def jobs_cmd(app: AppContext, job: str | None, limit: int, with_errors: bool, as_json: bool) -> None:
    """List agent jobs, newest first (or only JOB): state, progress, counts, errors, tokens and cost.

    A job is `running` only while a live process runs it; one whose process ended early (Ctrl-C, a kill, a
    crash, power loss) is `interrupted` and shows the command that resumes it. `errors` counts the steps that
    raised for one researcher while the job went on (see them with --errors or `enrich show`).
    """
    with user_errors():
        jobs = [app.store.get_job(job)] if job else app.store.jobs(limit=limit)
        errors = {j.id: app.store.job_errors(job_id=j.id) for j in jobs if with_errors and j.errors}
    from enrich.store import batches

    # bulk jobs: their batches (provider batch ids, or the request files written for another runner)
    sent = {j.id: batches.files(app.store, j.id) for j in jobs if j.kind == "batch"}
    if as_json:
        emit_json(
            [
                {
                    **j.model_dump(),
                    **({"error_details": [e.model_dump() for e in errors.get(j.id, [])]} if with_errors else {}),
                    **(
                        {"batches": [{k: f[k] for k in ("batch_id", "path", "requests", "status")} for f in sent[j.id]]}
                        if j.id in sent
                        else {}
                    ),
                }
                for j in jobs
            ]
        )
        return
    rows = [
        {
            "id": j.id,
            "kind": j.kind
            + (
                ": " + ", ".join(f"{f['batch_id'] or Path(f['path']).name} ({f['requests']})" for f in sent[j.id])
                if sent.get(j.id)
                else ""
            ),
            "state": j.state,
            "progress": f"{j.cursor}/{len(j.todo)}",
            "counts": ", ".join(f"{k}={v}" for k, v in sorted(j.counts.items())),
            "errors": j.errors,
            "tokens": f"{j.tokens_in}/{j.tokens_out}",
            "cost_usd": f"{j.cost_usd:.4f}",
            "started": j.started_at,
            "finished": j.finished_at,
            "error": j.error,
        }
        for j in jobs
    ]
    output(
        rows,
        [
            "id",
            "kind",
            "state",
            "progress",
            "counts",
            "errors",
            "tokens",
            "cost_usd",
            "started",
            "finished",
            "error",
        ],
        False,
        title=f"{len(rows)} job(s)",
    )
    for j in jobs:
        if j.resume:
            click.echo(f"{j.id} is {j.state}: resume it with `{j.resume}`")
    for job_id, errs in errors.items():
        click.echo(f"\nErrors of job {job_id} (newest first):")
        for e in errs:
            click.echo("  " + error_line(e))


@click.command(
    "export",
    help=(
        "Export every researcher: one JSON line each (schema: `enrich schema ExportLine`), or CSV.\n\n"
        "Only current values are exported; a field not computed yet is null (topics []). Paper feeds (listings "
        "with no identifiable person) are exported, works only, with --include-feeds.\n\n"
        "\b\nCSV columns:\n" + _csv_help()
    ),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    "out_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.option("--include-feeds", is_flag=True, help="Also export paper feeds (researcher_id and name null).")
@click.option(
    "--since",
    default=None,
    metavar="JOB|TIME",
    help="Only researchers with a value written, imported, reviewed or rolled back since this job started "
    "(a job id) or this ISO time (UTC unless given).",
)
@pass_app
def export_cmd(app: AppContext, fmt: str, out_path: str | None, include_feeds: bool, since: str | None) -> None:
    with user_errors():
        if out_path is None:
            write_export(app.store, fmt, sys.stdout, include_feeds, since)
            return
        tmp = Path(out_path + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                n = write_export(app.store, fmt, fh, include_feeds, since)
            tmp.replace(out_path)  # a failed export never leaves half a file behind
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise EnrichError(f"cannot write {out_path}: {exc.strerror}") from exc
    click.echo(f"{n} line(s) written to {out_path}", err=True)


@click.command("schema")
@click.argument("model", required=False)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write one <Model>.schema.json file per model into this folder.",
)
def schema_cmd(model: str | None, export_dir: str | None) -> None:
    """Print the JSON Schema of the data models (or of MODEL only, e.g. ExportLine)."""
    from enrich.schemas import EXPORTED_SCHEMAS

    if model is not None and model not in EXPORTED_SCHEMAS:
        raise EnrichError(f"unknown model {model!r}; known: {', '.join(EXPORTED_SCHEMAS)}")
    models = {model: EXPORTED_SCHEMAS[model]} if model else EXPORTED_SCHEMAS
    schemas = {name: cls.model_json_schema() for name, cls in models.items()}
    if export_dir is None:
        emit_json(schemas[model] if model else schemas)
        return
    folder = Path(export_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (folder / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise EnrichError(f"cannot write schemas to {export_dir}: {exc.strerror}") from exc
    click.echo(f"{len(schemas)} schema file(s) written to {folder}")


@click.command("config")
@json_option
@pass_app
def config_cmd(app: AppContext, as_json: bool) -> None:
    """Print the effective settings and where each comes from (flag, env:VAR, config:FILE, default)."""
    from enrich.agent.settings import SPEC

    try:
        s = app.settings
    except (ValueError, OSError) as exc:  # a bad env value or an unreadable config file
        raise EnrichError(f"cannot load settings: {exc}") from exc
    rows = []
    for name, (env, _default, _typ, help_text) in SPEC.items():
        value = s.values[name]
        if name == "api_key" and value:
            value = "***"  # never print a secret
        rows.append({"name": name, "value": value, "source": s.sources[name], "env": env, "help": help_text})
    output(rows, ["name", "value", "source", "env", "help"], as_json, title=None if as_json else "settings")
