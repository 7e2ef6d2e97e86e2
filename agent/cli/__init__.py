"""The `enrich` command. Commands are module-level click commands in this package's modules (core, ingest, run,
review, ...), added to the root group below by name; every command also takes `--db` (before or after its name)."""

from __future__ import annotations

import sys

import click

from enrich.agent.cli import batch, core, ingest, models, review, ror, run, serve, taxonomy
from enrich.agent.cli.common import AppContext, add_db_option


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


for command in (
    core.init_cmd,
    ingest.ingest_cmd,
    core.list_cmd,
    core.show_cmd,
    core.set_cmd,
    core.import_verified_cmd,
    core.history_cmd,
    run.run_cmd,
    run.summarize_cmd,
    core.jobs_cmd,
    batch.batch_group,
    review.review,
    review.rollback,
    review.audit,
    serve.serve,
    core.export_cmd,
    core.schema_cmd,
    core.config_cmd,
    models.models_cmd,
    models.llm_log_cmd,
    ror.ror_group,
    taxonomy.taxonomy_group,
):
    cli.add_command(command)
add_db_option(cli)


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
