"""What a job does with an exception one researcher's step raised: decide whether it stops the job (it concerns
every researcher) or is that researcher's alone, and describe it for the job errors table."""

from __future__ import annotations

import traceback
from pathlib import Path

from enrich.schemas import JobError
from enrich.store.errors import DatabaseUnusable

from .llm.base import LLMError
from .llm.redact import redact

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout / site-packages folder holding agent/, store/


def is_fatal(exc: BaseException) -> bool:
    """Every other researcher would meet it too: no API key, server unreachable, model missing (LLMError.fatal),
    the database unusable (locked, disk full, read-only), memory exhausted. Anything else is one researcher's."""
    if isinstance(exc, LLMError):
        return exc.fatal
    return isinstance(exc, (DatabaseUnusable, MemoryError)) or not isinstance(exc, Exception)


def _where(tb: traceback.StackSummary) -> str | None:
    """The innermost frame in this project's code (the library frames below it are in the traceback)."""
    for frame in reversed(tb):
        path = Path(frame.filename)
        try:
            rel = path.resolve().relative_to(_PACKAGE_ROOT)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in ("agent", "store", "schemas", "enrich"):
            return f"{rel.as_posix()}:{frame.lineno} in {frame.name}"
    last = tb[-1] if tb else None
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}" if last else None


def describe(exc: BaseException, *, job_id: str, researcher_id: int | None, step: str | None) -> JobError:
    tb = traceback.extract_tb(exc.__traceback__)
    message = redact(str(exc).strip()) or "(no message)"
    return JobError(
        job_id=job_id,
        researcher_id=researcher_id,
        step=step,
        error_type=type(exc).__name__,
        message=message[:1000],
        location=_where(tb),
        traceback=redact("".join(traceback.format_exception(exc, limit=-25)))[-8000:],
    )
