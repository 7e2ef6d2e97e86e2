"""Raw listings, the works they list and the researchers they are about."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .text import word_key
from .values import utcnow

ListingKind = Literal["person", "feed"]


def make_work_id(title: str | None, abstract: str | None, year: int | None, ordinal: int) -> str:
    """Stable id from what the page says about the work: same listing text -> same ids, and the same paper on two
    pages (title, or the abstract's opening when a page has no titles) gets the same id."""
    basis = word_key(title) if title else word_key((abstract or "")[:300])
    if not basis:
        basis = f"#{ordinal}"
    return "W" + hashlib.sha1(basis.encode()).hexdigest()[:10]


class Work(BaseModel):
    work_id: str = ""
    title: str | None = None  # optional: some pages (IEEE author pages) list abstracts only
    year: int | None = None
    date: str | None = None  # ISO date when the page gives one
    venue: str | None = None
    type: str | None = None  # preprint, conference paper, ...
    category: str | None = None  # arXiv category code as printed, e.g. "LG"
    authors: list[str] = Field(default_factory=list)
    authors_truncated: bool = False  # the page ends the list with "et al."
    author_count: int | None = None  # when the page states a count but no names
    abstract: str | None = None
    ids: dict[str, str] = Field(default_factory=dict)  # e.g. {"acl": "2020.lrec-1.380"}
    bylines: list[str] = Field(default_factory=list)  # "Name (KAIST)", "name@uni.edu" as printed
    start: int | None = None  # character span of the entry in the listing text
    end: int | None = None
    ordinal: int = 0

    @model_validator(mode="after")
    def _id(self) -> Work:
        if not self.work_id:
            self.work_id = make_work_id(self.title, self.abstract, self.year, self.ordinal)
        return self


class StatedValue(BaseModel):
    """Something the page itself states about its subject (imported as such)."""

    value: Any
    quote: str
    start: int
    end: int


class ParsedListing(BaseModel):
    """What a parser made of one page, before it is stored."""

    format: str
    kind: ListingKind
    name: str | None = None
    name_origin: str | None = None  # "page", "flag:--name", "inferred:most-frequent-author"
    stated: dict[str, StatedValue] = Field(default_factory=dict)  # field -> value the page states
    # page facts that are not enrichable fields (trust, counts; `stated_ror_ids`: field -> the ROR id the ingest
    # matched a stated affiliation to, which keeps it in its slot across listing versions)
    facts: dict[str, Any] = Field(default_factory=dict)
    hints: list[StatedValue] = Field(default_factory=list)  # byline affiliations / e-mails, evidence for the agent
    works: list[Work] = Field(default_factory=list)
    stated_work_count: int | None = None  # the count the page claims, when it claims one
    warnings: list[str] = Field(default_factory=list)


class Listing(BaseModel):
    id: int | None = None
    path: str
    sha256: str
    format: str
    kind: ListingKind
    text: str
    version: int = 1
    researcher_id: int | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    imported_at: str = Field(default_factory=utcnow)
    external_id: str | None = None  # the platform's own record id (JSONL ingest)

    @staticmethod
    def hash_text(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Researcher(BaseModel):
    id: int | None = None
    name: str | None = None
    name_origin: str | None = None
    split_from: int | None = None  # researcher id this one was split out of (accepted split proposal)
    single_person: bool | None = None  # True once a person rejected a split proposal
    merged_into: int | None = None  # researcher id this one was merged into (accepted merge proposal)
    created_at: str = Field(default_factory=utcnow)
