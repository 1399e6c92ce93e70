"""Issue-level behaviour of structured memory, through the `wikimem` command as people run it."""

import json
import os
import subprocess
import sys
import threading
import time

from conftest import run_hook

from wikimem.compile.build import compile_project
from wikimem.project import Registry
from wikimem.wiki.pages import wiki_pages


def wm(repo, *args, env=None, check=True):
    r = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=repo, capture_output=True,
                       text=True, env={**os.environ, **(env or {})}, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def dated(day: str) -> dict:
    stamp = f"{day}T12:00:00+00:00"
    return {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}


def test_superseded_decision_search_history_and_show_at(repo):
    wm(repo, "decide", "Store sessions in SQLite", "--why", "zero setup",
       "--ruled-out", "Postgres: needs a server", env=dated("2026-01-10"))
    out = wm(repo, "decide", "Store sessions in Postgres", "--why", "many writers",
             "--supersedes", "D1", env=dated("2026-02-10")).stdout
    assert "supersedes decisions/D1-store-sessions-in-sqlite.md" in out

    hits = json.loads(wm(repo, "search", "store sessions", "--json").stdout)
    assert [h["path"] for h in hits] == ["decisions/D2-store-sessions-in-postgres.md"]
    every = json.loads(wm(repo, "search", "store sessions", "--all", "--json").stdout)
    assert "decisions/D1-store-sessions-in-sqlite.md" in [h["path"] for h in every]

    hist = json.loads(wm(repo, "history", "D1", "--json").stdout)
    assert [c["path"] for c in hist["chain"]] == ["decisions/D1-store-sessions-in-sqlite.md",
                                                  "decisions/D2-store-sessions-in-postgres.md"]
    assert [c["status"] for c in hist["chain"]] == ["superseded", "active"]
    assert [r["date"][:10] for r in hist["revisions"]] == ["2026-02-10", "2026-01-10"]
    text = wm(repo, "history", "D1").stdout
    assert "Supersession chain (oldest first):" in text and "Revisions (newest first):" in text

    before = wm(repo, "show", "D1", "--at", "2026-01-20").stdout
    assert "- Status: active" in before and "[!warning] Superseded" not in before
    now = wm(repo, "show", "decisions/D1-store-sessions-in-sqlite.md").stdout
    assert "- Status: superseded" in now
    first_rev = hist["revisions"][-1]["commit"]
    assert wm(repo, "show", "D1", "--rev", first_rev).stdout == before
    d = wm(repo, "diff", "D1", "--since", "2026-01-20").stdout
    assert "-- Status: active" in d and "+- Status: superseded" in d
    err = wm(repo, "show", "D1", "--at", "2025-12-01", check=False)
    assert err.returncode == 1 and err.stderr.startswith("Error: ")
    assert wm(repo, "show", "../../etc/passwd", check=False).returncode == 1


def test_rebuild_reproduces_every_structured_page(repo):
    for payload in (
        {"hook_event_name": "UserPromptSubmit", "prompt": "Decision: ship the importer first"},
        {"hook_event_name": "Stop", "last_assistant_message":
         "Done. We decided to keep the v1 API.\nLesson: pin the parser version\n"
         "TODO: add a shim for v1 logs"},
    ):
        run_hook({"session_id": "s-1", "cwd": str(repo), **payload}, repo)
    wm(repo, "compile")
    tasks = json.loads(wm(repo, "task", "list", "--status", "proposed", "--json").stdout)
    assert [t["title"] for t in tasks] == ["Add a shim for v1 logs"]
    wm(repo, "accept", tasks[0]["id"])
    decisions = [p for p in wiki_pages(Registry().resolve(repo).wiki_dir)
                 if p.startswith("decisions/D-")]
    assert len(decisions) == 2
    wm(repo, "forget", decisions[0], "--reason", "not what we meant")
    wm(repo, "goal", "add", "Importer v2", "--why", "logs changed")
    wm(repo, "task", "add", "Parse the new format", "--goal", "G1", "--files", "imp.py")
    wm(repo, "task", "claim", "--agent", "codex")
    wm(repo, "task", "heartbeat", "--agent", "codex", "--note", "half done")
    wm(repo, "lesson", "Tests hid a timezone bug", "--correct", "run them in UTC",
       "--verified-by", "bob")
    wm(repo, "note", "Prefer boring technology")
    project = Registry().resolve(repo)
    before = {rel: (project.wiki_dir / rel).read_bytes() for rel in wiki_pages(project.wiki_dir)}
    assert any(p.startswith("tasks/T-") for p in before)  # the accepted candidate kept its page
    result = compile_project(project, rebuild=True)
    after = {rel: (project.wiki_dir / rel).read_bytes() for rel in wiki_pages(project.wiki_dir)}
    assert after == before and result.commit is None


def test_proposed_items_are_not_in_context_until_accepted(repo):
    run_hook({"session_id": "s-1", "cwd": str(repo), "hook_event_name": "Stop",
              "last_assistant_message": "Decision: move the cache to disk"}, repo)
    wm(repo, "compile")
    ctx = wm(repo, "context").stdout
    assert "Decisions in force" not in ctx
    found = wm(repo, "search", "cache disk", "--kind", "decision", "--json").stdout
    (proposed,) = json.loads(found)
    assert proposed["status"] == "proposed"
    wm(repo, "accept", proposed["path"])
    assert "Move the cache to disk" in wm(repo, "context").stdout.split("Decisions in force")[1]
    again = wm(repo, "accept", proposed["path"], check=False)
    assert again.returncode == 1 and "only proposed pages can be accepted" in again.stderr


def test_human_edit_survives_and_is_committed_under_the_human_name(repo):
    wm(repo, "decide", "Use tabs", "--why", "team habit")
    project = Registry().resolve(repo)
    page = project.wiki_dir / "decisions/D1-use-tabs.md"
    edited = page.read_text().replace("team habit", "team habit, and our linter agrees")
    page.write_text(edited)
    wm(repo, "decide", "Use spaces in YAML", "--why", "YAML forbids tabs", "--supersedes", "D1")
    assert page.read_text() == edited
    log = subprocess.run(["git", "log", "--format=%an|%s", "--", "decisions/D1-use-tabs.md"],
                         cwd=project.wiki_dir, capture_output=True, text=True).stdout.splitlines()
    assert log[0] == "Test Human|Human edits: 1 file"
    side = project.wiki_dir / "decisions/D1-use-tabs.machine.md"
    assert "Superseded by" in side.read_text() and "which a person edited" in side.read_text()
    side.unlink()
    wm(repo, "compile")
    assert not side.exists()  # the same material is offered once


def test_context_budget_flag(repo):
    for i in range(12):
        wm(repo, "note", f"Direction number {i} " + "detail " * 20)
    # (the block's own frame - preamble, size line, how to record - takes ~800 of them)
    small = json.loads(wm(repo, "context", "--budget", "1300", "--json").stdout)
    assert small["chars"] <= 1300 and "Left out for space: " in small["context"]
    assert wm(repo, "context", "--budget", "5", check=False).returncode == 2


def test_task_commands_need_an_agent_and_report_clearly(repo):
    wm(repo, "task", "add", "Do it")
    r = wm(repo, "task", "claim", check=False)
    assert r.returncode == 2 and "--agent NAME" in r.stderr
    r = wm(repo, "task", "done", "T9", "x", "--agent", "a", check=False)
    assert r.returncode == 1 and r.stderr.startswith("Error: No task 'T9'")
    assert "Claimed T1 for a" in wm(repo, "task", "claim", "--agent", "a").stdout
    r = wm(repo, "task", "claim", "--agent", "b", check=False)
    assert r.returncode == 1 and "No todo task to claim" in r.stderr


def test_watch_compiles_new_observations_and_commits_human_edits(repo):
    from wikimem.compile.watch import watch

    project = Registry().resolve(repo)
    run_hook({"session_id": "w-1", "cwd": str(repo), "hook_event_name": "UserPromptSubmit",
              "prompt": "Refactor the billing module please"}, repo)
    stop = threading.Event()
    results = []
    t = threading.Thread(target=watch, args=(project,),
                         kwargs={"debounce": 0.2, "stop": stop, "on_compile": results.append})
    t.start()
    try:
        _wait(lambda: results and results[0].commit)  # the catch-up compile at start
        run_hook({"session_id": "w-2", "cwd": str(repo), "hook_event_name": "UserPromptSubmit",
                  "prompt": "Now write the invoice exporter"}, repo)
        _wait(lambda: any("w-2" in r.sessions for r in results))
        page = next(project.wiki_dir.glob("sessions/*-w-2.md"))
        page.write_text(page.read_text() + "\nA note from a person.\n")
        _wait(lambda: any(r.human_commit for r in results))
    finally:
        stop.set()
        t.join(timeout=30)
    log = subprocess.run(["git", "log", "-1", "--format=%an|%s"], cwd=project.wiki_dir,
                         capture_output=True, text=True).stdout
    assert log.strip() == "Test Human|Human edits: 1 file"
    hits = json.loads(wm(repo, "search", "note from a person", "--json").stdout)
    assert hits and hits[0]["path"] == page.relative_to(project.wiki_dir).as_posix()


def _wait(condition, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
