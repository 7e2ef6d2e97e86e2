"""The conflation step on hand-made listings (two people; one person drifting over 20 years) and on the seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from enrich.agent.names import PersonName
from enrich.agent.steps import conflation
from enrich.agent.steps.conflation import detect
from enrich.schemas import Work

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def w(title: str, year: int, authors: list[str], abstract: str = "", category: str | None = None) -> Work:
    return Work(title=title, year=year, authors=authors, abstract=abstract or None, category=category)


def two_people() -> list[Work]:
    """A federated-learning 'Y. Sun' (with Li Shen) and a gait-recognition 'Yan Sun' (with Xueling Feng)."""
    fl = [
        w(
            "FedSpeed: Larger Local Interval for Federated Learning",
            2023,
            ["Yan Sun", "Li Shen", "Tiansheng Huang"],
            "federated learning clients communication rounds local updates",
            "LG",
        ),
        w(
            "A-FedPD: Aligning Dual-Drift in Federated Primal-Dual Learning",
            2024,
            ["Y. Sun", "L. Shen", "Dacheng Tao"],
            "federated learning primal dual clients partial participation",
            "LG",
        ),
        w(
            "Generalization Gaps between Centralized and Decentralized Federated Learning",
            2023,
            ["Yan Sun", "Li Shen", "Dacheng Tao"],
            "federated learning decentralized generalization stability",
            "LG",
        ),
        w(
            "Efficient Federated Learning via Local Adaptive Amended Optimizer",
            2023,
            ["Yan Sun", "Li Shen", "Hao Sun"],
            "federated learning adaptive optimizer client drift",
            "LG",
        ),
    ]
    gait = [
        w(
            "TriGait: Aligning and Fusing Skeleton and Silhouette Gait Data",
            2023,
            ["Yan Sun", "Xueling Feng", "Mark Nixon"],
            "gait recognition skeleton silhouette fusion",
            "CV",
        ),
        w(
            "GaitASMS: Gait Recognition by Adaptive Structured Spatial Representation",
            2023,
            ["Yan Sun", "Hu Long", "Xueling Feng"],
            "gait recognition spatial temporal representation",
            "CV",
        ),
        w(
            "Unsupervised Domain Adaptation for Gait Recognition",
            2024,
            ["Xueling Feng", "Yan Sun", "Hu Long"],
            "gait recognition domain adaptation unsupervised target",
            "CV",
        ),
    ]
    return fl + gait


def more_gait() -> list[Work]:
    """Two more gait papers of the gait-recognition 'Yan Sun' (same co-authors)."""
    return [
        w(
            "Gait Recognition in the Wild with Temporal Attention",
            2024,
            ["Yan Sun", "Xueling Feng"],
            "gait recognition wild temporal attention silhouettes",
            "CV",
        ),
        w(
            "Cross-View Gait Recognition with Part Alignment",
            2022,
            ["Hu Long", "Yan Sun"],
            "gait recognition cross view part alignment",
            "CV",
        ),
    ]


def drifting_career() -> list[Work]:
    """One 'Maria Keller' over 20 years: parsing -> machine translation -> LLM evaluation, with co-authors that
    carry over from one era to the next."""
    return [
        w(
            "Dependency Parsing with Lexicalized Grammars",
            2003,
            ["Maria Keller", "Tom Berg"],
            "parsing grammar treebank",
        ),
        w(
            "Treebank Conversion for Statistical Parsing",
            2005,
            ["Maria Keller", "Tom Berg", "Ana Ruiz"],
            "treebank parsing conversion statistical",
        ),
        w(
            "Syntax-Aware Statistical Machine Translation",
            2009,
            ["Ana Ruiz", "Maria Keller"],
            "machine translation syntax reordering",
        ),
        w(
            "Phrase Reordering for Translation of Morphologically Rich Languages",
            2012,
            ["Maria Keller", "Ana Ruiz", "Jin Park"],
            "translation reordering morphology",
        ),
        w(
            "Neural Machine Translation with Subword Units for Low-Resource Pairs",
            2016,
            ["Jin Park", "M. Keller"],
            "neural translation subword low-resource",
        ),
        w(
            "Document-Level Translation Evaluation",
            2019,
            ["Maria Keller", "Jin Park", "Lea Vogt"],
            "translation evaluation document metrics",
        ),
        w(
            "Evaluating Large Language Models as Translation Judges",
            2022,
            ["Lea Vogt", "Maria Keller"],
            "large language models evaluation judges",
        ),
        w(
            "Benchmarking Instruction-Tuned Models on Reasoning",
            2024,
            ["Maria Keller", "Lea Vogt", "Omar Haddad"],
            "instruction tuning reasoning benchmark language models",
        ),
    ]


def printed_as(works: list[Work], name: str) -> list[Work]:
    """The same works with the subject ("Yan Sun" / "Y. Sun") printed as `name` in every author list."""
    return [
        x.model_copy(update={"authors": [name if a in ("Yan Sun", "Y. Sun") else a for a in x.authors]}) for x in works
    ]


def test_two_person_listing_is_flagged_and_split_by_coauthors():
    """A page printed "Y. Sun": two co-author communities with their own topics are two people."""
    works = printed_as(two_people() + more_gait(), "Y. Sun")
    res = detect(works, "Y. Sun")
    assert res.detected is True
    assert res.confidence >= 0.5
    assert len(res.clusters) == 2
    fed = {x.work_id for x in works[:4]}
    gait = {x.work_id for x in works[4:]}
    assert {frozenset(c.work_ids) for c in res.clusters} == {frozenset(fed), frozenset(gait)}
    by_size = {len(c.work_ids): c for c in res.clusters}
    assert "Li Shen" in by_size[4].evidence.shared_coauthors  # "L. Shen" was folded into "Li Shen"
    assert "Xueling Feng" in by_size[5].evidence.shared_coauthors
    assert "gait" in by_size[5].evidence.top_terms
    assert by_size[4].evidence.venues[0] == "LG"
    assert any("share no co-author with the largest group" in r for r in res.reasons)
    assert any("initials only" in r and "common surname" in r for r in res.reasons)


def test_the_same_works_are_more_likely_namesakes_under_a_more_ambiguous_name():
    """The detection weights of the name's form are fitted (non-negative): initials only and a very common surname
    each raise the confidence for the same works; the structure alone is not enough under a rare full name."""
    works = two_people() + more_gait()
    initials_common = detect(printed_as(works, "Y. Sun"), "Y. Sun").confidence
    full_common = detect(printed_as(works, "Yan Sun"), "Yan Sun").confidence
    initials_rare = detect(printed_as(works, "Y. Okonjo"), "Y. Okonjo").confidence
    full_rare = detect(printed_as(works, "Yan Okonjo"), "Yan Okonjo")
    assert initials_common > full_common > full_rare.confidence
    assert initials_common > initials_rare > full_rare.confidence
    assert full_rare.detected is False
    assert not any("ambiguous name" in r for r in full_rare.reasons)


def test_a_page_stating_its_subjects_affiliation_is_less_likely_mixed():
    """The page's own affiliation evidence for its subject (header line, byline or e-mail naming the subject) is a
    fitted weight towards one person: the same works score lower with it, and a page without it scores exactly as
    the structure and the name make it (its absence is not evidence of several people)."""
    works = printed_as(two_people() + more_gait(), "Y. Sun")
    plain = detect(works, "Y. Sun")
    stated = detect(works, "Y. Sun", page_affiliation=True)
    assert stated.confidence < plain.confidence
    assert any("states an affiliation" in r for r in stated.reasons)
    assert not any("states an affiliation" in r for r in plain.reasons)
    assert conflation.default_params().detect_mean[conflation.LISTING_FEATURES.index("page_affiliation")] == 0.0


def test_title_coherence_is_the_mean_cosine_of_different_works_titles():
    from sklearn.feature_extraction.text import TfidfVectorizer

    titles = ["Federated learning with momentum", "Federated learning on edge devices", "Gait recognition from video"]
    m = TfidfVectorizer().fit_transform(titles)
    sim = (m @ m.T).toarray()
    assert conflation.title_coherence(m) == pytest.approx(sim[~np.eye(3, dtype=bool)].mean())
    close = TfidfVectorizer().fit_transform(titles[:2] + ["Federated learning under client drift"])
    assert conflation.title_coherence(close) > conflation.title_coherence(m)
    assert conflation.title_coherence(m[:1]) == 0.0


def test_committed_detection_weights_keep_their_signs_and_features_are_clipped_to_the_fitted_range():
    """Title coherence and the page's affiliation may only lower the confidence; a value past the range of the
    fitting listings (a title repeated on every work) counts as the range's edge, not as a straight-line extreme."""
    params = conflation.default_params()
    for sign, coef in zip(conflation.DETECT_SIGNS, params.detect_coef):
        assert coef * sign >= 0
    k = conflation.LISTING_FEATURES.index("title_coherence")
    assert params.detect_coef[k] < 0 and params.detect_hi is not None
    x = np.array(params.detect_mean, dtype=float)
    at_edge, beyond = x.copy(), x.copy()
    at_edge[k], beyond[k] = params.detect_hi[k], 0.9
    p_edge = conflation.detection_probability(at_edge, params)
    assert conflation.detection_probability(beyond, params) == p_edge
    assert p_edge < conflation.detection_probability(x, params)


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ([{"kind": "header", "text": "Saarland University", "author": "V. Demberg"}], True),
        ([{"kind": "header", "text": "dwijaya@bu.edu", "author": "V. Demberg"}], True),
        ([{"kind": "header", "text": "Research interests: parsing, semantics", "author": "V. Demberg"}], False),
        ([{"kind": "affiliation", "text": "KAIST", "work": 0, "author": "Vera Demberg"}], True),
        ([{"kind": "affiliation", "text": "KAIST", "work": 0, "author": "Sung-Hyon Myaeng"}], False),
        ([{"kind": "email", "text": "vdemberg@coli.uni-saarland.de", "work": 2, "author": None}], True),
        ([{"kind": "email", "text": "someone@kaist.ac.kr", "work": 2, "author": None}], False),
        ([], False),
    ],
)
def test_what_counts_as_the_page_stating_an_affiliation(hints, expected):
    assert conflation.page_states_affiliation(hints, "V. Demberg") is expected


def test_evidence_of_a_second_person_grows_with_its_works_and_its_distance():
    """Two co-author communities of 4 and 3 works are also what one person's page often looks like in the labelled
    listings, so the 4 + 3 page is less certain than the 4 + 5 one; and a one-community page is the least."""
    small = detect(printed_as(two_people(), "Y. Sun"), "Y. Sun").confidence
    large = detect(printed_as(two_people() + more_gait(), "Y. Sun"), "Y. Sun").confidence
    one = detect(drifting_career(), "M. Keller").confidence
    assert one < small < large


def test_one_person_drifting_over_twenty_years_is_not_flagged():
    res = detect(drifting_career(), "Maria Keller")
    assert res.detected is False
    assert res.confidence < 0.1
    assert len(res.clusters) == 1 and len(res.clusters[0].work_ids) == 8


def test_incompatible_middle_initials_separate_two_people():
    """'Robert E. Mercer' and 'Robert L. Mercer' cannot be the same person even without shared co-authors."""
    e = [w(f"Biomedical argument mining study {i}", 2014 + i, [f"Coauthor E{i}", "Robert E. Mercer"]) for i in range(4)]
    l_ = [w(f"Statistical translation study {i}", 1990 + i, [f"Coauthor L{i}", "Robert L. Mercer"]) for i in range(4)]
    res = detect(e + l_, "Robert Mercer")
    assert res.detected is True
    assert {frozenset(c.work_ids) for c in res.clusters} == {
        frozenset(x.work_id for x in e),
        frozenset(x.work_id for x in l_),
    }
    assert any("incompatible" in r for r in res.reasons)


def _scattered(initial: str, years: range, topics: list[str]) -> list[Work]:
    """One person whose collaborators never recur: every work is its own co-author group."""
    given = ["Alma", "Boris", "Chiara", "Dev", "Edda", "Farid"]
    family = ["Okafor", "Lindqvist", "Tanaka", "Moreau", "Novak", "Haddad"]
    return [
        w(f"{topic} study", y, [f"{given[k]} {family[k]}{initial.lower()}", f"Robert {initial}. Mercer"])
        for k, (y, topic) in enumerate(zip(years, topics))
    ]


def test_incompatible_middle_initials_flag_a_listing_without_substantial_groups():
    """The printed name is evidence of two people even when no co-author recurs and no two works are merged."""
    e = _scattered("E", range(2014, 2018), ["Argument mining", "Hedge detection", "Figure captions", "Relation graphs"])
    l_ = _scattered("L", range(1990, 1994), ["Entropy bounds", "Word senses", "Machine translation", "Special issue"])
    never_merge = dataclasses.replace(conflation.default_params(), merge=1.01)
    a = conflation.analyse(e + l_, "Robert Mercer", never_merge)
    assert len(a.big) < 2  # no substantial co-author group: only the printed names tell the two people apart
    res = detect(e + l_, "Robert Mercer", never_merge)
    assert res.detected is True and res.confidence >= conflation.NAME_CONFLICT_CONFIDENCE
    assert any("incompatible" in r for r in res.reasons)
    # The works printing one form are never placed with those printing the other.
    for c in res.clusters:
        forms = {x.title.split()[0] for x in e + l_ if x.work_id in c.work_ids}
        assert not (forms & {"Argument", "Hedge"} and forms & {"Entropy", "Word"})


def test_one_misprinted_middle_initial_is_not_a_name_conflict():
    e = _scattered("E", range(2010, 2016), ["Argument", "Hedge", "Caption", "Relation", "Claim", "Graph"])
    typo = _scattered("L", range(2016, 2017), ["Scheme"])
    never_merge = dataclasses.replace(conflation.default_params(), merge=1.01)
    assert conflation.analyse(e + typo, "Robert Mercer", never_merge).name_conflict is False


def test_small_listing_is_never_flagged():
    res = detect(two_people()[:3], "Yan Sun")
    assert res.detected is False and len(res.clusters) == 1


def test_name_forms():
    assert PersonName.parse("Yan Sun").compatible(PersonName.parse("Y. Sun"))
    assert PersonName.parse("Steve Skiena").compatible(PersonName.parse("Steven Skiena"))
    assert not PersonName.parse("Robert E. Mercer").compatible(PersonName.parse("Robert L. Mercer"))
    assert PersonName.parse("Sun, Yan") == PersonName.parse("Yan Sun")
    # How ambiguous a printed name is (detection features).
    assert PersonName.parse("J. Lee").initials_only and PersonName.parse("J.-R. Wen").initials_only
    assert not PersonName.parse("Philip S. Yu").initials_only and not PersonName.parse("Ji-Rong Wen").initials_only
    assert PersonName.parse("Yan Sun").common_surname and PersonName.parse("S. Roy").common_surname
    assert not PersonName.parse("Steven Skiena").common_surname


def _parse_seed(name: str):
    ingest = pytest.importorskip("enrich.agent.ingest")
    return ingest.parse((SEEDS / name).read_text(encoding="utf-8"))


def test_arxiv_seed_federated_and_gait_works_land_in_different_clusters():
    parsed = _parse_seed("arxiv-listing-yan-sun.txt")
    res = detect(parsed.works, parsed.name)
    assert res.detected is True
    title_cluster = {t: i for i, c in enumerate(res.clusters) for t in c.titles if t}

    def cluster_of(prefix: str) -> int:
        hits = {i for t, i in title_cluster.items() if t.startswith(prefix)}
        assert len(hits) == 1, prefix
        return hits.pop()

    fed = {
        cluster_of(p)
        for p in (
            "FedSpeed",
            "A-FedPD",
            "Towards Understanding Generalization and Stability",
            "Convergent Differential Privacy Analysis",
        )
    }
    gait = {cluster_of(p) for p in ("TriGait", "GaitASMS", "Unsupervised Domain Adaptation")}
    assert len(fed) == 1 and len(gait) == 1 and fed != gait
    fed_cluster = res.clusters[fed.pop()]
    assert {"Li Shen", "Dacheng Tao"} <= set(fed_cluster.evidence.shared_coauthors)


def test_acl_seed_is_not_flagged():
    parsed = _parse_seed("acl-anthology-zhaorui-tan.txt")
    res = detect(parsed.works, parsed.name)
    assert res.detected is False


def co_author_groups_without_shared_terms() -> list[Work]:
    """A page several same-initial people share ("R. Okafor"): two groups held together by a co-author each, whose
    own works share no topic term, while a term crosses between the groups. Topic cohesion inside the groups
    is zero, which drove the separation feature (a margin relative to it) towards minus infinity."""
    return [
        w("Glacier melt runoff forecasting", 2015, ["R. Okafor", "Ines Albrecht"], "alpine basins snowpack"),
        w("Compiler register allocation heuristics", 2016, ["Ines Albrecht", "R. Okafor"], "spilling graphs"),
        w("Runoff sediment transport in estuaries", 2019, ["R. Okafor", "Tomas Vidal"], "tidal mixing salinity"),
        w("Bayesian choirs", 2020, ["Tomas Vidal", "R. Okafor"], "vocal ensembles pitch"),
        w("Medieval trade ledgers", 2011, ["R. Okafor"], "merchants guilds"),
    ]


def test_groups_with_no_shared_terms_do_not_overflow_the_score():

    works = co_author_groups_without_shared_terms()
    a = conflation.analyse(works, "R. Okafor")
    assert [len(c) for c in a.clusters if len(c) >= 2] == [2, 2]  # the class: no topic cohesion inside the groups
    assert np.isfinite(a.listing_x).all() and np.isfinite(a.prob).all()
    result = detect(works, "R. Okafor")  # raised OverflowError: math range error
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize("z", [-1e6, -800.0, -40.0, 0.0, 40.0, 800.0, 1e6])
def test_sigmoid_is_defined_for_any_score(z):
    from enrich.agent.steps.conflation import _sigmoid

    y = _sigmoid(z)
    assert 0.0 <= y <= 1.0 and (y < 0.5) == (z < 0) and (z != 0 or y == 0.5)


def test_subject_entry_is_the_exact_printing_before_a_same_initial_coauthor():
    """A page named "T. Nguyen" whose work also lists a co-author "Thuat Nguyen": the subject is "T. Nguyen", and
    "Thuat Nguyen" stays a co-author (he links this work to his other works with the subject)."""
    from enrich.agent.steps.conflation import _split_authors

    work = w("Event extraction", 2020, ["Thuat Nguyen", "Minh Tran", "T. Nguyen"])
    own, coauthors = _split_authors(work, PersonName.parse("T. Nguyen"))
    assert own == "T. Nguyen"
    assert {c.key() for c in coauthors} == {"thuat nguyen", "minh tran"}
    # With no exact printing, the compatible entry is still found.
    own, _ = _split_authors(w("Parsing", 2019, ["Thien Huu Nguyen", "Minh Tran"]), PersonName.parse("T. Nguyen"))
    assert own == "Thien Huu Nguyen"


def test_works_not_placed_are_proposed_together_when_attaching_is_off():
    """With `attach` above any probability, the works outside the substantial groups form one more cluster (for the
    reviewer to move) instead of each becoming a cluster of its own."""
    from dataclasses import replace

    works = (
        two_people()
        + more_gait()
        + [
            w("Medieval trade ledgers", 2011, ["Yan Sun", "Ana Ruiz"], "merchants guilds"),
            w("Glacier runoff", 2012, ["Yan Sun", "Tom Berg"], "alpine snowpack"),
        ]
    )
    params = replace(conflation.default_params(), attach=1.01)
    a = conflation.analyse(works, "Yan Sun", params)
    clusters = conflation.final_clusters(a, params)
    assert sorted(len(c) for c in clusters) == [2, 4, 5]
    assert sorted(clusters[-1]) == [9, 10]


def test_the_step_judges_the_same_content_once(monkeypatch):
    from enrich.agent.steps import conflate

    calls = []

    def counting(works, name, page_affiliation=False):
        calls.append(name)
        return detect(works, name, page_affiliation=page_affiliation)

    monkeypatch.setattr(conflate, "detect", counting)
    monkeypatch.setattr(conflate, "_SEEN", type(conflate._SEEN)())
    works = two_people()
    first = conflate._detect(works, "Yan Sun")
    first.clusters.clear()  # a caller changing its copy changes nothing remembered
    again = conflate._detect([w.model_copy() for w in works], "Yan Sun")
    assert calls == ["Yan Sun"] and again == detect(works, "Yan Sun") and again.clusters
    conflate._detect(works, "Y. Sun")  # another name: judged again
    conflate._detect(works[:-1], "Yan Sun")  # other works: judged again
    conflate._detect(works, "Yan Sun", page_affiliation=True)  # the page states an affiliation: judged again
    assert calls == ["Yan Sun", "Y. Sun", "Yan Sun", "Yan Sun"]


def test_the_verdict_does_not_depend_on_the_hash_seed():
    """Co-authors are held in sets; the evidence lists those shared equally often in one order whatever Python's
    string-hash seed, so two processes of one build (or two runs) store the same verdict."""
    import subprocess
    import sys

    code = (
        "from pathlib import Path; from enrich.agent import ingest; from enrich.agent.steps.conflation import detect;"
        f"p = ingest.parse(Path({str(SEEDS / 'arxiv-listing-yan-sun.txt')!r}).read_text(encoding='utf-8'));"
        "print(detect(p.works, p.name).model_dump_json())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1 and "shared_coauthors" in outs.pop()
