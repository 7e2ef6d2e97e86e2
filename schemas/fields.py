"""The enrichable fields and the shape of their values. A new field is one entry in FIELDS plus its step."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter


class Affiliation(BaseModel):
    name: str = Field(min_length=2)


class TopicTag(BaseModel):
    tag: str  # taxonomy code, e.g. "cs.CL"
    label: str
    score: float = Field(ge=0.0, le=1.0)
    works: list[str] = Field(default_factory=list)  # work ids supporting the tag
    # how many of those works carry each kind of evidence (printed category, venue, text) and whether the model
    # chose the tag; absent on values set by a person
    evidence: dict[str, int | bool] | None = None


class SummarySentence(BaseModel):
    text: str = Field(min_length=3)
    works: list[str] = Field(default_factory=list)


class SummaryReadability(BaseModel):
    grade: float | None = Field(None, description="Flesch-Kincaid grade level of the summary text")
    acronyms: int = 0
    unexplained_acronyms: int = Field(0, description="acronyms the summary does not spell out")


class Summary(BaseModel):
    text: str
    sentences: list[SummarySentence]
    readability: SummaryReadability | None = None  # optional: summaries written before it was measured have none


FIELDS: dict[str, Any] = {
    "affiliation": Affiliation,
    "topics": list[TopicTag],
    "summary": Summary,
}


def validate_field_value(field: str, value: Any) -> Any:
    """Validate a value for a field and return its JSON-ready form."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}; known fields: {', '.join(FIELDS)}")
    adapter = _adapter(field)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


@cache
def _adapter(field: str) -> TypeAdapter[Any]:
    return TypeAdapter(FIELDS[field])


def coerce_cli_value(field: str, text: str) -> Any:
    """A person types a value on the command line: plain text for affiliation, JSON for the others."""
    import json

    if field == "affiliation":
        return {"name": text}
    if field == "summary" and not text.lstrip().startswith("{"):
        return {"text": text, "sentences": [{"text": text, "works": []}]}
    if field == "topics" and not text.lstrip().startswith("["):
        tags = [t.strip() for t in text.split(",") if t.strip()]
        return [{"tag": t, "label": t, "score": 1.0, "works": []} for t in tags]
    return json.loads(text)


def display_value(field: str, value: Any) -> str:
    if value is None:
        return ""
    if field == "affiliation" and isinstance(value, dict):
        return str(value.get("name", ""))
    if field == "topics" and isinstance(value, list):
        return ", ".join(f"{t.get('tag')} ({t.get('score', 0):.2f})" for t in value)
    if field == "summary" and isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)
