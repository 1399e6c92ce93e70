"""Where Cursor keeps its settings, and what wikimem writes there (installers.Installer).

~/.cursor/hooks.json (user) and .cursor/hooks.json (project):
`{"version": 1, "hooks": {"sessionStart": [{"command": ...}]}}`, one flat list of
handlers per lowerCamel event (cursor.com/docs/hooks.md, "Agent and Tab Support"). Cursor
can also run Claude Code's hooks (cursor.com/docs/reference/third-party-hooks). MCP:
`mcpServers` in ~/.cursor/mcp.json or .cursor/mcp.json (cursor.com/docs/mcp). Instructions:
a project rule, .cursor/rules/wikimem.mdc, with `alwaysApply: true` in its frontmatter; User
Rules live in Cursor Settings, not in a file, so there is no user scope (cursor.com/docs/
context/rules, "Project rules", "User Rules").
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
    if kind == "instructions":
        return (root or home()) / ".cursor" / "rules" / "wikimem.mdc"
    return (root or home()) / ".cursor" / ("mcp.json" if kind == "mcp" else "hooks.json")


def notes(kind: str, project: bool, path: Path, cwd) -> list[str]:
    """What the user must do after installing `kind` into `path`."""
    if kind == "instructions":
        return ["Cursor applies the rule to every Agent chat started from now (Cursor Settings "
                "-> Rules lists it)."]
    if kind == "mcp":
        return ["Restart Cursor, then check that the server is switched on in Cursor Settings "
                "-> MCP."]
    out = ["Restart Cursor so it loads the hooks; Cursor Settings -> Hooks lists them."]
    if any(has_hooks("claude-code", scope, cwd) for scope in SCOPES):
        out.append("wikimem's Claude Code hooks are installed too: if Cursor's third-party "
                   "configs setting (Settings -> Rules, Skills, Subagents) is on, Cursor runs "
                   "those as well and records each session twice; turn it off.")
    return out


RULE_FRONTMATTER = ("---\ndescription: Project memory kept by wikimem: search it, record "
                    "decisions, lessons, notes and task progress\nalwaysApply: true\n---\n\n")

INSTALLER = Installer(label="Cursor", hooks=HOOKS, mcp=JSON_MCP, paths=paths, notes=notes,
                      rules_scopes=("project",), rules_new=RULE_FRONTMATTER)
