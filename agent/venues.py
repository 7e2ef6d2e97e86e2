"""The venue -> field map: where a work appeared is evidence of its field (a paper in an ACL, EMNLP or COLING
volume is computational linguistics). The map ships as data (`agent/data/venues.json`); a user file of the same
shape, named by the `venues` setting, is read first, so its rules win."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from enrich.schemas import Work


class VenueMapError(ValueError):
    """A venue map file that cannot be used."""


@dataclass(frozen=True, eq=False)  # compared and hashed as the object it is: a map is a cache key (venue_evidence)
class VenueField:
    field: str
    tags: dict[str, str]  # taxonomy name -> tag
    ids: frozenset[str]
    pattern: re.Pattern[str] | None  # acronyms (case-sensitive) and phrases (case-insensitive) in one regex

    def matches(self, work: Work) -> str | None:
        """What matched: 'id:<kind>' or the venue text that matched, else None."""
        kind = next((k for k in work.ids if k in self.ids), None)
        if kind:
            return f"id:{kind}"
        if work.venue and self.pattern is not None:
            m = self.pattern.search(work.venue)
            if m:
                return m.group(0)
        return None


def _pattern(acronyms: list[str], phrases: list[str]) -> re.Pattern[str] | None:
    parts = [rf"(?<![\w*]){re.escape(a)}(?!\w)" for a in acronyms]
    for p in phrases:  # words of a phrase, any punctuation or spacing between them
        words = r"\W+".join(re.escape(w) for w in re.findall(r"\w+", p))
        parts.append(rf"(?i:(?<!\w){words}(?!\w))")
    return re.compile("|".join(parts)) if parts else None


def parse_venue_map(data: object, origin: str = "venue map") -> tuple[VenueField, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise VenueMapError(f"{origin}: expected an object with a list of 'fields'")
    out = []
    for i, f in enumerate(data["fields"]):
        if not isinstance(f, dict) or not f.get("field") or not isinstance(f.get("tags"), dict):
            raise VenueMapError(f"{origin}: field #{i + 1} needs 'field' and 'tags' ({{taxonomy: tag}})")
        out.append(
            VenueField(
                str(f["field"]),
                {str(k): str(v) for k, v in f["tags"].items()},
                frozenset(f.get("ids") or ()),
                _pattern(list(f.get("acronyms") or ()), list(f.get("phrases") or ())),
            )
        )
    return tuple(out)


@lru_cache(maxsize=8)
def load_venue_map(user_file: str | None = None) -> tuple[VenueField, ...]:
    shipped = json.loads(resources.files("enrich.agent").joinpath("data/venues.json").read_text("utf-8"))
    fields = parse_venue_map(shipped, "venues.json")
    if user_file:
        path = Path(user_file).expanduser()
        try:
            fields = parse_venue_map(json.loads(path.read_text(encoding="utf-8")), str(path)) + fields
        except (OSError, json.JSONDecodeError) as exc:
            raise VenueMapError(f"cannot read venue map {path}: {exc}") from None
    return fields


@dataclass(frozen=True)
class VenueEvidence:
    field: str
    tag: str
    matched: str


def venue_evidence(work: Work, taxonomy: str, fields: tuple[VenueField, ...]) -> VenueEvidence | None:
    """The first field whose rule matches the work and that names a tag in `taxonomy`."""
    # a rule reads only the venue text and the kinds of ids: the same venue is matched once (a platform's works
    # come from a few thousand venues)
    return _venue_evidence(work.venue, tuple(sorted(work.ids)), taxonomy, fields)


@lru_cache(maxsize=8192)
def _venue_evidence(
    venue: str | None, id_kinds: tuple[str, ...], taxonomy: str, fields: tuple[VenueField, ...]
) -> VenueEvidence | None:
    work = Work(venue=venue, ids=dict.fromkeys(id_kinds, ""), work_id="-")
    for f in fields:
        tag = f.tags.get(taxonomy)
        if tag is None:
            continue
        matched = f.matches(work)
        if matched:
            return VenueEvidence(f.field, tag, matched)
    return None
