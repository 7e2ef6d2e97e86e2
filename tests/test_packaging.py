"""The project installs under one namespace: no generic top-level `agent`, `store`, `schemas` or `prompts`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("agent", "store", "schemas", "prompts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")  # keep setuptools' build/ and egg-info out of the checkout
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=build,
        capture_output=True,
    )
    (whl,) = out.glob("enrich_profiles-*.whl")
    return whl


def test_wheel_has_one_top_level_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"enrich", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for generic in GENERIC:
        assert f"enrich/{generic}/__init__.py" in names
    # every source folder ships (a new subpackage missing from pyproject's list would be left out of the wheel)
    for folder in GENERIC:
        for py in (ROOT / folder).rglob("*.py"):
            rel = py.relative_to(ROOT).as_posix()
            assert f"enrich/{rel}" in names, f"{rel} is not in the wheel: add its package to pyproject.toml"
    # the data files travel with their packages
    assert "enrich/prompts/summary.md" in names
    assert any(n.startswith("enrich/agent/web/templates/") for n in names)
    assert any(n.startswith("enrich/agent/data/taxonomy-") for n in names)


def test_installed_package_exposes_no_generic_names(tmp_path: Path) -> None:
    """Outside the checkout (so the repository root is not on sys.path) only `enrich.*` imports."""
    code = (
        "import importlib.util, json\n"
        f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in {list(GENERIC)!r}}}))\n"
        "import enrich.agent.cli, enrich.store, enrich.schemas, enrich.prompts\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert res.stdout.strip() == '{"agent": false, "store": false, "schemas": false, "prompts": false}'
