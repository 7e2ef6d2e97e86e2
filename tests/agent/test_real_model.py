"""The real embedded model end to end on the ACL seed (slow: about a minute; CI runs it).

Checks content, not shape: topic tags exist and cite the page's works, the summary uses words from the page's
titles, and the page -- which names no organisation -- gets no affiliation: whatever the model says is either
null or refused by validation, never returned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from agent_pages import ingest
from store_sql import rows as sql_rows

from enrich.agent import settings as settings_mod
from enrich.agent.llm.base import LLMError
from enrich.agent.llm.factory import make_client
from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.prompts import load_prompt
from enrich.agent.steps.affiliation import AffiliationAnswer
from enrich.agent.steps.checks import find_quote
from enrich.store import Store

SEED = Path(__file__).resolve().parents[2] / "seeds" / "acl-anthology-zhaorui-tan.txt"
pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    db = tmp_path_factory.mktemp("real") / "real.db"
    settings = settings_mod.load(backend="embedded", db=str(db))
    store = Store.open(str(db))
    client = make_client(settings, store=store)  # fails loudly if the embedded extra is missing
    yield settings, store, client
    client.close()
    store.close()


def test_acl_seed_end_to_end(embedded, monkeypatch):
    import enrich.agent.llm as agent_llm

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    settings, store, client = embedded
    text = SEED.read_text(encoding="utf-8")
    rid = ingest(store, text, str(SEED))
    job = JobRunner(store, client, settings).start(RunOptions())
    assert job.state == "done", job.error
    works = {w.work_id: w for w in store.researcher_works(rid)}

    def latest(field):
        rows = store.history(rid, field)
        return rows[-1] if rows else None

    topics = latest("topics")
    assert topics is not None, job.counts
    assert topics["value"] and all(t["works"] and set(t["works"]) <= set(works) for t in topics["value"])
    assert all(re.fullmatch(r"[a-z\-]+(\.[A-Za-z\-]+)?", t["tag"]) for t in topics["value"])

    summary = latest("summary")
    assert summary is not None, job.counts
    title_words = {w.casefold() for wk in works.values() for w in re.findall(r"[A-Za-z]{5,}", wk.title or "")}
    said = {w.casefold() for w in re.findall(r"[A-Za-z]{5,}", summary["value"]["text"])}
    assert title_words & said, summary["value"]["text"]
    assert all(s["works"] and set(s["works"]) <= set(works) for s in summary["value"]["sentences"])

    assert store.current(rid, "affiliation") is None
    assert store.proposals("pending", researcher_id=rid, field="affiliation") == []


def test_an_affiliation_the_page_does_not_contain_is_rejected(embedded, monkeypatch):
    import enrich.agent.llm as agent_llm

    monkeypatch.setattr(agent_llm, "ALLOW_REAL_CALLS", True)
    settings, store, client = embedded
    shown = SEED.read_text(encoding="utf-8")[:900]  # the name, a year, a title, authors, a venue: no organisation
    prompt = load_prompt("affiliation")
    try:
        res = client.extract(
            AffiliationAnswer,
            prompt.messages(name="Zhaorui Tan", context=shown),
            prompt=prompt.prompt_ref,
            context={"shown_text": shown},
        )
    except LLMError:
        return  # every attempt invented something and validation refused each one: nothing was returned
    ans = res.value
    if ans.affiliation is not None:  # only a value quoted from the page can get through
        assert find_quote(shown, ans.quote) is not None and ans.affiliation.casefold() in ans.quote.casefold()
    # whatever the model tried and validation refused is in the call log as an error, not as a value
    for row in sql_rows(store, "SELECT parsed, error FROM llm_calls WHERE schema_name = 'AffiliationAnswer'"):
        assert row["error"] or row["parsed"]
