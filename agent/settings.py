"""Effective settings: command-line flag, then environment variable, then config file, then default.

Every setting remembers where its value came from, so `enrich config` can say it.

Why not pydantic-settings: it gives this precedence (init kwargs, env, a custom TOML source), but not which source
each value came from (an open feature request, pydantic/pydantic-settings#756; 2.16 only logs it under
PYDANTIC_SETTINGS_DEBUG). Getting it means a last custom source that reads `settings_sources_data` and smuggles the
result out of the model's constructor, or building its sources outside the model with constructor arguments that
change between releases. The resolution below is a dozen lines and records the source as it resolves.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# name -> (environment variable, default, type, help)
SPEC: dict[str, tuple[str, Any, type, str]] = {
    "db": ("ENRICH_DB", "enrich.db", str, "SQLite database file"),
    "backend": ("ENRICH_BACKEND", "auto", str, "auto | embedded | openai | openai-compatible | fake"),
    "model": ("ENRICH_MODEL", None, str, "model name (default per backend)"),
    "base_url": ("ENRICH_BASE_URL", None, str, "OpenAI-compatible server URL, e.g. http://127.0.0.1:11434/v1"),
    "api_key": ("OPENAI_API_KEY", None, str, "API key for OpenAI or a server that needs one"),
    "mode": ("ENRICH_MODE", None, str, "instructor mode override: tools | json | json_schema | md_json"),
    "embedded_model": ("ENRICH_EMBEDDED_MODEL", "qwen2.5-coder-1.5b", str, "qwen2.5-coder-1.5b | qwen2.5-0.5b"),
    "model_cache": (
        "ENRICH_MODEL_CACHE",
        str(Path.home() / ".cache" / "enrich" / "models"),
        str,
        "where the embedded GGUF file is assembled",
    ),
    "max_retries": ("ENRICH_MAX_RETRIES", 3, int, "transport retries (429, 5xx, timeouts) per call"),
    "max_reasks": ("ENRICH_MAX_REASKS", 2, int, "re-asks with the validation error per call"),
    "timeout": ("ENRICH_TIMEOUT", 120.0, float, "seconds per HTTP request to a model"),
    "step_budget": (
        "ENRICH_STEP_BUDGET",
        300.0,
        float,
        "seconds one agent step may spend on model calls, re-asks included (0 = no limit)",
    ),
    "concurrency": ("ENRICH_CONCURRENCY", 4, int, "parallel researchers (the embedded model always uses 1)"),
    "processes": (
        "ENRICH_PROCESSES",
        1,
        int,
        "worker processes of a job: more cores for CPU-bound jobs (fake model, cached answers); not the embedded model",
    ),
    "auto_apply_affiliation": (
        "ENRICH_AUTO_APPLY_AFFILIATION",
        0.8,
        float,
        "min confidence to auto-apply a grounded affiliation to an empty field",
    ),
    "auto_apply_topics": ("ENRICH_AUTO_APPLY_TOPICS", 0.5, float, "min confidence to auto-apply topic tags"),
    "auto_apply_summary": ("ENRICH_AUTO_APPLY_SUMMARY", 0.6, float, "min confidence to auto-apply a summary"),
    "taxonomy": (
        "ENRICH_TAXONOMY",
        "arxiv",
        str,
        "topic taxonomy: arxiv, a name imported with `enrich taxonomy import`, or a .json file",
    ),
    "taxonomy_dir": (
        "ENRICH_TAXONOMY_DIR",
        str(Path.home() / ".local" / "share" / "enrich" / "taxonomies"),
        str,
        "where `enrich taxonomy import` writes taxonomies (found there by name)",
    ),
    "venues": (
        "ENRICH_VENUES",
        None,
        str,
        "your venue -> field map (JSON, same shape as agent/data/venues.json; read first)",
    ),
    "max_file_mb": ("ENRICH_MAX_FILE_MB", 20.0, float, "refuse listing files larger than this"),
    "ror_match_threshold": (
        "ENRICH_ROR_THRESHOLD",
        0.85,
        float,
        "min ROR match score, 0-1 (the unit of the scores `enrich ror match` prints)",
    ),
}

CONFIG_ENV = "ENRICH_CONFIG"
DEFAULT_CONFIG = Path("enrich.toml")


@dataclass
class Settings:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def with_overrides(self, **flags: Any) -> Settings:
        values, sources = dict(self.values), dict(self.sources)
        for k, v in flags.items():
            if v is not None:
                values[k], sources[k] = v, "flag"
        return Settings(values, sources)


def _config_file() -> tuple[Path | None, dict[str, Any]]:
    path = Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else DEFAULT_CONFIG
    if not path.is_file():
        return None, {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return path, data.get("enrich", data)


def load(**flags: Any) -> Settings:
    """Resolve every setting. `flags` are command-line values (None = not given)."""
    cfg_path, cfg = _config_file()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (env, default, typ, _help) in SPEC.items():
        if flags.get(name) is not None:
            raw, sources[name] = flags[name], "flag"
        elif os.environ.get(env) not in (None, ""):
            raw, sources[name] = os.environ[env], f"env:{env}"
        elif name in cfg:
            raw, sources[name] = cfg[name], f"config:{cfg_path}"
        else:
            values[name], sources[name] = default, "default"
            continue
        try:
            values[name] = typ(raw)
        except (TypeError, ValueError):
            kind = {int: "a whole number", float: "a number"}.get(typ, typ.__name__)
            raise ValueError(f"{name} ({sources[name]}) must be {kind}, got {raw!r}") from None
    return Settings(values, sources)
