"""Bulk mode: the OpenAI Batch API file format (OpenAI, or `vllm run-batch`). See README "Bulk mode"."""
