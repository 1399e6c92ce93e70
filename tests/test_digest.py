"""Issue 14: session pages as digests with a transcript page, file pages, and page text kept
as written (no entities in code, no control characters, paths from the repository root)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from golden_wiki import feed, read_wiki
from page_checks import page_problems, wiki_problems

from wikimem.capture.observation import Observation, new_id
from wikimem.compile.build import compile_project
from wikimem.compile.sessions import digest, relative_path
from wikimem.compile.work import read_command, request_title, split_prompt
from wikimem.wiki.pages import Page, read_page
from wikimem.wiki.text import escape_text, quote

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def o(kind, n, cwd="/repo", **data):
    return Observation(id=new_id(), key="k", session="sess-1234567", agent="claude-code",
                       kind=kind, ts=f"2026-03-01T10:00:{n:02d}.000Z", cwd=cwd, data=data)


# -- part 4: text as written ------------------------------------------------------------------


def test_code_is_kept_as_written_and_prose_is_escaped():
    text = "run `a <b> [[x]]` then <b> [[y]]"
    assert escape_text(text) == "run `a <b> [[x]]` then &lt;b> \\[\\[y\\]\\]"
    quoted = quote("see\n```html\n<div>[[a]]</div>\n```\nand <i>")
    assert "> <div>[[a]]</div>" in quoted and "> and &lt;i>" in quoted
    assert page_problems(Page("a.md", {"title": "a"}, quoted).render()) == []


def test_what_may_not_be_code_stays_escaped():
    # A fence in a list item whose next line is less indented ends with the item: that line
    # is HTML to markdown, so it is escaped.
    assert "&lt;b>" in quote("- a\n  ```\n<b>\n  ```")
    # An escaped backtick opens no code span; an unmatched run neither; nor a fence outside
    # a block of its own.
    assert escape_text("\\`<b>` x") == "\\`&lt;b>` x"
    assert escape_text("``<b>`") == "``&lt;b>`"
    assert escape_text("```\n<b>\n```") == "```\n&lt;b>\n```"


def test_no_control_characters_or_terminal_escapes_on_a_page():
    text = Page("a.md", {"title": "t\x1b[1mx"},
                "\x1b[31mFAIL\x1b[0m tests\r\nok\x07 \x1b]0;title\x07done\0").render()
    assert "FAIL tests\nok done\ufffd" in text
    assert page_problems(text) == []


def test_paths_are_relative_to_the_repository_root():
    assert relative_path("src/App.tsx", "/repo/apps/app", "/repo") == "apps/app/src/App.tsx"
    assert relative_path("/repo/apps/app/src/App.tsx", "/repo/apps/app", "/repo") == \
        "apps/app/src/App.tsx"
    assert relative_path("../lib/x.py", "/repo/apps", "/repo") == "lib/x.py"
    assert relative_path("/etc/hosts", "/repo", "/repo") == "/etc/hosts"
    rec = digest([
        o("tool_post", 1, cwd="/repo/apps/app", tool="Edit",
          files=[{"path": "src/App.tsx", "op": "change"}]),
        o("tool_post", 2, cwd="/repo", tool="Edit",
          files=[{"path": "/repo/apps/app/src/App.tsx", "op": "change"}]),
    ], root="/repo")
    assert rec.files_changed == ["apps/app/src/App.tsx"]
    assert rec.files["apps/app/src/App.tsx"]["changes"] == 2


# -- part 1: the digest -----------------------------------------------------------------------

NOTIFICATION = ("<task-notification>\n<task-id>w1</task-id>\n<status>completed</status>\n"
                "<summary>Dynamic workflow \"Step 1: analysis\" completed</summary>\n"
                "<result>{\"docs\": 6, \"marker\": \"zanzibar\"}</result>\n</task-notification>")


def test_harness_text_is_recognised_not_taken_for_the_user():
    words, notes = split_prompt(NOTIFICATION)
    assert words == "" and notes == [
        ('Task notification: Dynamic workflow "Step 1: analysis" completed',
         NOTIFICATION)]
    words, notes = split_prompt("make the docs folder: [Image #1]")
    assert words == "make the docs folder:" and notes == [("Image", "[Image #1]")]
    words, _ = split_prompt("<command-message>prime</command-message>\n"
                            "<command-name>/prime</command-name>\n"
                            "<command-args>read the handover</command-args>")
    assert words == "/prime read the handover"
    rec = digest([o("prompt", 1, prompt="Fix the flaky login test on CI"),
                  o("prompt", 2, prompt=NOTIFICATION),
                  o("stop", 3, message="Fixed.")])
    assert rec.prompts == ["Fix the flaky login test on CI"]
    assert rec.harness == {"task notification": 1}
    assert [t["role"] for t in rec.turns] == ["user", "harness", "agent"]


def test_title_says_what_the_session_was_about():
    assert request_title("/prime & read /Users/me/src/docs/handovers/CLXP-103-handover.md "
                         "and challenge the v4 PR") == \
        "read CLXP-103-handover.md and challenge the v4 PR"
    assert request_title("/effort ultracode") == ""
    rec = digest([o("prompt", 1, prompt="/effort ultracode"),
                  o("stop", 2, message="# ✅ Done — PR #265 pushed\n\nAll green.")])
    assert rec.title == "PR #265 pushed"


def test_commits_pull_requests_and_tests_are_read_from_commands():
    script = ("cd /x\ngit add .\ngit commit -q -m \"chore: repo docs\" -m \"body\nmore\"\n"
              "git commit -m \"$(cat <<'EOF'\nfeat: heredoc subject\n\nbody\nEOF\n)\"")
    assert read_command(script, "", 0) == {"commits": ["chore: repo docs",
                                                       "feat: heredoc subject"]}
    assert read_command("git commit -m x", "[main 1a2b3c4d] fix: the thing\n 1 file", 0) == \
        {"commits": ["1a2b3c4 fix: the thing"]}
    assert read_command("git commit -m 'no'", "", 1) == {}
    pr = read_command("gh pr create \\\n  --title \"feat: v4 support\" --body-file b.md",
                      "https://github.com/o/r/pull/265\n", 0)
    assert pr == {"prs": ["https://github.com/o/r/pull/265 — feat: v4 support"]}
    run = read_command("cd /x && npx jest packages/a 2>&1 | tail",
                       "\x1b[31mTests:  1 failed, 5 passed, 6 total\x1b[0m", 1)
    assert run == {"tests": [{"command": "npx jest packages/a", "result": "failed (exit 1)",
                              "detail": "Tests: 1 failed, 5 passed, 6 total"}]}
    for not_a_run in ("npx ava --version", "echo pytest", "grep -E '^(eslint|ava|nyc)$'",
                      "print('| ava:', x)"):
        assert read_command(not_a_run, "", 0) == {}, not_a_run


def test_errors_say_whether_a_later_step_fixed_them():
    rec = digest([
        o("prompt", 1, prompt="Fix the flaky login test on CI"),
        o("tool_post", 2, tool="Bash", command="pytest -x", exit_code=1,
          output="\x1b[31mFAILED tests/test_login.py::test_retry\x1b[0m\n1 failed"),
        o("tool_failure", 3, tool="Edit", error="<tool_use_error>File has not been read yet."
          "</tool_use_error>", files=[{"path": "/repo/src/login.py", "op": "change"}]),
        o("tool_post", 4, tool="Edit", files=[{"path": "/repo/src/login.py", "op": "change"}]),
        o("tool_post", 5, tool="Bash", command="pytest -x", exit_code=0, output="3 passed"),
        o("tool_post", 6, tool="Bash", command="make lint", exit_code=2, output="boom"),
    ], root="/repo")
    assert rec.errors == ["`pytest -x` exited 1: 1 failed",
                          "`Edit`: File has not been read yet.",
                          "`make lint` exited 2: boom"]
    assert [n["fixed"] for n in rec.error_notes] == [
        "`pytest -x` succeeded later", "a later change to src/login.py", ""]
    assert rec.tests[-1] == {"command": "pytest -x", "result": "passed", "detail": "3 passed"}
    assert rec.files["src/login.py"]["errors"] == ["`Edit`: File has not been read yet."]


def _hostile_session(repo: Path) -> list[dict]:
    sid = "hostile-1"
    base = {"session_id": sid, "cwd": str(repo)}
    return [
        {**base, "hook_event_name": "SessionStart", "source": "startup"},
        {**base, "hook_event_name": "UserPromptSubmit",
         "prompt": "Fix `<Sidebar>` collapse in src/app/Sidebar.tsx, see:\n```tsx\n"
                   "<Sidebar open={x < 3} />\n```\nquokkaword please"},
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": NOTIFICATION},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Edit", "tool_use_id": "e1",
         "tool_input": {"file_path": str(repo / "src/app/Sidebar.tsx"), "old_string": "a",
                        "new_string": "b"}, "tool_response": {"filePath": "x"}},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "b1",
         "tool_input": {"command": "npm test -- src/app/Sidebar.tsx"},
         "tool_response": "Error: Exit code 1\n\x1b[31mFAIL\x1b[0m src/app/Sidebar.tsx "
                          "<Sidebar>\r\nTests: 1 failed, 2 total"},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "b2",
         "tool_input": {"command": "git commit -m \"fix(sidebar): keep <Sidebar> open\""},
         "tool_response": {"stdout": "[main 0a1b2c3] fix(sidebar): keep <Sidebar> open",
                           "stderr": "", "exit_code": 0}},
        {**base, "hook_event_name": "Stop", "stop_hook_active": False,
         "last_assistant_message": "Fixed `<Sidebar>`.\n\nDecision: keep the sidebar open "
                                   "state in the URL\n\nShould we also persist it?"},
    ]


def test_session_page_is_a_digest_with_a_linked_transcript_and_file_pages(repo):
    project = feed(_hostile_session(repo), T0)
    compile_project(project)
    wiki = project.wiki_dir
    sessions = sorted((wiki / "sessions").glob("*.md"))
    assert len(sessions) == 1
    meta, body = read_page(sessions[0])
    for section in ("## Goal", "## Outcome", "## What changed", "## Errors",
                    "## Decisions, lessons and tasks lifted", "## Open questions"):
        assert section in body, section
    assert "Task notification" not in body.split("## Goal")[1]  # only counted in the header
    assert "1 task notification" in body
    assert "`0a1b2c3` fix(sidebar): keep &lt;Sidebar> open" in body
    assert "`npm test -- src/app/Sidebar.tsx` — failed (exit 1)" in body
    transcript = f"transcripts/{sessions[0].stem}.transcript"
    assert f"[[{transcript}|the whole conversation]]" in body
    t_meta, t_body = read_page(wiki / f"{transcript}.md")
    assert t_meta["kind"] == "transcript" and t_meta["session_id"] == meta["session_id"]
    assert f"[[{sessions[0].stem}|" in t_body and "zanzibar" in t_body
    assert "<Sidebar open={x < 3} />" in t_body  # the prompt's code block as written
    # The file's page, linked both ways, in its folder's page, in the root's.
    pages = [p for p in (wiki / "files").rglob("*.md") if p.name.startswith("sidebar.tsx-")]
    assert len(pages) == 1
    rel = pages[0].relative_to(wiki).as_posix().removesuffix(".md")
    assert f"[[{rel}|Sidebar.tsx]]" in body
    f_meta, f_body = read_page(pages[0])
    assert f_meta["kind"] == "file" and f_meta["title"] == "src/app/Sidebar.tsx"
    assert f"[[{sessions[0].stem}|" in f_body and "1 change (Edit)" in f_body
    assert "## Errors seen in it" in f_body and "exited 1" in f_body
    assert "[[files/src/app|src/app/]]" in f_body
    assert f"[[{rel}|Sidebar.tsx]]" in (wiki / "files/src/app.md").read_text()
    assert "[[files/src|src/]]" in (wiki / "files.md").read_text()
    assert wiki_problems(wiki) == {}


def test_every_prompt_word_is_in_the_wiki(repo):
    events = _hostile_session(repo)
    project = feed(events, T0)
    compile_project(project)
    text = "\n".join(p.decode() for p in read_wiki(project.wiki_dir).values())
    for e in events:
        for word in re.findall(r"[A-Za-z]{3,}", e.get("prompt", "")):
            assert word in text, word


def test_rebuild_gives_the_incremental_pages_in_any_arrival_order(repo):
    events = _hostile_session(repo)
    project = feed(events[:4], T0)
    compile_project(project)
    feed(events[4:], T0 + timedelta(seconds=4))
    compile_project(project)
    incremental = read_wiki(project.wiki_dir)
    compile_project(project, rebuild=True)
    assert read_wiki(project.wiki_dir) == incremental


# -- the two real sessions --------------------------------------------------------------------


def _pages_of(wiki: Path, folder: str) -> list[Path]:
    return sorted((wiki / folder).glob("*.md"))


def test_demo_sessions_compile_to_short_digests(repo):
    from conftest import session_events

    feed(session_events(repo, "01-node-bump.jsonl"), T0)
    project = feed(session_events(repo, "02-issue-triage.jsonl"), T0 + timedelta(days=1))
    compile_project(project)
    wiki = project.wiki_dir
    for page in _pages_of(wiki, "sessions"):
        assert page.stat().st_size < 8192, page.name
        assert (wiki / f"transcripts/{page.stem}.transcript.md").is_file()
    assert wiki_problems(wiki) == {}


SERVERLESS = SHARED_DATA / "agents" / "claude" / "hooks" / "raw"
SESSION = "4f65f198-0c0c-47a2-b6ab-5f2e30ae5cbe"


@pytest.mark.skipif(not SERVERLESS.is_dir(), reason="../shared/data is not here")
def test_serverless_plugins_session_compiles_to_a_short_digest(repo):
    """The recorded 4f65f198 session (381 hook payloads: 7 prompts, three of them task
    notifications, an image) put back in order, as scripts/make_demo_data.py does."""
    events: dict[str, list[dict]] = {}
    for f in sorted(SERVERLESS.glob("serverless-plugins*.json")):
        try:
            for p in json.loads(f.read_text()):
                if p.get("session_id") == SESSION:
                    events.setdefault(p["hook_event_name"], []).append(p)
        except ValueError:
            continue
    posts = {p.get("tool_use_id"): p for p in events["PostToolUse"]}
    pres, prompts, stops = events["PreToolUse"], events["UserPromptSubmit"], events["Stop"]
    seq = events["SessionStart"][:1]
    for i, prompt in enumerate(prompts):
        seq.append(prompt)
        for pre in pres[i * len(pres) // len(prompts):(i + 1) * len(pres) // len(prompts)]:
            seq += [pre] + ([posts[pre["tool_use_id"]]] if pre.get("tool_use_id") in posts
                            else [])
        seq += stops[i:i + 1]
    cwd = "/Users/silouane/coorp/serverless-plugins"
    for p in seq:
        p["cwd"] = str(repo) + p.get("cwd", cwd).removeprefix(cwd)
        p.pop("transcript_path", None)
    text = json.dumps(seq).replace(cwd, str(repo))
    project = feed(json.loads(text), T0)
    compile_project(project)
    wiki = project.wiki_dir
    [page] = _pages_of(wiki, "sessions")
    assert page.stat().st_size < 8192
    _, body = read_page(page)
    for section in ("## Goal", "## Outcome", "## What changed", "## Open questions"):
        assert section in body, section
    assert "- Commits:" in body and "- Pull requests:" in body and "- Tests run:" in body
    assert "3 task notifications" in body and "1 image" in body
    assert "&lt;task-notification" not in body and "/Users/" not in body.split("## Goal")[0]
    assert (wiki / f"transcripts/{page.stem}.transcript.md").is_file()
    everything = "\n".join(p.decode() for p in read_wiki(wiki).values())
    for prompt in prompts:
        for word in re.findall(r"[A-Za-z]{3,}", prompt["prompt"]):
            assert word in everything, word
    assert wiki_problems(wiki) == {}


def test_file_pages_name_the_memory_that_names_them_and_match_a_rebuild(repo):
    from wikimem.memory import Memory

    events = _hostile_session(repo)
    project = feed(events, T0)
    compile_project(project)
    # A decision recorded later names the file: its page is rendered again, incrementally.
    Memory(project, agent="alice").add(
        "decision", "Keep the sidebar state in the URL",
        {"why": "src/app/Sidebar.tsx lost it on reload"})
    Memory(project, agent="alice").add("task", "Test the sidebar",
                                       {"files": ["src/app/Sidebar.tsx"]})
    compile_project(project)
    incremental = read_wiki(project.wiki_dir)
    [page] = [p for p in incremental if p.startswith("files/src/app/sidebar.tsx-")]
    text = incremental[page].decode()
    assert "[[D1-keep-the-sidebar-state-in-the-url|Keep the sidebar state in the URL]] — " \
           "decision, active" in text
    assert "[[T1-test-the-sidebar|Test the sidebar]] — task, todo" in text
    compile_project(project, rebuild=True)
    assert read_wiki(project.wiki_dir) == incremental


CHAT = SHARED_DATA / "agents" / "claude" / "transcripts" / "from_hooklog_chatjson" / \
    f"serverless-plugins__{SESSION}_chat.jsonl"


@pytest.mark.skipif(not CHAT.is_file(), reason="../shared/data is not here")
def test_serverless_plugins_transcript_import_compiles_to_a_short_digest(repo, wikimem_home):
    """The same session imported from its Claude Code transcript (`wikimem import`)."""
    import os

    from click.testing import CliRunner

    from wikimem.cli import cli

    old = os.getcwd()
    os.chdir(repo)
    try:
        r = CliRunner().invoke(cli, ["import", "--agent", "claude", "--include-captured",
                                     "--all-projects", str(CHAT)], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert r.exit_code == 0, r.output
    [wiki] = [p.parent for p in wikimem_home.rglob("sessions") if p.parent.name == "wiki"]
    [page] = _pages_of(wiki, "sessions")
    assert page.stat().st_size < 8192
    _, body = read_page(page)
    for section in ("## Goal", "## Outcome", "## What changed", "## Errors",
                    "## Open questions"):
        assert section in body, section
    assert "- Commits:" in body and "- Pull requests:" in body and "- Tests run:" in body
    assert (wiki / f"transcripts/{page.stem}.transcript.md").is_file()
    assert wiki_problems(wiki) == {}
