"""Jobs, LLM call records and the export contract."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from .fields import SummaryReadability
from .values import utcnow

# waiting: a bulk job (`enrich run --batch`) whose batches are out; `enrich batch collect` continues it
JobState = Literal["running", "waiting", "interrupted", "failed", "done"]


class Job(BaseModel):
    id: str
    kind: str = "run"
    state: JobState = "running"
    params: dict[str, Any] = Field(default_factory=dict)
    cursor: int = 0  # index into `todo` of the next researcher to process
    todo: list[int] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    started_at: str = Field(default_factory=utcnow)
    finished_at: str | None = None
    pid: int | None = None  # the process that runs (or last ran) the job
    host: str | None = None
    errors: int = 0  # rows of job_errors: steps that raised and were recorded while the job went on

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resume(self) -> str | None:
        """The command that continues this job, when it stopped before the end."""
        if self.kind == "batch":
            batch = self.params.get("batch") or {}
            if self.state == "failed":  # the build stopped: it wrote no requests, a new bulk run asks them
                return "enrich run --batch" + (
                    f" --batch-files {batch['folder']}" if batch.get("mode") == "files" else ""
                )
            if self.state in ("waiting", "interrupted"):
                files = " --results OUTPUT.jsonl..." if batch.get("mode") == "files" else ""
                return f"enrich batch collect {self.id}{files}"
            return None
        return f"enrich run --resume {self.id}" if self.state in ("interrupted", "failed") else None


class JobError(BaseModel):
    """An exception one researcher's step raised during a job; the job recorded it and went on."""

    id: int | None = None
    job_id: str
    researcher_id: int | None = None
    step: str | None = None
    error_type: str  # the exception's class name
    message: str
    location: str | None = None  # "path.py:line in function" of the frame that raised
    traceback: str | None = None
    created_at: str = Field(default_factory=utcnow)


class LLMCall(BaseModel):
    """One attempt against a model. Failed attempts are rows too."""

    id: int | None = None
    call_group: str  # one logical extract() = one group; attempts and re-asks share it
    attempt: int = 1
    backend: str
    model: str
    mode: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    schema_name: str | None = None
    input_hash: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    response: str | None = None
    parsed: Any = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    retries: int = 0
    reasks: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    job_id: str | None = None
    created_at: str = Field(default_factory=utcnow)


# ---------------------------------------------------------------- export contract (schema_version 2)
# Version 2 added `affiliations` (every applied affiliation, the primary one first); `affiliation` is unchanged, so a
# version-1 reader that reads only `affiliation` keeps working. Fields added later are optional and additive and do
# not change the version.


class ExportEvidence(BaseModel):
    quote: str | None
    listing: str | None  # listing path
    start: int | None
    end: int | None


class ExportAffiliation(BaseModel):
    value: str
    ror_id: str | None
    status: str
    origin: str
    confidence: float | None
    evidence: list[ExportEvidence]
    job_id: str | None


class ExportAffiliationItem(ExportAffiliation):
    """One of the researcher's affiliations (`affiliations`, schema_version 2)."""

    field: str = Field(description="the field holding it: `affiliation` (the primary one), `affiliation.2`, ...")
    primary: bool = Field(description="true for the one also exported as `affiliation`")


class ExportTopic(BaseModel):
    tag: str
    label: str
    score: float
    status: str
    works: list[str]


class ExportSentence(BaseModel):
    text: str
    works: list[str]


class ExportSummary(BaseModel):
    text: str
    status: str
    origin: str
    sentences: list[ExportSentence]
    job_id: str | None
    # additive (schema_version 1 readers may ignore them): how sure the checks are, how plain the text reads
    confidence: float | None = None
    readability: SummaryReadability | None = None


class ExportClusterWork(BaseModel):
    work_id: str
    title: str | None


class ExportConflation(BaseModel):
    detected: bool
    confidence: float
    clusters: list[list[ExportClusterWork]]


class ExportListing(BaseModel):
    path: str
    sha256: str
    format: str
    external_id: str | None = None  # the platform's record id the listing was ingested from (JSONL ingest)


class ExportWork(BaseModel):
    work_id: str
    title: str | None
    year: int | None
    venue: str | None


class ExportLine(BaseModel):
    """One line of `enrich export --format jsonl`: one researcher."""

    schema_version: Literal[2] = 2
    researcher_id: int | None
    name: str | None
    job_id: str | None = None  # the job that set the newest of the exported values (null: none was set by a job)
    external_id: str | None = None  # the platform's record id of the researcher's first listing that has one
    listings: list[ExportListing]
    affiliation: ExportAffiliation | None = None  # the primary affiliation (as in schema_version 1)
    affiliations: list[ExportAffiliationItem] = Field(default_factory=list)  # all of them, the primary first
    topics: list[ExportTopic] = Field(default_factory=list)
    summary: ExportSummary | None = None
    conflation: ExportConflation | None = None
    works: list[ExportWork] = Field(default_factory=list)
