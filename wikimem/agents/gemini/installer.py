"""Where Gemini CLI keeps its settings, and what wikimem writes there (installers.Installer).

~/.gemini/settings.json (user) and .gemini/settings.json (project):
`{"hooks": {"BeforeTool": [{"matcher": "*", "hooks": [{"name": ..., "type": "command",
"command": ..., "timeout": milliseconds}]}]}}`; `hooks` may also hold `disabled` (a list
of hook names) and `enabled`; project hooks run only in trusted folders
(google-gemini/gemini-cli docs/hooks/index.md "Configuration", docs/hooks/reference.md
"Configuration schema"; pull requests #15325, #15470). MCP: `mcpServers` in the same
file (docs/tools/mcp-server.md). Instructions: GEMINI.md in ~/.gemini/ (every project) and
at the project root, loaded at start (docs/cli/gemini-md.md, "Hierarchical instructional
context").
"""

from __future__ import annotations

from pathlib import Path

from wikimem.agents import install_files
from wikimem.agents.install_json import HookFormat, JsonDoc
from wikimem.agents.installers import JSON_MCP, Installer, home
from wikimem.errors import WikimemError

HOOKS = HookFormat(
    events=("SessionStart", "SessionEnd", "BeforeAgent", "AfterAgent", "BeforeTool",
            "AfterTool", "Notification", "PreCompress"),
    flat=False,
    matchers={"BeforeTool": "*", "AfterTool": "*"},
    handler=lambda command, event: {"name": "wikimem", "type": "command", "command": command,
                                    "timeout": 30000},
)


def paths(kind: str, root: Path | None) -> Path:
    """One file holds both hooks and MCP servers, in the user scope (root None) or a project."""
    if kind == "instructions":
        return home() / ".gemini" / "GEMINI.md" if root is None else root / "GEMINI.md"
    return (root or home()) / ".gemini" / "settings.json"


def notes(kind: str, project: bool, path: Path, cwd) -> list[str]:
    """What the user must do after installing `kind` into `path`."""
    if kind == "instructions":
        return ["Gemini CLI loads GEMINI.md at start: /memory refresh reloads it in a running "
                "session, /memory show shows it."]
    if kind == "mcp":
        out = ["Restart Gemini CLI; /mcp lists the server."]
        if project:
            out.append("Gemini CLI applies project settings only in trusted folders (see "
                       "/permissions).")
        return out
    out = _switch_notes(path)
    if project:
        out.append("Gemini CLI runs project hooks only in trusted folders (see /permissions) "
                   "and warns once about new project hooks.")
    return out


def _switch_notes(path: Path) -> list[str]:
    """Whether the file turns Gemini CLI's hooks off, or how to turn them on."""
    try:
        data = JsonDoc(path, install_files.read(path)).data
    except WikimemError:
        data = {}
    switches = [("hooksConfig", "enabled"), ("tools", "enableHooks"), ("hooks", "enabled")]
    for outer, inner in switches:
        if isinstance(data.get(outer), dict) and data[outer].get(inner) is False:
            return [f"{path} turns Gemini CLI's hooks off ({outer}.{inner} = false); they will "
                    "not run until you set it to true."]
    return ["Gemini CLI runs hooks only with its hooks system on: recent versions turn it on "
            "by default; where hooks are still experimental set \"hooksConfig\": {\"enabled\": "
            "true} (older versions: \"tools\": {\"enableHooks\": true}). /hooks panel in "
            "Gemini CLI shows whether they are active."]


INSTALLER = Installer(label="Gemini CLI", hooks=HOOKS, mcp=JSON_MCP, paths=paths, notes=notes)
