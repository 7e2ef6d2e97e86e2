"""The conflation step's verdict: does one listing mix several same-name people, and which works go together."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClusterEvidence(BaseModel):
    """What holds one cluster together (and, by contrast, separates it from the others)."""

    shared_coauthors: list[str] = Field(default_factory=list)  # co-authors on >= 2 works of the cluster
    top_terms: list[str] = Field(default_factory=list)  # highest TF-IDF terms of the cluster's titles/abstracts
    years: list[int] = Field(default_factory=list)  # [first, last] year, empty when the works carry no year
    venues: list[str] = Field(default_factory=list)  # most frequent venues or arXiv categories
    name_forms: list[str] = Field(default_factory=list)  # how the subject's name is printed on these works


class Cluster(BaseModel):
    work_ids: list[str]
    titles: list[str | None] = Field(default_factory=list)  # parallel to work_ids; None for untitled works
    evidence: ClusterEvidence = Field(default_factory=ClusterEvidence)


class ConflationResult(BaseModel):
    """`detected` is the decision; `confidence` is the calibrated probability that the listing is conflated
    (so a low confidence with detected=False means "confidently one person")."""

    detected: bool
    confidence: float = Field(ge=0.0, le=1.0)
    clusters: list[Cluster] = Field(default_factory=list)
    method: str
    reasons: list[str] = Field(default_factory=list)  # one-line human-readable signals behind the decision

    def cluster_of(self, work_id: str) -> int | None:
        for i, c in enumerate(self.clusters):
            if work_id in c.work_ids:
                return i
        return None
