"""A bulk build's worker pickles the package's pydantic models by `build_pipeline._model_reduce` (cheaper than
pydantic's own state dict): what the writer unpickles is the same model -- equal fields, the same set of fields
given -- and a model with extra or private state keeps pydantic's own way, which carries that state."""

from __future__ import annotations

import copyreg
import io
import pickle
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from enrich.agent.batch import build_pipeline
from enrich.schemas import Evidence, FieldValue, WriteResult
from enrich.schemas.conflation import Cluster, ClusterEvidence, ConflationResult


class _Private(BaseModel):
    a: int = 1
    _seen: int = PrivateAttr()


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int = 1


def _round_trip(obj: Any) -> Any:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    classes = (FieldValue, Evidence, WriteResult, ConflationResult, Cluster, ClusterEvidence, _Private, _Extra)
    pickler.dispatch_table = {**copyreg.dispatch_table, **dict.fromkeys(classes, build_pipeline._model_reduce)}
    pickler.dump(obj)
    return pickle.loads(buf.getvalue())


def _same(a: BaseModel, b: BaseModel) -> bool:
    return (
        type(a) is type(b)
        and a == b
        and a.model_fields_set == b.model_fields_set
        and a.__pydantic_extra__ == b.__pydantic_extra__
        and a.__pydantic_private__ == b.__pydantic_private__
    )


def test_models_come_back_the_same():
    fv = FieldValue(
        researcher_id=3,
        field="topics",
        value=[{"tag": "cs.CL", "score": 0.5}],
        status="proposed",
        origin="llm:openai-compatible/default",
        confidence=0.5,
        evidence=[Evidence(note="taxonomy"), Evidence(quote="q", listing_id=2, start=0, end=1, checked=True)],
    )
    result = WriteResult(outcome="applied", status="generated", value_id=7)
    verdict = ConflationResult(
        detected=False,
        confidence=0.05,
        clusters=[Cluster(work_ids=["W1"], titles=["T"], evidence=ClusterEvidence(years=[2020]))],
        method="m",
        reasons=["few works"],
    )
    calls = [("submit", (fv,), result), ("submit", (fv,), result), ("save_conflation", (2, 3, verdict), None)]
    got = _round_trip(calls)
    assert _same(got[0][1][0], fv) and _same(got[0][2], result) and _same(got[2][1][2], verdict)
    assert got[0][1][0] is got[1][1][0]  # one object pickled once, as pickle does for any object
    assert got[0][1][0].model_fields_set == {
        "researcher_id",
        "field",
        "value",
        "status",
        "origin",
        "confidence",
        "evidence",
    }
    assert _same(got[0][1][0].evidence[1], fv.evidence[1])


def test_extra_and_private_state_is_kept():
    private = _Private()
    private._seen = 4
    extra = _Extra(b=2)
    got_private, got_extra = _round_trip([private, extra])
    assert _same(got_private, private) and got_private._seen == 4
    assert _same(got_extra, extra) and got_extra.b == 2  # type: ignore[attr-defined]
    empty = _round_trip(_Private())  # a private attribute not set yet: it can be set after the hand-over
    assert _same(empty, _Private())
    empty._seen = 5
    assert empty._seen == 5
