"""Bad input gets a clear one-line reason; HTML is turned into text with a warning."""

import pytest

from enrich.agent.ingest.reader import ListingReadError, html_to_text, read_listing


def reason(source, **kw) -> str:
    with pytest.raises(ListingReadError) as exc:
        read_listing(source, **kw)
    return str(exc.value)


def test_empty_and_whitespace_only(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    (tmp_path / "w.txt").write_bytes(b"  \n\n")
    assert reason(tmp_path / "e.txt") == "empty file"
    assert reason(tmp_path / "w.txt") == "empty file"


def test_binary_file(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert reason(tmp_path / "b.txt") == "binary file (contains NUL bytes), not a text listing"


def test_invalid_utf8(tmp_path):
    (tmp_path / "l.txt").write_bytes("Gülşen Eryiğit\n".encode("latin-1", errors="replace"))
    msg = reason(tmp_path / "l.txt")
    assert msg.startswith("not valid UTF-8 (bad byte at offset 1)")


def test_too_large_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:  # sparse 50 MB file
        fh.truncate(50 * 1024 * 1024)
    msg = reason(big, max_bytes=20 * 1024 * 1024)
    assert msg.startswith("too large (50.0 MB > 20 MB limit")
    assert reason(b"x" * 2000, max_bytes=1000).startswith("too large")


def test_missing_file(tmp_path):
    assert reason(tmp_path / "nope.txt").startswith("cannot read")


def test_html_is_stripped_with_a_warning(tmp_path):
    html = (
        "<!DOCTYPE html><html><head><title>x</title><style>p{}</style></head><body>"
        "<h1>Ada Lovelace</h1><p>Department of Mathematics, University of London</p>"
        "<script>var a=1;</script><div>Publications (1)</div></body></html>"
    )
    (tmp_path / "p.html").write_text(html, encoding="utf-8")
    warnings: list[str] = []
    text = read_listing(tmp_path / "p.html", warnings=warnings)
    assert warnings == ["HTML: tags stripped"]
    assert text.splitlines()[:2] == ["Ada Lovelace", "Department of Mathematics, University of London"]
    assert "var a" not in text and "<" not in text


def test_html_with_nothing_left_is_refused():
    assert reason(b"<html><body><script>x()</script></body></html>") == "HTML with no text left after stripping tags"


def test_utf8_bom_and_bytes_source():
    assert read_listing("\ufeffName\n".encode("utf-8")) == "Name\n"
    assert html_to_text("<p>a &amp; b</p>").strip() == "a & b"
