"""`wikimem purge`: a planted secret is gone from every store, git history included, and the
wiki that is left still compiles, searches and gives context."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from wikimem import hook
from wikimem.cli import cli
from wikimem.compile.build import compile_project
from wikimem.compile.read import ensure_compiled_context
from wikimem.project import Registry
from wikimem.search.index import SearchIndex
from wikimem.wiki.pages import read_page

# Plain words: no built-in rule redacts them, as with a secret of a format nobody knew.
PLANTED = "zebra-" + "orchid-violin-" + "4417"
SESSION_A = "5a5a5a5a-0000-4000-8000-00000000000a"
SESSION_B = "5b5b5b5b-0000-4000-8000-00000000000b"



def page_b(project) -> Path:
    """Session B's page: not the machine's version offered beside a person's edit of it
    (`*.machine.md` matches the same glob, in the file system's order)."""
    [page] = [p for p in project.wiki_dir.glob("sessions/*-0000000b-*.md")
              if not p.name.endswith(".machine.md")]
    return page

def send(repo, session: str, event: str, **fields) -> None:
    payload = {"session_id": session, "cwd": str(repo), "hook_event_name": event, **fields}
    assert hook.run("claude-code", [], io.BytesIO(json.dumps(payload).encode()),
                    io.BytesIO()) == 0


def git(wiki, *args) -> str:
    return subprocess.run(["git", *args], cwd=wiki, capture_output=True, text=True,
                          check=True).stdout


def every_store(project) -> dict[str, bytes]:
    """Every byte the project holds, by store (git objects decompressed)."""
    stores: dict[str, bytes] = {}
    for name, folder in (("raw", project.raw_dir), ("state", project.state_dir),
                         ("index", project.index_dir)):
        stores[name] = b"".join(f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file())
    wiki = project.wiki_dir
    stores["pages"] = b"".join(f.read_bytes() for f in sorted(wiki.rglob("*"))
                               if f.is_file() and ".git" not in f.relative_to(wiki).parts)
    stores["git objects"] = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=wiki, capture_output=True,
        check=True).stdout
    listing = git(wiki, "rev-list", "--all", "--objects")
    shas = "".join(line.split(" ", 1)[0] + "\n" for line in listing.splitlines())
    stores["reachable objects"] = subprocess.run(["git", "cat-file", "--batch"], cwd=wiki,
                                                 input=shas.encode(), capture_output=True,
                                                 check=True).stdout
    stores["git log"] = git(wiki, "log", "-p", "--all", "--format=%H %s%n%b").encode()
    stores["reflog"] = git(wiki, "reflog", "--all").encode()
    # The repository's own files (reflogs, COMMIT_EDITMSG, the index, packed refs...), as is.
    stores["git files"] = b"".join(f.read_bytes() for f in sorted((wiki / ".git").rglob("*"))
                                   if f.is_file())
    stores["context"] = ensure_compiled_context(project).encode()
    return stores


def found_in(project, needle: str) -> list[str]:
    forms = {needle.encode(), needle.lower().encode(), json.dumps(needle)[1:-1].encode()}
    return [name for name, blob in every_store(project).items()
            if any(f in blob for f in forms)]


@pytest.fixture
def planted(repo, monkeypatch):
    """Two sessions compiled in several commits; A holds the planted value everywhere."""
    monkeypatch.chdir(repo)
    send(repo, SESSION_A, "UserPromptSubmit",
         prompt=f"Connect the billing service; the vault passphrase is {PLANTED}")
    send(repo, SESSION_A, "PreToolUse", tool_name="Bash", tool_use_id="a1",
         tool_input={"command": f"vault login -passphrase {PLANTED}"})
    project = Registry().resolve(repo)
    assert compile_project(project).commit
    send(repo, SESSION_A, "PostToolUse", tool_name="Bash", tool_use_id="a1",
         tool_input={"command": f"vault login -passphrase {PLANTED}"},
         tool_response={"stdout": f"logged in with {PLANTED}", "stderr": ""})
    send(repo, SESSION_A, "Stop", last_assistant_message=f"Decision: use the vault with "
                                                         f"{PLANTED} for billing")
    assert compile_project(project).commit
    send(repo, SESSION_B, "UserPromptSubmit", prompt="Fix the flaky pagination test")
    send(repo, SESSION_B, "PostToolUse", tool_name="Bash", tool_use_id="b1",
         tool_input={"command": "pytest tests/test_pagination.py"},
         tool_response={"stdout": "1 passed", "stderr": ""})
    send(repo, SESSION_B, "Stop", last_assistant_message="The pagination test passes now.")
    assert compile_project(project).commit
    result = CliRunner().invoke(cli, ["note", f"Rotate {PLANTED} every quarter"])
    assert result.exit_code == 0, result.output  # (recording a note compiles)
    # A person edits B's page and mentions the value there too.
    page = page_b(project)
    page.write_text(page.read_text() + f"\nHuman note: not {PLANTED}.\n")
    compile_project(project)
    assert set(found_in(project, PLANTED)) >= {"raw", "pages", "git objects", "git log",
                                               "index", "context"}
    return project


def assert_still_works(project) -> None:
    wiki = project.wiki_dir
    assert git(wiki, "status", "--porcelain") == ""
    subprocess.run(["git", "fsck", "--full", "--strict"], cwd=wiki, check=True,
                   capture_output=True)
    compile_project(project)
    compile_project(project, rebuild=True)
    hits = SearchIndex(project.index_dir, project.wiki_dir).search("pagination")
    assert any("0000000b" in h.path for h in hits)
    assert "pagination" in ensure_compiled_context(project)
    result = CliRunner().invoke(cli, ["search", "pagination"])
    assert result.exit_code == 0 and "0000000b" in result.output


def test_purge_secret_removes_it_from_every_store(planted):
    project = planted
    commits_before = int(git(project.wiki_dir, "rev-list", "--count", "HEAD"))
    result = CliRunner().invoke(cli, ["purge", "--secret", PLANTED, "--yes"])
    assert result.exit_code == 0, result.output
    assert "nothing of it is left in any store" in result.output
    assert found_in(project, PLANTED) == []
    # History is kept, only cleaned: every commit, plus the rebuild and the person's page.
    commits_after = int(git(project.wiki_dir, "rev-list", "--count", "HEAD"))
    assert commits_after == commits_before + 2
    assert "[REDACTED:purged]" in (project.raw_dir / f"{SESSION_A}.jsonl").read_text()
    human = page_b(project)
    assert "Human note: not [REDACTED:purged]." in human.read_text()
    # In a file name (the note's slug) it became a word that keeps the path valid.
    note = next(project.wiki_dir.glob("notes/N1-*.md"))
    assert note.name == "N1-rotate-purged-every-quarter.md"
    assert "Rotate [REDACTED:purged] every quarter" in note.read_text()
    assert_still_works(project)
    assert "Human note" in human.read_text()  # the person's edit is still theirs


def test_purge_session_removes_it_from_every_store(planted):
    project = planted
    page = next(project.wiki_dir.glob("sessions/*-0000000a-*.md")).relative_to(project.wiki_dir)
    result = CliRunner().invoke(cli, ["purge", "--session", SESSION_A], input="y\n")
    assert result.exit_code == 0, result.output
    assert "permanently removes session " + SESSION_A in result.output
    assert not (project.raw_dir / f"{SESSION_A}.jsonl").exists()
    assert not (project.wiki_dir / page).exists()
    assert git(project.wiki_dir, "log", "--all", "--format=%H", "--", str(page)) == ""
    for needle in (SESSION_A, page.stem, "vault passphrase", "vault login"):
        assert found_in(project, needle) == [], needle
    # The value was in A and also in a note and a person's edit: those are not the session.
    # `--secret` takes them out.
    result = CliRunner().invoke(cli, ["purge", "--secret", PLANTED, "--yes", "--json"])
    assert json.loads(result.output)["remaining"] == {
        "raw log": 0, "state": 0, "pages": 0, "git objects": 0, "git files": 0, "index": 0}
    assert found_in(project, PLANTED) == []
    assert_still_works(project)
    meta, _ = read_page(page_b(project))
    assert meta["session_id"] == SESSION_B


def test_purge_asks_first_and_checks_its_arguments(planted):
    project = planted
    head = git(project.wiki_dir, "rev-parse", "HEAD")
    result = CliRunner().invoke(cli, ["purge", "--secret", PLANTED], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert git(project.wiki_dir, "rev-parse", "HEAD") == head
    assert PLANTED in (project.raw_dir / f"{SESSION_A}.jsonl").read_text()
    result = CliRunner().invoke(cli, ["purge"])
    assert result.exit_code == 2 and "exactly one of" in result.output
    result = CliRunner().invoke(cli, ["purge", "--session", "nope", "--secret", "x"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["purge", "--session", "no-such-session", "--yes"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: No session 'no-such-session' in project")
    result = CliRunner().invoke(cli, ["purge", "--secret", "ab", "--yes"])
    assert result.exit_code == 1 and "at least 4 characters" in result.output
    result = CliRunner().invoke(cli, ["purge", "--secret", "-", "--yes"], input=PLANTED + "\n")
    assert result.exit_code == 0, result.output
    assert found_in(project, PLANTED) == []


def test_purge_project_deletes_everything(planted, repo):
    project = planted
    result = CliRunner().invoke(cli, ["purge", "--project", "--yes"])
    assert result.exit_code == 0, result.output
    assert not project.dir.exists()
    assert project.project_id not in Registry().load()["projects"]
    send(repo, SESSION_B, "UserPromptSubmit", prompt="a new start")
    fresh = Registry().resolve(repo)
    assert fresh.project_id != project.project_id
    assert PLANTED not in "".join(p.read_text() for p in fresh.raw_dir.glob("*.jsonl"))


def test_purge_session_keeps_what_later_records_say(planted):
    """A decision lifted from the purged session, accepted and then superseded: the newer
    decision stays a machine page (not mistaken for a person's edit) and the wiki is clean."""
    from wikimem.compile.read import load_memory

    project = planted
    lifted = next(i for i in load_memory(project).items.values()
                  if i.page.startswith("decisions/D-"))
    runner = CliRunner()
    assert runner.invoke(cli, ["accept", lifted.id]).exit_code == 0
    result = runner.invoke(cli, ["decide", "Keep billing secrets in the KMS", "--why", "audit",
                                 "--supersedes", lifted.id])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["purge", "--session", SESSION_A, "--yes"])
    assert result.exit_code == 0 and "nothing of it is left" in result.output, result.output
    newer = next(project.wiki_dir.glob("decisions/D1-*.md"))
    from wikimem.wiki.pages import is_machine_page

    assert is_machine_page(newer.read_text())
    assert git(project.wiki_dir, "status", "--porcelain") == ""
    assert not compile_project(project).written
    assert "vault passphrase" not in newer.read_text()


def test_purge_session_removes_the_copy_a_person_edited(planted):
    """The compiler keeps a page a person edited; purging its session removes it all the
    same (through the page gate), from the work tree and from every commit."""
    project = planted
    page = next(project.wiki_dir.glob("sessions/*-0000000a-*.md"))
    rel = page.relative_to(project.wiki_dir).as_posix()
    page.write_text(page.read_text() + "\nHuman note: keep this session in mind.\n")
    compile_project(project)  # commits the person's edit
    result = CliRunner().invoke(cli, ["purge", "--session", SESSION_A, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert rel in json.loads(result.output)["pages_removed"]
    assert not page.exists()
    assert git(project.wiki_dir, "log", "--all", "--format=%H", "--", rel) == ""
    assert found_in(project, "keep this session in mind") == []
    assert "Human note: not" in page_b(project).read_text()
    assert git(project.wiki_dir, "status", "--porcelain") == ""
