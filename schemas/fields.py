"""The enrichable fields and the shape of their values. A new field is one entry in FIELDS plus its step.

A researcher may hold several values of a field in SLOTTED (several affiliations: a joint appointment, a lab and
its university). Each is a field of its own to the store, `affiliation` (the primary one), `affiliation.2`,
`affiliation.3`...: so the never-override rules, proposals, review and the audit apply to each one by one."""

from __future__ import annotations

from collections.abc import Iterable
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


# field -> how many values a researcher may hold (slot 1 is the field itself, the primary one)
SLOTTED: dict[str, int] = {"affiliation": 8}
SLOT_SEP = "."


def base_field(field: str) -> str:
    """`affiliation.2` -> `affiliation`; any other name is returned as it is."""
    return field.split(SLOT_SEP, 1)[0]


def slot_field(base: str, slot: int) -> str:
    return base if slot == 1 else f"{base}{SLOT_SEP}{slot}"


def slot_fields(base: str) -> list[str]:
    """Every field name of `base`, primary first (just `base` for a field with one value)."""
    return [slot_field(base, n) for n in range(1, SLOTTED.get(base, 1) + 1)]


def shown_fields(present: Iterable[str]) -> list[str]:
    """The fields to show for a researcher: every field of FIELDS, each followed by those of its further slots
    (`affiliation.2`, ...) that hold or propose something (`present`)."""
    have = set(present)
    out = []
    for base in FIELDS:
        out.append(base)
        out.extend(f for f in slot_fields(base)[1:] if f in have)
    return out


@cache  # a handful of names, asked on every write
def is_known_field(field: str) -> bool:
    # the exact spellings only: `affiliation.02` or `affiliation.٢` would name slot 2 through int() but are not
    # the name the store writes, so a filter or a decision on them would miss every row
    base = base_field(field)
    return base in FIELDS and field in slot_fields(base)


def check_field(field: str) -> str:
    """The field name if known, else a ValueError that lists the known names."""
    if not is_known_field(field):
        extra = "".join(f", {b}{SLOT_SEP}2..{b}{SLOT_SEP}{n}" for b, n in SLOTTED.items())
        raise ValueError(f"unknown field {field!r}; known fields: {', '.join(FIELDS)}{extra}")
    return field


def validate_field_value(field: str, value: Any) -> Any:
    """Validate a value for a field (or one of its slots) and return its JSON-ready form."""
    adapter = _adapter(base_field(check_field(field)))
    return adapter.dump_python(adapter.validate_python(value), mode="json")


@cache
def _adapter(field: str) -> TypeAdapter[Any]:
    return TypeAdapter(FIELDS[field])


def coerce_cli_value(field: str, text: str) -> Any:
    """A person types a value on the command line: plain text for affiliation, JSON for the others."""
    import json

    field = base_field(field)
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
    field = base_field(field)
    if field == "affiliation" and isinstance(value, dict):
        return str(value.get("name", ""))
    if field == "topics" and isinstance(value, list):
        return ", ".join(f"{t.get('tag')} ({t.get('score', 0):.2f})" for t in value)
    if field == "summary" and isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)
