"""Symbolic links planted in the wikimem home (issue 11, part 4).

wikimem never writes through a link in its home: not the hook into `raw/`, not the compiler
into `wiki/`, not either of them into `state/` or `index/`. What a link hides is refused and
recorded, everything else keeps working, and `wikimem doctor` names every link.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import fixture_payload, run_hook

from wikimem import doctor, hook
from wikimem.compile.build import compile_project
from wikimem.errors import SymlinkRefused
from wikimem.project import Registry
from wikimem.wiki.pages import Page, remove_pages, write_pages


def project_for(repo):
    return Registry().resolve(repo)


def errors(project) -> list[dict]:
    log = project.error_log
    if log.is_symlink() or not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines()]


def hook_event(repo, name: str, session: str, **extra) -> None:
    r = run_hook(fixture_payload(name, cwd=str(repo), session_id=session, **extra), repo)
    assert r.returncode == 0


@pytest.fixture
def compiled(repo):
    """A project with one compiled session, s-1."""
    hook_event(repo, "user_prompt_submit", "s-1")
    hook_event(repo, "stop", "s-1")
    project = project_for(repo)
    compile_project(project)
    assert (project.wiki_dir / "timeline").is_dir()
    return project


class Outside:
    """What a link planted in the home points at, outside it: a file, a folder or nothing."""

    def __init__(self, tmp_path: Path, replaced: Path):
        self.place = tmp_path / "outside"
        self.place.mkdir()
        if replaced.is_dir() and not replaced.is_symlink():
            self.target = self.place / "folder"
            self.target.mkdir()
            shutil.rmtree(replaced)
        elif replaced.exists():
            self.target = self.place / "file"
            self.target.write_text("not wikimem's\n")
            replaced.unlink()
        else:
            self.target = self.place / "nothing-yet"  # a dangling link: never to be created
        replaced.parent.mkdir(parents=True, exist_ok=True)
        replaced.symlink_to(self.target)
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, bytes | None]:
        return {str(p.relative_to(self.place)): None if p.is_dir() else p.read_bytes()
                for p in sorted(self.place.rglob("*"))}


# -- the hook and the raw log ------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ".keys"])
def test_a_link_at_a_session_log_is_not_appended_through(compiled, repo, tmp_path, suffix):
    link = compiled.raw_dir / f"s-2{suffix}"
    outside = Outside(tmp_path, link)
    hook_event(repo, "user_prompt_submit", "s-2")
    assert outside.snapshot() == outside.before and link.is_symlink()
    (err,) = errors(compiled)
    assert "SymlinkRefused" in err["error"] and str(link) in err["error"]
    # The other sessions are captured as before.
    hook_event(repo, "user_prompt_submit", "s-3")
    assert (compiled.raw_dir / "s-3.jsonl").stat().st_size > 0


@pytest.mark.parametrize("folder", ["raw", "."])
def test_a_linked_raw_or_project_folder_is_not_written_through(compiled, repo, tmp_path,
                                                               folder):
    link = Path(os.path.normpath(compiled.dir / folder))
    outside = Outside(tmp_path, link)
    r = run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="s-2"), repo)
    assert r.returncode == 0
    assert outside.snapshot() == outside.before
    recorded = [e["error"] for e in errors(compiled)]
    if folder == ".":  # the error log is behind the link too: the hook says so on stderr
        assert recorded == [] and f"{link} is a symbolic link" in r.stderr.decode()
    else:
        assert len(recorded) == 1 and f"{link} is a symbolic link" in recorded[0]


# -- the compiler and the wiki -------------------------------------------------------------------

def test_a_linked_wiki_folder_is_refused_and_compile_keeps_working(compiled, repo, tmp_path):
    """The issue's case: `wiki/timeline` made a link to a folder outside the home."""
    link = compiled.wiki_dir / "timeline"
    outside = Outside(tmp_path, link)
    for session in ("s-2", "s-3"):
        hook_event(repo, "user_prompt_submit", session)
        hook_event(repo, "stop", session)
        result = compile_project(compiled)  # (before the fix, the second one failed in git)
        assert outside.snapshot() == outside.before and link.is_symlink()
        assert [p for p in result.refused if p.startswith("timeline/")]
        assert any(p.startswith("sessions/") for p in result.written) and result.commit
        assert "timeline" in errors(compiled)[-1]["error"]
        assert "not written" in errors(compiled)[-1]["error"]


def test_a_linked_page_is_not_written_through(compiled, repo, tmp_path):
    link = compiled.wiki_dir / "index.md"
    outside = Outside(tmp_path, link)
    hook_event(repo, "user_prompt_submit", "s-2")
    result = compile_project(compiled)
    assert "index.md" in result.refused and link.is_symlink()
    assert outside.snapshot() == outside.before
    assert result.commit


def test_the_page_gate_refuses_links_and_writes_the_rest(tmp_path):
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "page.md").write_text("theirs\n")
    (wiki / "folder").symlink_to(outside)
    (wiki / "linked.md").symlink_to(outside / "page.md")
    (wiki / "deep").mkdir()
    (wiki / "deep" / "er").symlink_to(outside)
    pages = [Page(rel, {"title": rel}, "body") for rel in
             ("folder/page.md", "folder/new.md", "linked.md", "deep/er/x.md", "plain.md")]
    result = write_pages(wiki, pages)
    assert result.written == ["plain.md"]
    assert result.refused == ["deep/er/x.md", "folder/new.md", "folder/page.md", "linked.md"]
    assert sorted(p.name for p in outside.iterdir()) == ["page.md"]
    assert (outside / "page.md").read_text() == "theirs\n"


@pytest.mark.parametrize("edited_too", [False, True])
def test_the_page_gate_removes_nothing_through_a_link(tmp_path, edited_too):
    """A machine page in a linked folder is not the wiki's to delete (nor is purge's copy)."""
    wiki, outside = tmp_path / "wiki", tmp_path / "outside"
    write_pages(outside, [Page("page.md", {"title": "p"}, "body"),
                          Page("other.md", {"title": "o"}, "body")])
    wiki.mkdir()
    (wiki / "folder").symlink_to(outside)
    (wiki / "deep").mkdir()
    (wiki / "deep" / "er").symlink_to(outside)
    (wiki / "linked.md").symlink_to(outside / "page.md")
    write_pages(wiki, [Page("plain.md", {"title": "x"}, "body")])
    result = remove_pages(wiki, ["folder/page.md", "deep/er/other.md", "linked.md", "plain.md"],
                          edited_too=edited_too)
    assert result.written == ["plain.md"]
    assert result.refused == ["deep/er/other.md", "folder/page.md", "linked.md"]
    assert sorted(p.name for p in outside.iterdir()) == ["other.md", "page.md"]
    assert (wiki / "linked.md").is_symlink()


# -- every writer into the home ----------------------------------------------------------------

# Paths in a project's folder that the hook or the compiler writes, and whether the hook and
# the compiler keep working with a link there (else they stop with an error naming it).
PLACES = {
    "raw/s-1.jsonl": True, "raw/s-1.keys": True, "wiki/timeline": True,
    "wiki/sessions": True, "wiki/index.md": True, "wiki/.gitignore": True,
    "state/errors.log": True, "state/context.md": True, "state/compile.json": True,
    "index/MAIN_WRITELOCK": True,
    "raw": False, "wiki": False, "index": False, "state": False, ".": False,
    "state/sessions": False, "state/sessions/s-1.json": False, "state/sessions.jsonl": False,
    "state/compile.lock": False, ".index.lock": False,
}


@pytest.mark.parametrize("rel", sorted(PLACES))
def test_nothing_outside_the_home_is_written_whatever_is_linked(compiled, repo, tmp_path, rel):
    link = Path(os.path.normpath(compiled.dir / rel))
    if rel.endswith(".lock"):
        link.unlink()  # (a lock file's bytes never change: a dangling link shows it)
    outside = Outside(tmp_path, link)

    run_hook(None, repo, raw=b"{not json")  # -> state/errors.log
    hook_event(repo, "post_tool_use_bash", "s-1", tool_use_id="tu-new")
    hook_event(repo, "user_prompt_submit", "s-2")
    hook_event(repo, "stop", "s-2")
    for _ in range(2):
        try:
            compile_project(compiled)
            refused = None
        except SymlinkRefused as exc:
            refused = exc
        assert (refused is None) == PLACES[rel], refused
        if refused is not None:
            assert str(link) in str(refused) and "symbolic link" in str(refused)

    assert outside.snapshot() == outside.before
    if link.is_symlink():  # (the index is rebuilt without it)
        check = doctor.check_links(compiled)
        assert check.status == "FAIL" and str(link) in check.detail, check


def test_compile_log_link_is_not_written_and_the_compile_still_starts(compiled, tmp_path,
                                                                      monkeypatch):
    link = compiled.state_dir / "compile.log"
    outside = Outside(tmp_path, link)
    started = []
    monkeypatch.setattr("subprocess.Popen", lambda args, **kw: started.append(args))
    hook.spawn_compile(compiled)
    assert started and outside.snapshot() == outside.before
    assert "compile.log" in errors(compiled)[-1]["error"]


def test_doctor_names_every_link_but_those_inside_git(compiled, tmp_path):
    assert doctor.check_links(compiled).status == "PASS"
    target = tmp_path / "elsewhere"
    target.mkdir()
    planted = [compiled.raw_dir / "a.jsonl", compiled.wiki_dir / "notes" / "b.md",
               compiled.index_dir / "c", compiled.state_dir / "d.json"]
    for link in planted:
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(target)
    (compiled.wiki_dir / ".git" / "e").symlink_to(target)
    check = doctor.check_links(compiled)
    assert check.status == "FAIL"
    assert all(str(link) in check.detail for link in planted)
    assert ".git" not in check.detail and "rm " in check.fix


def test_session_start_context_is_printed_with_a_linked_raw_log(compiled, repo, tmp_path):
    outside = Outside(tmp_path, compiled.raw_dir / "s-2.keys")
    payload = fixture_payload("session_start", cwd=str(repo), session_id="s-2")
    stdout = io.BytesIO()
    assert hook.run("claude-code", [], stdin=io.BytesIO(json.dumps(payload).encode()),
                    stdout=stdout) == 0
    assert "additionalContext" in stdout.getvalue().decode()
    assert outside.snapshot() == outside.before
