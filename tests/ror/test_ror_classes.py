"""The classes of affiliation strings the matcher handles, against hand-written records (fixtures/ror-v2-classes.json,
made-up ids): every organisation a string names, with its span, score and what it matched on; "no match" otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from enrich.agent import ror
from enrich.agent.ror import RorIndex, match, match_all
from enrich.agent.ror_dump import read_dump
from enrich.store import migrations
from enrich.store.ror import load_orgs

FIXTURE = Path(__file__).parent / "fixtures" / "ror-v2-classes.json"

CAS = "https://ror.org/00cas0000"
IOP_CAS = "https://ror.org/00iop0000"
JHU = "https://ror.org/00jhu0000"
JHSOM = "https://ror.org/00jhsom00"
YALE = "https://ror.org/00yale000"
HOKKAIDO = "https://ror.org/00hok0000"
TOKYO_TECH = "https://ror.org/00tit0000"
BERGEN = "https://ror.org/00uib0000"
HAUKELAND = "https://ror.org/00hauk000"
RICE = "https://ror.org/00rice000"
TURKU = "https://ror.org/00tur0000"
TURKU_HOSPITAL = "https://ror.org/00tuh0000"
TSINGHUA = "https://ror.org/00tsi0000"
USP = "https://ror.org/00usp0000"
BONN = "https://ror.org/00bonn000"
TUM = "https://ror.org/00tum0000"
WISCONSIN = "https://ror.org/00wisc000"
BRISTOL = "https://ror.org/00bris000"
ANDHRA = "https://ror.org/00andh000"
CHU_ROUEN = "https://ror.org/00chur000"


@pytest.fixture(scope="module")
def index() -> RorIndex:
    db = Database(memory=True)
    migrations.apply(db)
    release, orgs = read_dump(FIXTURE)
    load_orgs(db, orgs, release=release, source=str(FIXTURE))
    return RorIndex(db)


def ids(text: str, index: RorIndex, **kw) -> set[str]:
    return {m.ror_id for m in match_all(text, index=index, **kw)}


@pytest.mark.parametrize(
    "text,expected",
    [
        # no separators at all: the child's full name is found across the words
        ("Institute of Physics Chinese Academy of Sciences Beijing China", {IOP_CAS}),
        # the organisation inside a department or school segment; a school with its own record is that record
        ("Department of Surgery, Johns Hopkins School of Medicine, Baltimore, MD, USA", {JHSOM}),
        ("Dept. of Chemistry Rice University Houston TX", {RICE}),
        # a school without a record of its own belongs to its university
        ("Department of Epidemiology, Yale School of Public Health, New Haven, CT, USA", {YALE}),
        # abbreviations
        ("Graduate School of Engineering, Hokkaido Univ., Sapporo, Japan", {HOKKAIDO}),
        ("Dept. of Physics, Tokyo Inst. of Tech., Tokyo", {TOKYO_TECH}),
        # footnote marks glued to the name
        ("2University of Bergen, Bergen, Norway", {BERGEN}),
        ("University of Bergen3, Norway", {BERGEN}),
        # HTML entities
        ("Dept. of Electrical &amp; Computer Eng., Rice Univ., Houston, TX", {RICE}),
        # other languages: a label, a word-order/language variant, an acronym with its city
        ("Universitetet i Bergen, Norge", {BERGEN}),
        ("Instituto de Física, Universidade de São Paulo, Brasil", {USP}),
        ("Institut für Informatik, Universität Bonn, Bonn, Deutschland", {BONN}),
        ("Fakultät für Informatik, Technische Universität München", {TUM}),
        ("CHU Rouen, Rouen, France", {CHU_ROUEN}),
        ("北海道大学", {HOKKAIDO}),
        # an acronym counts with the place that singles it out
        ("USP, São Paulo, Brazil", {USP}),
        # a name written with its campus after a comma, or without ROR's "at"
        ("Department of Physics, University of Wisconsin, Madison, WI, USA", {WISCONSIN}),
        ("Department of Chemistry, University of Texas, El Paso, TX, USA", {"https://ror.org/00utep000"}),
        # a company without the country ROR adds to its name
        ("Department of Diabetes Research, Novo Nordisk A/S, Måløv, Denmark", {"https://ror.org/00novo000"}),
        # "university hospital" is what "centre hospitalier universitaire" says
        ("Department of Neurology, University Hospital of Tours, Tours, France", {"https://ror.org/00chut000"}),
    ],
)
def test_classes(index, text, expected):
    assert ids(text, index) == expected, [m.model_dump() for m in match_all(text, index=index)]


def test_several_organisations_each_with_span_score_and_what_it_matched_on(index):
    text = "Department of Medicine, University of Bergen and Haukeland University Hospital, Bergen, Norway"
    found = match_all(text, index=index)
    assert {m.ror_id for m in found} == {BERGEN, HAUKELAND}
    for m in found:
        start, end = m.span
        assert text[start:end] == m.matched_text
        assert m.matched_on == "name" and m.score == 1.0
    assert {text[slice(*m.span)] for m in found} == {"University of Bergen", "Haukeland University Hospital"}


def test_span_points_into_the_string_as_given(index):
    text = "1Dept. of E&amp;CE, Rice Univ., Houston"
    (m,) = match_all(text, index=index)
    assert text[m.span[0] : m.span[1]] == "Rice Univ"


def test_hospital_stays_beside_its_university_unit_gives_way_to_it(index):
    # a hospital that is its own record is named beside its parent university: both
    both = "Department of Cardiology, Turku University Hospital and University of Turku, Turku, Finland"
    assert ids(both, index) == {TURKU, TURKU_HOSPITAL}
    # a laboratory named beside the university it belongs to: the university (as ROR's curators assign it)
    assert ids("State Key Laboratory of Tribology, Tsinghua University, Beijing, China", index) == {TSINGHUA}
    # the laboratory alone is its own record
    assert ids("State Key Laboratory of Tribology, Beijing", index) == {"https://ror.org/00skl0000"}


def test_research_centre_beside_a_university_gives_way_to_it_linked_or_not(index):
    # a research centre with its own record, not linked to the university in ROR: the string is the university's
    text = "Harwick Software Research Centre, University of Dunmore, Dunmore, Ireland"
    assert ids(text, index) == {"https://ror.org/00dun0000"}
    # named alone it is its own record; beside a hospital or an academy it is not a university's unit
    assert ids("Harwick Software Research Centre, Dunmore, Ireland", index) == {"https://ror.org/00hsrc000"}
    assert ids("Harwick Software Research Centre and Turku University Hospital", index) == {
        "https://ror.org/00hsrc000",
        TURKU_HOSPITAL,
    }


def test_a_place_written_with_its_kind_of_unit_is_a_place(index):
    # "Lakeview City" is the town of Lakeview (which decides between two colleges), not the city government
    text = "Department of Music, Saint Anne's College, Lakeview City, USA"
    assert ids(text, index) == {"https://ror.org/00sac0000"}
    assert ids("Saint Anne's College, Lakeview County, USA", index) == {"https://ror.org/00sac0000"}


def test_the_place_after_a_name_completes_it_but_not_a_bare_type_word(index):
    # "Aldous Ferrant University, Dunmore" is ROR's "Aldous Ferrant University of Dunmore" ...
    assert ids("School of Law, Aldous Ferrant University, Dunmore, Ireland", index) == {"https://ror.org/00afu0000"}
    # ... but "University, Dunmore" after a name cut by a stray comma is not the University of Dunmore
    assert ids("Department of Surgery, Northfield Health & Science, University, Dunmore, Ireland", index) == set()


def test_a_name_written_with_its_partners_name_after_a_comma_names_both(index):
    # ROR's "Marlow Hospital Eastbrook University" (related to Eastbrook University) written as two segments
    text = "Department of Surgery, Marlow Hospital, Eastbrook University, Eastbrook, China"
    assert ids(text, index) == {"https://ror.org/00mhe0000", "https://ror.org/00ebu0000"}
    # written as ROR writes it, it is the hospital's name alone
    assert ids("Department of Surgery, Marlow Hospital Eastbrook University, Eastbrook, China", index) == {
        "https://ror.org/00mhe0000"
    }


def test_a_university_of_a_system_named_with_it_is_the_university(index):
    """ROR links a state system's universities to the system as its children; a string naming a university and its
    system is the university's (ROR's curators assign it), unlike a school or lab beside its university."""
    system, kenbrook, westfield = "https://ror.org/00sue0000", "https://ror.org/00kbu0000", "https://ror.org/00uwf0000"
    assert ids("Department of Physics, Kenbrook University, State University of Eastland, Kenbrook, USA", index) == {
        kenbrook
    }
    # a name that carries its system's name, as ROR writes it, or its short form (an alias) and the system apart
    assert ids("University at Westfield, State University of Eastland, Westfield, USA", index) == {westfield}
    assert ids("School of Law, University at Westfield, The State University of Eastland, Westfield", index) == {
        westfield
    }
    # the system alone is the system
    assert ids("Office of Research, State University of Eastland, Albury, USA", index) == {system}
    # an academy of government is not a system of universities: named beside its university, both
    text = "Chinese Academy of Sciences, University of the Academy of Sciences, Beijing, China"
    assert ids(text, index) == {CAS, "https://ror.org/00ucas000"}


def test_a_name_ror_ends_with_its_country_written_with_the_country_apart(index):
    # ROR's "National Heart Centre Norway": strings write the country as a place of its own
    text = "Department of Cardiology, National Heart Centre, Oslo, Norway"
    assert ids(text, index) == {"https://ror.org/00nhcno00"}
    assert ids("Department of Cardiology, National Heart Centre, Singapore", index) == {"https://ror.org/00nhcsg00"}
    # only as a whole segment, and only where the string states that country
    assert ids("Heart Research, National Heart Centre Trials Unit, Oslo, Norway", index) == set()
    assert "https://ror.org/00nhcno00" not in ids("Department of Cardiology, National Heart Centre, Oslo", index)


def test_an_nhs_trust_written_without_nhs(index):
    text = "Department of Surgery, Northfield Foundation Trust, Northfield, UK"
    assert ids(text, index) == {"https://ror.org/00nft0000"}


def test_organisations_joined_by_a_slash_are_two_segments(index):
    # a school with no record of its own after a slash still falls back to its university
    text = "Department of Psychiatry, Haukeland University Hospital/Yale School of Public Health"
    assert ids(text, index) == {HAUKELAND, YALE}


def test_an_acronym_the_match_key_spells_out_is_not_matched_by_that_word_in_capitals(index):
    # ROR's acronym "LAB" folds to the word "laboratory" like the abbreviation "Lab."; a string in capitals
    # writing LABORATORY names no such organisation
    assert ids("DEPARTMENT OF PHYSICS, MARINE LABORATORY, DUNMORE, IRELAND", index) == set()
    assert ids("Lakeside Applied Biology, Dunmore, Ireland", index) == {"https://ror.org/00lab0000"}


def test_fuzzy_pass_compares_the_most_alike_of_names_tied_on_their_rare_words(index, monkeypatch):
    # "Kestrel" is the one rare word of the misspelt segment and two names hold it: with room for one of them, the
    # one most like the segment is compared, not the first indexed
    monkeypatch.setattr(ror, "_FUZZY_POOL", 1)
    (m,) = match_all("Kestrel Institue, Dunmore, Ireland", index=index)
    assert (m.ror_id, m.matched_on) == ("https://ror.org/00kes0001", "fuzzy")


def test_shared_acronym_needs_its_place(index):
    assert ids("USP", index) == set()  # two organisations write USP
    assert ids("USP, Suva, Fiji", index) == {"https://ror.org/00usp2000"}
    assert ids("usp, São Paulo", index) == set()  # capitals only


def test_a_name_in_another_country_than_stated_is_no_match(index):
    # the London "Institute of Physics" is not the one in China, nor is the Chinese one in the UK
    assert ids("Institute of Physics, Beijing, China", index) != {"https://ror.org/00iopuk00"}
    assert ids("Institute of Physics, London, UK", index) == {"https://ror.org/00iopuk00"}


def test_unit_named_like_a_record_beside_the_real_organisation(index):
    # "Department of Biotechnology" is also a government department's record: beside a university it is a unit
    assert ids("Department of Biotechnology, Andhra University, Visakhapatnam, India", index) == {ANDHRA}


def test_no_match_across_a_comma_into_the_next_organisation(index):
    # "Health Sciences, University" is not "Health Sciences University"
    assert ids("Translational Health Sciences, University of Bristol, Bristol, UK", index) == {BRISTOL}


def test_a_place_across_a_comma_is_not_the_company_named_after_it(index):
    # ROR writes "Valcourt (Canada)" for a company; "Valcourt, Canada" after an organisation is where it is
    text = "Nursing Department, University of Quebec in Valcourt, Valcourt, Canada"
    assert ids(text, index) == {"https://ror.org/00uqv0000"}


@pytest.mark.parametrize(
    "text",
    [
        "Department of Computer Science",
        "Independent researcher",
        "Beijing, China",
        "Bergen, Norway",
        "School of Medicine",
        "University Hospital, Oslo, Norway",
        "Tokyo University of Marine Science",
        "",
    ],
)
def test_no_match(index, text):
    assert match_all(text, index=index) == []
    assert match(text, index=index) is None


def test_threshold_is_a_0_to_1_score(index):
    text = "Hokaido University, Sapporo"  # a misspelling: found fuzzily, below a perfect score
    (m,) = match_all(text, index=index)
    assert m.ror_id == HOKKAIDO and m.matched_on == "fuzzy" and m.score < 1.0
    assert match_all(text, index=index, threshold=1.0) == []
    with pytest.raises(ValueError):
        match_all(text, index=index, threshold=90)


def test_email_domain_gives_the_organisation(index):
    m = match("", emails=["jdoe@fe.usp.br"], index=index)
    assert (m.ror_id, m.matched_on, m.matched_text) == (USP, "domain", "usp.br")


def test_match_keeps_the_best_and_lists_every_organisation(index):
    result = match("University of Bergen and Haukeland University Hospital", index=index)
    assert result.ror_id in {BERGEN, HAUKELAND}
    assert {m.ror_id for m in result.matches} == {BERGEN, HAUKELAND}


@pytest.mark.parametrize(
    "text,expected",
    [
        # a name only a withdrawn record holds: the active record ROR says replaced it
        (
            "Department of Hematology, Eastvale Institute of Medical Studies, Eastvale, India",
            {"https://ror.org/00eimsr00"},
        ),
        # ... but not a successor in another town than the one the string states
        ("Harbour Marine Centre, Portside, New Zealand", set()),
        # two records share the name: the town written as a place decides, not a town inside the name
        ("Department of Music, Saint Anne's College, Lakeview, USA", {"https://ror.org/00sac0000"}),
        ("Department of Music, Saint Anne's College, Saint Annes, USA", {"https://ror.org/00sac0001"}),
        # ... or a town written with a letter wrong; a town matching neither leaves the name unresolved
        ("School of Physics, Tagore Memorial University, Ravenhlm, India", {"https://ror.org/00tmu0000"}),
        ("School of Physics, Tagore Memorial University, Bombay, India", set()),
        # a school named after one university, beside another university named in full, is the named one's
        (
            "Department of Nursing, Linwood Medical College, Greatfield University of Science and Technology, Wuhan, "
            "China",
            {"https://ror.org/00gust000"},
        ),
        ("Department of Nursing, Linwood Medical College, Northgate, China", {"https://ror.org/00linw000"}),
        # a firm's one-word name, held by its national companies ("Norvex (France)", "Norvex (Japan)", ...: more
        # names hold the word than a one-word name may have): the country picks one
        ("Clinical Development, Norvex, Lyon, France", {"https://ror.org/00nvxfr00"}),
        ("Norvex, Tokyo, Japan", {"https://ror.org/00nvxjp00"}),
        ("Clinical Development, Norvex", set()),
        # a French name written in English, "en" as "in"
        ("Nursing Department, University of Quebec in Valcourt, Qc, Canada", {"https://ror.org/00uqv0000"}),
        # a country written with a direction is still that country (not "another country than the record's")
        ("Department of Clinical Medicine, University of Turku, Southern Finland, Norway", {TURKU}),
        # no separators: a name in another word order inside one long run, not cut off its hospital
        ("Department of Clinical Medicine Turku University Turku Finland", {TURKU}),
        ("Department of Clinical Medicine Turku University Hospital Turku Finland", {TURKU_HOSPITAL}),
    ],
)
def test_places_and_successors_decide_between_records(index, text, expected):
    assert ids(text, index) == expected, [m.model_dump() for m in match_all(text, index=index)]
