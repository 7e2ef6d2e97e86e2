"""The `enrich` command. Each command group lives in its own module in this package and exposes
`register(cli)`; modules are discovered, so adding a group touches no other file."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from enrich.agent.cli.common import AppContext


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", "db", envvar=None, default=None, help="SQLite database file [env ENRICH_DB; default ./enrich.db]."
)
@click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    help="Config file (TOML) [env ENRICH_CONFIG; default ./enrich.toml].",
)
@click.version_option(package_name="enrich-profiles")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None) -> None:
    """Enrich researcher profiles from raw listings, with provenance.

    Ingest pages, let the agent fill affiliation, topic tags and a plain-language
    summary, review what it proposes, export the result. A value a person verified
    is never overwritten by a model.
    """
    import os

    if config:
        os.environ["ENRICH_CONFIG"] = config
    ctx.obj = AppContext(db_flag=db)


def _discover() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name == "common" or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register:
            register(cli)


_discover()


def main() -> None:
    import os

    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # one line, no traceback, unless asked for
        if os.environ.get("ENRICH_DEBUG"):
            raise
        click.echo(f"Error: {type(exc).__name__}: {exc} (set ENRICH_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)
