"""The Batch API through the `openai` client: upload a request file (purpose "batch"), create the batch, read its
status, download its output and error files. Works with OpenAI and with any base URL serving /v1/files and
/v1/batches (LiteLLM's proxy in front of vLLM, this project's bench/fake_openai_server.py). Uses the online
client's own connection (base URL, key), with the SDK's retries for these few management calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai

from enrich.agent.llm import check_real_calls_allowed
from enrich.agent.llm.base import LLMError

from .lines import ENDPOINT


class Remote:
    def __init__(self, online: Any) -> None:
        check_real_calls_allowed(online.backend)
        self.where = online.base_url or "the OpenAI API"
        self.client = online.sdk_client().with_options(max_retries=3)

    def submit(self, path: Path, job_id: str) -> tuple[str, str, str]:
        """Upload and create; returns (input file id, batch id, status)."""
        try:
            with path.open("rb") as fh:
                f = self.client.files.create(file=fh, purpose="batch")
            b = self.client.batches.create(
                input_file_id=f.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"enrich_job": job_id, "file": path.name},
            )
        except openai.APIError as exc:
            raise self._error("submitting " + path.name, exc) from None
        return f.id, b.id, b.status

    def status(self, batch_id: str) -> Any:
        try:
            return self.client.batches.retrieve(batch_id)
        except openai.APIError as exc:
            raise self._error(f"reading batch {batch_id}", exc) from None

    def cancel(self, batch_id: str) -> Any:
        try:
            return self.client.batches.cancel(batch_id)
        except openai.APIError as exc:
            raise self._error(f"cancelling batch {batch_id}", exc) from None

    def download(self, file_id: str, dest: Path) -> Path:
        """Stream a file's content to `dest` (written under a temporary name, then renamed)."""
        part = dest.with_suffix(dest.suffix + ".part")
        try:
            with self.client.files.with_streaming_response.content(file_id) as resp:
                resp.stream_to_file(part)
        except openai.APIError as exc:
            raise self._error(f"downloading file {file_id}", exc) from None
        part.replace(dest)
        return dest

    def _error(self, what: str, exc: openai.APIError) -> LLMError:
        if isinstance(exc, openai.NotFoundError):
            return LLMError(
                f"{self.where} has no batch endpoints or no such object while {what} (HTTP 404)",
                hint="bulk mode needs a server with /v1/files and /v1/batches (OpenAI, LiteLLM's proxy), "
                "or write the files with --batch-files DIR and run them with `vllm run-batch`",
            )
        if isinstance(exc, openai.AuthenticationError):
            return LLMError(f"{self.where} rejected the API key (HTTP 401) while {what}", hint="set OPENAI_API_KEY")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"cannot reach {self.where} while {what}", hint="check ENRICH_BASE_URL / the network")
        return LLMError(f"{self.where} failed while {what}: {exc}"[:300])
