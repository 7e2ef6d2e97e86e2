"""Seed a temporary database through the Store API: two researchers, their listings and fake model proposals
(no model, no network). Shared by tests/review and tests/web."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enrich.schemas import Evidence, FieldValue, ParsedListing, Proposal, Work
from enrich.store import Store

FAKE = "llm:fake/fake-model"

ADA_TEXT = """Ada Lovelace
Department of Computing, University of Bergen, Norway
Publications
Neural parsing of scientific tables (2021). We parse tables in papers with neural models.
Topic models for science policy (2022). We study topic models for funding agencies.
"""

BOB_TEXT = """Bob Babbage
Analytical Engines Lab, Old Institute
Publications
Difference engines revisited (2019). A history of mechanical computation.
"""


@dataclass
class Seeded:
    path: Path
    ada: int
    bob: int
    ada_listing: int
    bob_listing: int
    ada_works: list[str]
    affiliation_pid: int  # ada affiliation, confidence 0.92, job J1
    topics_pid: int  # ada topics, confidence 0.95, job J1
    bob_affiliation_pid: int  # bob affiliation, confidence 0.6, job J2


def parsed(name: str, text: str) -> ParsedListing:
    works = []
    for i, line in enumerate(text.splitlines()[3:]):
        title = line.split(" (")[0]
        start = text.index(line)
        works.append(
            Work(
                title=title,
                abstract=line.split("). ")[1],
                year=int(line.split("(")[1][:4]),
                ordinal=i,
                start=start,
                end=start + len(line),
            )
        )
    return ParsedListing(format="text", kind="person", name=name, name_origin="page", works=works)


def quote(store: Store, listing_id: int, text: str) -> Evidence:
    full = store.get_listing(listing_id).text
    start = full.index(text)
    return Evidence(quote=text, listing_id=listing_id, start=start, end=start + len(text), checked=True)


def llm_value(
    rid: int, field: str, value, *, confidence: float, job: str | None, evidence=(), listing_id=None, origin: str = FAKE
) -> FieldValue:
    return FieldValue(
        researcher_id=rid,
        field=field,
        value=value,
        status="proposed",
        origin=origin,
        confidence=confidence,
        evidence=list(evidence),
        prompt_version=f"{field}@v1",
        job_id=job,
        listing_id=listing_id,
    )


def seed(path: Path) -> Seeded:
    store = Store.open(path)
    ada = store.record_import(parsed("Ada Lovelace", ADA_TEXT), text=ADA_TEXT, path="ada.txt")
    bob = store.record_import(parsed("Bob Babbage", BOB_TEXT), text=BOB_TEXT, path="bob.txt")
    works = [w.work_id for w in store.researcher_works(ada.researcher_id)]
    aff = store.submit(
        llm_value(
            ada.researcher_id,
            "affiliation",
            {"name": "University of Bergen"},
            confidence=0.92,
            job="J1",
            evidence=[quote(store, ada.listing_id, "University of Bergen")],
            listing_id=ada.listing_id,
        )
    )
    topics = store.submit(
        llm_value(
            ada.researcher_id,
            "topics",
            [
                {"tag": "cs.CL", "label": "Computation and Language", "score": 0.95, "works": [works[0]]},
                {"tag": "cs.DL", "label": "Digital Libraries", "score": 0.9, "works": [works[1]]},
            ],
            confidence=0.95,
            job="J1",
            evidence=[quote(store, ada.listing_id, "neural models")],
            listing_id=ada.listing_id,
        )
    )
    bob_aff = store.submit(
        llm_value(
            bob.researcher_id,
            "affiliation",
            {"name": "Old Institute"},
            confidence=0.6,
            job="J2",
            evidence=[quote(store, bob.listing_id, "Old Institute")],
            listing_id=bob.listing_id,
        )
    )
    assert aff.outcome == topics.outcome == bob_aff.outcome == "proposed"
    store.close()
    return Seeded(
        path,
        ada.researcher_id,
        bob.researcher_id,
        ada.listing_id,
        bob.listing_id,
        works,
        aff.proposal_id,
        topics.proposal_id,
        bob_aff.proposal_id,
    )


def split_proposal(store: Store, rid: int, listing_id: int, works: list[str]) -> int:
    """A split proposal shaped like store.structural.propose_split's (one work per cluster keeps the test small)."""
    return store.create_proposal(
        Proposal(
            kind="split",
            researcher_id=rid,
            confidence=0.81,
            job_id="J3",
            summary="Split Ada Lovelace into 2 researchers (1, 1 works)",
            reason="Listing looks like several people named Ada Lovelace.\nGroup 1: topics parsing, tables",
            payload={
                "key": "k1",
                "listing_id": listing_id,
                "method": "fake-clusters",
                "confidence": 0.81,
                "clusters": [
                    {
                        "work_ids": [works[0]],
                        "titles": ["Neural parsing of scientific tables"],
                        "evidence": {"top_terms": ["parsing", "tables"], "years": [2021, 2021], "shared_coauthors": []},
                    },
                    {
                        "work_ids": [works[1]],
                        "titles": ["Topic models for science policy"],
                        "evidence": {"top_terms": ["funding"], "venues": ["Scientometrics"]},
                    },
                ],
                "unassigned": [],
            },
        )
    )


def merge_proposal(store: Store, a: int, b: int, pairs: list[list[str]]) -> int:
    """A merge proposal shaped like store.structural.propose_merge's."""
    return store.create_proposal(
        Proposal(
            kind="merge",
            researcher_id=a,
            confidence=0.75,
            summary=f"Merge #{b} into #{a}",
            reason=f"The two researchers' listings share {len(pairs)} work.",
            payload={
                "pair": sorted([a, b]),
                "researcher_a": a,
                "researcher_b": b,
                "shared_works": pairs,
                "evidence": None,
            },
        )
    )


DOE_TEXT = """J. Doe
(no affiliation line)
Publications
Federated averaging with adaptive optimisers (2021). Clients train locally and a server averages.
Personalised federated learning for phones (2022). Each client keeps a personal model.
Gait recognition from silhouettes (2020). We recognise people by the way they walk.
Skeleton-based gait recognition (2021). Pose sequences identify walkers.
Time-series anomaly detection with flows (2023). Normalising flows score anomalies in sensor data.
Forecasting sensor streams (2023). Recurrent models forecast multivariate series.
"""


@dataclass
class SplitSeed:
    researcher: int
    listing: int
    proposal: int
    works: list[str]  # in listing order: 2 federated, 2 gait, 2 time-series


def three_way_split(store: Store) -> SplitSeed:
    """J. Doe's listing and a pending split proposal made by store.structural.propose_split with three clusters
    of two works each, the second work of each cluster deliberately placed wrong for a reviewer to correct:
    cluster 1 = federated + gait, cluster 2 = gait + time-series, cluster 3 = time-series + federated."""
    from enrich.schemas.conflation import Cluster, ConflationResult
    from enrich.store import structural

    rec = store.record_import(parsed("J. Doe", DOE_TEXT), text=DOE_TEXT, path="doe.txt")
    works = store.researcher_works(rec.researcher_id)
    ids = [w.work_id for w in works]
    titles = {w.work_id: w.title for w in works}
    groups = [[ids[0], ids[2]], [ids[3], ids[4]], [ids[5], ids[1]]]
    result = ConflationResult(
        detected=True,
        confidence=0.9,
        method="test-clusters",
        clusters=[Cluster(work_ids=g, titles=[titles[w] for w in g]) for g in groups],
        reasons=["three groups"],
    )
    pid = structural.propose_split(store, rec.researcher_id, rec.listing_id, result, job_id="J9")
    assert pid is not None
    return SplitSeed(rec.researcher_id, rec.listing_id, pid, ids)
