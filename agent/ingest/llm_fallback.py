"""Pages in no known format: ask the model for the works, constrained by a schema whose validator insists that every
extracted title occurs in the page text (so a made-up title is re-asked, never stored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from enrich.agent.llm.base import LLMClient, PromptRef
from enrich.schemas import ParsedListing, Work
from enrich.schemas.text import fold

FORMAT = "unknown-llm"
PROMPT = PromptRef(name="ingest_fallback", version="1")
MAX_CHARS = 60_000  # what we send; longer pages are cut (and say so in a warning)

_SYSTEM = (
    "You read a raw web page listing research papers and extract its works. Copy every title exactly as the page "
    "prints it (same words, same punctuation). Never invent a title, author, year or venue: leave unknown values "
    "empty. kind is 'person' when the page is about one researcher (a profile or author page) and 'feed' when it "
    "is a list of papers by many people. name is the researcher the page is about, only if the page names them."
)


class ExtractedWork(BaseModel):
    title: str = Field(min_length=3, description="the title exactly as printed on the page")
    year: int | None = Field(default=None, ge=1900, le=2100)
    authors: list[str] = Field(default_factory=list)
    venue: str | None = None
    abstract: str | None = None

    @field_validator("title")
    @classmethod
    def _title_in_text(cls, v: str, info: ValidationInfo) -> str:
        text = (info.context or {}).get("text")
        if text is not None and fold(v) not in fold(text):
            raise ValueError(f"title {v[:80]!r} does not occur in the page; copy titles exactly as printed")
        return v


class ExtractedListing(BaseModel):
    kind: Literal["person", "feed"] = "person"
    name: str | None = Field(default=None, description="the researcher the page is about, if it names one")
    works: list[ExtractedWork] = Field(default_factory=list)


def _span(text: str, title: str, after: int) -> tuple[int | None, int | None]:
    i = text.find(title, after)
    if i < 0:
        i = text.find(title)
    return (i, i + len(title)) if i >= 0 else (None, None)


def parse_with_llm(
    text: str, client: LLMClient, *, name: str | None = None, job_id: str | None = None
) -> ParsedListing:
    sent = text[:MAX_CHARS]
    messages = [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": f"Page text:\n<<<\n{sent}\n>>>"}]
    result = client.extract(ExtractedListing, messages, prompt=PROMPT, context={"text": sent}, job_id=job_id)
    got = result.value
    out = ParsedListing(format=FORMAT, kind=got.kind, facts={"parsed_by": result.origin or client.origin})
    if len(text) > MAX_CHARS:
        out.warnings.append(f"only the first {MAX_CHARS} characters were sent to the model")
    if got.kind == "person":
        if name:
            out.name, out.name_origin = name, "flag:--name"
        elif got.name and fold(got.name) in fold(sent):
            out.name, out.name_origin = got.name, "inferred:llm"
    pos = 0
    for w in got.works:
        start, end = _span(text, w.title, pos)
        pos = end or pos
        out.works.append(
            Work(
                title=w.title,
                year=w.year,
                authors=w.authors,
                venue=w.venue,
                abstract=w.abstract,
                start=start,
                end=end,
                ordinal=len(out.works),
            )
        )
    return out
