"""Put wikimem's hooks and MCP server into coding agents' settings files (stdlib only).

`plan()` reads one settings file and computes the text it would have with wikimem's entries
added (or removed); `apply()` writes that text, after a timestamped backup, by atomic
replace; `status()` says what is installed. Every other setting, and every other tool's
hooks, stay as they are (install_json.py, install_toml.py), and an uninstall gives back the
original bytes when nothing else changed the file since (install_files.py).

This module knows no agent: each agent's installer.py describes itself in an Installer
(INSTALLER) - where its settings files are, how they list hooks and MCP servers, what else
it can install, and what the user must do next - with the sources for each. wikimem's
entries are recognized by their command (`... wikimem hook <agent>`) or, for MCP, by the
server name `wikimem`; nothing else is ever touched.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wikimem import agents
from wikimem.agents import install_block, install_files, install_json
from wikimem.agents.install_commands import MCP_NAME, hook_command, runs_this_wikimem
from wikimem.agents.install_json import HookFormat
from wikimem.errors import WikimemError

AGENTS = agents.NAMES
SCOPES = ("user", "project")

# What installing one kind of entry does to a settings file: (path, its text or None when it
# does not exist, uninstall, notes to add to) -> its text after (None: no file).
Planner = Callable[[Path, str | None, bool, list[str]], str | None]


@dataclass(frozen=True)
class McpFormat:
    """How one agent's settings list MCP servers."""

    plan: Planner  # adds (or removes) wikimem's server
    servers: Callable[[Path, str | None], object]  # (path, text) -> the servers table, if any


JSON_MCP = McpFormat(install_json.plan_mcp, install_json.mcp_servers)  # `mcpServers` in JSON


@dataclass(frozen=True)
class Installer:
    """What wikimem installs into one agent's settings, and where: each agent's installer.py
    defines one, INSTALLER. `root` is the project's folder in the project scope, None in the
    user scope."""

    label: str  # the agent's name in messages: "Claude Code"
    hooks: HookFormat  # how its JSON hook settings list hooks
    mcp: McpFormat  # how its settings list MCP servers
    paths: Callable[[str, Path | None], Path]  # (kind, root) -> the file that holds that kind
    # (kind, project scope?, path, cwd) -> what the user must do next, after the shared notes
    notes: Callable[[str, bool, Path, str | os.PathLike | None], list[str]]
    more_kinds: dict[str, Planner] = field(default_factory=dict)  # e.g. Codex's "notify"
    # (root, wikimem hook commands found by event, to add to) -> more keys for status()
    more_status: Callable[[Path | None, dict[str, list[str]]], dict] | None = None
    # install-instructions: the scopes that have a rules file (paths("instructions", root)),
    # and what a rules file wikimem creates starts with (a Cursor rule's frontmatter)
    rules_scopes: tuple[str, ...] = ("user", "project")
    rules_new: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        """What it can install: "hooks", "mcp", "instructions", and its more_kinds."""
        return ("hooks", "mcp", "instructions", *self.more_kinds)


def installer(agent: str) -> Installer:
    """The Installer of a registered agent."""
    return agents.agent(agent).installer


def label(agent: str) -> str:
    """The agent's name in messages ("Claude Code")."""
    return installer(agent).label


def agents_with(kind: str) -> list[str]:
    """The agents that can install `kind` (e.g. "notify")."""
    return [name for name in AGENTS if kind in installer(name).kinds]


def _check(agent: str, scope: str) -> None:
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; expected one of {', '.join(AGENTS)}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")


def home() -> Path:
    """The user's home folder (where the user scope's settings are)."""
    return Path(os.path.expanduser("~"))


def project_root(cwd: str | os.PathLike | None = None) -> Path:
    """The project scope's folder: the git repository root of `cwd`."""
    from wikimem.project import locate

    return locate(cwd or os.getcwd()).root


def _root(scope: str, cwd) -> Path | None:
    return None if scope == "user" else project_root(cwd)


def _kind(mcp: bool, notify: bool, instructions: bool = False) -> str:
    return "mcp" if mcp else "notify" if notify else "instructions" if instructions else "hooks"


def settings_path(agent: str, scope: str, *, mcp: bool = False, notify: bool = False,
                  instructions: bool = False, cwd: str | os.PathLike | None = None) -> Path:
    """The file that holds `agent`'s hooks (or MCP servers, Codex's notify, or with
    `instructions` its rules file) in `scope`."""
    _check(agent, scope)
    if instructions and scope not in installer(agent).rules_scopes:
        raise ValueError(f"{label(agent)} has no rules file in the {scope} scope")
    return installer(agent).paths(_kind(mcp, notify, instructions), _root(scope, cwd))


# --- plans ---------------------------------------------------------------------------------

@dataclass
class Plan:
    """One settings file before and after a change (`changed` False: nothing to do)."""

    agent: str
    scope: str
    kind: str  # "hooks", "mcp", "instructions" or "notify"
    action: str  # "install" or "uninstall"
    path: Path
    before: str | None  # None: the file does not exist
    after: str | None  # None: the file does not exist and will not be created
    changed: bool
    notes: list[str] = field(default_factory=list)
    # uninstall only: "restore" (after is the file as it was before wikimem's install),
    # "delete" (wikimem created the file: it goes), or "" (only wikimem's entries go)
    undo: str = ""

    @property
    def creates(self) -> bool:
        return self.changed and self.before is None

    @property
    def deletes(self) -> bool:
        return self.changed and self.undo == "delete"

    def diff(self) -> str:
        """A unified diff of the settings file, before and after."""
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            fromfile=str(self.path) if self.before is not None else "/dev/null",
            tofile=str(self.path) if self.after is not None else "/dev/null",
        )
        out = []
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def to_dict(self) -> dict:
        return {"agent": self.agent, "scope": self.scope, "kind": self.kind,
                "action": self.action, "path": str(self.path), "changed": self.changed,
                "creates": self.creates, "deletes": self.deletes,
                "restores": self.changed and self.undo == "restore", "diff": self.diff(),
                "notes": list(self.notes)}


def plan(agent: str, scope: str, *, mcp: bool = False, uninstall: bool = False,
         notify: bool = False, instructions: bool = False,
         cwd: str | os.PathLike | None = None) -> Plan:
    """What installing (or uninstalling) wikimem's hooks - or its MCP server with `mcp`,
    Codex's legacy `notify` with `notify`, or its instructions block in the agent's rules
    file with `instructions` - would do to `agent`'s settings in `scope`.

    Raises WikimemError if the settings file cannot be read or is not valid JSON/TOML of the
    expected shape; nothing is written either way.
    """
    _check(agent, scope)
    inst = installer(agent)
    if notify and "notify" not in inst.kinds:
        raise ValueError(f"{inst.label} has no legacy notify")
    if sum((mcp, notify, instructions)) > 1:
        raise ValueError("choose one of mcp, notify and instructions")
    kind = _kind(mcp, notify, instructions)
    path = settings_path(agent, scope, mcp=mcp, notify=notify, instructions=instructions,
                         cwd=cwd)
    before = install_files.read(path)
    notes: list[str] = []
    if kind == "hooks":
        after = install_json.plan_hooks(agent, inst.hooks, path, before, uninstall, notes)
    elif kind == "instructions":
        after = install_block.plan(path, before, uninstall, notes, agent=agent,
                                   new_file=inst.rules_new)
    elif kind == "mcp":
        after = inst.mcp.plan(path, before, uninstall, notes)
    else:
        after = inst.more_kinds[kind](path, before, uninstall, notes)
    changed = after is not None and after != before
    if not changed:
        after = before
    undo = ""
    if uninstall and changed:
        after, undo = install_files.undo_install(path, kind, before, after, notes)
    if not uninstall:
        notes.extend(_notes(agent, inst, scope, kind, path, cwd))
    return Plan(agent, scope, kind, "uninstall" if uninstall else "install", path, before,
                after, changed, notes, undo)


def apply(plan: Plan) -> Path | None:
    """Write a plan: back the file up, then replace it atomically (or, for a file wikimem
    created, delete it). Returns the backup path (None when nothing was backed up)."""
    if not plan.changed:
        return None
    current = install_files.read(plan.path)
    if current != plan.before:
        raise WikimemError(
            f"{plan.path} changed since wikimem read it; nothing was changed. "
            "Run the command again.")
    # Why: a settings file is often a symlink into a dotfiles repository; replacing the
    # link would silently cut it off, so write through it to the file it points to.
    target = Path(os.path.realpath(plan.path))
    if plan.deletes:
        # (No backup: the file holds only what wikimem wrote; installing again remakes it.)
        record = install_files.load_record(target) or {}
        target.unlink()
        for folder in record.get("created_dirs", []):  # deepest first
            try:
                os.rmdir(folder)
            except OSError:
                break  # not empty (or gone): it is someone else's now
        install_files.drop_record(target)
        return None
    if plan.after is None:
        return None
    backup = install_files.backup(target) if plan.before is not None else None
    if plan.action == "install":
        # The record first: if it cannot be written, nothing else is changed either.
        try:
            install_files.save_record(target,
                                      install_files.installed_record(target, plan, backup))
        except OSError:
            if backup is not None:
                backup.unlink(missing_ok=True)
            raise
        install_files.atomic_write(target, plan.after)
    else:
        install_files.atomic_write(target, plan.after)
        install_files.carry_record(target, plan)
    return backup




# --- what the user must do -----------------------------------------------------------------

def _notes(agent: str, inst: Installer, scope: str, kind: str, path: Path,
           cwd: str | os.PathLike | None) -> list[str]:
    """The notes every agent's install gets, then the agent's own."""
    project = scope == "project"
    notes = []
    if project:
        from wikimem.project import locate

        loc = locate(cwd or os.getcwd())
        if not loc.key.startswith("git:"):
            notes.append(f"{loc.root} is not inside a git repository; it is used as the "
                         "project folder.")
    if kind == "mcp":
        import importlib.util

        if importlib.util.find_spec("mcp") is None:
            notes.append("The MCP server needs the `mcp` extra: python -m pip install "
                         "'wikimem[mcp]'.")
    elif kind == "instructions":
        import shutil

        if shutil.which("wikimem") is None:
            notes.append("`wikimem` is not on PATH: the agent runs the commands these "
                         "instructions name from its shell, so put wikimem on PATH (for "
                         "example with pipx).")
    elif kind == "hooks":
        other = has_hooks(agent, "user" if project else "project", cwd)
        if other is not None and other != path:
            notes.append(f"wikimem hooks are also installed in {other}; {inst.label} runs "
                         "both, so remove one of them (wikimem uninstall --scope ...).")
    notes.extend(inst.notes(kind, project, path, cwd))
    return notes


def has_hooks(agent: str, scope: str, cwd) -> Path | None:
    """The settings file of `agent` in `scope` if it lists wikimem hooks (errors: None)."""
    try:
        path = settings_path(agent, scope, cwd=cwd)
        hooks = install_json.JsonDoc(path, install_files.read(path)).data.get("hooks")
    except (WikimemError, OSError):
        return None
    if isinstance(hooks, dict) and install_json.hook_commands(hooks, installer(agent).hooks.flat):
        return path
    return None


# --- status --------------------------------------------------------------------------------

def status(agent: str, scope: str, cwd: str | os.PathLike | None = None) -> dict:
    """What of wikimem is installed for `agent` in `scope`.

    Keys: agent, scope, path, exists, installed (some wikimem hook is there), complete
    (every event is covered), command (the first wikimem hook command found), commands,
    expected_command, points_at_this_wikimem, covered_events, missing_events, extra_events,
    mcp ({path, installed, command, args, points_at_this_wikimem}), instructions ({path,
    installed}, None when the agent has no rules file in `scope`) and what the agent's
    Installer.more_status adds (Codex: legacy_notify). Raises WikimemError if a settings
    file is malformed.
    """
    _check(agent, scope)
    inst = installer(agent)
    fmt = inst.hooks
    path = settings_path(agent, scope, cwd=cwd)
    text = install_files.read(path)
    hooks = install_json.hooks_table(install_json.JsonDoc(path, text), create=False) or {}
    found = install_json.hook_commands(hooks, fmt.flat)
    result: dict = {"agent": agent, "scope": scope, "path": str(path),
                    "exists": text is not None}
    if inst.more_status is not None:
        result.update(inst.more_status(_root(scope, cwd), found))
    commands = list(dict.fromkeys(c for cs in found.values() for c in cs))
    result.update(
        installed=bool(commands),
        complete=all(e in found for e in fmt.events),
        command=commands[0] if commands else None,
        commands=commands,
        expected_command=hook_command(agent),
        points_at_this_wikimem=bool(commands) and all(runs_this_wikimem(c) for c in commands),
        covered_events=[e for e in fmt.events if e in found],
        missing_events=[e for e in fmt.events if e not in found],
        extra_events=[e for e in found if e not in fmt.events],
    )
    result["mcp"] = _mcp_status(agent, inst, scope, cwd)
    result["instructions"] = _instructions_status(agent, inst, scope, cwd)
    return result


def _instructions_status(agent: str, inst: Installer, scope: str, cwd) -> dict | None:
    """{path, installed} of the instructions block in the rules file (None: no such file in
    this scope)."""
    if scope not in inst.rules_scopes:
        return None
    path = settings_path(agent, scope, instructions=True, cwd=cwd)
    text = install_files.read(path)
    return {"path": str(path),
            "installed": text is not None and bool(install_block.installed(path, text))}


def _mcp_status(agent: str, inst: Installer, scope: str, cwd) -> dict:
    path = settings_path(agent, scope, mcp=True, cwd=cwd)
    servers = inst.mcp.servers(path, install_files.read(path))
    entry = servers.get(MCP_NAME) if isinstance(servers, dict) else None
    if not isinstance(entry, dict):
        return {"path": str(path), "installed": False, "command": None, "args": None,
                "points_at_this_wikimem": False}
    command, args = entry.get("command"), entry.get("args") or []
    argv = [command, *args] if isinstance(command, str) and isinstance(args, list) else []
    return {"path": str(path), "installed": True, "command": command, "args": args,
            "points_at_this_wikimem": bool(argv) and runs_this_wikimem([str(a) for a in argv])}
