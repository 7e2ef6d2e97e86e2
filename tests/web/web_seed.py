"""Seed data for the web tests (built on tests/review/review_seed.py), the access token and small page helpers."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "review"))  # the shared seeding helpers

from review_seed import Seeded, llm_value, parsed, quote, seed, split_proposal  # noqa: E402

from enrich.schemas import FieldValue  # noqa: E402
from enrich.store import Store  # noqa: E402

TOKEN = "test-token-0123456789"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
EVE_TEXT = f"""Eve Mallory
Institute of Injection Studies
Publications
Escaping is hard (2023). We study pages whose abstracts contain {SCRIPT} and {IMG} verbatim.
"""


@dataclass
class WebSeed(Seeded):
    eve: int = 0
    eve_pid: int = 0  # a proposal whose evidence context and value carry markup
    split_pid: int = 0
    carol: int = 0  # one field per provenance status


def web_seed(path: Path) -> WebSeed:
    base = seed(path)
    store = Store.open(path)
    try:
        works = base.ada_works
        # a current, generated summary whose sentences cite the works (the researcher page links them)
        store.submit(
            llm_value(
                base.ada,
                "summary",
                {
                    "text": "Ada parses tables. She also models topics.",
                    "sentences": [
                        {"text": "Ada parses tables.", "works": [works[0]]},
                        {"text": "She also models topics.", "works": [works[1], works[0]]},
                    ],
                },
                confidence=0.9,
                job="J1",
            ),
            auto_apply=True,
        )
        eve = store.record_import(parsed("Eve Mallory", EVE_TEXT), text=EVE_TEXT, path="eve.txt")
        eve_p = store.submit(
            llm_value(
                eve.researcher_id,
                "affiliation",
                {"name": f"Injection Institute {IMG}"},
                confidence=0.7,
                job="J4",
                evidence=[quote(store, eve.listing_id, "verbatim")],
                listing_id=eve.listing_id,
            )
        )
        split = split_proposal(store, base.ada, base.ada_listing, works)
        # Carol: verified affiliation, imported topics, generated summary ("proposed" and "accepted" come from Ada)
        carol_text = "Carol Jones\nPublications\nOne paper (2020). About things.\n"
        carol = store.record_import(parsed("Carol Jones", carol_text), text=carol_text, path="carol.txt").researcher_id
        store.set_value(carol, "affiliation", {"name": "Carol University"}, "alice")
        store.submit(
            FieldValue(
                researcher_id=carol,
                field="topics",
                value=[{"tag": "cs.AI", "label": "Artificial Intelligence", "score": 1.0}],
                status="imported",
                origin="import:text",
                confidence=1.0,
            )
        )
        store.submit(
            llm_value(
                carol,
                "summary",
                {"text": "Carol writes.", "sentences": [{"text": "Carol writes.", "works": []}]},
                confidence=0.8,
                job="J5",
            ),
            auto_apply=True,
        )
    finally:
        store.close()
    return WebSeed(**base.__dict__, eve=eve.researcher_id, eve_pid=eve_p.proposal_id, split_pid=split, carol=carol)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)
