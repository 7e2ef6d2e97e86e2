"""The SQLite side of the ROR index: load, upsert by id, counts, lookups."""

from __future__ import annotations

from pathlib import Path

from enrich.agent.ror import index_status
from enrich.agent.ror_dump import read_dump
from enrich.schemas.text import org_key
from enrich.store import ror as ror_store
from enrich.store.ror import RorOrg, load_orgs

FIXTURES = Path(__file__).parent / "fixtures"


def _fts_consistent(db) -> bool:
    """FTS5's own check that the full-text index matches the ror_names rows it indexes."""
    db.execute("INSERT INTO ror_names_fts(ror_names_fts, rank) VALUES ('integrity-check', 1)")
    return True


def _load(db, name: str, release: str | None = None):
    file_release, orgs = read_dump(FIXTURES / name)
    return load_orgs(db, orgs, release=release or file_release, source=name)


def test_name_key_folds_case_accents_punctuation_and_abbreviations():
    assert org_key("Universität des Saarlandes") == "universitat des saarlandes"
    assert org_key("Univ. of Western Ontario") == "university of western ontario"
    assert org_key("The University of Texas at Austin") == "university of texas at austin"
    assert org_key("Texas A&M") == "texas a and m"
    assert org_key("King's College London") == "kings college london"


def test_empty_index_has_no_status(db):
    assert index_status(db) is None
    assert ror_store.index_counts(db) is None


def test_load_counts_and_status(db):
    counts = _load(db, "ror-v2-mini.json")
    assert (counts.records, counts.names, counts.domains) == (12, 24, 11)
    status = index_status(db)
    assert (status["records"], status["names"], status["domains"]) == (12, 24, 11)
    assert status["releases"] == ["unknown"]
    assert status["imports"][0]["schema"] == "v2"


def test_both_schema_versions_share_one_index_and_upsert_by_id(db):
    _load(db, "ror-v1-mini.json.gz", release="v1.0-2020-01-01")
    assert (
        db.execute("SELECT name FROM ror_orgs WHERE ror_id = 'https://ror.org/05bnh6r87'").fetchone()[0]
        == "Cornell Univ (old name)"
    )
    _load(db, "v1.55-2024-10-31-ror-data.zip")
    status = index_status(db)
    assert status["records"] == 14  # 3 v1 + 12 v2, Cornell in both
    row = db.execute("SELECT name, schema, release FROM ror_orgs WHERE ror_id = 'https://ror.org/05bnh6r87'").fetchone()
    assert row == ("Cornell University", "v2", "v1.55-2024-10-31")
    # the old name is gone from the names and from the full-text index
    assert ror_store.orgs_by_name_key(db, "cornell univ old name") == []
    assert ror_store.fts_candidates(db, ["old"], all_tokens=True, limit=5) == []
    assert [i["release"] for i in status["imports"]] == ["v1.0-2020-01-01", "v1.55-2024-10-31"]
    assert _fts_consistent(db)


def test_reloading_the_same_dump_is_idempotent(db):
    _load(db, "ror-v2-mini.json")
    _load(db, "ror-v2-mini.json")
    status = index_status(db)
    assert (status["records"], status["names"], status["domains"]) == (12, 24, 11)
    assert _fts_consistent(db)
    assert sorted(ror_store.fts_candidates(db, ["cornell"], all_tokens=True, limit=10)) == [
        "https://ror.org/05bnh6r87",
        "https://ror.org/0cornwd00",
    ]


def test_lookups(db):
    _load(db, "ror-v2-mini.json")
    _load(db, "ror-v1-mini.json.gz")
    assert ror_store.orgs_by_domain(db, "nudt.edu.cn") == [("https://ror.org/05d2yfz11", "link")]
    assert ror_store.orgs_by_domain(db, "bu.edu") == [("https://ror.org/05qwgg493", "domains")]
    assert sorted(ror_store.orgs_by_name_key(db, "cas")) == [
        ("https://ror.org/034t30j35", "acronym"),
        ("https://ror.org/053avzc18", "acronym"),
    ]
    found = ror_store.fts_candidates(db, ["defense", "technology"], all_tokens=True, limit=10)
    assert set(found) == {"https://ror.org/05d2yfz11", "https://ror.org/00yvyj927"}
    details = ror_store.org_details(db, ["https://ror.org/0168r3w48"])["https://ror.org/0168r3w48"]
    assert (details["city"], details["country_code"], details["is_child"]) == ("San Diego", "US", 1)
    assert ("UCSD", "acronym", "ucsd") in details["names"]
    counts, total = ror_store.token_document_counts(db)
    assert counts["university"] >= 8 and total == 29  # v1 Cornell (loaded last) replaced the v2 one


def test_a_failed_load_leaves_the_index_unchanged(db):
    _load(db, "ror-v2-mini.json")

    def broken():
        yield RorOrg(ror_id="https://ror.org/0new00001", name="New Org", names=[("New Org", "name", None)])
        raise ValueError("dump broke half way")

    try:
        load_orgs(db, broken(), release="x", source="broken")
    except ValueError:
        pass
    assert index_status(db)["records"] == 12
    assert ror_store.orgs_by_name_key(db, "new org") == []
