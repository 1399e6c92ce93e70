"""Compile through its real path: raw log -> pages -> git -> Whoosh index -> context."""

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import session_events
from golden_wiki import (
    FAKE_CWD,
    GOLDEN,
    T0,
    assert_matches_golden,
    compile_golden_wiki,
    feed,
    read_wiki,
)

from wikimem.compile.build import compile_project
from wikimem.search.index import SearchIndex
from wikimem.wiki.pages import read_page, wiki_pages


def snapshot(wiki: Path) -> dict[str, bytes]:
    return {rel: (wiki / rel).read_bytes() for rel in wiki_pages(wiki)}


def git_log(wiki: Path, fmt="%an|%s") -> list[str]:
    return subprocess.run(["git", "log", f"--format={fmt}"], cwd=wiki, capture_output=True,
                          text=True, check=True).stdout.splitlines()


@pytest.fixture
def sessions():
    return (session_events(FAKE_CWD, "01-node-bump.jsonl"),
            session_events(FAKE_CWD, "02-issue-triage.jsonl"))


def test_golden_pages():
    """The pages compiled from the recorded fixture sessions, byte for byte."""
    assert_matches_golden(compile_golden_wiki())


def test_a_changed_golden_byte_fails_and_nothing_rewrites_it(tmp_path, monkeypatch):
    """The test only compares: no switch makes it write the golden files it checks."""
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN, golden)
    page = golden / "context.md"
    data = bytearray(page.read_bytes())
    data[len(data) // 2] ^= 0x01
    page.write_bytes(bytes(data))
    monkeypatch.setenv("WIKIMEM_UPDATE_GOLDEN", "1")  # the switch the test once had
    with pytest.raises(AssertionError, match=r"context\.md differs.*scripts/update_golden\.py"):
        assert_matches_golden(read_wiki(GOLDEN), golden)
    assert page.read_bytes() == bytes(data)


def test_update_golden_script_writes_the_committed_golden_files(tmp_path):
    """scripts/update_golden.py compiles the same wiki the test compares (into a folder given
    here, not over tests/golden)."""
    out = tmp_path / "regenerated"
    script = Path(__file__).resolve().parents[1] / "scripts" / "update_golden.py"
    r = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout
    assert read_wiki(out) == read_wiki(GOLDEN)


def test_rebuild_equals_incremental_byte_for_byte(sessions):
    first, second = sessions
    project = feed(first[:20], T0)
    compile_project(project)
    feed(first[20:], T0 + timedelta(minutes=5))
    compile_project(project)
    feed(second[:30], T0 + timedelta(days=1))
    compile_project(project)
    feed(second[30:], T0 + timedelta(days=1, minutes=5))
    compile_project(project)
    incremental = snapshot(project.wiki_dir)
    commits = len(git_log(project.wiki_dir))

    result = compile_project(project, rebuild=True)
    assert snapshot(project.wiki_dir) == incremental
    assert result.commit is None and result.written == []
    assert len(git_log(project.wiki_dir)) == commits

    # And from nothing: a fresh wiki rebuilt from the same raw log.
    shutil.rmtree(project.wiki_dir)
    shutil.rmtree(project.state_dir)
    compile_project(project, rebuild=True)
    assert snapshot(project.wiki_dir) == incremental


def test_incremental_rewrites_only_touched_pages(sessions):
    first, second = sessions
    feed(first, T0)
    project = feed(second[:10], T0 + timedelta(days=40))
    compile_project(project)
    feed(second[10:], T0 + timedelta(days=40, minutes=1))
    result = compile_project(project)
    s1 = "sessions/2026-03-02-5d5a7275-e69786bf.md"
    s2 = "sessions/2026-04-11-ecad6805-3e1ed5b8.md"
    assert s2 in result.written and s1 not in result.written
    assert "timeline/2026-03.md" not in result.written
    assert {"index.md", "context.md", "timeline/2026-04.md"} <= set(result.written)


def test_commit_identity_message_and_trailers(sessions):
    project = feed(sessions[1], T0)
    result = compile_project(project)
    body = subprocess.run(["git", "log", "-1", "--format=%an <%ae>%n%B"], cwd=project.wiki_dir,
                          capture_output=True, text=True, check=True).stdout
    # The title is the request without its slash command (`/prime & check out ...`).
    assert body.startswith("wikimem <wikimem@localhost>\nCompile session 2026-03-02: check out")
    assert "Session-Id: abc7156b-6420-4373-a150-9b2eecad6805" in body
    assert result.commit and len(git_log(project.wiki_dir)) == 2  # + repository creation
    again = compile_project(project)
    assert again.commit is None and again.observations == 0
    assert len(git_log(project.wiki_dir)) == 2


def test_human_edit_is_committed_as_human_and_never_overwritten(sessions):
    project = feed(sessions[1][:20], T0)
    compile_project(project)
    page = project.wiki_dir / "sessions/2026-03-02-ecad6805-3e1ed5b8.md"
    edited = page.read_text().replace("## Outcome", "## Outcome\n\nMy own note.")
    page.write_text(edited)
    feed(sessions[1][20:], T0 + timedelta(minutes=3))
    result = compile_project(project)
    assert result.human_edited == ["sessions/2026-03-02-ecad6805-3e1ed5b8.md"]
    assert page.read_text() == edited
    log = git_log(project.wiki_dir)
    assert log[0].startswith("wikimem|") and log[1] == "Test Human|Human edits: 1 file"
    # A rebuild keeps it too.
    assert compile_project(project, rebuild=True).human_edited == result.human_edited
    assert page.read_text() == edited


def test_pages_have_frontmatter_and_links(sessions):
    first, second = sessions
    feed(first, T0)
    project = feed(second, T0 + timedelta(hours=2))
    result = compile_project(project)
    meta, body = read_page(project.wiki_dir / "sessions/2026-03-02-ecad6805-3e1ed5b8.md")
    for key in ("title", "kind", "created", "updated", "sources", "tags", "status",
                "supersedes", "superseded_by"):
        assert key in meta
    assert meta["kind"] == "session" and meta["status"] == "active"
    assert meta["sources"][0] == "session:abc7156b-6420-4373-a150-9b2eecad6805"
    assert "[[2026-03-02-5d5a7275-e69786bf|this sls offiline package" in body
    assert "docs/open-issue-triage.md" in body
    assert result.broken_links == {}
    assert SearchIndex(project.index_dir, project.wiki_dir).backlinks(
        "sessions/2026-03-02-5d5a7275-e69786bf.md")


def test_search_finds_prompt_words_and_index_survives_corruption(sessions):
    project = feed(sessions[0], T0)
    compile_project(project)
    index = SearchIndex(project.index_dir, project.wiki_dir)
    hits = index.search("offiline package", kinds=["session"])
    assert hits[0].path == "sessions/2026-03-02-5d5a7275-e69786bf.md"
    for f in project.index_dir.iterdir():
        if f.is_file():
            f.write_bytes(b"garbage")
    again = SearchIndex(project.index_dir, project.wiki_dir)
    assert again.search("offiline package")[0].path == "sessions/2026-03-02-5d5a7275-e69786bf.md"
    assert again.rebuilt


def test_damaged_raw_line_is_reported_not_fatal(sessions):
    project = feed(sessions[0][:5], T0)
    raw = next(project.raw_dir.glob("*.jsonl"))
    with open(raw, "ab") as f:
        f.write(b"this is not json\n")
    feed(sessions[0][5:8], T0 + timedelta(minutes=1))
    result = compile_project(project)
    assert result.bad_lines == {raw.name: [6]}
    assert "sessions/2026-03-02-5d5a7275-e69786bf.md" in result.written
