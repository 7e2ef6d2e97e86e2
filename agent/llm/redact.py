"""Remove secrets (API keys, bearer tokens) from anything we log or raise."""

from __future__ import annotations

import logging
import re
from typing import Any, overload

REDACTED = "[REDACTED]"
# One pass over the text (it is every prompt and answer of a job): an "sk-" key, or a bearer token / key=value
# whose prefix (group "keep") stays.
_PATTERN = re.compile(
    r"sk-[A-Za-z0-9_\-]{8,}"
    r"|(?i:(?P<keep>bearer\s+))[A-Za-z0-9_\-\.=:/+]{8,}"
    r"|(?i:(?P<keep2>(?:api[_-]?key|authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?))[^\s\"',}]{8,}"
)


def _replace(m: re.Match[str]) -> str:
    return (m.group("keep") or m.group("keep2") or "") + REDACTED


_extra_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Also redact this literal value (e.g. the configured key, whatever its shape)."""
    if secret and len(secret) >= 6:
        _extra_secrets.add(secret)


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    if not text:
        return text
    for secret in _extra_secrets:
        text = text.replace(secret, REDACTED)
    return _PATTERN.sub(_replace, text) if _may_match(text) else text


def _may_match(text: str) -> bool:
    """False when _PATTERN cannot match: no "sk-", and none of its words in the lower-cased text (a cheap test of
    every prompt and answer; the regular expression's scan is most of redact's time). Under (?i) only "i" has
    other letters that match it (dotless "ı", dotted "İ", which lower-cases to two characters): their text is
    scanned."""
    if "sk-" in text:
        return True
    low = text.lower()
    return "bearer" in low or "api" in low or "authorization" in low or "\u0131" in low or "\u0307" in low


def redact_obj(obj: Any) -> Any:
    """Redact every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, list):
        return [redact_obj(x) for x in obj]
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    return obj


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets removed (the openai SDK logs request bodies at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# Logger filters only see records logged on that exact logger, so name the ones that log requests.
LOGGERS = (
    "openai",
    "openai._base_client",
    "instructor",
    "httpx",
    "httpcore",
    "httpcore.http11",
    "httpcore.connection",
    "llama_cpp",
)
_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
