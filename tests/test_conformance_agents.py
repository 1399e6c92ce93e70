"""Every recorded Codex, Gemini CLI and Cursor hook payload under ../shared/data/agents.

Skips when the shared data folder is absent (a user's clone has none).
"""

import json
import subprocess
import sys

import pytest
from conftest import SHARED_DATA, run_hook
from test_adapters import accounted

from wikimem.agents.codex import adapter as codex
from wikimem.agents.cursor import adapter as cursor
from wikimem.agents.gemini import adapter as gemini
from wikimem.capture import rawlog
from wikimem.capture.observation import KINDS
from wikimem.capture.observe import MAX_LINE, make_observation
from wikimem.compile.sessions import digest
from wikimem.project import Registry

AGENTS_DIR = SHARED_DATA / "agents"
pytestmark = pytest.mark.skipif(not AGENTS_DIR.is_dir(), reason="../shared/data is not present")

SOURCES = {  # agent -> (adapter, folders of recorded hook payloads)
    "codex": (codex, ("codex/hooks", "codex/notify")),
    "gemini": (gemini, ("gemini/hooks",)),
    "cursor": (cursor, ("cursor/hooks",)),
}


def lines(relpath: str) -> list[dict]:
    text = (AGENTS_DIR / relpath).read_text()
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def recorded(agent: str) -> list[tuple[str, dict]]:
    found = []
    for folder in SOURCES[agent][1]:
        for f in sorted((AGENTS_DIR / folder).glob("*.jsonl")):
            for i, payload in enumerate(lines(f"{folder}/{f.name}")):
                found.append((f"{f.name}:{i + 1}", payload))
    return found


def session_of(agent: str, payload: dict) -> str:
    if agent == "codex":
        return payload.get("session_id", payload.get("thread-id"))
    if agent == "cursor":
        return payload["conversation_id"]
    return payload["session_id"]


def stored(repo) -> list:
    project = Registry().resolve(repo)
    return [o for f in rawlog.session_files(project.raw_dir) for o in rawlog.read(f).observations]


@pytest.mark.parametrize("agent,minimum", [("codex", 70), ("gemini", 7), ("cursor", 16)])
def test_every_recorded_payload_normalizes_without_loss(agent, minimum):
    adapter = SOURCES[agent][0]
    payloads = recorded(agent)
    assert len(payloads) >= minimum
    for name, payload in payloads:
        event = adapter.normalize(payload)
        assert event.kind in KINDS, name
        assert event.kind != "other", name  # every recorded event name is a known one
        assert event.session == session_of(agent, payload), name
        assert accounted(payload, event) == [], name
        if isinstance(payload.get("prompt"), str) and event.kind == "prompt":
            assert event.data["prompt"] == payload["prompt"], name
        if isinstance(payload.get("tool_name"), str):
            assert event.data["tool"] == payload["tool_name"], name
        obs = make_observation(agent, event, payload)
        line = obs.to_json()
        assert len(line.encode()) <= MAX_LINE, name
        assert json.loads(line)["kind"] == event.kind


def test_hand_checked_codex():
    """Payloads checked by hand against codex/hooks and codex/notify."""
    dash0 = lines("codex/hooks/dash0__captured_events.jsonl")
    e = codex.normalize(dash0[1])
    assert (e.kind, e.session) == ("prompt", "019f3be8-053a-78c3-9096-e9ab264c13a0")
    assert e.data["prompt"] == (
        "Create a file hello.txt containing exactly the text 'hi from codex'. Then run the "
        "shell command 'wc -c hello.txt' and tell me the byte count in one sentence.")
    e = codex.normalize(dash0[3])
    assert (e.kind, e.data["tool"], e.data["exit_code"]) == ("tool_post", "apply_patch", 0)
    assert e.data["files"] == [{"path": "hello.txt", "op": "change"}]
    e = codex.normalize(dash0[5])
    assert (e.kind, e.data["tool"], e.data["command"], e.data["output"]) == (
        "tool_post", "Bash", "wc -c hello.txt", "      14 hello.txt\n")
    e = codex.normalize(dash0[37])  # a subagent's stop is reported in its parent's session
    assert (e.kind, e.session, e.data["agent_id"], e.data["message"]) == (
        "subagent_stop", "019f3bf3-29e5-7320-a40b-883e09c7601a",
        "019f3bf3-60f7-7db2-8a74-7cf0618742e6", "Changed path: `c.txt`")
    e = codex.normalize(dash0[61])
    assert e.kind == "stop"
    assert e.data["message"].startswith(
        "Done. Three parallel worker subagents created:\n\n- [a.txt]")
    e = codex.normalize(lines("codex/hooks/tmux-agents__codex_0.145.0_hooks.jsonl")[5])
    assert (e.kind, e.data["tool"], e.data["command"]) == (
        "permission_request", "Bash", "touch /tmp/tma-approval-test.txt")
    (notify,) = lines("codex/notify/tmux-agents__codex_notify.jsonl")
    e = codex.normalize(notify)
    assert (e.kind, e.session, e.data["message"], e.data["prompt"]) == (
        "stop", "019f99c3-7c57-7963-98e9-f496a7978257", "All tests pass.", "run the tests")


def test_hand_checked_gemini():
    """Payloads checked by hand against gemini/hooks."""
    tma = lines("gemini/hooks/tmux-agents__gemini_0.46.0_hooks.jsonl")
    e = gemini.normalize(tma[1])
    assert (e.kind, e.session, e.data["prompt"]) == (
        "prompt", "7ae9d79d-9b49-45f4-bdb1-a5b2a6e90e0e",
        "Run the shell command: echo hello-from-tma")
    e = gemini.normalize(tma[3])
    assert (e.kind, e.data["tool"], e.data["command"], e.data["output"], e.data["exit_code"]) == (
        "tool_post", "run_shell_command", "echo hello-from-tma", "Output: hello-from-tma", 0)
    e = gemini.normalize(tma[4])
    assert (e.kind, e.data["message"]) == ("stop", "  \nhello-from-tma ")
    e = gemini.normalize(tma[6])
    assert (e.kind, e.session, e.data["message"]) == (
        "notification", "d375f751-c0af-4804-894c-b6ccc4616cf9",
        "Tool Confirm Shell Command requires execution")


def test_hand_checked_cursor():
    """Payloads checked by hand against cursor/hooks."""
    tma = lines("cursor/hooks/tmux-agents__cursor_2026.07.23_hooks.jsonl")
    e = cursor.normalize(tma[1])
    assert (e.kind, e.session, e.cwd, e.data["prompt"]) == (
        "prompt", "78139b05-16d8-4190-b888-55f2eec06d47", "<CWD>",
        "Run this exact shell command and show output: uname -a")
    e = cursor.normalize(tma[2])
    assert (e.kind, e.session, e.data["tool"], e.data["command"]) == (
        "tool_pre", "491550db-0a81-4cd0-a248-89254960295e", "Shell", "echo HELLO_FROM_CURSOR")
    e = cursor.normalize(tma[5])
    assert (e.kind, e.data["command"], e.data["exit_code"], e.data["error"]) == (
        "tool_failure", "cat /nonexistent-file-xyz-123", 1,
        "cat: /nonexistent-file-xyz-123: No such file or directory")
    dash0 = lines("cursor/hooks/dash0__cursor_test_payloads.jsonl")
    e = cursor.normalize(dash0[2])
    assert (e.kind, e.session, e.data["message"]) == (
        "stop", "409ef9fc", "The subagent created YOLO.md")
    e = cursor.normalize(dash0[4])
    assert (e.kind, e.data["tool"], e.data["files"]) == (
        "tool_post", "Read", [{"path": "/x", "op": "read"}])
    e = cursor.normalize(dash0[7])
    assert (e.kind, e.data["agent_id"], e.data["agent_type"]) == (
        "subagent_stop", "tool_3f3a547c", "general-purpose")


def test_codex_session_through_the_hook_process(repo):
    """dash0's first Codex session (9 events), each delivered twice: each is stored once."""
    payloads = lines("codex/hooks/dash0__captured_events.jsonl")[:9]
    for p in payloads:
        for _ in range(2):
            r = run_hook({**p, "cwd": str(repo)}, repo, agent="codex")
            assert r.returncode == 0 and r.stderr == b""
    obs = stored(repo)
    assert [o.kind for o in obs] == ["session_start", "prompt", "tool_pre", "tool_post",
                                     "tool_pre", "tool_post", "tool_pre", "tool_post", "stop"]
    rec = digest(obs)
    assert rec.files_changed == ["hello.txt"]
    assert [c.command for c in rec.commands] == ["wc -c hello.txt"]
    assert rec.outcome == "`hello.txt` is 14 bytes."
    assert not Registry().resolve(repo).error_log.exists()


def test_gemini_session_through_the_hook_process(repo):
    payloads = lines("gemini/hooks/tmux-agents__gemini_0.46.0_hooks.jsonl")[:6]
    for p in payloads:
        r = run_hook({**p, "cwd": str(repo)}, repo, agent="gemini")
        assert r.returncode == 0 and r.stderr == b""
    obs = stored(repo)
    assert [o.kind for o in obs] == ["session_start", "prompt", "tool_pre", "tool_post", "stop",
                                     "session_end"]
    rec = digest(obs)
    assert rec.prompts == ["Run the shell command: echo hello-from-tma"]
    assert [(c.command, c.exit_code) for c in rec.commands] == [("echo hello-from-tma", 0)]
    assert rec.end_reason == "exit"


def test_cursor_session_through_the_hook_process(repo):
    """The tmux-agents Cursor capture: 7 events from 3 conversations, roots pointed at repo."""
    payloads = lines("cursor/hooks/tmux-agents__cursor_2026.07.23_hooks.jsonl")
    for p in payloads:
        r = run_hook({**p, "workspace_roots": [str(repo)]}, repo, agent="cursor-agent")
        assert r.returncode == 0 and r.stderr == b""
    obs = stored(repo)
    assert len(obs) == len(payloads)
    assert {o.session for o in obs} == {p["conversation_id"] for p in payloads}
    assert sorted(o.kind for o in obs) == sorted(
        ["session_start", "prompt", "tool_pre", "tool_post", "stop", "tool_failure",
         "session_end"])
    assert {o.cwd for o in obs} == {str(repo)}


def test_codex_notify_from_argv_never_reads_stdin(repo):
    """`notify = ["wikimem", "hook", "codex"]`: the JSON is the last argument; stdin stays open."""
    (notify,) = lines("codex/notify/tmux-agents__codex_notify.jsonl")
    text = json.dumps({**notify, "cwd": str(repo)})
    proc = subprocess.Popen([sys.executable, "-m", "wikimem", "hook", "codex", text], cwd=repo,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
    assert code == 0
    (o,) = stored(repo)
    assert (o.kind, o.session, o.data["message"], o.data["prompt"]) == (
        "stop", "019f99c3-7c57-7963-98e9-f496a7978257", "All tests pass.", "run the tests")
