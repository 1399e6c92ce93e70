"""Where Codex keeps its settings, and what wikimem writes there (installers.Installer).

Hooks: `hooks.json` next to each config layer, ~/.codex/hooks.json (user; the folder
is $CODEX_HOME) and <repo>/.codex/hooks.json (project), or inline `[hooks]` tables in the
same layers' config.toml (Codex warns when one layer has both, so wikimem uses hooks.json
only); the JSON has Claude Code's shape, `timeout` in seconds, no matcher = every tool
(developers.openai.com/codex/hooks, "Where Codex looks for hooks"; openai/codex
codex-rs/hooks/src/engine/discovery.rs; event names from codex-rs/config/src/hook_config.rs
`HookEventsToml`, which ignores names a version does not know). "Non-managed command hooks
must be reviewed and trusted before they run" (same page): Codex records trust per hook as
`[hooks.state."<key>"] trusted_hash` in config.toml (hook_config.rs `HookStateToml`), asks
at startup ("Hooks need review" -> "Trust all and continue", openai/codex pull request
#21755) or in /hooks, and skips untrusted hooks silently; `--dangerously-bypass-hook-trust`
skips the review for one invocation (pull request #21768). Project hooks load only when
the project's .codex layer is trusted. SessionEnd hooks are capped at 3 s (flieks/
masterwork release v0.3.1). MCP: `[mcp_servers.<name>]` with `command` and `args` in
config.toml; the legacy `notify = [argv...]` is a top-level config.toml key run after each
turn with the event as the last argument (openai/codex docs/config.md,
developers.openai.com/codex/config-reference, codex-rs/hooks/src/legacy_notify.rs).
Instructions: AGENTS.md in $CODEX_HOME (every project) and at the repository root, read when
a session starts (developers.openai.com/codex/guides/agents-md, "How Codex discovers
guidance").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wikimem.agents import install_files
from wikimem.agents import install_toml as toml
from wikimem.agents.install_commands import HOOK_RE, MCP_NAME, hook_argv, mcp_argv, path_note
from wikimem.agents.install_json import HookFormat, hook_commands, shape_error
from wikimem.agents.installers import Installer, McpFormat, home
from wikimem.errors import WikimemError

AGENT = "codex"

HOOKS = HookFormat(
    events=("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
            "PermissionRequest", "PreCompact", "PostCompact", "Stop", "SubagentStart",
            "SubagentStop", "SessionEnd"),
    flat=False,
    matchers={},
    handler=lambda command, event: {"type": "command", "command": command,
                                    "timeout": 3 if event == "SessionEnd" else 30},
)

# config.toml is edited as text, one marked block per entry (install_toml.py).
MCP_BLOCK = ("# >>> wikimem: mcp server (wikimem install-mcp) >>>",
             "# <<< wikimem: mcp server <<<")
NOTIFY_BLOCK = ("# >>> wikimem: legacy notify (wikimem install-hooks --legacy-notify) >>>",
                "# <<< wikimem: legacy notify <<<")


def codex_home() -> Path:
    """Codex's user folder: $CODEX_HOME, else ~/.codex."""
    env = os.environ.get("CODEX_HOME")
    return Path(env).expanduser() if env else home() / ".codex"


def paths(kind: str, root: Path | None) -> Path:
    """hooks.json for the hooks; config.toml for the MCP server and the legacy notify."""
    if kind == "instructions":
        return (codex_home() if root is None else root) / "AGENTS.md"
    folder = codex_home() if root is None else root / ".codex"
    return folder / ("hooks.json" if kind == "hooks" else "config.toml")


# --- config.toml: the MCP server and the legacy notify ---------------------------------------

def _plan_mcp(path: Path, before: str | None, uninstall: bool, notes: list[str]) -> str | None:
    """config.toml with wikimem's `[mcp_servers.wikimem]` block (or without it)."""
    data = toml.load(path, before)
    text = before or ""
    lines = text.splitlines(keepends=True)
    nl = toml.newline(text)
    span = toml.find_block(lines, MCP_BLOCK, path)
    servers = data.get("mcp_servers", {})
    if not isinstance(servers, dict):
        raise shape_error(path, "mcp_servers", "a table", servers)
    if uninstall:
        if span is not None:
            out = toml.remove_block(lines, span)
        elif MCP_NAME in servers:
            out = toml.remove_table(lines, f"mcp_servers.{MCP_NAME}")
            if out is None:
                notes.append(f"{path} defines the {MCP_NAME!r} MCP server in a form wikimem "
                             "does not edit; remove it by hand.")
                return before
        else:
            return before
        after = "".join(out)
        toml.check(path, data, after, lambda old: toml.without(old, "mcp_servers", MCP_NAME),
                   f"remove the [mcp_servers.{MCP_NAME}] table from {path}")
        return after
    argv = mcp_argv()
    body = (f"[mcp_servers.{MCP_NAME}]\ncommand = {toml.toml_str(argv[0])}\n"
            f"args = [{', '.join(toml.toml_str(a) for a in argv[1:])}]\n")
    block = toml.block(MCP_BLOCK, body, nl)
    if span is not None:
        if lines[span[0]:span[1] + 1] == block:
            return before
        out = lines[:span[0]] + block + lines[span[1] + 1:]
    elif MCP_NAME in servers:
        entry = servers[MCP_NAME]
        if not (isinstance(entry, dict) and entry.get("command") == argv[0]
                and entry.get("args") == argv[1:]):
            notes.append(f"{path} already defines [mcp_servers.{MCP_NAME}] (not written by "
                         "wikimem), running something else; it was left as it is. Remove it "
                         "(wikimem uninstall --agent codex --mcp) and install again to "
                         "replace it.")
        return before
    else:
        out = toml.append(lines, block, nl)
    after = "".join(out)
    expected = {"command": argv[0], "args": argv[1:]}
    toml.check(path, data, after,
               lambda old: toml.with_value(old, expected, "mcp_servers", MCP_NAME), body)
    notes.extend(path_note(argv, "the MCP server"))
    return after


def _notify_ours(value) -> bool:
    """Whether a `notify` value runs wikimem's hook."""
    return (isinstance(value, list) and all(isinstance(v, str) for v in value)
            and HOOK_RE.search(" ".join(value)) is not None)


def _plan_notify(path: Path, before: str | None, uninstall: bool,
                 notes: list[str]) -> str | None:
    """config.toml with `notify` set to wikimem's hook, in its block (or without it)."""
    data = toml.load(path, before)
    text = before or ""
    lines = text.splitlines(keepends=True)
    nl = toml.newline(text)
    span = toml.find_block(lines, NOTIFY_BLOCK, path)
    current = data.get("notify")
    if uninstall:
        if span is not None:
            out = toml.remove_block(lines, span)
        elif _notify_ours(current):
            line = next((i for i, ln in enumerate(lines)
                         if re.match(r"\s*notify\s*=", ln) and "wikimem" in ln), None)
            if line is None:
                notes.append(f"{path} sets notify to wikimem over several lines; remove it by "
                             "hand.")
                return before
            out = lines[:line] + lines[line + 1:]
        else:
            return before
        after = "".join(out)
        toml.check(path, data, after, lambda old: toml.without(old, "notify"),
                   f"remove the notify line from {path}")
        return after
    argv = hook_argv(AGENT)
    body = f"notify = [{', '.join(toml.toml_str(a) for a in argv)}]\n"
    block = toml.block(NOTIFY_BLOCK, body, nl)
    if span is not None:
        if lines[span[0]:span[1] + 1] == block:
            return before
        out = lines[:span[0]] + block + lines[span[1] + 1:]
    elif current is not None:
        if _notify_ours(current):
            return before
        raise WikimemError(
            f"{path} already sets notify = {current!r} for another program, and Codex runs "
            "only one notify program; nothing was changed. Use Codex's hooks instead: "
            "wikimem install-hooks --agent codex")
    else:
        # A top-level key must come before the first [table]: put the block above it (and
        # above the comment lines that introduce it), or at the end if there is no table.
        first = next((i for i, line in enumerate(lines) if toml.HEADER_RE.match(line)), None)
        if first is None:
            out = toml.append(lines, block, nl)
        else:
            while first > 0 and lines[first - 1].lstrip().startswith("#"):
                first -= 1
            out = lines[:first] + block + [nl] + lines[first:]
    after = "".join(out)
    toml.check(path, data, after, lambda old: toml.with_value(old, argv, "notify"), body)
    notes.extend(path_note(argv, "notify"))
    return after


def _mcp_servers(path: Path, text: str | None):
    return toml.load(path, text).get("mcp_servers")


def _more_status(root: Path | None, found: dict[str, list[str]]) -> dict:
    """Hooks listed inline in config.toml count too; and whether the legacy notify is set."""
    config = paths("mcp", root)
    data = toml.load(config, install_files.read(config))
    inline = data.get("hooks")
    if isinstance(inline, dict):
        for event, commands in hook_commands(inline, False).items():
            found.setdefault(event, []).extend(commands)
    return {"legacy_notify": _notify_ours(data.get("notify"))}


# --- what the user must do -----------------------------------------------------------------

CODEX_TRUST = (
    "Codex runs new or changed hooks only after you trust them: start `codex` and, at the "
    "\"Hooks need review\" prompt, choose \"Trust all and continue\" (or open /hooks, review "
    "the wikimem entries and trust them). Until then Codex skips them without a word. Trust "
    "is tied to each hook's exact definition, so Codex asks again whenever the command "
    "changes. For one non-interactive run, `codex exec --dangerously-bypass-hook-trust` runs "
    "them without review.")


def notes(kind: str, project: bool, path: Path, cwd) -> list[str]:
    """What the user must do after installing `kind` into `path`."""
    if kind == "instructions":
        return ["Codex reads AGENTS.md when a session starts: start a new session."]
    if kind == "mcp":
        out = ["Start a new Codex session; /mcp lists the server."]
        if project:
            out.append(f"Codex reads {path} only once you trust this project.")
        return out
    if kind == "notify":
        return ["Codex runs the notify program only when a turn ends, so wikimem sees much "
                "less than with hooks; prefer: wikimem install-hooks --agent codex"]
    out = [CODEX_TRUST]
    if project:
        out.append(f"Codex loads {path} only once you trust this project (the trust prompt on "
                   "the first run here).")
    out.extend(_config_notes(path.parent / "config.toml"))
    return out


def _config_notes(config: Path) -> list[str]:
    """What config.toml says about the hooks: switched off, also inline, also as notify."""
    try:
        data = toml.load(config, install_files.read(config))
    except WikimemError:
        return []
    found = []
    features = data.get("features") if isinstance(data.get("features"), dict) else {}
    off = [k for k in ("hooks", "codex_hooks") if features.get(k) is False]
    if off:
        found.append(f"{config} turns hooks off ([features] {off[0]} = false); Codex will not "
                     "run wikimem's hooks until you set it to true.")
    else:
        found.append("A Codex from before hooks were on by default also needs `hooks = true` "
                     "(older: `codex_hooks = true`) under [features] in config.toml.")
    inline = data.get("hooks")
    if isinstance(inline, dict) and hook_commands(inline, False):
        found.append(f"{config} also lists wikimem hooks in [hooks]; Codex runs both, so "
                     "remove those by hand.")
    if _notify_ours(data.get("notify")):
        found.append(f"{config} also runs wikimem through the legacy notify, so each turn is "
                     "recorded twice; remove it: wikimem uninstall --agent codex "
                     "--legacy-notify --apply")
    return found


INSTALLER = Installer(
    label="Codex",
    hooks=HOOKS,
    mcp=McpFormat(_plan_mcp, _mcp_servers),
    paths=paths,
    notes=notes,
    more_kinds={"notify": _plan_notify},
    more_status=_more_status,
)
