"""Pydantic models shared by every part of the tool. Pure data: no I/O, no imports from agent/ or store/."""

from pydantic import BaseModel

from .fields import FIELDS, Affiliation, Summary, SummarySentence, TopicTag, validate_field_value
from .listing import Listing, ListingKind, ParsedListing, Researcher, StatedValue, Work, make_work_id
from .runs import ExportLine, Job, JobError, LLMCall
from .values import (
    APPLIED_STATUSES,
    PROTECTED_STATUSES,
    STATUSES,
    AuditEntry,
    DerivedFact,
    Evidence,
    FieldValue,
    Proposal,
    Status,
    WriteResult,
    utcnow,
    writer_kind,
)

EXPORTED_SCHEMAS: dict[str, type[BaseModel]] = {
    "Listing": Listing,
    "Work": Work,
    "Researcher": Researcher,
    "FieldValue": FieldValue,
    "Proposal": Proposal,
    "Job": Job,
    "LLMCall": LLMCall,
    "ExportLine": ExportLine,
}

__all__ = [
    "FIELDS",
    "Affiliation",
    "Summary",
    "SummarySentence",
    "TopicTag",
    "validate_field_value",
    "Listing",
    "ListingKind",
    "ParsedListing",
    "Researcher",
    "StatedValue",
    "Work",
    "make_work_id",
    "ExportLine",
    "Job",
    "JobError",
    "LLMCall",
    "APPLIED_STATUSES",
    "PROTECTED_STATUSES",
    "STATUSES",
    "AuditEntry",
    "DerivedFact",
    "Evidence",
    "FieldValue",
    "Proposal",
    "Status",
    "WriteResult",
    "utcnow",
    "writer_kind",
    "EXPORTED_SCHEMAS",
]
