"""Which instructor mode each backend speaks, in one place.

- openai: TOOLS -- a named tool_choice; OpenAI constrains the arguments to the function schema.
- openai-compatible: JSON -- `response_format: json_object` + the schema in the system prompt; the widest support
  (Ollama, vLLM, LM Studio, llama.cpp). Override with ENRICH_MODE / settings.mode when a server does tools well.
- embedded (llama_cpp.server 0.3.36): TOOLS -- with a named tool_choice llama-cpp-python builds a GBNF grammar from
  the tool's JSON schema (llama_chat_format.chat_formatter_to_chat_completion_handler: LlamaGrammar.from_json_schema),
  i.e. constrained decoding. JSON works too (generic JSON grammar only); JSON_SCHEMA returned HTTP 500 there.
"""

from __future__ import annotations

from enrich.agent.llm.instructor_api import Mode

MODES: dict[str, Mode] = {
    "openai": Mode.TOOLS,
    "openai-compatible": Mode.JSON,
    "embedded": Mode.TOOLS,
}

BY_NAME: dict[str, Mode] = {
    "tools": Mode.TOOLS,
    "json": Mode.JSON,
    "json_schema": Mode.JSON_SCHEMA,
    "md_json": Mode.MD_JSON,
}


def mode_for(backend: str, override: str | None = None) -> Mode:
    """The mode for a backend; `override` is a name from BY_NAME (e.g. settings.mode)."""
    if override:
        try:
            return BY_NAME[override.lower()]
        except KeyError:
            raise ValueError(f"unknown instructor mode {override!r}; one of {', '.join(BY_NAME)}") from None
    return MODES.get(backend, Mode.JSON)
