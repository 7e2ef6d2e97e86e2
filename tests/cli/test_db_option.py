"""`--db` names the database before or after any command's name (`enrich --db x.db list` = `enrich list --db x.db`)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from test_help import COMMANDS, IDS

from enrich.agent.cli import cli


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_every_command_takes_db_before_and_after_its_name(path, cmd, tmp_path):
    assert any(isinstance(p, click.Option) and "--db" in p.opts for p in cmd.params), " ".join(path)
    db = str(tmp_path / "x.db")
    for args in ([*path, "--db", db, "--help"], ["--db", db, *path, "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, f"{args}: {result.output}"
        assert "--db" in result.output


def test_the_db_after_the_name_is_the_one_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENRICH_DB", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--db", "after.db"]).exit_code == 0
    assert runner.invoke(cli, ["--db", "before.db", "init"]).exit_code == 0
    assert runner.invoke(cli, ["--db", "ignored.db", "init", "--db", "wins.db"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["after.db", "before.db", "wins.db"]
    result = runner.invoke(cli, ["list", "--db", "after.db", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    assert not (tmp_path / "enrich.db").exists()
