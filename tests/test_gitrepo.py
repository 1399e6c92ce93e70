"""wikimem.wiki.gitrepo: which git operation a person left the wiki repository in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wikimem.wiki import gitrepo


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, check=check, capture_output=True, text=True)


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    """A repository with `page.md` changed differently on `main` and on `side`."""
    path = tmp_path / "wiki"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "page.md").write_text("base\n")
    git(path, "add", "page.md")
    git(path, "commit", "-qm", "base")
    git(path, "checkout", "-q", "-b", "side")
    (path / "page.md").write_text("side version\n")
    git(path, "commit", "-qam", "side")
    git(path, "checkout", "-q", "main")
    (path / "page.md").write_text("main version\n")
    git(path, "commit", "-qam", "main")
    return path


def _conflict(wiki: Path, *command: str) -> None:
    r = git(wiki, *command, check=False)
    assert r.returncode != 0, r.stdout + r.stderr  # stopped on the conflict, for a person


def _am(wiki: Path) -> None:
    patch = git(wiki, "format-patch", "-1", "--stdout", "side").stdout
    r = subprocess.run(["git", "am", "-3"], cwd=wiki, input=patch, capture_output=True,
                       text=True)
    assert r.returncode != 0


# Each operation really started with git, and stopped where git waits for a person.
OPERATIONS = {
    "merge": lambda w: _conflict(w, "merge", "side"),
    "cherry-pick": lambda w: _conflict(w, "cherry-pick", "side"),
    "revert": lambda w: (git(w, "commit", "-q", "--allow-empty", "-m", "later"),
                         (w / "page.md").write_text("changed again\n"),
                         git(w, "commit", "-qam", "again"),
                         _conflict(w, "revert", "--no-edit", "HEAD~2")),
    "rebase": lambda w: _conflict(w, "rebase", "side"),
    "rebase-apply": lambda w: _conflict(w, "rebase", "--apply", "side"),
    "am": _am,
    "bisect": lambda w: git(w, "bisect", "start", "HEAD", "HEAD~1"),
}


@pytest.mark.parametrize("started", sorted(OPERATIONS))
def test_operation_in_progress_names_what_git_is_in_the_middle_of(wiki: Path, started: str):
    assert gitrepo.operation_in_progress(wiki / ".git") is None
    OPERATIONS[started](wiki)
    found = gitrepo.operation_in_progress(wiki / ".git")
    assert found is not None
    assert found.name == ("rebase" if started == "rebase-apply" else started)
    assert found.name in found.what and found.name.split("-")[0] in found.advice


def test_cherry_pick_of_several_commits_stopped_after_a_resolved_conflict(wiki: Path):
    """A multi-commit cherry-pick a person resolved and committed by hand is still going:
    only git's sequencer says so."""
    (wiki / "other.md").write_text("x\n")
    git(wiki, "checkout", "-q", "side")
    git(wiki, "add", "other.md")
    git(wiki, "commit", "-qm", "second")
    git(wiki, "checkout", "-q", "main")
    _conflict(wiki, "cherry-pick", "side~1", "side")
    (wiki / "page.md").write_text("resolved\n")
    git(wiki, "add", "page.md")
    git(wiki, "-c", "core.editor=true", "commit", "-q", "--no-edit")
    assert not (wiki / ".git" / "CHERRY_PICK_HEAD").exists()
    found = gitrepo.operation_in_progress(wiki / ".git")
    assert found is not None and found.name == "cherry-pick"
    assert "git cherry-pick --continue" in found.advice
