"""The coding agents wikimem works with: one package each, found by name here (stdlib only).

Everything wikimem knows about one agent lives in its folder, wikimem/agents/<package>/:

    adapter.py     its hook payloads -> Event, and what to print at session start
    installer.py   INSTALLER: where its settings files are and what wikimem writes there
    importer.py    optional: the transcripts it keeps on disk -> Events (`wikimem import`)

agents/protocol.py writes down, as typing Protocols, what each of those provides. Adding an
agent means adding its folder and its line in AGENTS (and ALIASES); no other module names an
agent (tests/test_agent_packages.py checks it). The hook imports this module on every event,
so it stays small: `get(name)` loads that one agent's adapter and nothing else.

The other modules here are the machinery the agents share: common.py (adapters), installers.py
with install_commands.py, install_json.py, install_toml.py and install_files.py (settings
files), importers.py, hooklog.py and backfill.py (`wikimem import`).
"""

from __future__ import annotations

import sys

from wikimem.errors import WikimemError

# name -> its package under wikimem.agents; wikimem lists the agents in this order.
AGENTS = {
    "claude-code": "claude_code",
    "codex": "codex",
    "gemini": "gemini",
    "cursor": "cursor",
}
NAMES = tuple(AGENTS)

ALIASES = {
    "claude": "claude-code",
    "codex-cli": "codex",
    "gemini-cli": "gemini",
    "cursor-agent": "cursor",
}

# The hook schema the others follow (Codex's hooks copy it): a log of hook payloads that no
# agent's adapter recognises as its own is read with this agent's adapter.
DEFAULT = "claude-code"


def canonical(name: str) -> str:
    """The agent's name for one of its aliases (other names are returned as they are)."""
    return ALIASES.get(name, name)


def agent(name: str) -> _Agent:
    """The registered agent called `name` (or one of its aliases)."""
    key = canonical(name)
    if key not in AGENTS:
        raise WikimemError(
            f"Unknown agent {key!r}; wikimem knows: {', '.join(sorted(AGENTS))}."
        )
    return _Agent(key, AGENTS[key])


def get(name: str):
    """The adapter module for an agent name (what the hook uses)."""
    return agent(name).adapter


def _load(module: str):
    # (`__import__` rather than importlib: one import fewer on the hook path)
    __import__(module)
    return sys.modules[module]


class _Agent:
    """One registered agent (protocol.Agent): its parts are imported when first asked for."""

    __slots__ = ("name", "package")

    def __init__(self, name: str, package: str):
        self.name = name
        self.package = f"{__name__}.{package}"

    @property
    def adapter(self):
        """Its adapter module (protocol.Adapter)."""
        return _load(f"{self.package}.adapter")

    @property
    def installer(self):
        """Its installer description (an installers.Installer)."""
        return _load(f"{self.package}.installer").INSTALLER

    @property
    def importer(self):
        """Its transcript importer module (protocol.Importer), or None if it has none."""
        module = f"{self.package}.importer"
        try:
            return _load(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None

    @property
    def has_importer(self) -> bool:
        """Whether it has a transcript importer (without importing it)."""
        from importlib.util import find_spec

        return find_spec(f"{self.package}.importer") is not None

    def __repr__(self) -> str:
        return f"<agent {self.name} ({self.package})>"
