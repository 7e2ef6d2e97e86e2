"""Reading ROR dumps: both schema versions, every container, streaming, release strings."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from enrich.agent import ror_dump
from enrich.agent.ror_dump import DumpError, dump_release, iter_json_records, read_dump, release_from_name

FIXTURES = Path(__file__).parent / "fixtures"
V2_JSON = FIXTURES / "ror-v2-mini.json"
V1_GZ = FIXTURES / "ror-v1-mini.json.gz"
RELEASE_ZIP = FIXTURES / "v1.55-2024-10-31-ror-data.zip"


def test_v2_json_records_become_orgs():
    release, orgs = read_dump(V2_JSON)
    by_id = {o.ror_id: o for o in orgs}
    assert release == "unknown"
    assert len(by_id) == 12
    cas = by_id["https://ror.org/034t30j35"]
    assert cas.name == "Chinese Academy of Sciences"
    assert ("CAS", "acronym", None) in cas.names
    assert ("中国科学院", "label", "zh") in cas.names
    assert (cas.city, cas.country, cas.country_code, cas.domains) == ("Beijing", "China", "CN", ["cas.cn"])
    assert by_id["https://ror.org/0168r3w48"].is_child is True
    assert by_id["https://ror.org/0cornwd00"].status == "withdrawn"


def test_v1_gzip_records_derive_domains_from_links():
    _release, orgs = read_dump(V1_GZ)
    nudt = next(o for o in orgs if o.ror_id == "https://ror.org/05d2yfz11")
    assert nudt.schema == "v1"
    assert nudt.name == "National University of Defense Technology"
    assert nudt.domains == [] and nudt.link_domains == ["nudt.edu.cn"]
    assert ("NUDT", "acronym", None) in nudt.names
    assert (nudt.city, nudt.country_code) == ("Changsha", "CN")


def test_release_zip_prefers_the_v2_member_and_reads_the_release():
    release, orgs = read_dump(RELEASE_ZIP)
    orgs = list(orgs)
    assert release == "v1.55-2024-10-31"
    assert {o.schema for o in orgs} == {"v2"}
    assert len(orgs) == 12


@pytest.mark.parametrize(
    "name,expected",
    [
        ("v1.55-2024-10-31-ror-data_schema_v2.json", "v1.55-2024-10-31"),
        ("v2.0-2025-09-04-ror-data.zip", "v2.0-2025-09-04"),
        ("ror-v2-subset.json.gz", "unknown"),
    ],
)
def test_release_from_name(name, expected):
    assert release_from_name(name) == expected


def test_dump_release_of_a_plain_file():
    assert dump_release(V1_GZ) == "unknown"


class _Trickle(io.BytesIO):
    """A stream that hands out at most `most` bytes per read, and counts what it handed out."""

    def __init__(self, data: bytes, most: int = 7):
        super().__init__(data)
        self.most, self.given = most, 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(self.most if size is None or size < 0 else min(size, self.most))
        self.given += len(out)
        return out


def test_streaming_parser_survives_tiny_chunks(monkeypatch):
    monkeypatch.setattr(ror_dump, "_HEAD", 7)
    records = [
        {"id": f"https://ror.org/{i}", "name": 'A, "quoted" [name] é', "n": [1, 2.5, {"x": "]"}]} for i in range(5)
    ]
    text = "\ufeff [\n" + ",\n ".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n] "
    assert list(iter_json_records(_Trickle(text.encode()))) == records


def test_records_arrive_before_the_whole_dump_is_read():
    record = {"id": "https://ror.org/1", "names": [{"value": "X" * 100, "types": ["ror_display"]}]}
    data = ("[" + ",".join([json.dumps(record)] * 20_000) + "]").encode()
    stream = _Trickle(data, most=1 << 16)
    first = next(iter_json_records(stream))
    assert first == record
    assert stream.given < len(data) // 10


def test_streaming_parser_accepts_a_single_object_and_an_empty_array():
    assert list(iter_json_records(io.BytesIO(b'{"id": "https://ror.org/1", "name": "X"}'))) == [
        {"id": "https://ror.org/1", "name": "X"}
    ]
    assert list(iter_json_records(io.BytesIO(b'{"items": [{"id": "https://ror.org/1"}]}'))) == [
        {"id": "https://ror.org/1"}
    ]
    assert list(iter_json_records(io.BytesIO(b"[]"))) == []


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("hello", "not a JSON array"),
        ('[{"id": "https://ror.org/1"', "invalid JSON"),
        ('[{"id": "https://ror.org/1"}, ', "closing"),
        ('[{"id": https://ror.org/1}]', "invalid JSON"),
    ],
)
def test_broken_dumps_give_one_line_errors(text, message):
    with pytest.raises(DumpError, match=message) as err:
        list(iter_json_records(io.BytesIO(text.encode())))
    assert "\n" not in str(err.value)


def test_a_record_that_is_not_ror_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('[{"id": "Q42", "name": "Douglas Adams"}]')
    _release, orgs = read_dump(path)
    with pytest.raises(DumpError, match="ROR id"):
        list(orgs)


def test_missing_file(tmp_path):
    _release, orgs = read_dump(tmp_path / "nope.json")
    with pytest.raises(DumpError, match="no such file"):
        list(orgs)
