"""A small ROR index built from hand-written fixture dumps (v2 .json, v1 .json.gz, a release .zip)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from enrich.agent.ror import RorIndex
from enrich.agent.ror_dump import read_dump
from enrich.store import migrations
from enrich.store.ror import load_orgs

FIXTURES = Path(__file__).parent / "fixtures"
V2_JSON = FIXTURES / "ror-v2-mini.json"
V1_GZ = FIXTURES / "ror-v1-mini.json.gz"
RELEASE_ZIP = FIXTURES / "v1.55-2024-10-31-ror-data.zip"


def new_db() -> Database:
    db = Database(memory=True)
    migrations.apply(db)
    return db


def load(db: Database, path: Path) -> None:
    release, orgs = read_dump(path)
    load_orgs(db, orgs, release=release, source=str(path))


@pytest.fixture
def db() -> Database:
    return new_db()


@pytest.fixture(scope="module")
def index() -> RorIndex:
    """v1 first, then v2: the v2 record of Cornell replaces its older v1 version (upsert by ROR id)."""
    db = new_db()
    load(db, V1_GZ)
    load(db, V2_JSON)
    return RorIndex(db)


@pytest.fixture(scope="module")
def v2_only_index() -> RorIndex:
    """The v2 file alone: no National University of Defense Technology in it."""
    db = new_db()
    load(db, V2_JSON)
    return RorIndex(db)
