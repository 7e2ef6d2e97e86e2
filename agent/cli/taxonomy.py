"""`enrich taxonomy import|list`: the topic taxonomies the topics step can tag with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from enrich.agent.cli.common import EnrichError, emit_json, json_option, output, pass_app


@click.group("taxonomy")
def taxonomy_group() -> None:
    """Topic taxonomies: the shipped arXiv categories, or one you import (OpenAlex topics)."""


@taxonomy_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default="openalex", show_default=True, help="Name to use it by (ENRICH_TAXONOMY=NAME).")
@click.option("--version", "version", default=None, help="Version recorded with the tags (default: newest date).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the taxonomy here instead of <taxonomy_dir>/NAME.json [ENRICH_TAXONOMY_DIR].",
)
@json_option
@pass_app
def import_cmd(app: Any, files: tuple[str, ...], name: str, version: str | None, output: str | None, as_json: bool):
    """Import OpenAlex topics (domain > field > subfield > topic) as a taxonomy.

    FILES: OpenAlex topic records as the API returns them (saved pages of
    /topics, {"results": [...]}), a JSON list, or the snapshot's JSON Lines
    files (.gz allowed); several files are merged. Then tag with it:
    `ENRICH_TAXONOMY=openalex enrich run`.
    """
    from rich.progress import Progress

    from enrich.agent.openalex_topics import OpenAlexFormatError, counts, read_records, to_taxonomy
    from enrich.agent.taxonomy import TaxonomyError, parse_taxonomy

    if not name.replace("-", "").replace("_", "").isalnum():
        raise EnrichError(f"--name {name!r}: use letters, digits, '-' or '_'")
    records: list[dict] = []
    try:
        with Progress(transient=True, disable=as_json or len(files) < 2) as bar:
            task = bar.add_task("reading", total=len(files))
            for f in files:
                records.extend(read_records(f))
                bar.advance(task)
        doc = to_taxonomy(records, name=name, version=version or "")
        taxonomy = parse_taxonomy(doc, name)  # the file written must load
    except (OpenAlexFormatError, TaxonomyError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise EnrichError(f"cannot import: {exc}") from None
    target = Path(output) if output else Path(app.settings.taxonomy_dir).expanduser() / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    result = {"name": name, "version": taxonomy.version, "path": str(target), **counts(doc)}
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"Imported {result['topics']:,} topics ({result['subfields']:,} subfields, {result['fields']:,} fields, "
        f"{result['domains']:,} domains) as {name!r}, version {taxonomy.version}, to {target}.\n"
        f"Use it: ENRICH_TAXONOMY={name if not output else target} enrich run"
    )


@taxonomy_group.command("list")
@json_option
@pass_app
def list_cmd(app: Any, as_json: bool) -> None:
    """The taxonomies available: shipped ones and those in the taxonomy folder; * marks the one in use."""
    from importlib import resources

    from enrich.agent.taxonomy import TaxonomyError, load_taxonomy

    settings = app.settings
    names = [
        p.name[len("taxonomy-") : -len(".json")]
        for p in resources.files("enrich.agent").joinpath("data").iterdir()
        if p.name.startswith("taxonomy-") and p.name.endswith(".json")
    ]
    folder = Path(settings.taxonomy_dir).expanduser()
    names += sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    if settings.taxonomy not in names:
        names.append(settings.taxonomy)
    rows = []
    for n in names:
        try:
            tax = load_taxonomy(n, settings.taxonomy_dir)
            rows.append({"name": n, "version": tax.version, "tags": len(tax.tags), "in_use": n == settings.taxonomy})
        except TaxonomyError as exc:
            rows.append({"name": n, "version": None, "tags": None, "in_use": n == settings.taxonomy, "error": str(exc)})
    if not as_json:
        for r in rows:
            r["name"] = ("* " if r["in_use"] else "  ") + r["name"]
    output(rows, ["name", "version", "tags", "error"], as_json)
