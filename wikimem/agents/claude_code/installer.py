"""Where Claude Code keeps its settings, and what wikimem writes there (installers.Installer).

Hooks: ~/.claude/settings.json (user) and .claude/settings.json (project),
`{"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": ...,
"timeout": seconds}]}]}}`; matchers only apply to tool events (docs.claude.com/docs/
claude-code/hooks, "Configuration" and "Structure"). MCP: `mcpServers` at the top of
~/.claude.json (user scope) or in .mcp.json at the project root (project scope, approved by
each person before first use) (code.claude.com/docs/en/mcp, "MCP installation scopes").
Instructions: CLAUDE.md at the project root, ~/.claude/CLAUDE.md for every project, both read
at session start (code.claude.com/docs/en/memory, "Determine memory type").
"""

from __future__ import annotations

from pathlib import Path

from wikimem.agents.install_json import HookFormat
from wikimem.agents.installers import JSON_MCP, Installer, home

HOOKS = HookFormat(
    events=("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
            "SubagentStop", "PreCompact", "SessionEnd", "Notification"),
    flat=False,
    matchers={"PreToolUse": "*", "PostToolUse": "*"},
    handler=lambda command, event: {"type": "command", "command": command, "timeout": 30},
)


def paths(kind: str, root: Path | None) -> Path:
    """The file that holds `kind` (hooks or mcp) in the user scope (root None) or a project."""
    if kind == "mcp":
        return home() / ".claude.json" if root is None else root / ".mcp.json"
    if kind == "instructions":
        return home() / ".claude" / "CLAUDE.md" if root is None else root / "CLAUDE.md"
    return (root or home()) / ".claude" / "settings.json"


def notes(kind: str, project: bool, path: Path, cwd) -> list[str]:
    """What the user must do after installing `kind` into `path`."""
    if kind == "mcp":
        if project:
            return [f"Claude Code asks each person to approve the servers in {path} before "
                    "first use; /mcp in Claude Code shows the approval."]
        return [f"Claude Code rewrites {path} while it runs: quit Claude Code before applying, "
                "then start a new session (/mcp lists the server)."]
    if kind == "instructions":
        return ["Claude Code reads CLAUDE.md when a session starts: new sessions follow it "
                "(/memory in Claude Code lists the files)."] + (
            [f"{path} is usually committed: everyone's agent would get these instructions. "
             "Use --scope user to keep them to yourself."] if project else [])
    found = ["Claude Code reads hooks when a session starts: restart running sessions (/hooks "
             "in Claude Code lists them)."]
    if project:
        found.append(f"{path} is usually committed: everyone working in this repository would "
                     "run these hooks and needs wikimem installed. Use --scope user to keep "
                     "them to yourself.")
    return found


INSTALLER = Installer(label="Claude Code", hooks=HOOKS, mcp=JSON_MCP, paths=paths, notes=notes)
