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
    # (stdout: stderr now has the indexing stage's progress line, tests/test_progress.py)
    # session, its transcript, index, context, month, week, 5 hubs
    assert r.stdout == "Indexed 11 pages.\n"


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


# --- issue 11: where a command runs, pipes, registration, search input, help and README ---

def test_commands_in_a_projects_wiki_or_data_folder_use_that_project(runner, repo,
                                                                     wikimem_home):
    assert invoke(runner, ["decide", "Use tabs", "--why", "habit"], repo).exit_code == 0
    wiki = Path(invoke(runner, ["path"], repo).stdout.strip())
    data = wiki.parent
    for where in (wiki, wiki / "decisions", data, data / "raw", data / "state",
                  data / "index", wiki / ".git" / "objects"):
        r = invoke(runner, ["search", "tabs", "--json"], where)
        assert r.exit_code == 0, (where, r.output)
        assert [h["path"] for h in json.loads(r.stdout)] == ["decisions/D1-use-tabs.md"]
    assert invoke(runner, ["path"], wiki / "decisions").stdout.strip() == str(wiki)
    r = invoke(runner, ["note", "Recorded from inside the wiki"], wiki)
    assert r.exit_code == 0 and r.stderr == ""
    r = invoke(runner, ["--project", str(wiki), "search", "inside", "--json"], repo)
    assert [h["path"] for h in json.loads(r.stdout)] == [
        "notes/N1-recorded-from-inside-the-wiki.md"]
    # The home itself (or a folder of it that is no project) is never made a project.
    for where in (wikimem_home, data.parent):
        r = invoke(runner, ["note", "x"], where)
        assert r.exit_code == 1
        assert r.output == (f"Error: {where} is inside the wikimem home ({wikimem_home}), "
                            "not in a project's folder. Run the command in the project's "
                            "repository, or name it with --project (`wikimem projects` lists "
                            "them).\n")
    assert len(json.loads(invoke(runner, ["projects", "--json"], repo).stdout)) == 1


@pytest.mark.parametrize("args", [["search", "tabs"], ["show", "D1"], ["--help"],
                                  ["search", "--help"]])
def test_a_reader_that_closes_the_pipe_early_ends_the_output_quietly(repo, args):
    """`wikimem search x | head -1`: head leaves after its line, as git log's reader may."""
    subprocess.run([sys.executable, "-m", "wikimem", "decide", "Use tabs", "--why", "habit"],
                   cwd=repo, check=True, capture_output=True, timeout=120)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before wikimem writes its first byte
    try:
        r = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=repo, stdout=write,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr.decode()) == (0, "")


def test_write_commands_register_a_new_project_aloud_and_read_commands_refuse(runner,
                                                                              tmp_path):
    plain = tmp_path / "scratch"  # outside any git repository
    plain.mkdir()
    refused = f"Error: {plain} is not a wikimem project yet. Run `wikimem init` there.\n"
    for args in (["search", "x"], ["task", "claim", "--agent", "a"], ["forget", "D1",
                                                                       "--reason", "r"],
                 ["compile"], ["goal", "done", "G1"]):
        r = invoke(runner, args, plain)
        assert (r.exit_code, r.output) == (1, refused), args
    assert invoke(runner, ["projects", "--json"], plain).stdout == "[]\n"
    r = invoke(runner, ["decide", "Use tabs", "--why", "habit"], plain)
    assert r.exit_code == 0
    assert r.stderr == f"Registered project default/scratch at {plain}.\n"
    assert r.stdout.startswith("Decided D1: Use tabs\n")
    r = invoke(runner, ["note", "Second thought"], plain)
    assert r.exit_code == 0 and r.stderr == ""  # said once, when it is created
    r = invoke(runner, ["search", "tabs", "--json"], plain)
    assert [h["path"] for h in json.loads(r.stdout)] == ["decisions/D1-use-tabs.md"]
    other = tmp_path / "other"
    other.mkdir()
    r = invoke(runner, ["init"], other)  # registering is what init is for, and it says so
    assert r.stderr == "" and r.stdout.startswith("Project default/other (")


def test_search_kind_and_query_are_checked(runner, repo):
    invoke(runner, ["decide", "Use tabs", "--why", "habit"], repo)
    r = invoke(runner, ["search", "tabs", "--kind", "bogus"], repo)
    assert r.exit_code == 2
    assert r.output.endswith(
        "Error: Invalid value for '--kind': 'bogus' is not a page kind. Use one of: session, "
        "decision, lesson, note, goal, task, topic, overview, modules, rules, hotspots, "
        "history, index, context, hub, transcript, file, folder, timeline, digest (plurals too).\n")
    for kind in ("decisions", "Decision", "decision"):
        r = invoke(runner, ["search", "tabs", "--kind", kind, "--json"], repo)
        assert r.exit_code == 0
        assert [h["path"] for h in json.loads(r.stdout)] == ["decisions/D1-use-tabs.md"], kind
    assert json.loads(invoke(runner, ["search", "tabs", "--kind", "sessions", "--json"],
                             repo).stdout) == []
    for query in ([""], ["  "], ["", " "]):
        r = invoke(runner, ["search", *query], repo)
        assert r.exit_code == 2, query
        assert r.output.endswith("Error: The query is empty: say what to search for.\n")


def test_search_kind_accepts_a_kind_people_gave_their_own_pages(runner, repo):
    invoke(runner, ["init"], repo)
    wiki = Path(invoke(runner, ["path"], repo).stdout.strip())
    (wiki / "recipes").mkdir()
    (wiki / "recipes" / "bread.md").write_text(
        "---\ntitle: Sourdough bread\nkind: recipe\n---\n# Sourdough bread\n\nFlour, water.\n")
    invoke(runner, ["reindex"], repo)
    r = invoke(runner, ["search", "sourdough", "--kind", "recipe", "--json"], repo)
    assert [h["path"] for h in json.loads(r.stdout)] == ["recipes/bread.md"]
    r = invoke(runner, ["search", "sourdough", "--kind", "recipes", "--json"], repo)
    assert [h["path"] for h in json.loads(r.stdout)] == ["recipes/bread.md"]
    r = invoke(runner, ["search", "sourdough", "--kind", "cake"], repo)
    assert r.exit_code == 2 and "timeline, digest, recipe (plurals too)" in r.output


@pytest.mark.parametrize("args", [["task", "claim"], ["task", "heartbeat"], ["task", "release"],
                                  ["task", "done"], ["task", "fail"]])
def test_claim_commands_say_in_their_help_that_they_need_an_agent(runner, repo, args):
    text = " ".join(runner.invoke(cli, [*args, "--help"]).output.split())
    assert "--agent NAME Who holds the claim (required; or set $WIKIMEM_AGENT)." in text
    assert "'human'" not in text
    invoke(runner, ["task", "add", "Do it"], repo)
    extra = {"done": ["T1", "summary"], "fail": ["T1", "why"]}.get(args[1], [])
    r = invoke(runner, [*args, *extra], repo)
    assert r.exit_code == 2
    assert r.output.endswith("Error: Say who is working: --agent NAME (or set WIKIMEM_AGENT).\n")


def test_other_commands_record_as_human_by_default_as_their_help_says(runner, repo):
    text = " ".join(runner.invoke(cli, ["decide", "--help"]).output.split())
    assert "Who is recording this (default: $WIKIMEM_AGENT, else 'human')." in text
    r = invoke(runner, ["task", "add", "Do it", "--json"], repo)
    assert json.loads(r.stdout)["by"] == "human"


def test_init_names_a_readme_section_that_exists(runner, repo):
    r = invoke(runner, ["init"], repo)
    assert r.stdout.splitlines()[-1] == ("Next: install the agent hooks so sessions are "
                                         "recorded (see README, 'Use it in your project').")


def test_every_readme_section_a_message_names_exists():
    import re

    root = Path(__file__).parents[1]
    sections, fenced = set(), False
    for line in (root / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            sections.add(line.lstrip("#").strip())
    named = [(path.relative_to(root), name)
             for path in sorted((root / "wikimem").rglob("*.py"))
             for name in re.findall(r"README(?:\.md)?(?:,| section) ['\"‘“]([^'\"’”]+)['\"’”]",
                                    path.read_text(encoding="utf-8"))]
    assert named, "no message names a README section: the pattern above is out of date"
    missing = [(str(path), name) for path, name in named if name not in sections]
    assert missing == []
