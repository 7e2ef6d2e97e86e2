"""Which known format a page is in. Checks run from the most specific signature to the most general."""

from __future__ import annotations

from types import ModuleType

from . import acl, arxiv, bzpeer, generic, hf_papers, ieee

# order matters: distinctive page chrome first, the generic author-page layouts last
PARSERS: dict[str, ModuleType] = {
    hf_papers.FORMAT: hf_papers,
    bzpeer.FORMAT: bzpeer,
    arxiv.FORMAT: arxiv,
    ieee.FORMAT: ieee,
    generic.FORMAT: generic,
    acl.FORMAT: acl,
}


# formats whose page opens with the researcher's name and a header block under it (affiliations.header_lines)
NAME_FIRST = frozenset({generic.FORMAT, acl.FORMAT})


def detect_format(text: str) -> str | None:
    """The format name ("bzpeer", "ieee", "arxiv", "acl", "hf-papers", "generic") or None when unknown."""
    for fmt, module in PARSERS.items():
        if module.looks_like(text):
            return fmt
    return None
