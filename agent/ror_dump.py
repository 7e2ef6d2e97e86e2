"""Reading official ROR data dumps: schema v2 and the older v1, as .json, .json.gz or the release .zip.

The dump is a JSON array of records; it is parsed one record at a time (a streaming decode over text chunks), so a
full 120k-record release never sits in memory as one list.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from enrich.store.ror import RorOrg

_RELEASE = re.compile(r"(v\d+(?:\.\d+)+(?:-\d{4}-\d{2}-\d{2})?)")
_CHUNK = 1 << 20


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
def open_dump(path: str | Path) -> Iterator[tuple[TextIO, str]]:
    """Open a dump as text; yields (stream, member or file name the release string is read from)."""
    path = Path(path)
    if not path.exists():
        raise DumpError(f"no such file: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            member = _pick_zip_member(zf.namelist())
            with zf.open(member) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8"), member
        return
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield fh, path.name
    else:
        with path.open("r", encoding="utf-8") as fh:
            yield fh, path.name


def iter_json_records(stream: TextIO) -> Iterator[dict[str, Any]]:
    """Yield the objects of a top-level JSON array one by one; a single object (one record, or {"items": [...]})
    is accepted too."""
    decoder = json.JSONDecoder()
    buf = stream.read(_CHUNK).lstrip("\ufeff").lstrip()
    if not buf:
        raise DumpError("the dump is empty")
    if buf[0] == "{":  # not an array: read it whole
        data = json.loads(buf + stream.read())
        items = data.get("items") if isinstance(data.get("items"), list) else [data]
        yield from items
        return
    if buf[0] != "[":
        raise DumpError("the dump is not a JSON array of ROR records")
    pos, eof = 1, False
    while True:
        while True:  # skip separators
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) or eof:
                break
            buf, pos = stream.read(_CHUNK), 0
            eof = not buf
        if pos >= len(buf):
            raise DumpError("the dump ends before its closing ']'")
        if buf[pos] == "]":
            return
        try:
            obj, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            if eof:
                raise DumpError(f"invalid JSON in the dump: {exc}") from None
            more = stream.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        yield obj
        pos = end


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
