"""The hook as Claude Code runs it: a subprocess fed one payload on stdin."""

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import FIXTURES, fixture_payload, run_hook

from wikimem.capture import rawlog
from wikimem.project import Registry


def project_for(repo):
    return Registry().resolve(repo)


def raw_records(repo):
    p = project_for(repo)
    return [o for f in rawlog.session_files(p.raw_dir) for o in rawlog.read(f).observations]


def errors(repo):
    log = project_for(repo).error_log
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def _modules_after_a_hook(repo, *python_args: str, env: dict | None = None) -> set[str]:
    """Run one hook in a fresh interpreter; the modules it had loaded by the end."""
    payload = json.dumps(fixture_payload("post_tool_use_bash", cwd=str(repo)))
    probe = (
        "import sys, io, json\n"
        "sys.argv = ['wikimem', 'hook', 'claude-code']\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({payload.encode()!r}))\n"
        "from wikimem.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, *python_args, "-c", probe], cwd=repo,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_hook_imports_only_the_standard_library(repo, tmp_path):
    modules = _modules_after_a_hook(repo)
    heavy = {"click", "whoosh", "git", "frontmatter", "yaml", "mistune", "anthropic", "mcp",
             "watchdog"}
    assert not {m for m in modules if m.split(".")[0] in heavy}
    assert not modules & {"wikimem.cli", "wikimem.compile", "wikimem.search", "wikimem.wiki"}
    assert len(raw_records(repo)) == 1


def test_hook_path_imports_without_site(repo):
    """What the hook path itself imports, with no `site` (and so no editable-install finder
    loading modules for it): no contextlib, importlib or pathlib (which imports urllib.parse,
    ipaddress and fnmatch)."""
    from pathlib import Path

    import wikimem

    Registry().resolve(repo)  # registering a project (once) may import more
    source = str(Path(wikimem.__file__).resolve().parent.parent)
    modules = _modules_after_a_hook(repo, "-S", env={"PYTHONPATH": source})
    assert "wikimem.capture.observe" in modules
    assert not modules & {"contextlib", "importlib", "pathlib", "urllib.parse", "dataclasses",
                          "inspect", "typing", "threading", "uuid", "datetime", "subprocess",
                          "hashlib"}
    assert len(raw_records(repo)) == 1


def test_events_are_recorded_with_what_makes_a_page_useful(repo):
    for name in ("session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use_bash",
                 "stop"):
        r = run_hook(fixture_payload(name, cwd=str(repo), session_id="s-1"), repo)
        assert r.returncode == 0 and r.stderr == b""
    recs = raw_records(repo)
    assert [o.kind for o in recs] == ["session_start", "prompt", "tool_pre", "tool_post", "stop"]
    assert recs[1].data["prompt"].startswith("I want you to help me QA")
    assert recs[3].data["command"] == "git branch --show-current"
    assert recs[3].data["exit_code"] == 0
    assert recs[3].data["output"] == "fix/issue-377-phase1-critical-fixes"
    assert recs[4].data["message"].startswith("---\n\n**Implementation Plan Created**")
    assert all(o.session == "s-1" and o.agent == "claude-code" for o in recs)
    assert errors(repo) == []


def test_redelivered_event_is_stored_once(repo):
    payload = fixture_payload("user_prompt_submit", cwd=str(repo))
    run_hook(payload, repo)
    run_hook(payload, repo)
    assert len(raw_records(repo)) == 1


def test_unknown_event_is_kept_as_other(repo):
    run_hook({"session_id": "s", "cwd": str(repo), "hook_event_name": "TeammateIdle",
              "teammate": "x"}, repo)
    (rec,) = raw_records(repo)
    assert rec.kind == "other" and rec.data["event"] == "TeammateIdle"
    assert rec.data["extra"] == {"teammate": "x"}


@pytest.mark.parametrize("raw,why", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2, 3]", "expected an object"),
    (b"", "empty stdin"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON"),
])
def test_malformed_input_exits_0_and_is_logged(repo, raw, why):
    r = run_hook(None, repo, raw=raw)
    assert r.returncode == 0 and r.stdout == b""
    (err,) = errors(repo)
    assert why in err["error"] and err["agent"] == "claude-code"
    assert raw_records(repo) == []


def test_missing_fields_still_record(repo):
    r = run_hook({"hook_event_name": "UserPromptSubmit", "prompt": "hello there friend"}, repo)
    assert r.returncode == 0
    (rec,) = raw_records(repo)
    assert rec.session == "unknown-session" and rec.data["prompt"] == "hello there friend"


def compiled_context(repo) -> str:
    """A project with one compiled Claude Code session: the context SessionStart prints."""
    from wikimem.compile.build import compile_project

    for name in ("user_prompt_submit", "stop"):
        assert run_hook(fixture_payload(name, cwd=str(repo), session_id="s-1"), repo
                        ).returncode == 0
    compile_project(project_for(repo))
    context = project_for(repo).context_file.read_text()
    assert "QA our Attio MCP tools" in context
    return context


def printed_context(agent: str, stdout: bytes) -> str:
    """The context block in a session-start hook's output, in the agent's own form."""
    out = json.loads(stdout)
    return out["additional_context"] if agent == "cursor" else \
        out["hookSpecificOutput"]["additionalContext"]


def agent_payload(agent: str, name: str, repo, **overrides) -> dict:
    data = json.loads((FIXTURES / agent / f"{name}.json").read_text())
    for key in ("cwd", "workspace_roots"):
        if key in data:
            data[key] = [str(repo)] if key == "workspace_roots" else str(repo)
    return {**data, **overrides}


@pytest.mark.parametrize("failure", ["read-only", "full"])
def test_unwritable_home_exits_0(repo, wikimem_home, monkeypatch, capsys, failure):
    """A read-only or full home, simulated in-process (root ignores permission bits): every
    write into the home fails. The hook stores nothing, says why on stderr (the error log
    cannot be written either), and the agent still gets its session-start context."""
    from wikimem import hook

    context = compiled_context(repo)
    project = project_for(repo)
    def stored():  # (a full disk may still create empty files)
        return {f.name: f.read_bytes() for f in project.raw_dir.iterdir() if f.stat().st_size}

    before = stored()
    home = str(wikimem_home) + os.sep
    real_open, real_write, real_mkdir = os.open, os.write, os.mkdir
    under_home: set[int] = set()
    errno_ = errno.EROFS if failure == "read-only" else errno.ENOSPC

    def refuse(path):
        raise OSError(errno_, os.strerror(errno_), os.fspath(path))

    def open_(path, flags, mode=0o777, **kw):
        inside = os.path.abspath(os.fspath(path)).startswith(home)
        if inside and failure == "read-only" and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        fd = real_open(path, flags, mode, **kw)
        if inside:
            under_home.add(fd)
        return fd

    def write(fd, data):
        if fd in under_home:
            refuse(f"fd {fd}")
        return real_write(fd, data)

    def mkdir(path, *args, **kw):
        if os.path.abspath(os.fspath(path)).startswith(home):
            refuse(path)
        return real_mkdir(path, *args, **kw)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "replace", lambda src, dst, **kw: refuse(dst))
    capsys.readouterr()
    stdout = io.BytesIO()
    payload = fixture_payload("session_start", cwd=str(repo), session_id="s-2")
    code = hook.run("claude-code", [], stdin=io.BytesIO(json.dumps(payload).encode()),
                    stdout=stdout)
    monkeypatch.undo()

    assert code == 0
    assert stored() == before  # nothing stored
    err = capsys.readouterr().err
    assert os.strerror(errno_) in err and "errors.log could not be written" in err
    assert printed_context("claude-code", stdout.getvalue()) == context


@pytest.mark.parametrize("agent", ["claude-code", "codex", "gemini", "cursor"])
def test_session_start_prints_the_context_when_capture_fails(repo, agent):
    context = compiled_context(repo)
    project = project_for(repo)
    shutil.rmtree(project.raw_dir)
    project.raw_dir.write_text("")  # a file where the raw folder should be: capture fails
    payload = (fixture_payload("session_start", cwd=str(repo), session_id="s-2")
               if agent == "claude-code" else agent_payload(agent, "session_start", repo))
    r = run_hook(payload, repo, agent=agent)
    assert r.returncode == 0
    printed = printed_context(agent, r.stdout)
    assert printed == context or (agent == "gemini" and "QA our Attio MCP tools" in printed)
    (err,) = errors(repo)
    assert "Not a directory" in err["error"] and err["agent"] == agent
    assert project.raw_dir.read_text() == ""


def test_unknown_agent_exits_0_and_logs(repo):
    r = run_hook(fixture_payload("user_prompt_submit", cwd=str(repo)), repo, agent="nope")
    assert r.returncode == 0
    (err,) = errors(repo)
    assert "Unknown agent 'nope'" in err["error"]


def test_session_start_prints_claude_code_json(repo):
    from wikimem.compile.build import compile_project

    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="s-1"), repo)
    run_hook(fixture_payload("stop", cwd=str(repo), session_id="s-1"), repo)
    compile_project(project_for(repo))
    r = run_hook(fixture_payload("session_start", cwd=str(repo), session_id="s-2"), repo)
    assert r.returncode == 0
    out = json.loads(r.stdout)
    ctx = out["hookSpecificOutput"]["additionalContext"]
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert ctx.startswith("<wikimem-context") and ctx.rstrip().endswith("</wikimem-context>")
    assert "QA our Attio MCP tools" in ctx and len(ctx) < 10_000


def test_session_start_without_history_prints_nothing(repo):
    r = run_hook(fixture_payload("session_start", cwd=str(repo)), repo)
    assert r.returncode == 0 and r.stdout == b""


def test_stop_starts_a_detached_compile(repo):
    run_hook(fixture_payload("user_prompt_submit", cwd=str(repo), session_id="s-1"), repo)
    r = run_hook(fixture_payload("stop", cwd=str(repo), session_id="s-1"), repo,
                 env={"WIKIMEM_AUTO_COMPILE": "1"})
    assert r.returncode == 0
    project = project_for(repo)
    deadline = time.time() + 60
    while time.time() < deadline and not project.context_file.exists():
        time.sleep(0.2)
    assert project.context_file.exists(), (project.state_dir / "compile.log").read_text()
    # The detached process commits after writing the context file; wait for it to finish.
    lock_free = False
    while time.time() < deadline and not lock_free:
        from wikimem.locks import locked
        with locked(project.state_dir / "compile.lock", blocking=False) as got:
            lock_free = got
        time.sleep(0.1)
    log = subprocess.run(["git", "log", "--format=%an|%s"], cwd=project.wiki_dir,
                         capture_output=True, text=True).stdout
    assert log.startswith("wikimem|Compile session")
