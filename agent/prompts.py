"""Versioned prompt files, loaded by name.

A prompt lives in prompts/<name>.md (the `prompts` package, read through importlib.resources so it works installed
or editable):

    ---
    name: affiliation
    version: 1
    description: optional, free text
    ---
    ## system
    You extract ...
    ## user
    Listing:
    {text}

Sections are `## system`, `## user`, `## assistant` (repeatable, in order). `{placeholders}` are filled by
`Prompt.messages(**vars)` with str.format rules (write `{{` / `}}` for literal braces). Changing a prompt means
bumping its version, so the response cache and every derived value's provenance stay honest.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from enrich.agent.llm.base import PromptRef

PACKAGE = "enrich.prompts"
_SECTION = re.compile(r"^##[ \t]+(system|user|assistant)[ \t]*$", re.MULTILINE | re.IGNORECASE)


class PromptError(ValueError):
    """A prompt file is missing or malformed, or a placeholder has no value."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    sections: tuple[tuple[str, str], ...]  # (role, template)
    meta: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def prompt_ref(self) -> PromptRef:
        return PromptRef(self.name, self.version)

    @cached_property  # asked on every call (messages): the templates never change
    def placeholders(self) -> frozenset[str]:
        names = set()
        for _role, template in self.sections:
            names |= {f for _, f, _, _ in string.Formatter().parse(template) if f}
        return frozenset(n.split(".")[0].split("[")[0] for n in names)

    @cached_property  # a section without a replacement field reads the same on every call: rendered once
    def _fixed(self) -> tuple[str | None, ...]:
        return tuple(
            None
            if any(f is not None for _, f, _, _ in string.Formatter().parse(template))
            else template.format().strip()
            for _role, template in self.sections
        )

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        missing = self.placeholders - set(variables)
        if missing:
            raise PromptError(f"prompt {self.ref}: no value for {', '.join(sorted(missing))}")
        return [
            {"role": role, "content": template.format(**variables).strip() if fixed is None else fixed}
            for (role, template), fixed in zip(self.sections, self._fixed)
        ]


def parse_prompt(text: str, source: str = "<string>") -> Prompt:
    if not text.startswith("---"):
        raise PromptError(f"{source}: missing the '---' header with name and version")
    try:
        _, header, body = text.split("---", 2)
    except ValueError:
        raise PromptError(f"{source}: the '---' header is not closed") from None
    meta: dict[str, str] = {}
    for line in header.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition(":")
            if not sep:
                raise PromptError(f"{source}: header line {line!r} is not 'key: value'")
            meta[key.strip()] = value.strip().strip("'\"")
    for key in ("name", "version"):
        if not meta.get(key):
            raise PromptError(f"{source}: header needs '{key}:'")
    pieces = _SECTION.split(body)
    sections = tuple((pieces[i].lower(), pieces[i + 1].strip("\n")) for i in range(1, len(pieces) - 1, 2))
    if not sections:
        raise PromptError(f"{source}: no '## system' / '## user' sections")
    return Prompt(name=meta["name"], version=str(meta["version"]), sections=sections, meta=tuple(sorted(meta.items())))


@cache
def load_prompt(name: str) -> Prompt:
    """prompts/<name>.md; its header's name must match the file name."""
    resource = resources.files(PACKAGE) / f"{name}.md"
    if not resource.is_file():
        raise PromptError(f"no prompt named {name!r} (looked for {PACKAGE}/{name}.md)")
    prompt = parse_prompt(resource.read_text(encoding="utf-8"), source=f"{PACKAGE}/{name}.md")
    if prompt.name != name:
        raise PromptError(f"{PACKAGE}/{name}.md: header says name {prompt.name!r}")
    return prompt
