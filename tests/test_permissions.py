"""Privacy of what wikimem stores: a private home, and no network unless the LLM is on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_hook

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes")


def wikimem(*args, cwd, env=None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "wikimem", *args], cwd=cwd, input=stdin,
                            capture_output=True, env={**os.environ, **(env or {})}, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result


def pipeline(repo, env=None) -> None:
    """Hook events, compile, search, context, a decision, reindex: each its own process."""
    base = {"session_id": "perm-1", "cwd": str(repo)}
    for payload in (
        {**base, "hook_event_name": "SessionStart", "source": "startup"},
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": "Make the parser faster"},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t1",
         "tool_input": {"command": "pytest -q"}, "tool_response": {"stdout": "3 passed"}},
        {**base, "hook_event_name": "Stop", "last_assistant_message": "The parser is faster."},
    ):
        assert run_hook(payload, repo, env=env).returncode == 0
    wikimem("compile", cwd=repo, env=env)
    assert b"parser" in wikimem("search", "parser", cwd=repo, env=env).stdout
    assert b"parser" in wikimem("context", cwd=repo, env=env).stdout
    wikimem("decide", "Use a hand-written parser", "--why", "speed", cwd=repo, env=env)
    wikimem("reindex", cwd=repo, env=env)
    wikimem("doctor", "--json", cwd=repo, env=env)


def test_every_file_and_folder_in_the_home_is_private(repo, wikimem_home):
    os.umask(0o022)  # a usual umask: wikimem must not rely on the user's
    pipeline(repo)
    checked = 0
    for path in [wikimem_home, *wikimem_home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        rel = path.relative_to(wikimem_home)
        assert mode & 0o077 == 0, f"{rel} is {mode:o}: readable by others"
        if path.is_dir():
            assert mode == 0o700, f"{rel} is {mode:o}"
        elif rel.parts[-1].endswith((".jsonl", ".md", ".json", ".log")):
            assert mode == 0o600, f"{rel} is {mode:o}"
        else:  # git objects are read-only (0400); git's sample hooks and Whoosh's lock 0700
            assert mode in (0o400, 0o600, 0o700), f"{rel} is {mode:o}"
        checked += 1
    assert checked > 50
    kinds = {p.relative_to(wikimem_home).parts[2] for p in wikimem_home.glob("*/*/*")}
    assert {"raw", "wiki", "index", "state"} <= kinds


SITECUSTOMIZE = textwrap.dedent('''
    import os, socket

    _LOG = os.environ["WIKIMEM_TEST_SOCKET_LOG"]

    def _refuse(what, *args):
        with open(_LOG, "a") as f:
            f.write(what + " " + repr(args)[:200] + "\\n")
        raise OSError("network access refused by the test")

    class _Socket(socket.socket):
        def __init__(self, *args, **kwargs):
            _refuse("socket", *args)

    socket.socket = _Socket
    socket.create_connection = lambda *a, **k: _refuse("create_connection", *a)
    socket.getaddrinfo = lambda *a, **k: _refuse("getaddrinfo", *a)
    socket.socketpair = lambda *a, **k: _refuse("socketpair", *a)
''')


def test_no_network_without_the_llm(repo, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "sockets.log"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site),
                                                         os.environ.get("PYTHONPATH")])),
           "WIKIMEM_TEST_SOCKET_LOG": str(log), "WIKIMEM_LLM": "0"}
    # The patch works: a process that does try to connect is caught.
    probe = subprocess.run([sys.executable, "-c", "import urllib.request as u; "
                            "u.urlopen('http://example.com', timeout=1)"],
                           env={**os.environ, **env}, capture_output=True)
    assert probe.returncode != 0 and log.read_text()
    log.unlink()
    pipeline(repo, env)
    assert not log.exists(), log.read_text()
    project_dirs = list(Path(os.environ["WIKIMEM_HOME"]).glob("*/*/wiki/sessions/*.md"))
    assert project_dirs and "parser" in project_dirs[0].read_text()
    doctor = json.loads(wikimem("doctor", "--json", cwd=repo, env=env).stdout)
    assert any(c["name"] == "privacy" for c in doctor)
