"""Each seed page (seeds/, part of the project) parses to concrete, checked values without a model."""

import datetime as dt
from pathlib import Path

import pytest

from enrich.agent.ingest import arxiv, detect_format, parse

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def seed(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "file,fmt",
    [
        ("acl-anthology-zhaorui-tan.txt", "acl"),
        ("arxiv-listing-yan-sun.txt", "arxiv"),
        ("bzpeer-profile-tao-sun.txt", "bzpeer"),
        ("hf-papers-listing.txt", "hf-papers"),
        ("ieee-author-page.txt", "ieee"),
    ],
)
def test_detects_each_seed(file, fmt):
    assert detect_format(seed(file)) == fmt


def assert_spans(text, parsed):
    for w in parsed.works:
        assert w.start is not None and w.end is not None and 0 <= w.start < w.end <= len(text)
    for sv in [*parsed.stated.values(), *parsed.hints]:
        assert text[sv.start : sv.end] == sv.quote


def test_acl_seed_zhaorui_tan_two_works_gast_2026_eight_authors():
    text = seed("acl-anthology-zhaorui-tan.txt")
    p = parse(text)
    assert (p.format, p.kind, p.name, p.name_origin) == ("acl", "person", "Zhaorui Tan", "page")
    assert len(p.works) == 2
    gast, gradot = p.works
    assert gast.title.startswith("GAST: Gradient-aligned Sparse Tuning")
    assert gast.year == 2026 and len(gast.authors) == 8
    assert gast.authors[0] == "Kai Yao" and gast.authors[-1] == "Penglei Gao" and "Zhaorui Tan" in gast.authors
    assert gast.venue.startswith("Proceedings of the 19th Conference of the European Chapter")
    assert gast.abstract.startswith("Parameter-Efficient Fine-Tuning (PEFT)")
    assert "Kai Yao |" not in gast.abstract  # the repeated author/venue lines are not abstract text
    assert gradot.year == 2025 and len(gradot.authors) == 10 and gradot.title.startswith("GradOT")
    assert p.stated == {}
    assert_spans(text, p)
    assert text[gast.start :].startswith("GAST:")


def test_arxiv_seed_fifty_works_with_title_date_category_authors():
    text = seed("arxiv-listing-yan-sun.txt")
    p = arxiv.parse(text, today=dt.date(2026, 6, 1))
    assert len(p.works) == 50
    assert all(w.title and w.date and w.category and w.authors and w.abstract for w in p.works)
    first = p.works[0]
    assert first.title == "On Efficient Training of Large-Scale Deep Learning Models: A Literature Review"
    assert first.authors == ["Li Shen", "Yan Sun", "Zhiyuan Yu"] and first.authors_truncated
    assert (first.category, first.date, first.year) == ("LG", "2023-04-07", 2023)
    one_reason = p.works[4]  # "IRJun 4": no year -> the current year; "OneRec Team" glued to the title
    assert (one_reason.title, one_reason.date) == ("OneReason Technical Report", "2026-06-04")
    assert one_reason.authors[0] == "OneRec Team"
    rlvr = next(w for w in p.works if w.title.endswith("Allocation for Group-Based RLVR"))
    assert rlvr.authors[0] == "Tao Wang"
    three = next(w for w in p.works if w.title.startswith("Understanding How Consistency Works"))
    assert three.authors == ["Yan Sun", "Li Shen", "Dacheng Tao"] and not three.authors_truncated
    assert (p.name, p.name_origin) == ("Yan Sun", "inferred:most-frequent-author")
    assert_spans(text, p)


def test_arxiv_name_from_flag():
    p = parse(seed("arxiv-listing-yan-sun.txt"), name="Yan Sun")
    assert (p.name, p.name_origin) == ("Yan Sun", "flag:--name")


def test_split_title_authors_edge_cases():
    assert arxiv.split_title_authors("Flow For Anomaly DetectionPengYu Chen, Shang Wan et al.") == (
        "Flow For Anomaly Detection",
        ["PengYu Chen", "Shang Wan"],
        True,
    )
    assert arxiv.split_title_authors("Primal-Dual Learning NeedsYan Sun, Li Shen")[0] == "Primal-Dual Learning Needs"
    assert arxiv.split_title_authors("Calibration ErrorYan Sun, Ian J. Barnett")[1] == ["Yan Sun", "Ian J. Barnett"]


def test_ieee_seed_affiliation_imported_ten_abstracts_no_name():
    text = seed("ieee-author-page.txt")
    p = parse(text)
    assert (p.format, p.kind, p.name) == ("ieee", "person", None)
    aff = p.stated["affiliation"]
    assert aff.value == {"name": "National University of Defense Technology, Changsha, China"}
    assert (aff.start, aff.end) == (0, 58)
    assert len(p.works) == 10
    assert all(w.abstract and w.title is None and w.year is None and w.authors == [] for w in p.works)
    assert p.works[0].abstract.startswith("Decentralized stochastic gradient descent (D-SGD)")
    assert len({w.work_id for w in p.works}) == 10
    assert_spans(text, p)


def test_bzpeer_seed_facts_and_works():
    text = seed("bzpeer-profile-tao-sun.txt")
    p = parse(text)
    assert (p.format, p.kind, p.name) == ("bzpeer", "person", "Tao Sun")
    assert "affiliation" not in p.stated  # "Affiliation not imported" is not an affiliation
    assert p.facts["affiliation_imported"] is False
    assert p.facts["trust_score"] == 15 and p.facts["trust_label"] == "Unverified"
    assert p.facts["verification_level"] == "L1" and p.facts["claimed"] is False
    assert p.facts["counts"] == {"works": 3, "followers": 0, "topics": 5, "close_collaborators": 4}
    assert p.stated_work_count == 3 and len(p.works) == 3
    w = p.works[0]
    assert (w.type, w.year, w.venue) == ("preprint", 2026, "arXiv")
    assert w.title == "Fine-tuning Small Language Models as Efficient Enterprise Search Relevance Labelers"
    assert w.abstract.startswith("In enterprise search, building high-quality datasets")
    assert_spans(text, p)


def test_hf_seed_is_a_feed_with_works_and_no_researcher():
    text = seed("hf-papers-listing.txt")
    p = parse(text)
    assert (p.format, p.kind, p.name) == ("hf-papers", "feed", None)
    assert len(p.works) == 34
    epo = p.works[0]
    assert epo.title == "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning"
    assert (epo.author_count, epo.date, epo.year) == (9, "2025-09-26", 2025)
    assert epo.authors == []
    red = next(w for w in p.works if w.title.startswith("REDSearcher"))
    assert red.author_count is None and red.date is None  # the page shows neither for this entry
    assert sum(w.author_count is not None for w in p.works) == 32
    assert_spans(text, p)


def test_parse_is_deterministic():
    text = seed("acl-anthology-zhaorui-tan.txt")
    assert parse(text).model_dump() == parse(text).model_dump()
