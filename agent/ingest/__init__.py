"""Raw listing text -> schemas.ParsedListing, without a model wherever the format is known.

parse(text, name=None, path=None) -> ParsedListing   # detect the format, run its (pure) parser
detect_format(text) -> str | None
read_listing(path_or_bytes, max_bytes) -> str          # safe file reading (reader.py)
parse_with_llm(text, client) -> ParsedListing          # unknown formats (llm_fallback.py)
"""

from __future__ import annotations

from enrich.schemas import ParsedListing

from .affiliations import OrgLines, state_affiliations
from .detect import NAME_FIRST, PARSERS, detect_format
from .reader import ListingReadError, read_listing


class UnknownFormatError(ValueError):
    """No known parser recognises the page (the caller may try the LLM fallback)."""


def parse(
    text: str,
    *,
    name: str | None = None,
    path: str | None = None,
    fmt: str | None = None,
    orgs: OrgLines | None = None,
) -> ParsedListing:
    """Detect the page's format (or use `fmt`) and parse it. `name` (from --name) names the subject when the page
    does not, or overrides the page's name. `path` is only used in error messages. `orgs` decides which header lines
    of an author page state affiliations (OrgLines.for_store: by the store's ROR index); None: the fallback without
    an index (affiliations.py)."""
    fmt = fmt or detect_format(text)
    if fmt is None:
        where = f"{path}: " if path else ""
        raise UnknownFormatError(f"{where}unknown listing format (not one of {', '.join(PARSERS)})")
    if fmt not in PARSERS:
        raise UnknownFormatError(f"unknown format {fmt!r}; known: {', '.join(PARSERS)}")
    out = PARSERS[fmt].parse(text, name=name)
    if fmt in NAME_FIRST:
        state_affiliations(out, text, orgs)
    return out


__all__ = ["OrgLines", "parse", "detect_format", "read_listing", "ListingReadError", "UnknownFormatError", "PARSERS"]
