"""Matching affiliation strings and e-mail domains against the fixture index (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich.agent.ror import RorIndex, match
from enrich.agent.ror_dump import read_dump
from enrich.store.ror import load_orgs

NUDT = "https://ror.org/05d2yfz11"
CORNELL = "https://ror.org/05bnh6r87"
CAS_CN = "https://ror.org/034t30j35"
CAS_CZ = "https://ror.org/053avzc18"
BOSTON = "https://ror.org/05qwgg493"
UCSD = "https://ror.org/0168r3w48"
KAIST = "https://ror.org/05apxxy63"
ITU = "https://ror.org/02309jg23"
SAARLAND = "https://ror.org/01jdpyv68"


def test_nudt_with_city_and_country(index):
    result = match("National University of Defense Technology, Changsha, China", index=index)
    assert result is not None
    assert result.ror_id == NUDT
    assert (result.name, result.matched_on, result.city, result.country) == (
        "National University of Defense Technology",
        "name",
        "Changsha",
        "China",
    )
    assert result.score == 1.0
    assert result.origin == "match:ror@unknown"
    assert "https://ror.org/00yvyj927" not in [c.ror_id for c in result.candidates if c.score >= 0.85]


def test_nudt_missing_from_the_index_is_no_match_not_the_nearest_name(v2_only_index):
    # "Defense Technology Foundation" and "National University of Science and Technology" look alike as strings
    assert match("National University of Defense Technology, Changsha, China", index=v2_only_index) is None
    assert match("National University of Defense Technology", index=v2_only_index) is None


@pytest.mark.parametrize(
    "text",
    [
        "Open to collaborate",
        "Researcher profile",
        "",
        "   ",
        "Beijing, China",
        "Department of Computer Science",
        "Tao Sun",
        "kaist",
    ],
)
def test_text_naming_no_institution_is_no_match(index, text):
    assert match(text, index=index) is None


@pytest.mark.parametrize(
    "text,expected,matched_on",
    [
        ("Department of Computer Science and Engineering, Cornell University", CORNELL, "name"),
        ("Cornell University Department of Computer Science", CORNELL, "name"),
        ("School of Computing, IT University of Copenhagen", ITU, "name"),
        ("University of California, San Diego", UCSD, "name"),
        ("Sung-Hyon Myaeng (KAIST)", KAIST, "acronym"),
        ("Korea Advanced Inst. of Science & Technology, Daejeon", KAIST, "name"),
        ("CAS, Beijing, China", CAS_CN, "acronym"),
        ("CAS, Prague, Czech Republic", CAS_CZ, "acronym"),
        ("Universität des Saarlandes", SAARLAND, "alias"),
        ("Saarland Universtiy", SAARLAND, "fuzzy"),
        ("中国科学院", CAS_CN, "label"),
        ("PhD student at Boston University", BOSTON, "name"),
    ],
)
def test_affiliation_strings(index, text, expected, matched_on):
    result = match(text, index=index)
    assert result is not None, text
    assert (result.ror_id, result.matched_on) == (expected, matched_on)
    assert result.score >= 0.85


def test_longer_span_wins_over_the_system_name(index):
    result = match("University of California, San Diego", index=index)
    ids = [c.ror_id for c in result.candidates]
    assert ids[0] == UCSD and "https://ror.org/00pjdza24" in ids


def test_active_record_beats_withdrawn_duplicate(index):
    result = match("Cornell University", index=index)
    assert result.ror_id == CORNELL
    assert "https://ror.org/0cornwd00" not in [c.ror_id for c in result.candidates]  # withdrawn: never an answer


def test_shared_acronym_without_a_place_is_no_match(index):
    assert match("CAS", index=index) is None
    assert match("BU", index=index) is None


def test_email_domain_in_the_text(index):
    result = match("dwijaya@bu.edu", index=index)
    assert (result.ror_id, result.matched_on, result.matched_text) == (BOSTON, "domain", "bu.edu")


def test_email_subdomain_and_link_derived_domain(index):
    assert match("", emails=["someone@cs.bu.edu"], index=index).ror_id == BOSTON
    result = match("", emails=["li@nudt.edu.cn"], index=index)  # v1 record: domain from its links
    assert (result.ror_id, result.matched_on) == (NUDT, "domain")


def test_public_mail_and_public_suffixes_are_no_match(index):
    assert match("", emails=["someone@gmail.com"], index=index) is None
    assert match("", emails=["someone@edu.cn"], index=index) is None


def test_email_agreeing_with_an_ambiguous_acronym_settles_it(index):
    result = match("BU", emails=["x@bu.edu"], index=index)
    assert result.ror_id == BOSTON and result.score >= 0.9


def test_name_and_email_agreeing_raise_the_score(index):
    alone = match("Sung-Hyon Myaeng (KAIST)", index=index)
    both = match("Sung-Hyon Myaeng (KAIST)", emails=["smyaeng@kaist.ac.kr"], index=index)
    assert both.ror_id == alone.ror_id == KAIST
    assert both.score > alone.score


def test_index_can_be_a_database(index):
    assert match("Cornell University", index=index.db).ror_id == CORNELL


def test_cached_index_notices_a_new_load(db):
    fixtures = Path(__file__).parent / "fixtures"

    def load(name: str) -> None:
        release, orgs = read_dump(fixtures / name)
        load_orgs(db, orgs, release=release, source=name)

    load("ror-v2-mini.json")
    assert match("National University of Defense Technology, Changsha, China", index=db) is None
    assert "saarbrucken" not in RorIndex.of(db).places[1]
    load("ror-v1-mini.json.gz")
    assert match("National University of Defense Technology, Changsha, China", index=db).ror_id == NUDT
    assert "saarbrucken" in RorIndex.of(db).places[1]
    assert RorIndex.of(db).memory is RorIndex.of(db).memory  # built once per load


def test_connections_to_one_file_share_the_in_memory_index(tmp_path):
    from sqlite_utils import Database

    from enrich.store import migrations

    path = tmp_path / "ror.db"
    first = Database(path)
    migrations.apply(first)
    release, orgs = read_dump(Path(__file__).parent / "fixtures" / "ror-v2-mini.json")
    load_orgs(first, orgs, release=release, source="mini")
    second = Database(path)  # a worker thread's own connection
    assert RorIndex.of(first).memory is RorIndex.of(second).memory
    assert match("Cornell University", index=second).ror_id == CORNELL
