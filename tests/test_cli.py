"""The command line, end to end, with exact output where it matters."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import fixture_payload, run_hook

from wikimem.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(old)


def record_session(repo):
    for name in ("session_start", "user_prompt_submit", "post_tool_use_bash", "stop"):
        run_hook(fixture_payload(name, cwd=str(repo), session_id="cli-1"), repo)


def test_init_projects_and_path(runner, repo, wikimem_home):
    r = invoke(runner, ["init"], repo)
    assert r.exit_code == 0 and r.output.startswith("Project default/myproject (")
    r = invoke(runner, ["projects", "--json"], repo)
    (p,) = json.loads(r.output)
    assert p["name"] == "myproject" and p["root"] == str(repo.resolve())
    r = invoke(runner, ["path"], repo)
    wiki = r.output.strip()
    assert wiki == p["wiki"] and os.path.isdir(os.path.join(wiki, ".git"))
    assert invoke(runner, ["path", "--home"], repo).output.strip() == str(wikimem_home)
    # Idempotent: a second init changes nothing.
    invoke(runner, ["init"], repo)
    assert len(json.loads(invoke(runner, ["projects", "--json"], repo).output)) == 1


def test_compile_search_and_context(runner, repo):
    record_session(repo)
    r = invoke(runner, ["compile"], repo)
    assert r.exit_code == 0 and "wrote sessions/" in r.output
    r = invoke(runner, ["search", "QA", "Attio", "tools", "--json"], repo)
    hits = json.loads(r.output)
    assert hits[0]["kind"] == "session" and "Attio" in hits[0]["title"]
    r = invoke(runner, ["search", "Attio", "--kind", "index"], repo)
    assert r.output.startswith("index.md  [index,")
    assert invoke(runner, ["search", "Attio", "--until", "2000-01-01"], repo).output == (
        "No matches.\n")
    r = invoke(runner, ["context", "--json"], repo)
    ctx = json.loads(r.output)
    assert ctx["chars"] == len(ctx["context"]) < 10_000
    assert invoke(runner, ["compile", "--json"], repo).output.count('"commit": null') == 1
    r = invoke(runner, ["reindex"], repo)
    assert r.output == "Indexed 9 pages.\n"  # session, index, context, month, 5 hubs


def test_errors_are_clean(runner, repo, tmp_path):
    plain = tmp_path / "elsewhere"
    plain.mkdir()
    r = runner.invoke(cli, ["--project", "nope", "search", "x"])
    assert r.exit_code == 1
    assert r.output == ("Error: No project named 'nope'. Run `wikimem projects` to list them, "
                        "or `wikimem init` inside the repository to register it.\n")
    r = invoke(runner, ["search", "x"], plain)
    assert r.exit_code == 1
    assert "is not a wikimem project yet. Run `wikimem init` there." in r.output
    r = invoke(runner, ["search", "x", "--since", "yesterday"], repo)
    assert r.exit_code == 2 and "is not a date like 2026-11-21" in r.output
    assert runner.invoke(cli, ["nosuchcommand"]).exit_code == 2


def test_every_command_has_help_and_is_in_the_readme(runner):
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0 and command.help, name
        assert f"wikimem {name}" in readme, f"`wikimem {name}` is not in README.md"


def test_console_script_and_module_entry_points(repo):
    r = subprocess.run([sys.executable, "-m", "wikimem", "--version"], capture_output=True,
                       text=True)
    assert r.stdout.startswith("wikimem, version ")
    r = subprocess.run([sys.executable, "-m", "wikimem", "hook", "--help"], capture_output=True,
                       text=True)
    assert "Record one agent hook event" in r.stdout
