"""Every command and group of the whole `enrich` tree (including groups other modules register) describes itself."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from enrich.agent.cli import cli


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, f"{' '.join(path + (name,))} is listed but cannot be loaded"
        if isinstance(cmd, click.Group):
            out += walk(cmd, path + (name,))
        else:
            out.append((path + (name,), cmd))
    return out


COMMANDS = walk(cli)
IDS = [" ".join(p) or "enrich" for p, _ in COMMANDS]


def test_the_tree_has_the_core_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"init", "list", "show", "set", "import-verified", "history", "jobs", "export", "schema", "config"} <= names


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_every_command_has_help(path, cmd):
    text = (cmd.help or cmd.short_help or "").strip()
    assert text, f"`enrich {' '.join(path)}` has no help text"


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_every_option_has_help(path, cmd):
    undocumented = [
        p.name
        for p in cmd.params
        if isinstance(p, click.Option)
        and not p.hidden
        and not (p.help or "").strip()
        and p.name not in ("help", "version")
    ]
    assert not undocumented, f"`enrich {' '.join(path)}` options without help: {undocumented}"


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_help_exits_zero(path, cmd):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
