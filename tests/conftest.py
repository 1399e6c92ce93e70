"""Shared fixtures: every test gets its own WIKIMEM_HOME and no auto-compile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def wikimem_home(tmp_path, monkeypatch) -> Iterator[Path]:
    home = tmp_path / "wm-home"
    monkeypatch.setenv("WIKIMEM_HOME", str(home))
    monkeypatch.setenv("WIKIMEM_AUTO_COMPILE", "0")
    monkeypatch.delenv("WIKIMEM_PROJECT", raising=False)
    # Commits made by tests must not depend on the developer's git config.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text(
        "[user]\n\tname = Test Human\n\temail = human@example.com\n"
    )
    yield home
    # Every page the compiler wrote in this test, in any wiki under its folder: no control
    # character, no HTML entity inside code (tests/page_checks.py).
    from page_checks import wiki_problems

    problems = wiki_problems(tmp_path)
    assert not problems, f"pages break the page rules: {problems}"


@pytest.fixture
def wikimem_on_path(tmp_path, monkeypatch) -> Path:
    """A `wikimem` on PATH that is this installation (what an agent's shell, or a command a
    settings file names, finds); returns its folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "wikimem"
    script.write_text(f"#!{sys.executable}\nfrom wikimem.entry import main\nmain()\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, wikimem_on_path) -> Path:
    """A fresh $HOME (no agent settings of the machine's), and a `wikimem` on PATH that is
    this installation: what install and uninstall tests write into."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return home


@pytest.fixture
def repo(tmp_path) -> Path:
    """An empty git repository to act as the user's project."""
    path = tmp_path / "myproject"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def fixture_payload(name: str, **overrides) -> dict:
    payload = json.loads((FIXTURES / "claude" / f"{name}.json").read_text())
    payload.update(overrides)
    return payload


def run_hook(payload, cwd: Path, *, env: dict | None = None, agent: str = "claude-code",
             raw: bytes | None = None) -> subprocess.CompletedProcess:
    """Run `python -m wikimem hook <agent>` as the agent would, with the payload on stdin."""
    data = raw if raw is not None else json.dumps(payload).encode()
    return subprocess.run(
        [sys.executable, "-m", "wikimem", "hook", agent],
        input=data, cwd=cwd, capture_output=True, env={**os.environ, **(env or {})}, timeout=60,
    )


def session_events(repo_dir: Path, name: str) -> list[dict]:
    """A bundled recorded session (wikimem/demo_data) with its paths pointed at repo_dir."""
    from wikimem.demo import demo_sessions

    lines = dict(demo_sessions())[name]
    out = []
    for line in lines:
        line = line.replace("{{CWD}}", json.dumps(str(repo_dir))[1:-1])
        line = line.replace("{{HOME}}", "/home/user")
        out.append(json.loads(line))
    return out


@pytest.fixture(autouse=True)
def _restore_umask():
    """The CLI makes its files private with os.umask; keep that from leaking between tests."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def resolve_links(pages) -> dict[str, list[str]]:
    """The reference link check the tests hold compile's checker and bootstrap's pages to:
    broken links per page (targets matching no page); pages whose links all resolve are left
    out. A target matches a page when their `link_key`s are equal or when the target is the
    page's relative path without `.md`."""
    from wikimem.wiki.markdown import link_key

    def without_md(path: str) -> str:
        return path[:-3] if path.lower().endswith(".md") else path

    keys = {link_key(path) for path in pages}
    stems = {without_md(path.replace("\\", "/")) for path in pages}
    broken: dict[str, list[str]] = {}
    for path, parsed in pages.items():
        missing = [t for t in parsed.links if link_key(t) not in keys and t not in stems]
        if missing:
            broken[path] = missing
    return broken
