"""The layout's rules: only store/ talks to SQLite, the CLI and the web app sit on top of the rest of agent/, and the
import contracts in pyproject.toml (schemas <- store <- agent, no import cycles) hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQLITE = {"sqlite3", "sqlite_utils"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_store_imports_sqlite():
    offenders = [
        f"{path.relative_to(ROOT)}: {', '.join(sorted(imported_modules(path) & SQLITE))}"
        for folder in ("agent", "schemas", "prompts", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if imported_modules(path) & SQLITE
    ]
    assert offenders == []
    assert imported_modules(ROOT / "store" / "core.py") & SQLITE  # the check does see such imports


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_cli_and_web_sit_on_top():
    import grimp

    graph = grimp.build_graph("enrich.agent", "enrich.store", "enrich.schemas", exclude_type_checking_imports=True)
    top = ("enrich.agent.cli", "enrich.agent.web")

    def is_top(module: str) -> bool:
        return any(module == t or module.startswith(t + ".") for t in top)

    assert "enrich.agent.loop" in graph.modules and "enrich.agent.cli.core" in graph.modules
    upward = sorted(
        f"{m} -> {i}"
        for m in graph.modules
        if not is_top(m)
        for i in graph.find_modules_directly_imported_by(m)
        if is_top(i)
    )
    assert upward == []


def private_reach_ins(path: Path) -> list[str]:
    """`x._name` where x is not self or cls, or `from module import _name`: another object's (or module's) private
    name."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found += [
                f"{where}:{node.lineno}: .{a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"{where}:{node.lineno}: .{node.attr}")
    return found


# private names of other objects the package may use: the standard library's and pydantic's own conventions
ALLOWED_PRIVATE = {"_exit", "_current_frames", "_fields", "_asdict", "_replace", "_make"}


def test_no_private_reach_in_between_modules():
    offenders = [
        hit
        for folder in ("store", "agent", "schemas", "prompts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for hit in private_reach_ins(path)
        if hit.rsplit(".", 1)[1] not in ALLOWED_PRIVATE
    ]
    assert offenders == []
    assert private_reach_ins(ROOT / "tests" / "store" / "test_migrations.py")  # the check does see them


def test_the_private_name_check_sees_an_import_of_one(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("from enrich.agent.loop import _helper\nfrom .x import public as _alias\n")
    assert [h.rsplit(": ", 1)[1] for h in private_reach_ins(path)] == ["._helper"]
