"""Where a session's page lives, whatever its id.

Issue 11: ids sharing their last eight characters shared a page (compile then failed for
good). (Raw-log file names: tests/test_rawlog.py.)
"""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from wikimem.adapters import claude_code
from wikimem.capture import capture
from wikimem.compile import compile_project
from wikimem.errors import WikimemError
from wikimem.index import SearchIndex
from wikimem.observation import format_ts
from wikimem.pages import Page, read_page, wiki_pages, write_pages
from wikimem.project import Registry


def snapshot(wiki) -> dict[str, bytes]:
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def prompt(repo, session: str, text: str, when: datetime, registry=None):
    payload = {"session_id": session, "cwd": str(repo), "hook_event_name": "UserPromptSubmit",
               "prompt": text}
    return capture("claude-code", claude_code.normalize(payload), payload,
                   registry=registry or Registry(), ts=format_ts(when)).project


def session_pages(project) -> dict[str, dict]:
    """sessions/*.md -> frontmatter."""
    return {rel: read_page(project.wiki_dir / rel)[0] for rel in wiki_pages(project.wiki_dir)
            if rel.startswith("sessions/")}


def head_tree(project) -> set[str]:
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD"], cwd=project.wiki_dir,
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def searched(project, queries) -> dict[str, list[tuple[str, str]]]:
    index = SearchIndex(project.index_dir, project.wiki_dir)
    return {q: [(h.path, h.snippet) for h in index.search(q, include_all=True, limit=50)]
            for q in queries}


# --- 1. page names ------------------------------------------------------------------------


def test_sessions_whose_ids_share_a_tail_each_get_their_own_page(repo):
    day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    ids = ["alpha-session", "beta-session", "gamma-session"]
    for i, sid in enumerate(ids):
        project = prompt(repo, sid, f"Work on the {sid.split('-')[0]} feature of the parser",
                         day + timedelta(minutes=i))
    first = compile_project(project)
    assert first.commit is not None
    pages = session_pages(project)
    assert sorted(meta["session_id"] for meta in pages.values()) == ids
    assert project.context_file.read_text().strip()
    # Later compiles and rebuilds keep working (they failed for good before).
    prompt(repo, "beta-session", "And then the beta lexer too", day + timedelta(hours=1))
    assert compile_project(project).commit is not None
    before = snapshot(project.wiki_dir)
    rebuilt = compile_project(project, rebuild=True)
    assert rebuilt.written == [] and rebuilt.removed == []
    assert snapshot(project.wiki_dir) == before
    assert len(session_pages(project)) == 3


def test_page_names_are_unique_short_readable_and_a_function_of_id_and_date():
    from wikimem.sessions import page_stem

    ids = ["alpha-session", "beta-session", "gamma-session", "s-1", "sess-1", "a",
           "Alpha-Session", "ALPHA-SESSION", "alpha_session", "alpha session", "alpha-session-",
           "abc7156b-6420-4373-a150-9b2eecad6805", "def7156b-6420-4373-a150-9b2eecad6805",
           "ABC7156B-6420-4373-A150-9B2EECAD6805", "ecad6805", "x-ecad6805", "ses_stage0_small",
           "[trimmed for fixture]", "../../etc/passwd", "", "é", "日本語", "a" * 200,
           "a" * 199 + "b", "wikimem-memory", "release-20260101", "release-20260101-x"]
    stems = [page_stem(sid, "2026-12-03T23:59:59Z") for sid in ids]
    # Unique, also ignoring case (links resolve case-insensitively, and so do some disks).
    assert len({s.casefold() for s in stems}) == len(ids)
    for sid, stem in zip(ids, stems, strict=True):
        assert stem.startswith("2026-12-03-") and len(stem) <= 11 + 24 + 9, stem
        assert stem == page_stem(sid, "2026-12-03T00:00:00Z")  # the day, not the time
        tag = stem[11:]
        assert tag and all(c.isascii() and (c.isalnum() or c == "-") for c in tag), stem
    # Readable: a short plain id is its own name; a UUID keeps its random tail in sight.
    assert stems[0] == "2026-12-03-alpha-session"
    assert stems[3] == "2026-12-03-s-1"
    assert stems[11].startswith("2026-12-03-ecad6805-")
    assert page_stem("alpha-session", "2026-12-04T00:00:00Z") == "2026-12-04-alpha-session"


def test_one_write_never_gives_two_pages_one_path(tmp_path):
    """A naming bug must stop loudly, not lose a page or leave a temporary file."""
    pages = [Page("sessions/2026-12-03-session.md", {"title": t}, t) for t in ("a", "b")]
    with pytest.raises(WikimemError, match="same path: sessions/2026-12-03-session.md"):
        write_pages(tmp_path / "wiki", pages)
    assert not (tmp_path / "wiki").exists()


def test_a_wiki_whose_pages_were_named_otherwise_is_renamed_once(repo):
    """Upgrading: pages under the names an older wikimem gave go, in one rebuild."""
    sid = "abc7156b-6420-4373-a150-9b2eecad6805"
    project = prompt(repo, sid, "Tune the zebrafish loader", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    compile_project(project)
    (page,) = session_pages(project)
    old = project.wiki_dir / "sessions/2026-03-02-ecad6805.md"  # the name it had before
    old.write_bytes((project.wiki_dir / page).read_bytes())
    state = json.loads((project.state_dir / "compile.json").read_text())
    del state["names"]
    (project.state_dir / "compile.json").write_text(json.dumps(state))
    result = compile_project(project)
    assert result.removed == ["sessions/2026-03-02-ecad6805.md"] and not old.exists()
    assert list(session_pages(project)) == [page]
    again = compile_project(project)
    assert (again.written, again.removed, again.commit) == ([], [], None)
