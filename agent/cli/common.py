"""What every command group shares: the context (settings, store), --json output, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import click

from enrich.agent import settings as settings_mod


class EnrichError(click.ClickException):
    """A user-facing error: printed as one line, exit code 1, no traceback."""


@dataclass
class AppContext:
    db_flag: str | None = None
    _settings: settings_mod.Settings | None = None
    _store: Any = None
    _org_lines: Any = None
    extra_flags: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> settings_mod.Settings:
        if self._settings is None:
            self._settings = settings_mod.load(db=self.db_flag, **self.extra_flags)
        return self._settings

    def override(self, **flags: Any) -> None:
        """A command's own flags (None: not given) over the settings every command shares."""
        self._settings = self.settings.with_overrides(**flags)

    @property
    def store(self):
        if self._store is None:
            from enrich.store import Store

            self._store = Store.open(self.settings.db)
        return self._store

    @property
    def org_lines(self):
        """Which header lines state affiliations, by this store's ROR index when one is loaded (ingest)."""
        if self._org_lines is None:
            from enrich.agent.ingest import OrgLines

            self._org_lines = OrgLines.for_store(self.store, self.settings.ror_match_threshold)
        return self._org_lines


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:  # after the command's name it wins over the one before
        ctx.ensure_object(AppContext).db_flag = value


def add_db_option(root: click.Group) -> None:
    """Give every command and group under `root` a `--db` option, so `enrich --db x.db list` and
    `enrich list --db x.db` mean the same."""
    commands = list(root.commands.values())
    while commands:
        cmd = commands.pop()
        if not any("--db" in p.opts for p in cmd.params):
            cmd.params.append(
                click.Option(
                    ["--db"],
                    default=None,
                    expose_value=False,
                    is_eager=True,
                    callback=_set_db,
                    help="SQLite database file [env ENRICH_DB; default ./enrich.db].",
                )
            )
        commands.extend(getattr(cmd, "commands", {}).values())


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(fn)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def emit_table(rows: Iterable[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    n = 0
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
        n += 1
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    if n == 0:
        console.print("(nothing)")
    else:
        console.print(table)


def output(rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str | None = None) -> None:
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, columns, title)
