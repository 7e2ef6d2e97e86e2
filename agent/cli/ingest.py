"""`enrich ingest PATH...`: read, parse and store raw listings; one result line per file, the batch goes on after a
bad file, the exit code is 1 if any file failed."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from enrich.agent.cli.common import AppContext, EnrichError, json_option, output, pass_app

LISTING_SUFFIXES = {".txt", ".html", ".htm", ".md"}
PROGRESS_MIN_FILES = 5
JSONL_BATCH = 200  # records per write transaction
FAILED_SHOWN = 20  # failures listed under the summary line of a large ingest


@dataclass
class Source:
    label: str  # what the user sees and what is stored as the listing path
    path: Path | None = None  # None: read stdin
    error: str | None = None


def collect_sources(paths: tuple[str, ...]) -> list[Source]:
    """Expand folders (recursively: *.txt, *.html, *.htm, *.md), keep files as given, `-` is stdin."""
    out: list[Source] = []
    for p in paths:
        if p == "-":
            out.append(Source("<stdin>"))
            continue
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in LISTING_SUFFIXES)
            if not found:
                out.append(Source(str(path), path, "folder has no .txt/.html/.md files"))
            out.extend(Source(str(f), f) for f in found)
        elif path.exists():
            out.append(Source(str(path), path))
        else:
            out.append(Source(str(path), path, "no such file or folder"))
    return out


@dataclass
class FileResult:
    path: str
    status: str  # new | unchanged | new version | failed
    format: str | None = None
    kind: str | None = None
    name: str | None = None
    works: int | None = None
    stated_works: int | None = None
    listing_id: int | None = None
    researcher_id: int | None = None
    version: int | None = None
    notes: list[str] = field(default_factory=list)
    line: int | None = None  # JSONL ingest: the record's line number
    external_id: str | None = None  # JSONL ingest: the record's id

    def row(self) -> dict[str, Any]:
        works = (
            None
            if self.works is None
            else (f"{self.works}/{self.stated_works}" if self.stated_works is not None else str(self.works))
        )
        return {
            "path": self.path,
            "status": self.status,
            "format": self.format,
            "kind": self.kind,
            "name": self.name,
            "works": works,
            "listing": self.listing_id,
            "researcher": self.researcher_id,
            "notes": "; ".join(self.notes),
        }

    def as_json(self) -> dict[str, Any]:
        jsonl_only = ("line", "external_id")
        return {k: v for k, v in self.__dict__.items() if k not in jsonl_only or self.line is not None}


def _parse(
    app: AppContext, text: str, *, label: str, name: str | None, fmt: str | None, use_llm: bool, llm_client: list[Any]
) -> Any:
    """Detect the format and parse; a page in no known format goes to the model when `use_llm`."""
    from enrich.agent.ingest import UnknownFormatError, parse
    from enrich.agent.ingest.reader import ListingReadError

    try:
        return parse(text, name=name, path=label, fmt=fmt, orgs=app.org_lines)
    except UnknownFormatError as exc:
        if not use_llm:
            raise ListingReadError(f"{exc}; rerun with --llm to let the model extract the works") from exc
        from enrich.agent.ingest.llm_fallback import parse_with_llm
        from enrich.agent.llm.factory import make_client

        if not llm_client:
            llm_client.append(make_client(app.settings, store=app.store))
        return parse_with_llm(text, llm_client[0], name=name)


def _record(
    app: AppContext,
    res: FileResult,
    parsed: Any,
    text: str,
    stored_path: str,
    warnings: list[str],
    external_id: str | None = None,
) -> None:
    """Store a parsed listing and fill the result's columns."""
    result = app.store.record_import(parsed, text=text, path=stored_path, external_id=external_id)
    res.status = "unchanged" if not result.created else ("new version" if result.version > 1 else "new")
    res.format, res.kind, res.name = parsed.format, parsed.kind, parsed.name
    res.works, res.stated_works = len(parsed.works), parsed.stated_work_count
    res.listing_id, res.researcher_id, res.version = result.listing_id, result.researcher_id, result.version
    if parsed.name_origin and parsed.name_origin != "page":
        res.notes.append(f"name {parsed.name_origin}")
    if parsed.stated_work_count is not None and parsed.stated_work_count != len(parsed.works):
        res.notes.append(f"page states {parsed.stated_work_count} works, parsed {len(parsed.works)}")
    res.notes.extend(warnings + parsed.warnings)


def ingest_one(
    app: AppContext,
    src: Source,
    *,
    name: str | None,
    fmt: str | None,
    max_bytes: int,
    use_llm: bool,
    llm_client: list[Any],
) -> FileResult:
    from enrich.agent.ingest.reader import ListingReadError, read_listing

    res = FileResult(src.label, "failed")
    if src.error:
        res.notes.append(src.error)
        return res
    warnings: list[str] = []
    try:
        raw: Any = sys.stdin.buffer.read() if src.path is None else src.path
        text = read_listing(raw, max_bytes, warnings)
        parsed = _parse(app, text, label=src.label, name=name, fmt=fmt, use_llm=use_llm, llm_client=llm_client)
    except ListingReadError as exc:
        res.notes.append(str(exc))
        return res
    except Exception as exc:  # a parser or model failure on one file must not stop the batch
        res.notes.append(f"{type(exc).__name__}: {exc}")
        return res
    # the absolute path, so a changed file is recognised as a new version whatever folder the command ran from
    stored_path = str(src.path.resolve()) if src.path is not None else src.label
    _record(app, res, parsed, text, stored_path, warnings)
    return res


def ingest_jsonl(
    app: AppContext,
    source: str,
    *,
    name: str | None,
    fmt: str | None,
    max_bytes: int,
    use_llm: bool,
    llm_client: list[Any],
    on_result: Callable[[FileResult], None],
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Stream a JSONL file (or `-`): each record is parsed outside the write lock, then stored in batches of
    JSONL_BATCH records per transaction (one savepoint each, so one failing record rolls back alone). Results are
    handed to `on_result` in input order; nothing is kept, so memory does not grow with the file."""
    from enrich.agent.ingest.jsonl import LineError, read_records
    from enrich.agent.ingest.reader import ListingReadError, read_listing

    if source == "-":
        stream, base = sys.stdin.buffer, "stdin"
    else:
        try:
            stream, base = open(source, "rb"), str(Path(source).resolve())  # noqa: SIM115 - closed below
        except OSError as exc:
            raise EnrichError(f"cannot read {source}: {exc.strerror or exc}") from None
    batch: list[tuple[FileResult, Any, str, list[str], str | None]] = []

    def flush() -> None:
        todo = [b for b in batch if b[1] is not None]
        if todo:
            with app.store.transaction():
                for res, parsed, text, warnings, ext in todo:
                    try:
                        _record(app, res, parsed, text, res.path, warnings, external_id=ext)
                    except Exception as exc:  # this record's savepoint is rolled back; the batch goes on
                        res.status = "failed"
                        res.notes.append(f"{type(exc).__name__}: {exc}")
        for res, *_ in batch:
            on_result(res)
        batch.clear()

    try:
        for item in read_records(_Counting(stream, on_bytes)):
            if isinstance(item, LineError):
                res = FileResult(f"{base}:{item.line}", "failed", line=item.line, external_id=item.id)
                res.notes.append(f"line {item.line}: {item.message}")
                batch.append((res, None, "", [], None))
            else:
                res = FileResult(f"{base}#{item.id}", "failed", line=item.line, external_id=item.id)
                warnings: list[str] = []
                try:
                    text = read_listing(item.text.encode("utf-8"), max_bytes, warnings)
                    parsed = _parse(
                        app,
                        text,
                        label=res.path,
                        name=item.name or name,
                        fmt=item.format or fmt,
                        use_llm=use_llm,
                        llm_client=llm_client,
                    )
                    if item.url:
                        parsed.facts["url"] = item.url
                    batch.append((res, parsed, text, warnings, item.id))
                except ListingReadError as exc:
                    res.notes.append(f"line {item.line}: {exc}")
                    batch.append((res, None, "", [], None))
                except Exception as exc:  # a parser or model failure on one record must not stop the file
                    res.notes.append(f"line {item.line}: {type(exc).__name__}: {exc}")
                    batch.append((res, None, "", [], None))
            if len(batch) >= JSONL_BATCH:
                flush()
        flush()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


class _Counting:
    """Iterate a binary stream's lines, reporting bytes read (the progress bar of a JSONL ingest)."""

    def __init__(self, stream: Any, on_bytes: Callable[[int], None] | None):
        self.stream, self.on_bytes = stream, on_bytes

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.stream:
            if self.on_bytes:
                self.on_bytes(len(raw))
            yield raw


class Report:
    """Counts and output of an ingest: one table row per listing when it fits a screen, else a summary line and
    the failures; with --json, the per-record report streamed as a JSON array."""

    def __init__(self, as_json: bool, show_table: bool | None):
        self.as_json, self.show_table = as_json, show_table
        self.counts: dict[str, int] = {}
        self.failed: list[FileResult] = []
        self.rows: list[FileResult] = []
        self.started = time.monotonic()
        self.n = 0

    def add(self, res: FileResult) -> None:
        self.n += 1
        self.counts[res.status] = self.counts.get(res.status, 0) + 1
        if self.as_json:
            click.echo(("[\n" if self.n == 1 else ",\n") + json.dumps(res.as_json(), ensure_ascii=False), nl=False)
            return
        if res.status == "failed" and len(self.failed) < FAILED_SHOWN:
            self.failed.append(res)
        if self.show_table is not False and len(self.rows) <= _screen_rows():
            self.rows.append(res)

    def finish(self) -> int:
        failed = self.counts.get("failed", 0)
        if self.as_json:
            click.echo("[]" if self.n == 0 else "\n]")
            return failed
        seconds = time.monotonic() - self.started
        ok = self.n - failed
        title = f"{ok} ingested, {failed} failed"
        if self.show_table is not False and self.n <= _screen_rows():
            output([r.row() for r in self.rows], TABLE_COLUMNS, False, title=title)
            return failed
        parts = ", ".join(f"{self.counts[k]} {k}" for k in ("new", "new version", "unchanged") if self.counts.get(k))
        rate = f" in {seconds:.1f} s ({self.n / seconds:,.0f}/s)" if seconds > 0 else ""
        click.echo(f"{title} ({parts or 'nothing new'}){rate}")
        if self.failed:
            for r in self.failed:
                click.echo(f"failed: {r.path}: {'; '.join(r.notes)}", err=True)
            if failed > len(self.failed):
                click.echo(f"... and {failed - len(self.failed)} more failures (--json lists every record)", err=True)
        return failed


TABLE_COLUMNS = ["path", "status", "format", "kind", "name", "works", "listing", "researcher", "notes"]


def _screen_rows() -> int:
    """How many table rows fit the terminal (a pipe counts as one screen of 40)."""
    import shutil

    lines = shutil.get_terminal_size((160, 44)).lines
    return max(10, lines - 4)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=False, metavar="[PATH]...")
@click.option(
    "--jsonl",
    "jsonl",
    default=None,
    metavar="FILE|-",
    help='Read records from a JSONL file (or - for stdin), one per line: {"id", "text", "url"?, "name"?, '
    '"format"?}. The id is kept as the listing\'s external_id; its path is FILE#id.',
)
@click.option(
    "--name",
    default=None,
    help="Whom the listing is about, for pages that do not say (arXiv lists); overrides the page.",
)
@click.option(
    "--format",
    "fmt",
    default=None,
    type=click.Choice(["bzpeer", "ieee", "arxiv", "acl", "hf-papers", "generic"]),
    help="Skip format detection and use this parser.",
)
@click.option(
    "--max-size-mb",
    type=float,
    default=None,
    help="Refuse files larger than this many MB [setting max_file_mb, default 20].",
)
@click.option(
    "--llm/--no-llm",
    "use_llm",
    default=True,
    show_default=True,
    help="Let the model extract works from pages in no known format.",
)
@json_option
@pass_app
def ingest_cmd(
    app: AppContext,
    paths: tuple[str, ...],
    jsonl: str | None,
    name: str | None,
    fmt: str | None,
    max_size_mb: float | None,
    use_llm: bool,
    as_json: bool,
) -> None:
    """Read raw listings (files, folders, or - for stdin; or --jsonl records), detect each format, parse and
    store them.

    Folders are searched recursively for .txt, .html and .md files. Re-ingesting an unchanged file adds
    nothing; a changed file at the same path becomes a new listing version. A bad file (or JSONL line, reported
    with its line number) is reported and the batch goes on; the exit code is 1 if any failed. A large batch
    prints a summary line and the failures instead of a table; --json gives the per-record report.
    """
    if not paths and not jsonl:
        raise EnrichError("give PATH... (files, folders, -) or --jsonl FILE")
    if paths and jsonl:
        raise EnrichError("give PATH... or --jsonl FILE, not both")
    limit_mb = max_size_mb if max_size_mb is not None else float(app.settings.max_file_mb)
    max_bytes = int(limit_mb * 1024 * 1024)
    llm_client: list[Any] = []
    try:
        if jsonl:
            failed = _ingest_jsonl_cmd(app, jsonl, name, fmt, max_bytes, use_llm, llm_client, as_json)
        else:
            failed = _ingest_files_cmd(app, paths, name, fmt, max_bytes, use_llm, llm_client, as_json)
    finally:
        for c in llm_client:
            c.close()
    if failed:
        raise SystemExit(1)


def _progress(as_json: bool, total: int | None, label: str) -> Any:
    from rich.console import Console
    from rich.progress import Progress

    if as_json or total is None:
        return None
    progress = Progress(console=Console(stderr=True), transient=True)
    progress.add_task(label, total=total)
    return progress


def _ingest_files_cmd(app, paths, name, fmt, max_bytes, use_llm, llm_client, as_json) -> int:
    sources = collect_sources(paths)
    report = Report(as_json, None)
    progress = _progress(as_json or len(sources) < PROGRESS_MIN_FILES, len(sources), "Ingesting")
    with progress or contextlib.nullcontext():
        for src in sources:
            res = ingest_one(app, src, name=name, fmt=fmt, max_bytes=max_bytes, use_llm=use_llm, llm_client=llm_client)
            report.add(res)
            if progress:
                progress.advance(progress.task_ids[0])
    return report.finish()


def _ingest_jsonl_cmd(app, source, name, fmt, max_bytes, use_llm, llm_client, as_json) -> int:
    size = None if source == "-" else (Path(source).stat().st_size if Path(source).is_file() else None)
    report = Report(as_json, False)
    progress = _progress(as_json, size, "Ingesting records")
    with progress or contextlib.nullcontext():
        ingest_jsonl(
            app,
            source,
            name=name,
            fmt=fmt,
            max_bytes=max_bytes,
            use_llm=use_llm,
            llm_client=llm_client,
            on_result=report.add,
            on_bytes=(lambda n: progress.advance(progress.task_ids[0], n)) if progress else None,
        )
    return report.finish()
