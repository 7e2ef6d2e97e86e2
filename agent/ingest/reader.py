"""Read one listing file safely: refuse empty, binary, non-UTF-8 and oversized files with a one-line reason, and
turn HTML into text (tags stripped, with a warning)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class ListingReadError(Exception):
    """A file that cannot be ingested; str() is a one-line message for the user."""


class _TextExtractor(HTMLParser):
    """Text with line structure: line-level tags break the line, closing a container leaves a blank line (the
    paragraph breaks some layouts rely on). Breaks requested between two pieces of text merge to the largest."""

    _SKIP = {"script", "style", "head", "noscript", "template"}
    _LINE = {"p", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt", "title", "pre", "blockquote"}
    _CONTAINER = {"div", "section", "article", "header", "footer", "ul", "ol", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pending = 0  # newlines owed before the next text

    def _brk(self, n: int) -> None:
        self._pending = max(self._pending, n)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._LINE or tag in self._CONTAINER:
            self._brk(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._LINE:
            self._brk(1)
        elif tag in self._CONTAINER:
            self._brk(2)

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            if not self._skip and data and self.parts:
                self.parts.append(" ")
            return
        if self._pending and self.parts:
            self.parts.append("\n" * self._pending)
        self._pending = 0
        self.parts.append(data)


_HTML_RE = re.compile(r"^\s*(?:<!doctype html|<html\b|<\?xml[^>]*>\s*<html\b)", re.I)
_TAGS_RE = re.compile(r"</?(?:html|body|div|p|span|a|table|ul|li|h[1-6]|br)\b[^>]*>", re.I)


def looks_like_html(text: str) -> bool:
    head = text[:5000]
    return bool(_HTML_RE.match(head)) or len(_TAGS_RE.findall(head)) >= 5


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def read_listing(
    source: str | Path | bytes, max_bytes: int = DEFAULT_MAX_BYTES, warnings: list[str] | None = None
) -> str:
    """Return the listing text of a file path (or raw bytes, e.g. stdin). Raises ListingReadError with the reason.
    Warnings (e.g. "HTML: tags stripped") are appended to `warnings` when given."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ListingReadError(_too_large(len(data), max_bytes))
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ListingReadError(f"cannot read: {exc.strerror or exc}") from exc
        if size > max_bytes:  # refuse before reading a huge file into memory
            raise ListingReadError(_too_large(size, max_bytes))
        data = path.read_bytes()
    if not data.strip():
        raise ListingReadError("empty file")
    if b"\x00" in data[:65536]:
        raise ListingReadError("binary file (contains NUL bytes), not a text listing")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListingReadError(f"not valid UTF-8 (bad byte at offset {exc.start}); save the file as UTF-8") from exc
    if looks_like_html(text):
        text = html_to_text(text)
        if not text.strip():
            raise ListingReadError("HTML with no text left after stripping tags")
        if warnings is not None:
            warnings.append("HTML: tags stripped")
    return text


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"too large ({size / 1048576:.1f} MB > {max_bytes / 1048576:g} MB limit; "
        f"raise it with --max-size-mb or the max_file_mb setting)"
    )
