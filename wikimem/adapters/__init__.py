"""Per-agent adapters: each turns one hook payload into an Event (stdlib only).

Adding an agent means adding one small module here, registering it in ADAPTERS, and adding
its recorded payloads to the conformance tests; nothing else changes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from wikimem.errors import WikimemError

ADAPTERS = {
    "claude-code": "wikimem.adapters.claude_code",
    "codex": "wikimem.adapters.codex",
    "gemini": "wikimem.adapters.gemini",
    "cursor": "wikimem.adapters.cursor",
}

ALIASES = {
    "claude": "claude-code",
    "codex-cli": "codex",
    "gemini-cli": "gemini",
    "cursor-agent": "cursor",
}


@dataclass
class Event:
    """What an adapter extracts from one payload, before redaction and capping."""

    session: str
    kind: str
    cwd: str
    data: dict = field(default_factory=dict)
    uid: str | None = None  # an id the agent gave this event, for the idempotency key


def get(name: str) -> ModuleType:
    """The adapter module for an agent name."""
    name = ALIASES.get(name, name)
    if name not in ADAPTERS:
        raise WikimemError(
            f"Unknown agent {name!r}; wikimem knows: {', '.join(sorted(ADAPTERS))}."
        )
    return importlib.import_module(ADAPTERS[name])
