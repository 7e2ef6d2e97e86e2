"""The topics step with the fake model: evidence first, the support rule, applied vs proposed tags."""

from __future__ import annotations

import pytest
from agent_pages import ingest

from enrich.agent.fake_answers import grounded_answer
from enrich.agent.llm.base import LLMError
from enrich.agent.llm.fake import FunctionModel
from enrich.agent.loop import JobRunner, RunOptions
from enrich.agent.steps.topics import TagEvidence, choosable, decide, needed_support
from enrich.agent.taxonomy import load_taxonomy
from enrich.schemas import Work

# Made-up ACL-venue listing whose titles also use the words of numerical analysis and optimisation: the text alone
# would pull math.* tags, the venues say computational linguistics.
ACL_PAGE = """Mia Park

Publications (5)

Sparse Matrix Factorization for Low-Resource Machine Translation
Mia Park; Leo Chen
Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing
Year: 2021 | Conference Paper
Abstract: We factorise sparse matrices with numerical solvers to compress translation models.

Convex Optimization of Dialogue Policies
Mia Park
Proceedings of the 59th Annual Meeting of the Association for Computational Linguistics
Year: 2021 | Conference Paper
Abstract: Dialogue policies are trained with convex optimization and stochastic gradient methods.

Numerical Stability of Tokenizers
Mia Park; Ana Ruiz
Proceedings of the 28th International Conference on Computational Linguistics
Year: 2020 | Conference Paper
Abstract: We analyse numerical stability and floating point error in subword tokenizers for language models.

A Treebank of Spoken Dialogue
Mia Park
Proceedings of the 12th Language Resources and Evaluation Conference
Year: 2020 | Conference Paper
Abstract: We annotate spoken dialogue with dependency trees and release a treebank.

Question Answering over Long Documents
Mia Park; Leo Chen
Proceedings of the 2019 Conference of the North American Chapter of the Association for Computational Linguistics
Year: 2019 | Conference Paper
Abstract: Question answering models read long documents with retrieval and attention.
"""


def run(store, client, settings, **opts):
    return JobRunner(store, client, settings).start(RunOptions(only=["topics"], **opts))


@pytest.mark.parametrize(("n", "need"), [(1, 1), (2, 2), (3, 3), (4, 2), (10, 2), (11, 3), (20, 4), (40, 8)])
def test_support_rule_all_works_below_four_else_two_and_a_fifth(n, need):
    assert needed_support(n) == need


def _works(n: int) -> list[Work]:
    return [Work(title=f"work {i}", ordinal=i) for i in range(n)]


def _ev(tag: str, *, printed=(), venue=(), text=(), picked=False) -> TagEvidence:
    return TagEvidence(tag, set(printed), set(venue), set(text), picked=picked)


def test_a_finer_tag_below_the_support_rule_is_proposed_not_applied():
    tax, works = load_taxonomy(), _works(10)
    ids = [w.work_id for w in works]
    ev = {
        "cs.CL": _ev("cs.CL", venue=ids, picked=True),
        "cs.LG": _ev("cs.LG", text=ids[:1], picked=True),  # the model wants it, one work supports it
        "cs.IR": _ev("cs.IR", venue=ids[:1], text=ids[1:4], picked=True),  # a venue and 4 works: enough
    }
    d = decide(ev, works, tax, threshold=0.3)
    assert [e.tag for e in d.applied] == ["cs.CL", "cs.IR"] and [e.tag for e in d.proposed] == ["cs.LG"]
    assert all(len(e.support) >= d.need for e in d.applied)


def test_on_a_page_with_venues_text_alone_applies_nothing_else():
    """Printed categories or venues on most works: a tag the text alone suggests is proposed even when the model
    picks it and many works' words fit it (the math.NA of a language researcher)."""
    tax, works = load_taxonomy(), _works(6)
    ids = [w.work_id for w in works]
    ev = {
        "cs.CL": _ev("cs.CL", venue=ids),
        "math.NA": _ev("math.NA", text=ids[:5], picked=True),
        "cs.LG": _ev("cs.LG", text=ids[:5], picked=True),
    }
    d = decide(ev, works, tax, threshold=0.0)
    assert [e.tag for e in d.applied] == ["cs.CL"]
    assert {e.tag for e in d.proposed} == {"math.NA", "cs.LG"}


def test_without_printed_or_venue_evidence_the_model_picks_within_the_field():
    tax, works = load_taxonomy(), _works(8)
    ids = [w.work_id for w in works]
    ev = {
        "cs.LG": _ev("cs.LG", text=ids[:6], picked=True),
        "cs.CL": _ev("cs.CL", text=ids[2:6], picked=True),
        "cs.DC": _ev("cs.DC", text=ids[:3]),  # supported, not chosen
        "math.OC": _ev("math.OC", text=ids[:4], picked=True),  # chosen, but outside the first tag's group
    }
    d = decide(ev, works, tax, threshold=0.4)
    assert [e.tag for e in d.applied] == ["cs.LG", "cs.CL"]
    assert {e.tag for e in d.proposed} == {"cs.DC", "math.OC"}


def test_a_first_tag_without_enough_support_is_only_proposed():
    tax, works = load_taxonomy(), _works(3)
    ids = [w.work_id for w in works]
    d = decide({"cs.CL": _ev("cs.CL", venue=ids[:2], picked=True)}, works, tax, threshold=0.0)
    assert d.applied == [] and [e.tag for e in d.proposed] == ["cs.CL"]


def test_decide_given_the_choice_made_before_decides_the_same():
    """The step hands `decide` the `choosable` result it computed when the model picked nothing since (no request,
    or a bulk build's deferred one): the same decision as computing it again, for every evidence shape here."""
    tax, works = load_taxonomy(), _works(8)
    ids = [w.work_id for w in works]
    shapes = [
        {"cs.CL": _ev("cs.CL", venue=ids), "cs.LG": _ev("cs.LG", text=ids[:5]), "math.NA": _ev("math.NA", text=ids)},
        {"cs.LG": _ev("cs.LG", text=ids[:6]), "cs.CL": _ev("cs.CL", text=ids[2:6]), "cs.DC": _ev("cs.DC", text=ids)},
        {"cs.CL": _ev("cs.CL", venue=ids[:1], text=ids[:2])},
        {"stat.ML": _ev("stat.ML", printed=ids[:4], text=ids), "cs.LG": _ev("cs.LG", printed=ids[4:], text=ids)},
    ]
    for ev in shapes:
        for threshold in (0.0, 0.3, 0.6, 0.9):
            again = decide(ev, works, tax, threshold)
            given = decide(ev, works, tax, threshold, choosable(ev, works, tax, threshold))
            assert ([e.tag for e in given.applied], [e.tag for e in given.proposed], given.need) == (
                [e.tag for e in again.applied],
                [e.tag for e in again.proposed],
                again.need,
            )


def test_acl_venue_listing_gets_cs_cl_and_no_math_tag(store, fake, settings):
    rid = ingest(store, ACL_PAGE, "mia.txt")
    job = run(store, fake, settings)
    assert job.state == "done"
    cur = store.current(rid, "topics")
    applied = [t["tag"] for t in cur.value]
    assert cur.status == "generated" and applied[0] == "cs.CL"
    assert all(t.startswith(("cs.", "stat.ML")) for t in applied)
    cl = cur.value[0]
    assert len(cl["works"]) == 5 and cl["evidence"]["venue"] == 5
    assert all(len(t["works"]) >= 2 for t in cur.value)
    assert fake.calls == []  # no finer tag has printed/venue backing: nothing for the model to choose
    # weaker tags wait for review in one proposal that keeps the applied ones
    pending = store.proposals("pending", field="topics", researcher_id=rid)
    assert len(pending) == 1
    proposed = [t["tag"] for t in pending[0].proposed.value]
    assert proposed[: len(applied)] == applied and len(proposed) > len(applied)


MIXED_PAGE = (
    ACL_PAGE.replace("Publications (5)", "Publications (8)")
    + """
Generalization Bounds for Deep Neural Networks
Mia Park
Advances in Neural Information Processing Systems 34
Year: 2021 | Conference Paper
Abstract: We prove generalization bounds for deep neural networks trained by stochastic gradient descent.

Self-Supervised Representation Learning at Scale
Mia Park; Leo Chen
International Conference on Learning Representations (ICLR)
Year: 2022 | Conference Paper
Abstract: Self-supervised pretraining of transformers learns representations for many tasks.

Distillation of Deep Networks
Mia Park
Proceedings of the 38th International Conference on Machine Learning
Year: 2021 | Conference Paper
Abstract: Knowledge distillation trains a small neural network from a large one.
"""
)


def test_the_model_chooses_among_the_tags_the_evidence_backs(store, settings):
    offered = []

    def only_first(model, messages, context):
        offered.append(context["allowed"])
        return {"topics": [{"tag": context["allowed"][0], "works": [1, 2]}]}

    rid = ingest(store, MIXED_PAGE, "mia.txt")
    run(store, FunctionModel(only_first, store=store), settings)
    assert offered == [["cs.CL", "cs.LG"]]  # ML venues back cs.LG: a choice to make
    assert [t["tag"] for t in store.current(rid, "topics").value] == ["cs.CL"]  # not chosen: not applied
    (pending,) = store.proposals("pending", field="topics", researcher_id=rid)
    assert "cs.LG" in [t["tag"] for t in pending.proposed.value]


def test_a_chosen_tag_with_venue_backing_is_applied(store, fake, settings):
    rid = ingest(store, MIXED_PAGE, "mia.txt")
    run(store, fake, settings)
    cur = store.current(rid, "topics")
    assert [t["tag"] for t in cur.value] == ["cs.CL", "cs.LG"]
    assert cur.value[1]["evidence"]["venue"] == 3 and cur.value[1]["evidence"]["model"] is True
    assert cur.confidence == min(t["score"] for t in cur.value)


def test_printed_categories_bound_what_is_applied(store, settings):
    page = "\n".join(
        f"{cat}Mar {i + 1}, 2024\n{title}Ann Example, Ben Sample et al.\n{abstract}"
        for i, (cat, title, abstract) in enumerate(
            [
                ("LG", "Federated Optimization with Client Drift", "We train models across clients with federated."),
                ("LG", "Decentralized Training Without a Server", "Workers communicate in a decentralized graph."),
                ("LG", "Personalized Federated Learning", "Clients learn personalised models with federated."),
                ("CV", "Federated Image Segmentation", "Clients segment images together with federated."),
            ]
        )
    )

    def keen(model, messages, context):  # a model that picks every candidate it is shown
        return {"topics": [{"tag": t, "works": context["work_ids"]} for t in context["allowed"][:5]]}

    rid = ingest(store, page, "arxiv.txt", name="Ann Example")
    assert [w.category for w in store.researcher_works(rid)] == ["LG", "LG", "LG", "CV"]
    run(store, FunctionModel(keen, store=store), settings)
    cur = store.current(rid, "topics")
    applied = {t["tag"] for t in cur.value}
    assert "cs.LG" in applied and applied <= {"cs.LG", "cs.CV"}  # never cs.DC from the words alone


def test_a_model_failure_leaves_the_evidence_to_decide(store, settings):
    def broken(model, messages, context):
        raise LLMError("the model answered nonsense three times")

    rid = ingest(store, MIXED_PAGE, "mia.txt")
    job = run(store, FunctionModel(broken, store=store), settings)
    assert job.state == "done"
    cur = store.current(rid, "topics")
    assert [t["tag"] for t in cur.value] == ["cs.CL"] and cur.value[0]["evidence"]["model"] is False


def test_the_fake_model_answer_is_checked_against_the_candidates(store, settings):
    def off_list(model, messages, context):
        if context and "allowed" in context:
            return {"topics": [{"tag": "math.NA", "works": [1, 2]}]}  # not a candidate: re-asked, then fails
        return grounded_answer(model, messages, context)

    rid = ingest(store, MIXED_PAGE, "mia.txt")
    client = FunctionModel(off_list, store=store)
    run(store, client, settings)
    assert len(client.calls) > 1  # re-asked with the validation error
    cur = store.current(rid, "topics")
    assert [t["tag"] for t in cur.value] == ["cs.CL"]
