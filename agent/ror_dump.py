"""Reading official ROR data dumps: schema v2 and the older v1, as .json, .json.gz or the release .zip.

The dump is a JSON array of records; ijson parses it one record at a time (its C backend where the wheel has one,
else pure Python), so a full 120k-record release never sits in memory as one list.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import ijson

from enrich.store.ror import RorOrg

_RELEASE = re.compile(r"(v\d+(?:\.\d+)+(?:-\d{4}-\d{2}-\d{2})?)")
_HEAD = 1 << 16  # read to tell an array from a single object before ijson takes the stream over


class Readable(Protocol):
    """A binary stream: a file, a gzip file or a zip member."""

    def read(self, size: int = -1, /) -> bytes: ...


class DumpError(ValueError):
    """The file is not a ROR dump this reader understands (message is one line for the user)."""


def release_from_name(name: str) -> str:
    """`v1.55-2024-10-31-ror-data_schema_v2.json` -> `v1.55-2024-10-31`; a name without a release -> `unknown`."""
    match = _RELEASE.search(Path(name).name)
    return match.group(1) if match else "unknown"


def _pick_zip_member(names: list[str]) -> str:
    """The release zip holds the v1 and the v2 file (and sometimes CSVs): prefer the v2 JSON."""
    jsons = [n for n in names if n.lower().endswith(".json") and not n.startswith("__MACOSX")]
    if not jsons:
        raise DumpError("the zip holds no .json dump")
    v2 = [n for n in jsons if "schema_v2" in n.lower()]
    return (v2 or sorted(jsons))[0]


@contextmanager
def open_dump(path: str | Path) -> Iterator[tuple[Readable, str]]:
    """Open a dump (binary, UTF-8); yields (stream, member or file name the release string is read from)."""
    path = Path(path)
    if not path.exists():
        raise DumpError(f"no such file: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            member = _pick_zip_member(zf.namelist())
            with zf.open(member) as raw:
                yield raw, member
        return
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        with gzip.open(path, "rb") as fh:
            yield fh, path.name
    else:
        with path.open("rb") as fh:
            yield fh, path.name


class _Rejoined:
    """The bytes already read from a stream, then the rest of the stream (what ijson reads from)."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        n = len(self.head) if size < 0 else size
        out, self.head = self.head[:n], self.head[n:]
        return out


def iter_json_records(stream: Readable) -> Iterator[dict[str, Any]]:
    """Yield the objects of a top-level JSON array one by one; a single object (one record, or {"items": [...]})
    is accepted too."""
    head = stream.read(_HEAD).removeprefix(codecs.BOM_UTF8).lstrip()
    if not head:
        raise DumpError("the dump is empty")
    if head[:1] == b"{":  # not an array: read it whole
        data = json.loads(head + stream.read())
        items = data.get("items") if isinstance(data.get("items"), list) else [data]
        yield from items
        return
    if head[:1] != b"[":
        raise DumpError("the dump is not a JSON array of ROR records")
    try:
        # use_float: numbers as the json module reads them (ijson would give Decimal)
        yield from ijson.items(_Rejoined(head, stream), "item", use_float=True)
    except ijson.JSONError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "premature EOF" in reason:
            raise DumpError("invalid JSON in the dump: it ends before its closing ']'") from None
        raise DumpError(f"invalid JSON in the dump: {reason}") from None


def _hostname(url: str) -> str | None:
    if not url:
        return None
    if "//" not in url:
        url = "http://" + url
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else None


def _link_domains(links: list[Any] | None) -> list[str]:
    out: list[str] = []
    for link in links or []:
        url = link.get("value") if isinstance(link, dict) else link
        host = _hostname(url) if isinstance(url, str) else None
        if host and host not in out:
            out.append(host)
    return out


def _has_parent(relationships: list[dict[str, Any]] | None) -> bool:
    return any(str(r.get("type", "")).lower() == "parent" for r in relationships or [])


def _relationships(relationships: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """(type, related ROR id) pairs; v1 and v2 spell the types alike up to case (Parent / parent)."""
    out = []
    for r in relationships or []:
        kind, rid = str(r.get("type", "")).lower(), r.get("id")
        if kind and isinstance(rid, str) and rid.startswith("https://ror.org/"):
            out.append((kind, rid))
    return out


def org_from_v2(rec: dict[str, Any]) -> RorOrg:
    names: list[tuple[str, str, str | None]] = []
    display = None
    for n in rec.get("names") or []:
        types = n.get("types") or []
        value = n.get("value")
        if not value:
            continue
        if "ror_display" in types:
            display = display or value
            kind = "name"
        elif "acronym" in types:
            kind = "acronym"
        elif "alias" in types:
            kind = "alias"
        else:
            kind = "label"
        names.append((value, kind, n.get("lang")))
    if display is None:
        display = names[0][0] if names else rec["id"]
    geo = ((rec.get("locations") or [{}])[0] or {}).get("geonames_details") or {}
    return RorOrg(
        ror_id=rec["id"],
        name=display,
        status=rec.get("status") or "active",
        names=names,
        domains=[d.lower() for d in rec.get("domains") or []],
        link_domains=_link_domains(rec.get("links")),
        city=geo.get("name"),
        region=geo.get("country_subdivision_name"),
        country=geo.get("country_name"),
        country_code=geo.get("country_code"),
        types=rec.get("types") or [],
        is_child=_has_parent(rec.get("relationships")),
        schema="v2",
        relationships=_relationships(rec.get("relationships")),
    )


def org_from_v1(rec: dict[str, Any]) -> RorOrg:
    names: list[tuple[str, str, str | None]] = [(rec["name"], "name", None)]
    names += [(a, "alias", None) for a in rec.get("aliases") or [] if a]
    names += [(a, "acronym", None) for a in rec.get("acronyms") or [] if a]
    names += [(lab["label"], "label", lab.get("iso639")) for lab in rec.get("labels") or [] if lab.get("label")]
    addr = (rec.get("addresses") or [{}])[0] or {}
    region = ((addr.get("geonames_city") or {}).get("geonames_admin1") or {}).get("name") or addr.get("state")
    country = rec.get("country") or {}
    links = list(rec.get("links") or [])
    if rec.get("email_address") and "@" in rec["email_address"]:
        links.append(rec["email_address"].split("@", 1)[1])
    return RorOrg(
        ror_id=rec["id"],
        name=rec["name"],
        status=rec.get("status") or "active",
        names=names,
        domains=[],
        link_domains=_link_domains(links),
        city=addr.get("city"),
        region=region,
        country=country.get("country_name"),
        country_code=country.get("country_code"),
        types=[t.lower() for t in rec.get("types") or []],
        is_child=_has_parent(rec.get("relationships")),
        schema="v1",
        relationships=_relationships(rec.get("relationships")),
    )


def org_from_record(rec: dict[str, Any]) -> RorOrg:
    """Either schema version, told apart per record: v2 has a `names` list, v1 a `name` string."""
    if not isinstance(rec, dict) or not str(rec.get("id", "")).startswith("https://ror.org/"):
        raise DumpError("a record without a ROR id (https://ror.org/...): is this a ROR dump?")
    if isinstance(rec.get("names"), list):
        return org_from_v2(rec)
    if isinstance(rec.get("name"), str):
        return org_from_v1(rec)
    raise DumpError(f"record {rec['id']} is neither ROR schema v1 nor v2")


def read_dump(path: str | Path) -> tuple[str, Iterator[RorOrg]]:
    """(release, organisations) of a dump file; the iterator opens and closes the file itself as it is consumed."""

    def orgs() -> Iterator[RorOrg]:
        with open_dump(path) as (stream, _member):
            for rec in iter_json_records(stream):
                yield org_from_record(rec)

    return dump_release(path), orgs()


def dump_release(path: str | Path) -> str:
    """The release string of a dump: from the JSON member's name inside a zip, else from the file name."""
    path = Path(path)
    if path.exists() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            member_release = release_from_name(_pick_zip_member(zf.namelist()))
        if member_release != "unknown":
            return member_release
    return release_from_name(path.name)
