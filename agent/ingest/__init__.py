"""Raw listing text -> schemas.ParsedListing, without a model wherever the format is known.

parse(text, name=None, path=None) -> ParsedListing   # detect the format, run its (pure) parser
detect_format(text) -> str | None
read_listing(path_or_bytes, max_bytes) -> str          # safe file reading (reader.py)
parse_with_llm(text, client) -> ParsedListing          # unknown formats (llm_fallback.py)
"""

from __future__ import annotations

from enrich.schemas import ParsedListing

from .detect import PARSERS, detect_format
from .reader import ListingReadError, read_listing


class UnknownFormatError(ValueError):
    """No known parser recognises the page (the caller may try the LLM fallback)."""


def parse(text: str, *, name: str | None = None, path: str | None = None, fmt: str | None = None) -> ParsedListing:
    """Detect the page's format (or use `fmt`) and parse it. `name` (from --name) names the subject when the page
    does not, or overrides the page's name. `path` is only used in error messages."""
    fmt = fmt or detect_format(text)
    if fmt is None:
        where = f"{path}: " if path else ""
        raise UnknownFormatError(f"{where}unknown listing format (not one of {', '.join(PARSERS)})")
    if fmt not in PARSERS:
        raise UnknownFormatError(f"unknown format {fmt!r}; known: {', '.join(PARSERS)}")
    return PARSERS[fmt].parse(text, name=name)


__all__ = ["parse", "detect_format", "read_listing", "ListingReadError", "UnknownFormatError", "PARSERS"]
