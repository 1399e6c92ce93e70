"""install-instructions / uninstall --instructions against rules files with other content.

The files in fixtures/rules/ are hand-written in each agent's documented rules format (a
CLAUDE.md with an @import, an AGENTS.md with CRLF line ends and no final newline, a GEMINI.md
with a byte-order mark, a Cursor rule with frontmatter): the block goes at the end, everything
else stays byte for byte, a second install changes nothing, an uninstall gives the original
bytes back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import wikimem.cli.instructions  # noqa: F401 - registers the command on `cli`
from wikimem.agents import install_block, installers
from wikimem.cli import cli

RULES = Path(__file__).parent / "fixtures" / "rules"
README = Path(__file__).parent.parent / "README.md"

# agent -> (fixture, where it goes in the project, where in the user scope or None)
FILES = {
    "claude-code": ("CLAUDE.md", "CLAUDE.md", ".claude/CLAUDE.md"),
    "codex": ("AGENTS.md", "AGENTS.md", ".codex/AGENTS.md"),
    "gemini": ("GEMINI.md", "GEMINI.md", ".gemini/GEMINI.md"),
    "cursor": ("wikimem.mdc", ".cursor/rules/wikimem.mdc", None),
}
CASES = [(agent, scope) for agent, (_, _, user) in FILES.items()
         for scope in ("project", "user") if scope == "project" or user]


@pytest.fixture(autouse=True)
def home(fresh_home) -> Path:
    return fresh_home


def wm(*args: str, cwd: Path):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def place(agent: str, scope: str, repo: Path, home: Path) -> tuple[Path, bytes]:
    fixture, project_path, user_path = FILES[agent]
    dest = (repo / project_path) if scope == "project" else (home / user_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RULES / fixture, dest)
    return dest, dest.read_bytes()


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.wikimem-backup-*"))


@pytest.mark.parametrize(("agent", "scope"), CASES)
def test_install_twice_then_uninstall_restores_the_file(agent, scope, repo, home):
    path, original = place(agent, scope, repo, home)
    args = ["--agent", agent, "--scope", scope]

    shown = wm("install-instructions", *args, cwd=repo)
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0] == \
        f"Would install wikimem's instructions for {installers.label(agent)} in {path}:"
    assert "+" + install_block.BEGIN in shown.output.splitlines()
    assert path.read_bytes() == original and backups(path) == []

    first = wm("install-instructions", *args, "--apply", cwd=repo)
    assert first.exit_code == 0, first.output
    after = path.read_bytes()
    assert after.startswith(original)  # the user's bytes, untouched, then the block
    newline = b"\r\n" if b"\r\n" in original else b"\n"
    block = install_block.block(agent, newline.decode()).encode()
    assert after.endswith(block)
    assert after[len(original):-len(block)] in (newline, newline * 2)
    assert f"--agent {agent}".encode() in block
    [backup] = backups(path)
    assert backup.read_bytes() == original

    second = wm("install-instructions", *args, "--apply", cwd=repo)
    assert second.output.splitlines()[0] == (
        f"Already installed: wikimem's instructions for {installers.label(agent)} in {path}; "
        "nothing to do.")
    assert path.read_bytes() == after and len(backups(path)) == 1
    status = installers.status(agent, scope, cwd=repo)["instructions"]
    assert status == {"path": str(path), "installed": True}

    gone = wm("uninstall", *args, "--instructions", "--apply", cwd=repo)
    assert gone.exit_code == 0, gone.output
    assert gone.output.splitlines()[0] == \
        f"Removed wikimem's instructions for {installers.label(agent)} from {path}."
    assert path.read_bytes() == original
    assert installers.status(agent, scope, cwd=repo)["instructions"]["installed"] is False


@pytest.mark.parametrize("agent", list(FILES))
def test_uninstall_after_other_edits_removes_exactly_the_block(agent, repo, home):
    path, original = place(agent, "project", repo, home)
    assert wm("install-instructions", "--agent", agent, "--apply", cwd=repo).exit_code == 0
    edited = b"<!-- the user's own line above -->\n" + path.read_bytes() + b"A line after.\n"
    path.write_bytes(edited)
    result = wm("uninstall", "--agent", agent, "--instructions", "--apply", cwd=repo)
    assert result.exit_code == 0, result.output
    newline = "\r\n" if b"\r\n" in original else "\n"
    block = install_block.block(agent, newline).encode()
    assert block not in path.read_bytes()
    # Only the block and the blank line put before it went.
    removed = len(edited) - len(path.read_bytes())
    assert removed - len(block) in (0, len(newline))
    assert path.read_bytes().endswith(b"A line after.\n")
    assert path.read_bytes().startswith(b"<!-- the user's own line above -->\n" + original[:40])


def test_a_newer_block_replaces_the_old_one_in_place(repo, home):
    path, original = place("claude-code", "project", repo, home)
    old = (f"\n{install_block.BEGIN}\nold wikimem text\n{install_block.END}\n").encode()
    path.write_bytes(original + old + b"\n## Mine, after it\n")
    result = wm("install-instructions", "--agent", "claude-code", "--apply", cwd=repo)
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == (original + b"\n" + install_block.block("claude-code").encode()
                                 + b"\n## Mine, after it\n")


def test_a_broken_block_is_an_error_and_the_file_is_untouched(repo, home):
    path, original = place("codex", "project", repo, home)
    path.write_bytes(original + f"\r\n{install_block.BEGIN}\r\nhalf a block\r\n".encode())
    before = path.read_bytes()
    result = wm("install-instructions", "--agent", "codex", "--apply", cwd=repo)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path} has a BEGIN marker without an END after "
                                    "it")
    assert "Remove the broken wikimem block by hand" in result.output
    assert path.read_bytes() == before


def test_cursor_creates_its_rule_and_uninstall_deletes_it_with_its_folders(repo, home):
    path = repo / ".cursor" / "rules" / "wikimem.mdc"
    result = wm("install-instructions", "--agent", "cursor", "--apply", cwd=repo)
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\ndescription: ") and "\nalwaysApply: true\n---\n\n" in text
    assert text.endswith(install_block.block("cursor"))
    wm("uninstall", "--agent", "cursor", "--instructions", "--apply", cwd=repo)
    assert not (repo / ".cursor").exists()


def test_cursor_has_no_user_rules_file(repo):
    for command in (["install-instructions"], ["uninstall", "--instructions"]):
        result = wm(*command, "--agent", "cursor", "--scope", "user", cwd=repo)
        assert result.exit_code == 2
        assert "Error: Cursor keeps its user rules outside any file; use --scope project " \
               "with --agent cursor." in result.output


def test_json_output(repo, home):
    path, _ = place("gemini", "project", repo, home)
    result = wm("install-instructions", "--agent", "gemini", "--json", cwd=repo)
    data = json.loads(result.output)
    assert data["kind"] == "instructions" and data["path"] == str(path)
    assert data["changed"] is True and data["applied"] is False
    assert "+" + install_block.BEGIN in data["diff"]


def test_the_readme_states_the_blocks_size():
    """The block is paid for in every session: the README says how big it is."""
    sizes = {len(install_block.block(agent)) for agent in FILES}
    found = re.search(r"The block is about ([\d,]+)\s+characters\s+\(about ([\d,]+)\s+tokens",
                      README.read_text(encoding="utf-8"))
    assert found, "README.md must state the instructions block's size"
    chars = int(found.group(1).replace(",", ""))
    assert all(abs(size - chars) <= 50 for size in sizes), sizes
    assert int(found.group(2).replace(",", "")) == round(chars / 4, -1)
