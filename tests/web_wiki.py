"""A small wiki for the web tests: a recorded session whose prompt is hostile HTML, a page a
person wrote with raw HTML in it, and decision D1 superseded by D2 (so D1 has two revisions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

HOSTILE = (
    'Fix the login page. <script>window.__pwned = "script"</script> '
    '<img src=x onerror="window.__pwned = \'img\'"> '
    "[click me](javascript:window.__pwned='link') "
    '<a href="javascript:window.__pwned=\'a\'">raw link</a> '
    '<b onmouseover="window.__pwned=\'b\'">bold raw html</b> '
    '<iframe src="javascript:window.__pwned=\'iframe\'"></iframe>'
)
RAW_PAGE = f"""---
title: Hostile note
kind: note
---
# Hostile note

{HOSTILE}

<div onclick="window.__pwned='div'"><script>window.__pwned='block'</script></div>

<svg onload="window.__pwned='svg'"></svg>

[data link](data:text/html,<script>alert(1)</script>) and [ok link](https://example.org/)
and a link to [[D2-run-ci-on-node-22]] and one to [[no-such-page]].
"""
SESSION = "web-hostile-session"


def _hook(event: dict, repo: Path, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "wikimem", "hook", "claude-code"],
                   input=json.dumps(event).encode(), cwd=repo, env=env, check=True,
                   capture_output=True, timeout=60)


def _compile_at(project, when: str) -> None:
    """Compile, committing with this date (so the revisions have distinct days)."""
    from wikimem.compile.build import compile_project

    saved = {k: os.environ.get(k) for k in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")}
    os.environ.update(dict.fromkeys(saved, when))
    try:
        compile_project(project)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def home_at(base: Path):
    """WIKIMEM_HOME set to `base/home` inside the block, as it was after (module fixtures
    cannot use monkeypatch)."""
    old = os.environ.get("WIKIMEM_HOME")
    os.environ["WIKIMEM_HOME"] = str(base / "home")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WIKIMEM_HOME", None)
        else:
            os.environ["WIKIMEM_HOME"] = old


def build(base: Path):
    """Make the wiki under base/home; returns the Project."""
    from wikimem.memory import Memory
    from wikimem.project import Registry

    home, repo = base / "home", base / "shop"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    env = {**os.environ, "WIKIMEM_HOME": str(home), "WIKIMEM_AUTO_COMPILE": "0"}
    common = {"session_id": SESSION, "cwd": str(repo), "transcript_path": "/nonexistent.jsonl"}
    _hook({**common, "hook_event_name": "SessionStart", "source": "startup"}, repo, env)
    _hook({**common, "hook_event_name": "UserPromptSubmit", "prompt": HOSTILE}, repo, env)
    _hook({**common, "hook_event_name": "Stop", "stop_hook_active": False,
           "last_assistant_message": "Fixed the login page; CI runs on Node 22 now."},
          repo, env)
    project = Registry(home).resolve(repo)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    Memory(project, agent="alice", now=t0).add(
        "decision", "Run CI on Node 20", {"why": "Node 20 is the LTS line"})
    _compile_at(project, "2026-01-05T09:00:00Z")
    Memory(project, agent="alice", now=t0.replace(month=3)).add(
        "decision", "Run CI on Node 22", {"why": "Node 20 leaves LTS in April"},
        supersedes=["decisions/D1-run-ci-on-node-20.md"])
    _compile_at(project, "2026-03-05T09:00:00Z")
    (Path(project.wiki_dir) / "notes").mkdir(exist_ok=True)
    (Path(project.wiki_dir) / "notes" / "hostile.md").write_text(RAW_PAGE, encoding="utf-8")
    return project
