"""install-hooks / install-mcp / uninstall against real-looking settings files.

The files in fixtures/settings/ are hand-written in each agent's documented format (see the
sources in wikimem/agents/<agent>/installer.py), with other tools' hooks and servers in them:
installing must add only wikimem's entries, and uninstalling must give the original bytes back.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import wikimem.cli.install  # noqa: F401 - registers the commands on `cli`
from wikimem.agents import install_commands, installers
from wikimem.agents.claude_code.installer import HOOKS as CLAUDE
from wikimem.agents.codex.installer import CODEX_TRUST
from wikimem.agents.codex.installer import HOOKS as CODEX
from wikimem.agents.cursor.installer import HOOKS as CURSOR
from wikimem.agents.gemini.installer import HOOKS as GEMINI
from wikimem.cli import cli
from wikimem.errors import WikimemError

SETTINGS = Path(__file__).parent / "fixtures" / "settings"


@pytest.fixture(autouse=True)
def home(fresh_home) -> Path:
    return fresh_home


def put(fixture: str, dest: Path) -> bytes:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SETTINGS / fixture, dest)
    return dest.read_bytes()


def wm(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.wikimem-backup-*"))


def wikimem_handlers(settings: dict, event: str, flat: bool = False) -> list[dict]:
    entries = settings.get("hooks", {}).get(event, [])
    handlers = entries if flat else [h for g in entries for h in g.get("hooks", [])]
    return [h for h in handlers if "wikimem hook" in h.get("command", "")]


def only_additions(before: str, after: str) -> None:
    """Every line of `before` is still in `after`, except lines that only gained a comma."""
    import difflib

    removed = added = 0
    plus = []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            removed += 1
            assert line[2:] + "," in plus or line[2:] + "," in after.splitlines(), line
        elif line.startswith("+ "):
            added += 1
            plus.append(line[2:])
    assert added > removed


# --- hook_command ------------------------------------------------------------------------

def test_hook_command_is_plain_when_this_wikimem_is_on_path():
    assert install_commands.hook_command("claude-code") == "wikimem hook claude-code"
    assert install_commands.runs_this_wikimem("wikimem hook claude-code")
    assert install_commands.mcp_argv() == ["wikimem", "mcp"]


def test_hook_command_falls_back_to_this_installation(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    script = tmp_path / "venv" / "bin" / "wikimem"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!{sys.executable}\n")
    monkeypatch.setattr(install_commands, "_own_scripts", lambda: [script])
    assert install_commands.hook_command("codex") == f"{script} hook codex"
    monkeypatch.setattr(install_commands, "_own_scripts", lambda: [])
    command = install_commands.hook_command("codex")
    assert command.endswith(" -m wikimem hook codex") and sys.executable in command
    assert install_commands.runs_this_wikimem(command)


def test_another_wikimem_on_path_is_not_this_one(tmp_path):
    other = tmp_path / "other" / "wikimem"
    other.parent.mkdir()
    other.write_text("#!/opt/elsewhere/bin/python3\n")
    assert not install_commands.runs_this_wikimem(f"{other} hook claude-code")
    assert not install_commands.runs_this_wikimem("echo wikimem hook claude-code")


# --- Claude Code -------------------------------------------------------------------------

def test_claude_dry_run_shows_a_diff_and_changes_nothing(home):
    path = home / ".claude" / "settings.json"
    original = put("claude_settings.json", path)
    result = wm("install-hooks", "--agent", "claude-code")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"Would install wikimem hooks for Claude Code in {path}:"
    assert lines[1] == f"--- {path}"
    assert '+            "command": "wikimem hook claude-code",' in lines
    assert lines[-1] == "Nothing was changed; run again with --apply to write it."
    assert "Note: Claude Code reads hooks when a session starts: restart running sessions " \
           "(/hooks in Claude Code lists them)." in lines
    assert path.read_bytes() == original
    assert backups(path) == []


def test_claude_apply_twice_then_uninstall_restores_the_file(home):
    path = home / ".claude" / "settings.json"
    original = put("claude_settings.json", path)

    first = wm("install-hooks", "--agent", "claude-code", "--apply")
    assert first.exit_code == 0
    assert first.output.splitlines()[0] == \
        f"Installed wikimem hooks for Claude Code in {path}."
    [backup] = backups(path)
    assert backup.read_bytes() == original
    assert f"Backup of the previous file: {backup}" in first.output
    installed = path.read_text(encoding="utf-8")
    only_additions(original.decode(), installed)

    data = json.loads(installed)
    before = json.loads(original)
    for key in ("$schema", "permissions", "env", "statusLine", "includeCoAuthoredBy", "model"):
        assert data[key] == before[key]
    assert list(data) == list(before)  # key order kept
    for event in CLAUDE.events:
        [handler] = wikimem_handlers(data, event)
        assert handler == {"type": "command", "command": "wikimem hook claude-code",
                           "timeout": 30}
    assert data["hooks"]["PreToolUse"][0] == before["hooks"]["PreToolUse"][0]
    assert data["hooks"]["PreToolUse"][1]["matcher"] == "*"
    assert data["hooks"]["Stop"][0] == before["hooks"]["Stop"][0]
    assert "Präsentationen" in installed  # not escaped: the file did not escape it

    second = wm("install-hooks", "--agent", "claude-code", "--apply")
    assert second.exit_code == 0
    assert second.output.splitlines()[0] == (
        f"Already installed: wikimem hooks for Claude Code in {path}; nothing to do.")
    assert path.read_text(encoding="utf-8") == installed
    assert len(backups(path)) == 1

    dry = wm("uninstall", "--agent", "claude-code")
    assert dry.output.splitlines()[0] == f"Would remove wikimem hooks for Claude Code from {path}:"
    assert path.read_text(encoding="utf-8") == installed

    removed = wm("uninstall", "--agent", "claude-code", "--apply")
    assert removed.exit_code == 0
    assert removed.output.splitlines()[0] == f"Removed wikimem hooks for Claude Code from {path}."
    assert path.read_bytes() == original

    again = wm("uninstall", "--agent", "claude-code", "--apply")
    assert again.output.splitlines()[0] == (
        f"Not installed: wikimem hooks for Claude Code in {path}; nothing to do.")
    assert path.read_bytes() == original


def test_claude_project_scope_creates_the_file(repo):
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    result = wm("install-hooks", "--agent", "claude-code", "--scope", "project", "--apply",
                cwd=sub)
    assert result.exit_code == 0, result.output
    path = repo / ".claude" / "settings.json"
    assert result.output.splitlines()[0] == f"Installed wikimem hooks for Claude Code in {path}."
    assert "Backup" not in result.output
    assert "is usually committed" in result.output
    data = json.loads(path.read_text())
    assert list(data) == ["hooks"] and list(data["hooks"]) == list(CLAUDE.events)
    assert path.read_text().endswith("}\n")
    assert backups(path) == []


def test_existing_wikimem_entries_count_and_duplicates_are_folded(home):
    path = home / ".claude" / "settings.json"
    readme_style = {"hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "wikimem hook claude-code"}]},
                 {"hooks": [{"type": "command", "command": "wikimem hook claude-code"},
                            {"type": "command", "command": "other stop"}]}],
        "SessionStart": [{"hooks": [{"type": "command",
                                     "command": "/old/venv/bin/wikimem hook claude-code"}]}],
    }}
    path.parent.mkdir()
    path.write_text(json.dumps(readme_style, indent=2) + "\n")
    plan = installers.plan("claude-code", "user")
    data = json.loads(plan.after)
    assert data["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "wikimem hook claude-code"}]},
        {"hooks": [{"type": "command", "command": "other stop"}]}]
    assert data["hooks"]["SessionStart"][0]["hooks"][0]["command"] == "wikimem hook claude-code"
    assert any("Removed 1 duplicate" in n for n in plan.notes)
    assert any("SessionStart (was '/old/venv/bin/wikimem hook claude-code')" in n
               for n in plan.notes)


def test_malformed_json_is_an_error_and_the_file_is_untouched(home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(b'{\n  "hooks": {\n    "Stop": [\n  }\n')
    original = path.read_bytes()
    for args in (["install-hooks", "--agent", "claude-code", "--apply"],
                 ["uninstall", "--agent", "claude-code", "--apply"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: {path} is not valid JSON (")
        assert "line 4, column 3" in result.output
        assert "nothing was changed" in result.output
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_hooks_that_is_not_an_object_is_an_error(home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"hooks": ["wikimem hook claude-code"]}\n')
    result = CliRunner().invoke(cli, ["install-hooks", "--agent", "claude-code", "--apply"])
    assert result.exit_code == 1
    assert result.output == (
        f'Error: {path}: "hooks" is a list, but it should be an object (event name -> list of '
        "hooks); nothing was changed. Fix the file and run the command again.\n")
    assert path.read_text() == '{"hooks": ["wikimem hook claude-code"]}\n'
    assert backups(path) == []


def test_event_that_is_not_a_list_is_an_error(home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"hooks": {"Stop": {"command": "x"}}}')
    with pytest.raises(WikimemError, match=r'"hooks" -> "Stop" is an object, but it should '
                                           r"be a list"):
        installers.plan("claude-code", "user")


def test_unknown_agent_or_scope_is_a_usage_error():
    result = CliRunner().invoke(cli, ["install-hooks", "--agent", "vim"])
    assert result.exit_code == 2 and "Invalid value for '--agent'" in result.output
    result = CliRunner().invoke(cli, ["install-mcp", "--agent", "codex", "--scope", "team"])
    assert result.exit_code == 2 and "Invalid value for '--scope'" in result.output
    result = CliRunner().invoke(cli, ["install-hooks", "--agent", "cursor", "--legacy-notify"])
    assert result.exit_code == 2 and "--legacy-notify is for --agent codex only" in result.output
    with pytest.raises(ValueError):
        installers.plan("vim", "user")


def test_json_output_parses(home):
    path = home / ".claude" / "settings.json"
    put("claude_settings.json", path)
    dry = json.loads(wm("install-hooks", "--agent", "claude-code", "--json").output)
    assert dry["changed"] and not dry["applied"] and dry["backup"] is None
    assert dry["path"] == str(path) and dry["diff"].startswith(f"--- {path}")
    assert dry["message"] == f"Would install wikimem hooks for Claude Code in {path}:"
    done = json.loads(wm("install-hooks", "--agent", "claude-code", "--apply", "--json").output)
    assert done["applied"] and Path(done["backup"]).is_file()
    again = json.loads(wm("install-hooks", "--agent", "claude-code", "--apply", "--json").output)
    assert not again["changed"] and not again["applied"] and again["diff"] == ""


def test_a_symlinked_settings_file_stays_a_symlink(home, tmp_path):
    real = tmp_path / "dotfiles" / "claude-settings.json"
    original = put("claude_settings.json", real)
    link = home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    real.chmod(0o600)
    installers.apply(installers.plan("claude-code", "user"))
    assert link.is_symlink() and wikimem_handlers(json.loads(real.read_text()), "Stop")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert len(backups(real)) == 1
    installers.apply(installers.plan("claude-code", "user", uninstall=True))
    assert link.is_symlink() and real.read_bytes() == original


def test_apply_refuses_a_file_changed_since_the_plan(home):
    path = home / ".claude" / "settings.json"
    put("claude_settings.json", path)
    plan = installers.plan("claude-code", "user")
    path.write_text('{"model": "sonnet"}\n')
    with pytest.raises(WikimemError, match="changed since wikimem read it"):
        installers.apply(plan)
    assert path.read_text() == '{"model": "sonnet"}\n'


def test_a_compact_file_keeps_its_values_and_says_its_layout_changes(home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    original = '{"model":"opus","hooks":{"Stop":[{"hooks":[{"type":"command","command":"x"}]}]}}'
    path.write_text(original)
    plan = installers.plan("claude-code", "user")
    assert not any("not laid out" in n for n in plan.notes)  # compact stays compact
    assert "\n" not in plan.after
    path.write_text('{\n    "model": "opus",\n  "hooks": {}\n}\n')
    plan = installers.plan("claude-code", "user")
    assert any("not laid out the way wikimem writes JSON" in n for n in plan.notes)
    assert json.loads(plan.after)["model"] == "opus"


def test_claude_mcp_user_and_project(home, repo):
    path = home / ".claude.json"
    original = put("claude_user.json", path)
    result = wm("install-mcp", "--agent", "claude-code", "--apply")
    assert result.output.splitlines()[0] == (
        f"Installed the wikimem MCP server for Claude Code in {path}.")
    assert "quit Claude Code before applying" in result.output
    data = json.loads(path.read_text())
    assert data["mcpServers"]["wikimem"] == {"command": "wikimem", "args": ["mcp"]}
    assert data["mcpServers"]["github"] == json.loads(original)["mcpServers"]["github"]
    again = wm("install-mcp", "--agent", "claude-code", "--apply")
    assert again.output.splitlines()[0] == (
        f"Already installed: the wikimem MCP server for Claude Code in {path}; nothing to do.")
    wm("uninstall", "--agent", "claude-code", "--mcp", "--apply")
    assert path.read_bytes() == original
    assert len(backups(path)) == 2

    project = wm("install-mcp", "--agent", "claude-code", "--scope", "project", "--apply",
                 cwd=repo)
    assert project.exit_code == 0
    assert json.loads((repo / ".mcp.json").read_text()) == {
        "mcpServers": {"wikimem": {"command": "wikimem", "args": ["mcp"]}}}
    assert "approve the servers" in project.output


# --- Codex -------------------------------------------------------------------------------

def test_codex_hooks_in_hooks_json_with_the_trust_note(home):
    path = home / ".codex" / "hooks.json"
    original = put("codex_hooks.json", path)
    put("codex_config.toml", home / ".codex" / "config.toml")
    result = wm("install-hooks", "--agent", "codex", "--apply")
    assert result.output.splitlines()[0] == f"Installed wikimem hooks for Codex in {path}."
    assert f"Note: {CODEX_TRUST}" in result.output
    assert '"Hooks need review"' in result.output and "/hooks" in result.output
    data = json.loads(path.read_text())
    for event in CODEX.events:
        [handler] = wikimem_handlers(data, event)
        assert handler["command"] == "wikimem hook codex"
    assert wikimem_handlers(data, "SessionEnd")[0]["timeout"] == 3
    assert "matcher" not in data["hooks"]["PreToolUse"][1]
    assert data["hooks"]["SessionStart"][0] == json.loads(original)["hooks"]["SessionStart"][0]
    assert wm("install-hooks", "--agent", "codex", "--apply").output.startswith(
        "Already installed:")
    wm("uninstall", "--agent", "codex", "--apply")
    assert path.read_bytes() == original
    assert len(backups(path)) == 2


def test_codex_home_and_project_scope(home, repo, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    assert installers.settings_path("codex", "user") == tmp_path / "codex-home" / "hooks.json"
    plan = installers.plan("codex", "project", cwd=repo)
    assert plan.path == repo / ".codex" / "hooks.json" and plan.creates
    assert any("only once you trust this project" in n for n in plan.notes)


def test_codex_mcp_is_a_block_appended_to_config_toml(home):
    path = home / ".codex" / "config.toml"
    original = put("codex_config.toml", path)
    result = wm("install-mcp", "--agent", "codex", "--apply")
    assert result.output.splitlines()[0] == (
        f"Installed the wikimem MCP server for Codex in {path}.")
    text = path.read_text()
    assert text.startswith(original.decode())  # the rest is never rewritten
    assert text[len(original):] == (
        "\n"
        "# >>> wikimem: mcp server (wikimem install-mcp) >>>\n"
        "[mcp_servers.wikimem]\n"
        'command = "wikimem"\n'
        'args = ["mcp"]\n'
        "# <<< wikimem: mcp server <<<\n")
    data = tomllib.loads(text)
    assert data["mcp_servers"]["wikimem"] == {"command": "wikimem", "args": ["mcp"]}
    assert data["mcp_servers"]["other"]["startup_timeout_sec"] == 20
    assert wm("install-mcp", "--agent", "codex", "--apply").output.startswith(
        "Already installed: the wikimem MCP server for Codex")
    assert len(backups(path)) == 1
    removed = wm("uninstall", "--agent", "codex", "--mcp", "--apply")
    assert removed.output.splitlines()[0] == (
        f"Removed the wikimem MCP server for Codex from {path}.")
    assert path.read_bytes() == original


def test_codex_mcp_written_by_hand_is_removed_too(home):
    path = home / ".codex" / "config.toml"
    original = put("codex_config.toml", path)
    path.write_bytes(original + b'\n[mcp_servers.wikimem]\ncommand = "wikimem"\nargs = ["mcp"]\n'
                     b'\n[mcp_servers.wikimem.env]\nX = "1"\n')
    assert installers.status("codex", "user")["mcp"]["installed"]
    assert not installers.plan("codex", "user", mcp=True).changed
    installers.apply(installers.plan("codex", "user", mcp=True, uninstall=True))
    assert path.read_bytes() == original


def test_codex_malformed_toml_is_an_error(home):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text('model = "gpt-5.5"\n[mcp_servers.other\ncommand = "x"\n')
    original = path.read_bytes()
    result = CliRunner().invoke(cli, ["install-mcp", "--agent", "codex", "--apply"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path} is not valid TOML (")
    assert "nothing was changed" in result.output
    assert path.read_bytes() == original and backups(path) == []


def test_codex_mcp_that_cannot_be_appended_safely_is_refused(home):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text('mcp_servers = { other = { command = "x" } }\n')
    with pytest.raises(WikimemError, match="cannot edit .* safely"):
        installers.plan("codex", "user", mcp=True)


def test_codex_legacy_notify_goes_above_the_first_table(home):
    path = home / ".codex" / "config.toml"
    original = put("codex_config.toml", path)
    result = wm("install-hooks", "--agent", "codex", "--legacy-notify", "--apply")
    assert result.output.splitlines()[0] == (
        f"Installed the wikimem legacy notify for Codex in {path}.")
    text = path.read_text()
    assert tomllib.loads(text)["notify"] == ["wikimem", "hook", "codex"]
    assert ('sandbox_mode = "workspace-write"\n\n'
            "# >>> wikimem: legacy notify (wikimem install-hooks --legacy-notify) >>>\n"
            'notify = ["wikimem", "hook", "codex"]\n'
            "# <<< wikimem: legacy notify <<<\n\n"
            "# Profiles: `codex --profile deep`\n[profiles.deep]\n") in text
    assert installers.status("codex", "user")["legacy_notify"]
    hooks = installers.plan("codex", "user")
    assert any("legacy notify, so each turn is recorded twice" in n for n in hooks.notes)
    wm("uninstall", "--agent", "codex", "--legacy-notify", "--apply")
    assert path.read_bytes() == original


def test_codex_notify_of_another_program_is_left_alone(home):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text('notify = ["terminal-notifier", "-title", "Codex"]\n')
    result = CliRunner().invoke(cli, ["install-hooks", "--agent", "codex", "--legacy-notify",
                                      "--apply"])
    assert result.exit_code == 1
    assert "already sets notify = ['terminal-notifier', '-title', 'Codex']" in result.output
    assert path.read_text() == 'notify = ["terminal-notifier", "-title", "Codex"]\n'


# --- Gemini CLI --------------------------------------------------------------------------

def test_gemini_hooks_and_mcp(home):
    path = home / ".gemini" / "settings.json"
    original = put("gemini_settings.json", path)
    result = wm("install-hooks", "--agent", "gemini", "--apply")
    assert result.output.splitlines()[0] == f"Installed wikimem hooks for Gemini CLI in {path}."
    data = json.loads(path.read_text())
    before = json.loads(original)
    assert data["ui"] == before["ui"] and data["hooks"]["disabled"] == ["noisy-logger"]
    assert data["hooks"]["BeforeTool"][0] == before["hooks"]["BeforeTool"][0]
    assert data["hooks"]["BeforeTool"][1] == {"matcher": "*", "hooks": [
        {"name": "wikimem", "type": "command", "command": "wikimem hook gemini",
         "timeout": 30000}]}
    for event in GEMINI.events:
        assert len(wikimem_handlers(data, event)) == 1
    only_additions(original.decode(), path.read_text())
    assert "hooks system on" in result.output

    wm("install-mcp", "--agent", "gemini", "--apply")
    data = json.loads(path.read_text())
    assert data["mcpServers"]["wikimem"] == {"command": "wikimem", "args": ["mcp"]}
    assert data["mcpServers"]["github"] == before["mcpServers"]["github"]

    wm("uninstall", "--agent", "gemini", "--apply")
    wm("uninstall", "--agent", "gemini", "--mcp", "--apply")
    assert path.read_bytes() == original
    assert len(backups(path)) == 4


def test_gemini_hooks_switched_off_are_reported(home):
    path = home / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text('{\n  "hooksConfig": {\n    "enabled": false\n  }\n}\n')
    plan = installers.plan("gemini", "user")
    assert any("hooksConfig.enabled = false" in n for n in plan.notes)


# --- Cursor ------------------------------------------------------------------------------

def test_cursor_hooks_and_mcp(home):
    path = home / ".cursor" / "hooks.json"
    original = put("cursor_hooks.json", path)
    wm("install-hooks", "--agent", "cursor", "--apply")
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["hooks"]["stop"] == [{"command": "./hooks/audit.sh", "loop_limit": 5},
                                     {"command": "wikimem hook cursor"}]
    assert data["hooks"]["beforeShellExecution"] == [{"command": "./hooks/block-git.sh"}]
    for event in CURSOR.events:
        assert len(wikimem_handlers(data, event, flat=True)) == 1
    assert wm("install-hooks", "--agent", "cursor", "--apply").output.startswith(
        "Already installed: wikimem hooks for Cursor")
    wm("uninstall", "--agent", "cursor", "--apply")
    assert path.read_bytes() == original

    mcp = home / ".cursor" / "mcp.json"
    mcp_original = put("cursor_mcp.json", mcp)
    wm("install-mcp", "--agent", "cursor", "--apply")
    assert json.loads(mcp.read_text())["mcpServers"]["wikimem"]["args"] == ["mcp"]
    wm("uninstall", "--agent", "cursor", "--mcp", "--apply")
    assert mcp.read_bytes() == mcp_original


def test_cursor_missing_file_is_created_with_its_version(home):
    path = home / ".cursor" / "hooks.json"
    result = wm("install-hooks", "--agent", "cursor", "--apply")
    assert result.exit_code == 0
    data = json.loads(path.read_text())
    assert list(data) == ["version", "hooks"] and data["version"] == 1
    assert data["hooks"]["sessionStart"] == [{"command": "wikimem hook cursor"}]


def test_cursor_warns_about_claude_hooks_run_twice(home):
    wm("install-hooks", "--agent", "claude-code", "--apply")
    plan = installers.plan("cursor", "user")
    assert any("records each session twice" in n for n in plan.notes)


# --- status ------------------------------------------------------------------------------

def test_status_before_and_after(home):
    st = installers.status("claude-code", "user")
    assert st["installed"] is False and st["exists"] is False
    assert st["missing_events"] == list(CLAUDE.events)
    assert st["mcp"]["installed"] is False
    put("claude_settings.json", home / ".claude" / "settings.json")
    installers.apply(installers.plan("claude-code", "user"))
    installers.apply(installers.plan("claude-code", "user", mcp=True))
    st = installers.status("claude-code", "user")
    assert st["installed"] and st["complete"] and st["points_at_this_wikimem"]
    assert st["command"] == "wikimem hook claude-code" and st["missing_events"] == []
    assert st["covered_events"] == list(CLAUDE.events)
    assert st["mcp"]["installed"] and st["mcp"]["points_at_this_wikimem"]


def test_status_of_a_foreign_or_partial_install(home, tmp_path):
    other = tmp_path / "other" / "wikimem"
    other.parent.mkdir()
    other.write_text("#!/opt/elsewhere/bin/python3\n")
    path = home / ".cursor" / "hooks.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "hooks": {
        "stop": [{"command": f"{other} hook cursor"}]}}))
    st = installers.status("cursor", "user")
    assert st["installed"] and not st["complete"] and not st["points_at_this_wikimem"]
    assert st["covered_events"] == ["stop"] and "sessionStart" in st["missing_events"]


def test_status_raises_on_a_malformed_file(home):
    path = home / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text("{ theme: 'dark' }")
    with pytest.raises(WikimemError, match="is not valid JSON"):
        installers.status("gemini", "user")


def test_crlf_bom_and_tab_layout_round_trip_byte_for_byte(home):
    path = home / ".cursor" / "hooks.json"
    path.parent.mkdir()
    original = ('\ufeff{\r\n\t"version": 1,\r\n\t"hooks": {\r\n\t\t"stop": [\r\n\t\t\t{\r\n'
                '\t\t\t\t"command": "caf\\u00e9.sh"\r\n\t\t\t}\r\n\t\t]\r\n\t}\r\n}\r\n')
    path.write_bytes(original.encode())
    plan = installers.plan("cursor", "user")
    assert plan.notes and not any("not laid out" in n for n in plan.notes)
    installers.apply(plan)
    text = path.read_bytes().decode()
    assert text.startswith('\ufeff{\r\n\t"version": 1,') and "\n\t\t\t\t" in text
    assert "\n" not in text.replace("\r\n", "")
    installers.apply(installers.plan("cursor", "user", uninstall=True))
    assert path.read_bytes() == original.encode()


def test_an_empty_file_gets_the_usual_layout(home):
    path = home / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text("")
    installers.apply(installers.plan("gemini", "user", mcp=True))
    assert path.read_text() == (
        '{\n  "mcpServers": {\n    "wikimem": {\n      "command": "wikimem",\n'
        '      "args": [\n        "mcp"\n      ]\n    }\n  }\n}\n')


def test_hooks_in_both_scopes_are_pointed_out(home, repo):
    installers.apply(installers.plan("claude-code", "user"))
    plan = installers.plan("claude-code", "project", cwd=repo)
    assert any(n.startswith(f"wikimem hooks are also installed in {home}/.claude/settings.json")
               for n in plan.notes)


# --- uninstall undoes install exactly (issue 11) ------------------------------------------

@pytest.mark.parametrize("mcp", [False, True], ids=["hooks", "mcp"])
@pytest.mark.parametrize("agent", installers.AGENTS)
def test_uninstall_deletes_the_file_and_folders_wikimem_created(home, agent, mcp):
    flag = ["--mcp"] if mcp else []
    path = installers.settings_path(agent, "user", mcp=mcp)
    assert list(home.iterdir()) == []
    assert wm("install-mcp" if mcp else "install-hooks", "--agent", agent,
              "--apply").exit_code == 0
    assert path.is_file()
    dry = wm("uninstall", "--agent", agent, *flag)
    assert f"Note: wikimem created {path} and nothing else changed it since: it is deleted" \
        in dry.output
    assert "+++ /dev/null" in dry.output and path.is_file()
    r = wm("uninstall", "--agent", agent, *flag, "--apply")
    assert r.exit_code == 0, r.output
    assert list(home.iterdir()) == []  # no file, no folder, no backup left behind


ODD_LAYOUT = '{\n"theme": "dark",\n"list": ["a", "b"],\n"hooks": {}, "x": {"y": 1}\n}'


@pytest.mark.parametrize("agent", installers.AGENTS)
def test_uninstall_gives_back_the_exact_bytes_of_a_file_in_any_layout(home, agent):
    path = installers.settings_path(agent, "user")
    path.parent.mkdir(parents=True)
    path.write_text(ODD_LAYOUT)
    installed = wm("install-hooks", "--agent", agent, "--apply")
    assert installed.exit_code == 0 and path.read_text() != ODD_LAYOUT
    [backup] = backups(path)
    r = wm("uninstall", "--agent", agent, "--apply")
    assert f"Note: Nothing else changed {path} since wikimem installed into it: it gets " \
           f"back the exact bytes it had before (from {backup})." in r.output
    assert path.read_text() == ODD_LAYOUT
    # The next install starts afresh from what is there now.
    wm("install-hooks", "--agent", agent, "--apply")
    wm("uninstall", "--agent", agent, "--apply")
    assert path.read_text() == ODD_LAYOUT


def test_two_installs_into_one_file_are_undone_one_after_the_other(home):
    path = home / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text(ODD_LAYOUT)
    wm("install-hooks", "--agent", "gemini", "--apply")
    wm("install-mcp", "--agent", "gemini", "--apply")
    wm("uninstall", "--agent", "gemini", "--apply")
    data = json.loads(path.read_text())
    assert "wikimem" in data["mcpServers"] and not wikimem_handlers(data, "SessionStart")
    wm("uninstall", "--agent", "gemini", "--mcp", "--apply")
    assert path.read_text() == ODD_LAYOUT


@pytest.mark.parametrize("agent", installers.AGENTS)
@pytest.mark.parametrize("layout", [
    '{\n"theme":"dark",\n"x":{\n"y":1\n}\n}\n',  # no indentation, no space after colons
    '{\n    "theme": "dark",\n    "x": {\n        "y": 1\n    }\n}',  # 4 spaces, no newline
    '{\r\n\t"theme": "dark",\r\n\t"x": {\r\n\t\t"y": 1\r\n\t}\r\n}\r\n',  # tabs, CRLF
], ids=["flat", "4-spaces", "tabs-crlf"])
def test_uninstall_after_other_changes_keeps_them_and_the_files_layout(home, agent, layout):
    path = installers.settings_path(agent, "user")
    path.parent.mkdir(parents=True)
    path.write_bytes(layout.encode())
    wm("install-hooks", "--agent", agent, "--apply")
    changed = path.read_bytes().replace(b'"dark"', b'"light"')  # another tool's edit
    path.write_bytes(changed)
    r = wm("uninstall", "--agent", agent, "--apply")
    assert r.exit_code == 0 and "exact bytes" not in r.output
    assert path.read_bytes() == layout.replace('"dark"', '"light"').encode()
    # The file is the user's own now: a later install and uninstall leave it as it is.
    wm("install-hooks", "--agent", agent, "--apply")
    wm("uninstall", "--agent", agent, "--apply")
    assert path.read_bytes() == layout.replace('"dark"', '"light"').encode()


def test_uninstall_without_the_backup_removes_only_wikimems_entries(home):
    path = home / ".codex" / "hooks.json"
    original = put("codex_hooks.json", path)
    wm("install-hooks", "--agent", "codex", "--apply")
    for b in backups(path):
        b.unlink()
    r = wm("uninstall", "--agent", "codex", "--apply")
    assert r.exit_code == 0 and "exact bytes" not in r.output
    assert path.read_bytes() == original  # a normally laid out file comes back anyway
