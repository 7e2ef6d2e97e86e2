"""Fixtures for the review tests: a seeded temporary database (see review_seed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_seed import Seeded, seed

from enrich.store import Store


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed(tmp_path / "review.db")


@pytest.fixture
def open_store(seeded: Seeded):
    stores: list[Store] = []

    def _open() -> Store:
        stores.append(Store.open(seeded.path))
        return stores[-1]

    yield _open
    for s in stores:
        s.close()
