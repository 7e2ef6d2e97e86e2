"""`enrich ingest PATH...`: read, parse and store raw listings; one result line per file, the batch goes on after a
bad file, the exit code is 1 if any file failed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from enrich.agent.cli.common import AppContext, json_option, output, pass_app

LISTING_SUFFIXES = {".txt", ".html", ".htm", ".md"}
PROGRESS_MIN_FILES = 5


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
        return {k: v for k, v in self.__dict__.items()}


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
    from enrich.agent.ingest import UnknownFormatError, parse
    from enrich.agent.ingest.reader import ListingReadError, read_listing

    res = FileResult(src.label, "failed")
    if src.error:
        res.notes.append(src.error)
        return res
    warnings: list[str] = []
    try:
        raw: Any = sys.stdin.buffer.read() if src.path is None else src.path
        text = read_listing(raw, max_bytes, warnings)
        try:
            parsed = parse(text, name=name, path=src.label, fmt=fmt)
        except UnknownFormatError as exc:
            if not use_llm:
                raise ListingReadError(f"{exc}; rerun with --llm to let the model extract the works") from exc
            from enrich.agent.ingest.llm_fallback import parse_with_llm
            from enrich.agent.llm.factory import make_client

            if not llm_client:
                llm_client.append(make_client(app.settings, store=app.store))
            parsed = parse_with_llm(text, llm_client[0], name=name)
    except ListingReadError as exc:
        res.notes.append(str(exc))
        return res
    except Exception as exc:  # a parser or model failure on one file must not stop the batch
        res.notes.append(f"{type(exc).__name__}: {exc}")
        return res
    # the absolute path, so a changed file is recognised as a new version whatever folder the command ran from
    stored_path = str(src.path.resolve()) if src.path is not None else src.label
    result = app.store.record_import(parsed, text=text, path=stored_path)
    res.status = "unchanged" if not result.created else ("new version" if result.version > 1 else "new")
    res.format, res.kind, res.name = parsed.format, parsed.kind, parsed.name
    res.works, res.stated_works = len(parsed.works), parsed.stated_work_count
    res.listing_id, res.researcher_id, res.version = result.listing_id, result.researcher_id, result.version
    if parsed.name_origin and parsed.name_origin != "page":
        res.notes.append(f"name {parsed.name_origin}")
    if parsed.stated_work_count is not None and parsed.stated_work_count != len(parsed.works):
        res.notes.append(f"page states {parsed.stated_work_count} works, parsed {len(parsed.works)}")
    res.notes.extend(warnings + parsed.warnings)
    return res


def register(cli: click.Group) -> None:
    @cli.command("ingest")
    @click.argument("paths", nargs=-1, required=True, metavar="PATH...")
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
        name: str | None,
        fmt: str | None,
        max_size_mb: float | None,
        use_llm: bool,
        as_json: bool,
    ) -> None:
        """Read raw listings (files, folders, or - for stdin), detect each format, parse and store them.

        Folders are searched recursively for .txt, .html and .md files. Re-ingesting an unchanged file adds
        nothing; a changed file at the same path becomes a new listing version. A bad file is reported and
        the batch goes on; the exit code is 1 if any file failed.
        """
        limit_mb = max_size_mb if max_size_mb is not None else float(app.settings.max_file_mb)
        max_bytes = int(limit_mb * 1024 * 1024)
        sources = collect_sources(paths)
        results: list[FileResult] = []
        llm_client: list[Any] = []
        show_progress = len(sources) >= PROGRESS_MIN_FILES and not as_json
        try:
            if show_progress:
                from rich.console import Console
                from rich.progress import Progress

                with Progress(console=Console(stderr=True), transient=True) as progress:
                    task = progress.add_task("Ingesting", total=len(sources))
                    for src in sources:
                        results.append(
                            ingest_one(
                                app,
                                src,
                                name=name,
                                fmt=fmt,
                                max_bytes=max_bytes,
                                use_llm=use_llm,
                                llm_client=llm_client,
                            )
                        )
                        progress.advance(task)
            else:
                for src in sources:
                    results.append(
                        ingest_one(
                            app, src, name=name, fmt=fmt, max_bytes=max_bytes, use_llm=use_llm, llm_client=llm_client
                        )
                    )
        finally:
            for c in llm_client:
                c.close()
        failed = sum(r.status == "failed" for r in results)
        if as_json:
            output([r.as_json() for r in results], [], True)
        else:
            output(
                [r.row() for r in results],
                ["path", "status", "format", "kind", "name", "works", "listing", "researcher", "notes"],
                False,
                title=f"{len(results) - failed} ingested, {failed} failed",
            )
        if failed:
            raise SystemExit(1)
