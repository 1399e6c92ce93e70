"""What an agent's package provides, written down as typing Protocols.

An agent is one package, wikimem/agents/<package>/, registered by name in
wikimem/agents/__init__.py; `agents.agent(name)` gives an `Agent`. Its three parts:

* adapter.py - an `Adapter` (module). The hook imports it on every event, so it imports only
  the standard library, wikimem.capture.event and wikimem.agents.common.
* installer.py - defines INSTALLER, an installers.Installer: where the agent's settings
  files are (per kind and scope), how they list hooks (an install_json.HookFormat: events,
  matchers, the handler entry) and MCP servers (an installers.McpFormat), anything else it
  can install (Codex's legacy notify), and the notes shown to the user after a plan.
* importer.py - optional: an `Importer` (module) for the transcripts the agent keeps on disk.

Nothing at run time imports this module (it would load `typing` on the hook's path); tests
check each registered agent against it (tests/test_agent_packages.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from wikimem.agents.importers import Imported
    from wikimem.agents.installers import Installer
    from wikimem.capture.event import Event


@runtime_checkable
class Adapter(Protocol):
    """agents/<agent>/adapter.py: the agent's hook payloads -> Event (stdlib only)."""

    AGENT: str  # the registered name, recorded as each observation's agent

    def normalize(self, payload: dict) -> Event:
        """One hook payload (the JSON object on the hook's stdin) as an Event; an event the
        adapter does not know becomes kind `other`, and unknown keys are kept in
        `data["extra"]`. Never raises on an odd but well-formed payload."""
        ...

    def session_start_output(self, context: str) -> str:
        """What to print on stdout at session start so the agent reads `context`."""
        ...

    def recognizes(self, payload: dict) -> bool:
        """Whether a logged hook payload is recognisably this agent's (`wikimem import` of a
        hook log that names no agent reads it as the agent that recognises most of it)."""
        ...


@runtime_checkable
class Importer(Protocol):
    """agents/<agent>/importer.py: the transcripts the agent keeps on disk -> Events."""

    AGENT: str  # the registered name its observations get
    LOCATION: str  # where default_paths() looks, as shown to the user: "~/.codex/sessions"

    def default_paths(self) -> list[Path]:
        """The transcripts in the agent's default folder (honours $HOME)."""
        ...

    def sniff(self, path: Path) -> bool:
        """Whether a file is in this format, from its first records; never raises."""
        ...

    def read(self, path: Path, stats: Counter | None = None) -> Iterator[Imported]:
        """The file's events in order, each with its own timestamp and a uid from the record's
        own id; records skipped are counted in `stats` by type, never raised."""
        ...


@runtime_checkable
class Agent(Protocol):
    """One registered agent: its name and its parts, each imported when first asked for."""

    name: str  # "claude-code"
    package: str  # "wikimem.agents.claude_code"

    @property
    def adapter(self) -> Adapter: ...

    @property
    def installer(self) -> Installer: ...

    @property
    def importer(self) -> Importer | None: ...

    @property
    def has_importer(self) -> bool: ...
