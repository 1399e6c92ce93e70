"""Where a session's page lives, whatever its id and the order its events arrive in.

Issue 11: ids sharing their last eight characters shared a page (compile then failed for
good), and a late event with an earlier timestamp renamed a page and left the old one behind.
(Raw-log file names: tests/test_rawlog.py.)
"""

import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from wikimem.agents.claude_code import adapter as claude_code
from wikimem.capture.observation import format_ts
from wikimem.capture.observe import capture
from wikimem.compile.build import compile_project
from wikimem.errors import WikimemError
from wikimem.project import Registry
from wikimem.search.index import SearchIndex
from wikimem.wiki.pages import Page, read_page, wiki_pages, write_pages


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
    """What each query finds and shows. (Not the order: an index updated in place keeps the
    statistics of replaced documents until Whoosh merges its segments, so BM25 scores of an
    incremental index and a fresh one differ a little, whichever pages they hold.)"""
    index = SearchIndex(project.index_dir, project.wiki_dir)
    return {q: sorted((h.path, h.snippet) for h in index.search(q, include_all=True, limit=50))
            for q in queries}


def indexed(project) -> list[tuple]:
    """The stored fields of every live document in the search index."""
    from whoosh.filedb.filestore import FileStorage

    with FileStorage(str(project.index_dir)).open_index().searcher() as searcher:
        return sorted(tuple(sorted(d.items())) for d in searcher.all_stored_fields())


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
    from wikimem.compile.sessions import page_stem

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


# --- 2. an earlier event arriving late ----------------------------------------------------


def test_a_late_earlier_event_across_months_leaves_no_old_page(repo):
    """The page moves to the earlier date: old page, old month and old index entry go."""
    project = prompt(repo, "s-late", "Tune the zebrafish loader for speed",
                     datetime(2025, 3, 1, 0, 10, tzinfo=UTC))
    prompt(repo, "s-other", "Refactor the penguin scheduler",
           datetime(2025, 2, 1, 8, 0, tzinfo=UTC))
    compile_project(project)
    assert "sessions/2025-03-01-s-late.md" in wiki_pages(project.wiki_dir)
    prompt(repo, "s-late", "Before that, profile the zebrafish parser",
           datetime(2025, 1, 31, 23, 50, tzinfo=UTC))
    result = compile_project(project)
    pages = wiki_pages(project.wiki_dir)
    assert "sessions/2025-01-31-s-late.md" in pages
    for old in ("sessions/2025-03-01-s-late.md", "timeline/2025-03.md"):
        assert old not in pages and old in result.removed
        assert old not in head_tree(project)
    hits = [h.path for h in SearchIndex(project.index_dir, project.wiki_dir).search(
        "zebrafish", include_all=True)]
    assert "sessions/2025-03-01-s-late.md" not in hits
    assert "sessions/2025-01-31-s-late.md" in hits
    incremental = snapshot(project.wiki_dir)
    queries = ["zebrafish", "penguin", "session", "2025"]
    found, docs = searched(project, queries), indexed(project)
    rebuilt = compile_project(project, rebuild=True)
    assert (rebuilt.written, rebuilt.removed) == ([], [])
    assert snapshot(project.wiki_dir) == incremental
    assert searched(project, queries) == found and indexed(project) == docs


def test_a_late_earlier_event_keeps_a_page_a_person_edited(repo):
    """The old page is removed through the gate: a person's edit of it is never deleted."""
    project = prompt(repo, "s-late", "Tune the zebrafish loader",
                     datetime(2025, 1, 11, 0, 10, tzinfo=UTC))
    compile_project(project)
    old = project.wiki_dir / "sessions/2025-01-11-s-late.md"
    old.write_text(old.read_text() + "\nMy own note.\n")
    prompt(repo, "s-late", "Profile first", datetime(2025, 1, 10, 23, 50, tzinfo=UTC))
    result = compile_project(project)
    assert old.read_text().endswith("My own note.\n")
    assert "sessions/2025-01-11-s-late.md" not in result.removed
    assert (project.wiki_dir / "sessions/2025-01-10-s-late.md").exists()


# --- incremental equals rebuild, for any order of arrival ---------------------------------


def _events():
    """(session id, ts, payload) of several sessions, some ids sharing their tail, some
    sessions spanning a day or a month boundary."""
    ids = ["alpha-session", "beta-session", "gamma-session",
           "11111111-aaaa-4bbb-8ccc-0000deadbeef", "22222222-aaaa-4bbb-8ccc-0000deadbeef",
           "Delta_Session"]
    starts = [datetime(2025, 1, 31, 23, 40, tzinfo=UTC), datetime(2025, 1, 31, 23, 55, tzinfo=UTC),
              datetime(2025, 2, 1, 10, 0, tzinfo=UTC), datetime(2025, 2, 1, 23, 58, tzinfo=UTC),
              datetime(2025, 2, 1, 23, 58, tzinfo=UTC), datetime(2025, 2, 2, 9, 0, tzinfo=UTC)]
    words = ["zebrafish", "penguin", "walrus", "otter", "heron", "lynx"]
    out = []
    for n, (sid, start) in enumerate(zip(ids, starts, strict=True)):
        w = words[n]
        steps = [
            {"hook_event_name": "UserPromptSubmit", "prompt": f"Fix the {w} loader in module {n}"},
            {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"t{n}-1",
             "tool_input": {"command": f"pytest tests/test_{w}.py"},
             "tool_response": {"stdout": "1 failed", "stderr": "", "interrupted": False}},
            {"hook_event_name": "UserPromptSubmit", "prompt": f"Now make the {w} cache faster"},
            {"hook_event_name": "PostToolUse", "tool_name": "Edit", "tool_use_id": f"t{n}-2",
             "tool_input": {"file_path": f"/src/{w}.py", "old_string": "a", "new_string": "b"},
             "tool_response": {}},
            {"hook_event_name": "Stop",
             "last_assistant_message": f"Decision: keep the {w} cache in memory\n\nDone."},
        ]
        for i, step in enumerate(steps):
            out.append((sid, start + timedelta(minutes=4 * i), {"session_id": sid, **step}))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuild_equals_incremental_for_shuffled_arrival(repo, seed):
    events = _events()
    random.Random(seed).shuffle(events)
    registry = Registry()
    project = None
    cut = sorted(random.Random(seed + 100).sample(range(1, len(events)), 5))
    for i, (_sid, ts, payload) in enumerate(events):
        payload = {**payload, "cwd": str(repo)}
        project = capture("claude-code", claude_code.normalize(payload), payload,
                          registry=registry, ts=format_ts(ts)).project
        if i + 1 in cut:
            compile_project(project)
    compile_project(project)
    incremental = snapshot(project.wiki_dir)
    assert len([p for p in incremental if p.startswith("sessions/")]) == 6
    queries = ["zebrafish", "penguin loader", "walrus", "otter cache", "heron", "lynx",
               "session", "decision", "pytest"]
    found, docs = searched(project, queries), indexed(project)
    assert len(docs) == len(incremental)
    tree = head_tree(project)

    rebuilt = compile_project(project, rebuild=True)
    assert (rebuilt.written, rebuilt.removed) == ([], [])
    assert snapshot(project.wiki_dir) == incremental
    assert searched(project, queries) == found and indexed(project) == docs
    assert {p for p in tree if p.endswith(".md")} == set(incremental)

    # And a wiki rebuilt from nothing out of the same raw log.
    shutil.rmtree(project.wiki_dir)
    shutil.rmtree(project.state_dir)
    shutil.rmtree(project.index_dir)
    compile_project(project, rebuild=True)
    assert snapshot(project.wiki_dir) == incremental
    assert searched(project, queries) == found and indexed(project) == docs


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
