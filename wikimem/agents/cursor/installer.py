"""Where Cursor keeps its settings, and what wikimem writes there (installers.Installer).

~/.cursor/hooks.json (user) and .cursor/hooks.json (project):
`{"version": 1, "hooks": {"sessionStart": [{"command": ...}]}}`, one flat list of
handlers per lowerCamel event (cursor.com/docs/hooks.md, "Agent and Tab Support"). Cursor
can also run Claude Code's hooks (cursor.com/docs/reference/third-party-hooks). MCP:
`mcpServers` in ~/.cursor/mcp.json or .cursor/mcp.json (cursor.com/docs/mcp).
"""

from __future__ import annotations

from pathlib import Path

from wikimem.agents.install_json import HookFormat
from wikimem.agents.installers import JSON_MCP, SCOPES, Installer, has_hooks, home

HOOKS = HookFormat(
    events=("sessionStart", "beforeSubmitPrompt", "preToolUse", "postToolUse",
            "postToolUseFailure", "afterFileEdit", "afterAgentResponse", "stop", "sessionEnd"),
    flat=True,
    matchers={},
    handler=lambda command, event: {"command": command},
    new_file={"version": 1},
)


def paths(kind: str, root: Path | None) -> Path:
    """The file that holds `kind` (hooks or mcp) in the user scope (root None) or a project."""
    return (root or home()) / ".cursor" / ("mcp.json" if kind == "mcp" else "hooks.json")


def notes(kind: str, project: bool, path: Path, cwd) -> list[str]:
    """What the user must do after installing `kind` into `path`."""
    if kind == "mcp":
        return ["Restart Cursor, then check that the server is switched on in Cursor Settings "
                "-> MCP."]
    out = ["Restart Cursor so it loads the hooks; Cursor Settings -> Hooks lists them."]
    if any(has_hooks("claude-code", scope, cwd) for scope in SCOPES):
        out.append("wikimem's Claude Code hooks are installed too: if Cursor's third-party "
                   "configs setting (Settings -> Rules, Skills, Subagents) is on, Cursor runs "
                   "those as well and records each session twice; turn it off.")
    return out


INSTALLER = Installer(label="Cursor", hooks=HOOKS, mcp=JSON_MCP, paths=paths, notes=notes)
