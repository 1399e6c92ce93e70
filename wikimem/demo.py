"""`wikimem demo`: replay bundled recorded sessions through the real hook, compile, and show.

Everything happens in a throwaway home and a throwaway git repository: each recorded payload
is piped into `python -m wikimem hook claude-code` as its own process, exactly as Claude Code
would run it; then the wiki is compiled, and its git log, a search and the session-start
context are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from wikimem import datafiles
from wikimem.compile.build import compile_project
from wikimem.project import Registry
from wikimem.search.index import SearchIndex
from wikimem.wiki import gitrepo

DEMO_QUERY = "bump node 22"


def demo_sessions() -> list[tuple[str, list[str]]]:
    """The bundled sessions: (file name, payload lines with {{CWD}}/{{HOME}} placeholders)."""
    folder = datafiles.folder("demo_data")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            found.append((entry.name, [ln for ln in lines if ln.strip()]))
    return found


def run_demo(home_dir: str | None, echo: Callable[[str], None] = print) -> Path:
    """Run the demo; returns the wiki folder. A throwaway folder it made is removed on failure."""
    if home_dir:
        return _run_demo(Path(home_dir), echo)
    base = Path(tempfile.mkdtemp(prefix="wikimem-demo-"))
    try:
        return _run_demo(base, echo)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _run_demo(base: Path, echo: Callable[[str], None]) -> Path:
    home = base / "home"
    repo_dir = base / "serverless-plugins"
    repo_dir.mkdir(parents=True, exist_ok=True)
    if not (repo_dir / ".git").exists():
        subprocess.run(["git", "init", "-q", str(repo_dir)], check=True)
    env = {**os.environ, "WIKIMEM_HOME": str(home), "WIKIMEM_AUTO_COMPILE": "0"}
    fill = {
        "{{CWD}}": json.dumps(str(repo_dir))[1:-1],
        "{{HOME}}": json.dumps(str(base / "user"))[1:-1],
    }
    echo(f"wikimem demo — throwaway home: {home}")
    echo(f"Replaying recorded Claude Code sessions into project {repo_dir}")
    for name, lines in demo_sessions():
        for n, line in enumerate(lines, 1):
            for key, value in fill.items():
                line = line.replace(key, value)
            subprocess.run(
                [sys.executable, "-m", "wikimem", "hook", "claude-code"],
                input=line.encode("utf-8"), env=env, cwd=repo_dir, check=True,
                stdout=subprocess.DEVNULL,
            )
            if n % 10 == 0 or n == len(lines):
                echo(f"  {name}: {n}/{len(lines)} events through `wikimem hook claude-code`")

    project = Registry(home).resolve(repo_dir)
    result = compile_project(project, progress=lambda m: echo(m))
    echo("")
    echo(f"Wiki folder: {project.wiki_dir}")
    for rel in result.written:
        echo(f"  {rel}")
    echo("")
    echo("git log:")
    for c in gitrepo.log(gitrepo.open_repo(project.wiki_dir), 5):
        echo(f"  {c['commit'][:10]} {c['date'][:19]} {c['author']}: {c['subject']}")
    echo("")
    echo(f"wikimem search {DEMO_QUERY!r}:")
    for hit in SearchIndex(project.index_dir, project.wiki_dir).search(DEMO_QUERY, limit=3):
        echo(f"  {hit.path}  {hit.title}")
        if hit.snippet:
            echo(f"      {hit.snippet}")
    start = json.dumps({
        "session_id": "demo-new-session",
        "cwd": str(repo_dir),
        "hook_event_name": "SessionStart",
        "source": "startup",
    })
    out = subprocess.run(
        [sys.executable, "-m", "wikimem", "hook", "claude-code"],
        input=start.encode(), env=env, cwd=repo_dir, capture_output=True, check=True,
    ).stdout.decode("utf-8")
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"] if out.strip() else ""
    echo("")
    echo(f"Context a new Claude Code session gets at start ({len(context)} characters, "
         "from the SessionStart hook's JSON):")
    echo(context)
    echo("")
    echo("Explore it yourself:")
    echo(f'  export WIKIMEM_HOME="{home}"')
    echo(f'  cd "{repo_dir}" && wikimem search "issue triage" && cd "$(wikimem path)" && git log')
    return project.wiki_dir
